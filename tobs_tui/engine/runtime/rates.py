"""Rates and ETA from measured counters: an instant rate over the last second or so and an
exponentially smoothed rate (time-constant based, so it does not depend on how often it is sampled)."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable


class RateMeter:
    """Feed it a monotonically growing total with `update(total)`; read `instant`, `smoothed`, `eta(remaining)`."""

    def __init__(
        self, *, window_s: float = 1.0, tau_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._window_s = window_s
        self._tau_s = tau_s
        self._samples: deque[tuple[float, float]] = deque()
        self._smoothed: float | None = None
        self._last: tuple[float, float] | None = None

    def update(self, total: float) -> None:
        now = self._clock()
        self._samples.append((now, total))
        # Keep just enough history for the instant window (one sample older than the window).
        while len(self._samples) > 2 and self._samples[1][0] <= now - self._window_s:
            self._samples.popleft()
        if self._last is not None:
            dt = now - self._last[0]
            if dt > 0:
                rate = (total - self._last[1]) / dt
                if self._smoothed is None:
                    self._smoothed = rate
                else:
                    alpha = 1.0 - math.exp(-dt / self._tau_s)
                    self._smoothed += alpha * (rate - self._smoothed)
        self._last = (now, total)

    @property
    def instant(self) -> float:
        if len(self._samples) < 2:
            return 0.0
        (t0, v0), (t1, v1) = self._samples[0], self._samples[-1]
        return (v1 - v0) / (t1 - t0) if t1 > t0 else 0.0

    @property
    def smoothed(self) -> float:
        return max(0.0, self._smoothed or 0.0)

    def eta(self, remaining: float) -> float | None:
        """Seconds left at the smoothed rate; None when nothing is moving yet."""
        if remaining <= 0:
            return 0.0
        rate = self.smoothed
        return remaining / rate if rate > 1e-9 else None

    def hold(self) -> None:
        """Forget the last sample but keep the smoothed rate: time spent paused is not slow progress."""
        self._samples.clear()
        self._last = None

    def reset(self) -> None:
        self._samples.clear()
        self._smoothed = None
        self._last = None

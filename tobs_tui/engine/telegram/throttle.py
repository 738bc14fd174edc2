"""ThrottleDetector: tells from request latencies whether Telegram is throttling us.

Throttled when the mean of the last `window` latencies exceeds `factor` x a robust baseline.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from tobs_tui.engine.runtime.stats import percentile
from tobs_tui.engine.snapshot import LatencySample, ThrottleStats

log = logging.getLogger(__name__)

_MIN_BELOW = 5

EventCallback = Callable[[str, float, dict], None]


class ThrottleDetector:
    """Latency window, baseline, throttled state with hysteresis, start/end events.

    Baseline: the `baseline_quantile` (10th percentile) of the last `history` latencies
    (5 x window). A low percentile ignores one lucky sample and ignores spikes; a finite history
    lets it follow a server that got faster (fast samples reach the 10th percentile at once) or
    slower for good (after ~90 % of the history is slow, so a throttle lasting longer than
    that is taken as the new normal and ends).

    Hysteresis: enter when the window mean (less its slowest 5 %) > factor x baseline; leave
    only after it has stayed below exit_factor x baseline for `exit_samples` requests in a row.
    """

    def __init__(
        self,
        *,
        window: int = 100,
        factor: float = 3.0,
        min_samples: int = 20,
        clock: Callable[[], float] = time.monotonic,
        on_event: EventCallback | None = None,
        exit_factor: float = 2.0,
        exit_samples: int = 10,
        history: int | None = None,
        baseline_quantile: float = 0.10,
        origin: float | None = None,
        max_recent: int = 1000,
        max_spans: int = 200,
        baseline_floor_s: float = 0.0,
    ) -> None:
        if window < 1 or min_samples < 1 or exit_samples < 1:
            raise ValueError("window, min_samples and exit_samples must be >= 1")
        if not 1.0 < exit_factor <= factor:
            raise ValueError(f"need 1 < exit_factor <= factor (got {exit_factor}, {factor})")
        if not 0.0 <= baseline_quantile < 0.5:
            raise ValueError(f"baseline_quantile must be in [0, 0.5) (got {baseline_quantile})")
        self.window = window
        self.factor = factor
        self.exit_factor = exit_factor
        self.exit_samples = exit_samples
        self.min_samples = min_samples
        self.baseline_quantile = baseline_quantile
        # Below a few tens of ms, 3x the baseline is scheduling noise, not a server slowing down (a 6 ms
        # loopback baseline would call 18 ms 'throttled'): thresholds are taken from at least this floor.
        self.baseline_floor_s = baseline_floor_s
        self._clock = clock
        self._on_event = on_event
        self._origin = clock() if origin is None else origin
        self._lock = threading.RLock()
        self._window: deque[float] = deque(maxlen=window)
        self._window_sum = 0.0
        self._history: deque[float] = deque(maxlen=history if history else 5 * window)
        self._sorted: list[float] = []  # the history in order, kept so, for the baseline's percentile
        self._recent: deque[LatencySample] = deque(maxlen=max_recent)
        self._spans: deque[list] = deque(maxlen=max_spans)  # [start, end | None], relative times
        self._count = 0
        self._throttled = False
        self._calm_streak = 0
        self._baseline = 0.0
        self._starts = 0

    def record(self, latency_s: float, method: str = "") -> None:
        if latency_s < 0:
            raise ValueError(f"latency cannot be negative (got {latency_s})")
        now = self._clock()
        event: tuple[str, dict] | None = None
        with self._lock:
            if len(self._window) == self._window.maxlen:
                self._window_sum -= self._window[0]
            self._window.append(latency_s)
            self._window_sum += latency_s
            if len(self._history) == self._history.maxlen:
                del self._sorted[bisect.bisect_left(self._sorted, self._history[0])]
            self._history.append(latency_s)
            bisect.insort(self._sorted, latency_s)
            self._count += 1
            self._recent.append(LatencySample(now - self._origin, latency_s * 1000.0, method))
            # Until the history is long, the 10th percentile is one of the two or three fastest
            # samples; asking for at least `_MIN_BELOW` samples at or under the baseline keeps one
            # lucky early reply from making everything after it look slow.
            q = max(self.baseline_quantile, _MIN_BELOW / len(self._history))
            self._baseline = percentile(self._sorted, min(q, 0.5))
            if self._count >= self.min_samples:
                event = self._update_state(now)
        if event is not None:
            kind, info = event
            if kind == "throttle_start":
                log.warning(
                    "Throttling detected: mean latency %.0f ms > %.0f ms (%.0f x baseline %.0f ms)",
                    info["trimmed_mean_ms"],
                    info["threshold_ms"],
                    self.factor,
                    info["baseline_latency_ms"],
                )
            else:
                log.info(
                    "Throttling ended after %.1f s: mean latency %.0f ms, baseline %.0f ms",
                    info["duration_s"],
                    info["avg_latency_ms"],
                    info["baseline_latency_ms"],
                )
            if self._on_event is not None:
                self._on_event(kind, now, info)

    def _trimmed_mean(self) -> float:
        # The verdict drops the slowest 5 % of the window: two stragglers among twenty early
        # requests must not look like throttling, while a real throttle slows far more than 5 %.
        ordered = sorted(self._window)
        keep = len(ordered) - max(1, len(ordered) // 20) if len(ordered) > 1 else 1
        return sum(ordered[:keep]) / keep

    def _reference(self) -> float:
        """The latency the thresholds multiply: the baseline, but never below the floor."""
        return max(self._baseline, self.baseline_floor_s)

    def _update_state(self, now: float) -> tuple[str, dict] | None:
        mean = self._trimmed_mean()
        base = self._reference()
        info = {
            "avg_latency_ms": self._window_sum / len(self._window) * 1000.0,
            "trimmed_mean_ms": mean * 1000.0,
            "baseline_latency_ms": base * 1000.0,
            "threshold_ms": base * self.factor * 1000.0,
            "t": now - self._origin,
        }
        if not self._throttled:
            if mean > self.factor * base:
                self._throttled = True
                self._calm_streak = 0
                self._starts += 1
                self._spans.append([now - self._origin, None])
                return "throttle_start", info
            return None
        if mean < self.exit_factor * base:
            self._calm_streak += 1
        else:
            self._calm_streak = 0
        if self._calm_streak >= self.exit_samples:
            self._throttled = False
            self._calm_streak = 0
            span = self._spans[-1]
            span[1] = now - self._origin
            info["duration_s"] = span[1] - span[0]
            return "throttle_end", info
        return None

    def is_throttled(self) -> bool:
        with self._lock:
            return self._throttled

    def get_stats(self) -> dict:
        with self._lock:
            mean = self._window_sum / len(self._window) if self._window else 0.0
            current = None
            if self._throttled and self._spans:
                current = self._clock() - self._origin - self._spans[-1][0]
            return {
                "avg_latency_ms": mean * 1000.0,
                "baseline_latency_ms": self._baseline * 1000.0,
                "threshold_ms": self._reference() * self.factor * 1000.0,
                "exit_threshold_ms": self._reference() * self.exit_factor * 1000.0,
                "trimmed_mean_ms": (self._trimmed_mean() if self._window else 0.0) * 1000.0,
                "is_throttled": self._throttled,
                "sample_count": self._count,
                "window_count": len(self._window),
                "has_verdict": self._count >= self.min_samples,
                "throttle_events": self._starts,
                "throttled_for_s": current,
            }

    def snapshot(self, recent: int = 300) -> ThrottleStats:
        with self._lock:
            mean = self._window_sum / len(self._window) if self._window else 0.0
            samples = tuple(self._recent)[-recent:] if recent > 0 else ()
            return ThrottleStats(
                avg_latency_ms=mean * 1000.0,
                baseline_latency_ms=self._baseline * 1000.0,
                threshold_ms=self._reference() * self.factor * 1000.0,
                is_throttled=self._throttled,
                sample_count=self._count,
                recent=samples,
                spans=tuple((s, e) for s, e in self._spans),
            )

"""ThrottleDetector: tells from request latencies whether Telegram is throttling us.

Throttled when the mean of the server's share of the last `window` latencies exceeds `factor` x a robust
baseline. The server's share is a reply's latency less the part our own process may have kept it waiting
(`local_s`: a busy event loop, the GIL, a machine short of CPU), so our CPU never reads as Telegram's.
A rise seen with several requests in flight is confirmed with fewer first: the caller halves its requests in
flight (a probe), and only a rise that persists is throttling; one that falls with them was our own requests
queueing (at a server or on a machine short of CPU), and that level is taken as normal for a while.
"""

from __future__ import annotations

import bisect
import logging
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Literal

from tobs_tui.engine.runtime.stats import percentile
from tobs_tui.engine.snapshot import LatencySample, ThrottleStats

log = logging.getLogger(__name__)

_MIN_BELOW = 5
RISING_FACTOR = 1.5  # a reply this much slower than the baseline ends the in-flight limit's slow start
# A probe decides on the last this many replies sent with fewer requests in flight.
PROBE_SAMPLES = 5
# A rise persists when the probe's replies keep at least this share of the latency that started it; halving
# the requests in flight roughly halves a rise that was only our requests queueing.
PROBE_PERSISTS = 0.75
PROBE_MAX = 30  # replies after which an undecided probe is decided by the window alone

Transition = Literal["probe_start", "probe_refuted", "throttle_start", "throttle_end"]

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
        self._local_sum = 0.0  # our share of the latencies in the window, for the stats
        self._locals: deque[float] = deque(maxlen=window)
        self._in_flights: deque[int] = deque(maxlen=window)  # requests in flight when each reply was sent
        self._throttled = False
        self._probe: list[float] | None = None  # server shares of replies sent under the probe, while one runs
        self._probe_seen = 0
        self._probe_level = 1  # the requests in flight a reply may have been sent with to count for the probe
        self._suspect_mean = 0.0
        self._queueing_s = 0.0  # a level our own queueing reached (a refuted probe), tolerated for a while
        self._queueing_until = 0
        self._cooldown_until = 0
        self.probes_refuted = 0
        self._calm_streak = 0
        self._baseline = 0.0
        self._starts = 0

    def record(
        self, latency_s: float, method: str = "", *, local_s: float = 0.0, in_flight: int = 1
    ) -> Transition | None:
        """One reply: its latency, how much of it our own process may have kept the reply waiting (the time
        the event loop was not idle during the round trip; only the rest counts as the server's), and how many
        requests were in flight when it was sent, itself included. Returns the state change it caused, if any:
        on "probe_start" the caller halves its requests in flight, on "probe_refuted" it restores them."""
        if latency_s < 0 or local_s < 0:
            raise ValueError(f"latency cannot be negative (got {latency_s}, our share {local_s})")
        now = self._clock()
        event: tuple[Transition, dict] | None = None
        local_s = min(local_s, latency_s)
        latency_s -= local_s
        with self._lock:
            if len(self._locals) == self._locals.maxlen:
                self._local_sum -= self._locals[0]
            self._locals.append(local_s)
            self._local_sum += local_s
            self._in_flights.append(in_flight)
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
                event = self._update_state(now, latency_s, in_flight)
        if event is None:
            return None
        kind, info = event
        if kind in ("throttle_start", "throttle_end"):
            if kind == "throttle_start":
                log.warning(
                    "Throttling detected: the server's mean share of latency %.0f ms > %.0f ms "
                    "(%.0f x baseline %.0f ms); our own share %.0f ms",
                    info["trimmed_mean_ms"],
                    info["threshold_ms"],
                    self.factor,
                    info["baseline_latency_ms"],
                    info["avg_local_ms"],
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
        elif kind == "probe_refuted" and info["tolerated"]:
            log.info(
                "Latency rose to %.0f ms and fell to %.0f ms with fewer requests in flight: our own requests "
                "queueing, not throttling",
                info["suspect_ms"],
                info["probe_ms"],
            )
        return kind

    def _trimmed_mean(self) -> float:
        # The verdict drops the slowest 5 % of the window: two stragglers among twenty early
        # requests must not look like throttling, while a real throttle slows far more than 5 %.
        ordered = sorted(self._window)
        keep = len(ordered) - max(1, len(ordered) // 20) if len(ordered) > 1 else 1
        return sum(ordered[:keep]) / keep

    def _reference(self) -> float:
        """The latency the thresholds multiply: the baseline, but never below the floor."""
        return max(self._baseline, self.baseline_floor_s)

    def _probe_due(self, mean: float, base: float) -> bool:
        """A probe starts at the lower (exit) line, so it runs while the window fills towards the threshold and
        a throttle is confirmed about when the window alone would have shown it. After a probe found our own
        queueing, the next starts only when the rise grows half as high again, or past the threshold once
        a probe's worth of replies went by (a real throttle can follow our queueing)."""
        line = self.exit_factor * base
        if self._count < self._queueing_until:
            line = max(line, 1.5 * self._queueing_s)
        return mean > line or (mean > self.factor * base and self._count >= self._cooldown_until)

    def _update_state(self, now: float, latest: float, in_flight: int) -> tuple[Transition, dict] | None:
        mean = self._trimmed_mean()
        base = self._reference()
        info = {
            "avg_latency_ms": self._window_sum / len(self._window) * 1000.0,
            "avg_local_ms": self._local_sum / len(self._locals) * 1000.0,
            "trimmed_mean_ms": mean * 1000.0,
            "baseline_latency_ms": base * 1000.0,
            "threshold_ms": base * self.factor * 1000.0,
            "t": now - self._origin,
        }
        if not self._throttled:
            if self._probe is not None:
                return self._probe_step(now, latest, in_flight, mean, info)
            if in_flight <= 1:
                # Nothing of ours was queueing beside this request: a rise is the server's, as it stands.
                return self._start(now, info) if mean > self.factor * base else None
            if self._probe_due(mean, base):
                self._probe, self._probe_seen = [], 0
                # Half of the most requests recently in flight: the replies sent after the caller halved them.
                self._probe_level = max(1, max(self._in_flights) // 2)
                # The level the rise has reached: the latest replies, not the window, which lags behind them.
                self._suspect_mean = statistics.median(list(self._window)[-PROBE_SAMPLES:])
                return "probe_start", info
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

    def _start(self, now: float, info: dict) -> tuple[Transition, dict]:
        self._throttled = True
        self._calm_streak = 0
        self._starts += 1
        self._spans.append([now - self._origin, None])
        return "throttle_start", info

    def _probe_step(
        self, now: float, latest: float, in_flight: int, mean: float, info: dict
    ) -> tuple[Transition, dict] | None:
        assert self._probe is not None
        self._probe_seen += 1
        if in_flight <= self._probe_level:
            self._probe.append(latest)
            del self._probe[:-PROBE_SAMPLES]
        threshold = self.factor * self._reference()
        probe_mid = None
        if len(self._probe) >= PROBE_SAMPLES:
            # The median: on a machine short of CPU one reply in a few can be late by itself.
            probe_mid = statistics.median(self._probe)
            if probe_mid < PROBE_PERSISTS * self._suspect_mean:
                return self._refute(probe_mid, info)  # it fell with fewer in flight: our own queueing
            # It persisted with fewer in flight, and past the threshold: throttling, without waiting for the
            # window (which fills more slowly now) to show it too.
            if probe_mid > threshold:
                self._probe = None
                # What crossed the line is the probe's median, not the window's mean: the warning says that one.
                return self._start(now, {**info, "trimmed_mean_ms": probe_mid * 1000.0})
        if self._probe_seen >= (PROBE_MAX if probe_mid is not None else 3 * PROBE_MAX):
            # Undecided for long: a rise that persisted past the threshold all this while is throttling. One
            # that persisted below it ends the probe without a verdict (and the next rise starts another); with
            # no reply sent with fewer in flight at all, the window decides as it would without a probe.
            self._probe = None
            if probe_mid is not None and probe_mid > threshold:
                return self._start(now, {**info, "trimmed_mean_ms": probe_mid * 1000.0})
            if mean > threshold:
                return self._start(now, info)
            return self._refute(mean, info, tolerate=False)
        return None

    def _refute(self, probe_mean: float, info: dict, *, tolerate: bool = True) -> tuple[Transition, dict]:
        """The probe ends without throttling; `tolerate`: the level the rise reached was our own queueing."""
        self._probe = None
        if tolerate:
            self.probes_refuted += 1
            self._queueing_s = self._suspect_mean
            self._queueing_until = self._count + self.window
            self._cooldown_until = self._count + PROBE_MAX
        return "probe_refuted", {
            **info,
            "suspect_ms": self._suspect_mean * 1000.0,
            "probe_ms": probe_mean * 1000.0,
            "tolerated": tolerate,
        }

    def is_probing(self) -> bool:
        with self._lock:
            return self._probe is not None

    def is_throttled(self) -> bool:
        with self._lock:
            return self._throttled

    def rising(self, factor: float = RISING_FACTOR) -> bool:
        """The latest reply's server share is above `factor` x the baseline, once a few replies made one: the
        early sign a bucket is draining, long before the window's mean crosses the throttle threshold."""
        with self._lock:
            return len(self._history) >= _MIN_BELOW and self._history[-1] > factor * self._reference()

    def get_stats(self) -> dict:
        with self._lock:
            mean = self._window_sum / len(self._window) if self._window else 0.0
            current = None
            if self._throttled and self._spans:
                current = self._clock() - self._origin - self._spans[-1][0]
            return {
                "avg_latency_ms": mean * 1000.0,
                "avg_local_ms": (self._local_sum / len(self._locals) if self._locals else 0.0) * 1000.0,
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

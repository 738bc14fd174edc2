"""What the UI remembers between snapshots: rate, queue-depth and latency series, and the event log.

Lives on the UI thread only; everything it stores came from an engine snapshot or event.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from tobs_tui.engine import EngineEvent, EngineSnapshot, LatencySample

POOL_NAMES = ("critical", "standard", "media")


@dataclass(frozen=True)
class RatePoint:
    t: float
    msgs_per_s: float
    bytes_per_s: float


# A snapshot at most this much older than the latest one is a late delivery, not a new engine clock (a new
# runner's clock starts at zero, seconds behind a run the dashboard has followed).
LATE_SNAPSHOT_S = 1.0


class LiveHistory:
    """Bounded series built from the snapshot stream; screens draw from it when they appear."""

    def __init__(self, points: int = 600, latency_points: int = 2000, events: int = 500) -> None:
        self.latest: EngineSnapshot | None = None
        self.rates: deque[RatePoint] = deque(maxlen=points)
        self.queue_depth: dict[str, deque[float]] = {name: deque(maxlen=points) for name in POOL_NAMES}
        self.latency: deque[LatencySample] = deque(maxlen=latency_points)
        self.events: deque[EngineEvent] = deque(maxlen=events)
        self._event_keys: deque[tuple[float, str, str]] = deque(maxlen=events)
        # Each bumps when what it names changed, so a widget redraws only for data it shows.
        self.version = 0  # anything: a snapshot or an event
        self.series_version = 0  # rates and queue depths got a point (or were cleared)
        self.latency_version = 0  # request latencies got a sample (or were cleared)
        self.events_version = 0  # an event arrived

    def add_snapshot(self, snap: EngineSnapshot) -> None:
        if self.latest is not None and snap.t < self.latest.t:
            if self.latest.t - snap.t < LATE_SNAPSHOT_S:
                # Built a moment before the latest on another thread and delivered after it: nothing new.
                return
            # A new engine run restarted its clock: the old series no longer line up.
            self.clear()
        self.latest = snap
        self.version += 1
        if snap.state.is_active or snap.messages_done:
            self.rates.append(RatePoint(snap.t, snap.msgs_per_s, snap.bytes_per_s))
            depths = {p.name: float(p.queued) for p in snap.pools}
            depths.setdefault("media", float(snap.media.files_queued))
            for name in POOL_NAMES:
                self.queue_depth[name].append(depths.get(name, 0.0))
            self.series_version += 1
        last_t = self.latency[-1].t if self.latency else float("-inf")
        fresh = [sample for sample in snap.throttle.recent if sample.t > last_t]
        if fresh:
            self.latency.extend(fresh)
            self.latency_version += 1
        for event in snap.events:
            self.add_event(event)

    def add_event(self, event: EngineEvent) -> bool:
        """Remember an event once, whether it came from on_event or inside a snapshot."""
        key = (event.t, event.kind.value, event.message)
        if key in self._event_keys:
            return False
        self._event_keys.append(key)
        self.events.append(event)
        self.version += 1
        self.events_version += 1
        return True

    def clear(self) -> None:
        self.rates.clear()
        for series in self.queue_depth.values():
            series.clear()
        self.latency.clear()
        self.version += 1
        self.series_version += 1
        self.latency_version += 1

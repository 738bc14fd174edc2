"""Request latency against the throttle threshold, with throttled spans and FloodWaits, and the detector's stats."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Header, Static

from tobs_tui.engine import EngineEvent, EngineSnapshot, EventKind
from tobs_tui.ui import format as fmt
from tobs_tui.ui.history import LiveHistory
from tobs_tui.ui.screens.live import RUN_BINDINGS, LiveScreen
from tobs_tui.ui.widgets.charts import LatencyChart
from tobs_tui.ui.widgets.event_log import ScrollingText, event_line
from tobs_tui.ui.widgets.key_footer import KeyFooter


def detector_table(snap: EngineSnapshot | None, events: list[EngineEvent]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim")
    table.add_column(justify="right")
    if snap is None:
        stats = None
    else:
        stats = snap.throttle
    state = Text(fmt.DASH)
    if stats is not None and stats.sample_count:
        state = Text("THROTTLED", style="bold yellow") if stats.is_throttled else Text("healthy", style="green")
    table.add_row("state", state)
    table.add_row("window average", fmt.millis(stats.avg_latency_ms) if stats and stats.sample_count else fmt.DASH)
    table.add_row(
        "baseline", fmt.millis(stats.baseline_latency_ms) if stats and stats.baseline_latency_ms else fmt.DASH
    )
    table.add_row("threshold (3x)", fmt.millis(stats.threshold_ms) if stats and stats.threshold_ms else fmt.DASH)
    table.add_row("samples", fmt.count(stats.sample_count) if stats else fmt.DASH)
    table.add_row("throttled spans", fmt.count(len(stats.spans)) if stats else fmt.DASH)
    table.add_row("FloodWaits", fmt.count(snap.flood_waits) if snap else fmt.DASH)
    waited = sum(e.seconds or 0 for e in events if e.kind is EventKind.FLOOD_WAIT)
    table.add_row("waited in total", fmt.duration(waited) if snap else fmt.DASH)
    table.add_row("in flight / limit", f"{snap.requests_in_flight} / {snap.concurrency_limit}" if snap else fmt.DASH)
    return table


FLOOD_LINES = 50  # the newest throttle marks and FloodWaits listed, on top


class ThrottleScreen(LiveScreen):
    BINDINGS = RUN_BINDINGS

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with Horizontal(id="throttle"):
            yield LatencyChart(id="latency")
            with Vertical(id="detector"):
                yield Static(detector_table(None, []), id="detector-stats")
                # Scrolls under the detector's figures (a Tab stop: the arrows and page keys scroll it too).
                yield ScrollingText("", id="flood-list")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#detector").border_title = "Throttle detector"
        self._version = -1

    def refresh_live(self, live: LiveHistory) -> None:
        if live.version == self._version:
            return
        self._version = live.version
        snap = live.latest
        events = list(live.events)
        # The chart changes with new latencies or new FloodWait marks, not with every snapshot.
        self.query_one(LatencyChart).show(
            live.latency, snap.throttle if snap else None, events, (live.latency_version, live.events_version)
        )
        self.query_one("#detector-stats", Static).update(detector_table(snap, events))
        marks = [
            e for e in events if e.kind in (EventKind.FLOOD_WAIT, EventKind.THROTTLE_START, EventKind.THROTTLE_END)
        ]
        lines = Text("\n").join(event_line(e) for e in reversed(marks[-FLOOD_LINES:]))
        self.query_one("#flood-list", ScrollingText).update(
            lines if marks else Text("No throttling or FloodWait yet.", style="dim")
        )

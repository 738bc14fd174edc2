"""The live dashboard: totals, per-chat bars with rates and ETA, the throughput chart, recent events."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Header, ProgressBar

from tobs_tui.engine import EngineSnapshot, RunState
from tobs_tui.ui.history import LiveHistory
from tobs_tui.ui.screens.live import RUN_BINDINGS, LiveScreen
from tobs_tui.ui.widgets.charts import ThroughputChart
from tobs_tui.ui.widgets.chat_progress import ChatProgressList
from tobs_tui.ui.widgets.event_log import EventLog
from tobs_tui.ui.widgets.key_footer import KeyFooter
from tobs_tui.ui.widgets.run_summary import RunSummary


def no_chats(snap: EngineSnapshot | None) -> str:
    """What the chat box says while the run has no chats to show ("" for the default: no export yet)."""
    if snap is None or snap.state is RunState.IDLE:
        return ""
    if snap.state.is_active:
        return "Starting the export: its chats appear here once the engine has listed them."
    if snap.state is RunState.FAILED:
        reason = "; ".join(snap.errors)
        return "The export failed before any chat started" + (
            f": {reason}" if reason else "; the reason is in the recent events."
        )
    if snap.state is RunState.CANCELLED:
        return "The export was cancelled before any chat started."
    return "The export finished with no chat to export."


class DashboardScreen(LiveScreen):
    BINDINGS = RUN_BINDINGS

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        yield RunSummary(id="summary")
        yield ProgressBar(total=None, show_eta=False, id="total")
        yield ChatProgressList(id="chats")
        with Horizontal(id="dash-bottom"):
            yield ThroughputChart(id="throughput")
            with Vertical(id="events-box"):
                yield EventLog(id="events")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#total", ProgressBar).display = False
        self.query_one("#chats").border_title = "Chats"
        self.query_one("#throughput").border_title = "Throughput"
        self.query_one("#events-box").border_title = "Recent events"

    def refresh_live(self, live: LiveHistory) -> None:
        snap = live.latest
        self.query_one(RunSummary).show(snap)
        bar = self.query_one("#total", ProgressBar)
        # No bar before the first export; a pulsing one while the engine still counts what to expect; none after a
        # run that ended before it knew (a pulse would say it is still at work).
        counted = snap is not None and snap.messages_expected > 0
        bar.display = snap is not None and (snap.state.is_active or (counted and snap.state is not RunState.IDLE))
        if snap is not None and snap.messages_expected:
            bar.update(total=max(snap.messages_expected, snap.messages_done), progress=snap.messages_done)
        else:
            bar.update(total=None)
        paused = snap is not None and snap.state is RunState.PAUSED
        self.query_one(ChatProgressList).show(snap.chats if snap else (), paused=paused, empty=no_chats(snap))
        self.query_one(ThroughputChart).show(live.rates, live.series_version)
        self.query_one(EventLog).show(live.events, live.events_version)

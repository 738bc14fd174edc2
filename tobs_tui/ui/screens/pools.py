"""The worker pools and the media queue: numbers and queue-depth sparklines, live."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Header

from tobs_tui.ui.history import LiveHistory
from tobs_tui.ui.screens.live import RUN_BINDINGS, LiveScreen
from tobs_tui.ui.widgets.key_footer import KeyFooter
from tobs_tui.ui.widgets.pool_panel import PoolPanel
from tobs_tui.ui.widgets.run_summary import RunSummary


class PoolsScreen(LiveScreen):
    BINDINGS = RUN_BINDINGS

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        yield RunSummary(id="summary")
        # Scrolls when the panels are taller than the screen (80x24 with several data centers): a Tab stop, so the
        # arrows and page keys scroll it too.
        with VerticalScroll(id="pools"):
            yield PoolPanel("critical", id="pool-critical")
            yield PoolPanel("standard", id="pool-standard")
            yield PoolPanel("media", id="pool-media")
        yield KeyFooter()

    def refresh_live(self, live: LiveHistory) -> None:
        snap = live.latest
        self.query_one(RunSummary).show(snap)
        pools = {p.name: p for p in snap.pools} if snap else {}
        for name in ("critical", "standard", "media"):
            panel = self.query_one(f"#pool-{name}", PoolPanel)
            media = snap.media if (snap is not None and name == "media") else None
            panel.show(pools.get(name), live.queue_depth[name], live.series_version, media)

"""Base for screens that draw engine data: they redraw from the app's history when shown and on each snapshot."""

from __future__ import annotations

from textual.binding import Binding
from textual.screen import Screen

from tobs_tui.ui.history import LiveHistory

# The run controls, shown in the footer of the screens that watch a run, and only while an export runs: F7 is
# "Pause" while it runs and "Resume" while it is paused (the app's check_action offers one of the two or neither).
RUN_BINDINGS = [
    Binding("f7", "app.pause_resume('pause')", "Pause"),
    Binding("f7", "app.pause_resume('resume')", "Resume"),
    Binding("f8", "app.cancel_export", "Cancel export"),
]


class LiveScreen(Screen):
    """A screen fed by snapshots; only the visible one redraws, so hidden screens cost nothing."""

    def refresh_live(self, live: LiveHistory) -> None:
        raise NotImplementedError

    def on_screen_resume(self) -> None:
        # The run may have started or ended while another screen was shown: offer F7 and F8 as things are now.
        self.refresh_bindings()
        live = getattr(self.app, "live", None)
        if live is not None:
            self.refresh_live(live)

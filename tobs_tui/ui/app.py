"""The Textual app: modes for each screen, the bridge from the engine thread, and the run-wide actions.

The engine lives on its own thread; this app only calls `EngineRunner` methods (which return
concurrent futures) and reads the frozen snapshots and events the runner hands over.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from concurrent.futures import Future
from pathlib import Path

from textual import on, work
from textual.app import App, ScreenStackError, SystemCommand, UnknownModeError
from textual.binding import Binding
from textual.screen import Screen

from tobs_tui.config import Settings, save_settings, settings_with
from tobs_tui.engine import EngineEvent, EngineRunner, EngineSnapshot, EventKind, ExportRequest, RunState
from tobs_tui.terminal import terminal_text
from tobs_tui.ui.bridge import EngineBridge, wait_for
from tobs_tui.ui.history import LiveHistory
from tobs_tui.ui.messages import (
    EventArrived,
    ExportFinished,
    ExportRequested,
    LoggedIn,
    SettingsApplied,
    SnapshotArrived,
)
from tobs_tui.ui.screens.chats import ChatsScreen
from tobs_tui.ui.screens.confirm import ConfirmScreen
from tobs_tui.ui.screens.dashboard import DashboardScreen
from tobs_tui.ui.screens.help import HelpScreen
from tobs_tui.ui.screens.live import LiveScreen
from tobs_tui.ui.screens.login import DemoInfo, LoginScreen
from tobs_tui.ui.screens.pools import PoolsScreen
from tobs_tui.ui.screens.settings import SettingsScreen
from tobs_tui.ui.screens.throttle import ThrottleScreen

__all__ = ["DemoInfo", "TobsApp"]


class TobsApp(App[int]):
    """tobs-tui: pick chats, export them, watch the engine work."""

    TITLE = "tobs-tui"
    CSS_PATH = Path(__file__).parent / "app.tcss"  # absolute: subclasses elsewhere keep the same style
    DEFAULT_MODE = "chats"
    # Classes the stylesheet uses to keep every screen usable at 80x24 (see app.tcss).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (34, "-tall")]
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("f2", "switch_mode('chats')", "Chats"),
        Binding("f3", "switch_mode('dashboard')", "Dashboard"),
        Binding("f4", "switch_mode('pools')", "Pools"),
        Binding("f5", "switch_mode('throttle')", "Throttle"),
        Binding("f6", "switch_mode('settings')", "Settings"),
        Binding("f7", "pause_resume", "Pause/Resume", show=False),
        Binding("f8", "cancel_export", "Cancel", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("question_mark", "help", "Help", show=False),
    ]

    def __init__(
        self,
        settings: Settings,
        *,
        session: str | Path,
        api_id: int | None = None,
        api_hash: str | None = None,
        demo: DemoInfo | None = None,
        config_path: Path | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.session = session
        self.api_id = api_id or None
        self.api_hash = api_hash or None
        # Credentials handed in by the caller (config, command line, demo, benchmark) are theirs to keep;
        # only ones typed on the login screen are saved.
        self._given_credentials = (self.api_id, self.api_hash)
        self.demo = demo
        self.config_path = config_path
        self.live = LiveHistory()
        self.engine = EngineBridge(
            session=session,
            settings=lambda: self.settings,
            on_snapshot=self._snapshot_from_engine,
            on_event=self._event_from_engine,
        )
        self.export_future: Future[EngineSnapshot] | None = None
        # Screens get what they need when they are built, so none of them has to reach back into the app.
        self.add_mode("chats", lambda: ChatsScreen(self.engine))
        self.add_mode("dashboard", DashboardScreen)
        self.add_mode("pools", PoolsScreen)
        self.add_mode("throttle", ThrottleScreen)
        self.add_mode("settings", lambda: SettingsScreen(lambda: self.settings, self.config_path))
        self._pending_snapshot: EngineSnapshot | None = None
        self._snapshot_posted = False
        # The error sentences shown in a toast since the last export started: a failed run's reason arrives as an
        # error event and again as the run's end, and a second toast of the same long sentence would stack the
        # pair taller than an 80x24 screen.
        self._toasted_errors: set[str] = set()
        self.sub_title = f"demo · emulator ({demo.profile})" if demo else ""

    @property
    def runner(self) -> EngineRunner | None:
        """The engine runner, once credentials started one."""
        return self.engine.runner

    @property
    def logged_in(self) -> bool:
        return self.engine.authorized

    def refresh_keys(self) -> None:
        """Have the footer ask check_action again, while there is a screen to show it (an export can end while
        the app is closing, its screens already gone)."""
        with contextlib.suppress(ScreenStackError, UnknownModeError):
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # False: the footer does not offer the key, and pressing it does nothing.
        if action == "switch_mode" and parameters:
            # Before login there is the login screen (on the chats mode) and Settings (a proxy may be what the
            # login needs), not the live screens of a session that is not there yet; the footer offers no key for
            # the screen already shown, which leaves room for the screen's own keys.
            reachable = self.logged_in or parameters[0] in ("chats", "settings")
            return reachable and parameters[0] != self.current_mode
        if action == "pause_resume":
            # F7 only while an export runs: "Pause" while it runs, "Resume" while it is paused (see RUN_BINDINGS).
            state = self.live.latest.state if self.live.latest is not None else None
            wanted = {"pause": (RunState.RUNNING,), "resume": (RunState.PAUSED,)}
            return state in wanted.get(str(parameters[0]) if parameters else "", (RunState.RUNNING, RunState.PAUSED))
        if action == "cancel_export":
            return self.export_active
        return True

    # -- engine callbacks (they run on the ENGINE thread) -------------------------------------------

    def _snapshot_from_engine(self, snapshot: EngineSnapshot) -> None:
        # Coalesce: if the UI has not taken the last one yet, it will simply find this newer one.
        self._pending_snapshot = snapshot
        if not self._snapshot_posted:
            self._snapshot_posted = True
            self.post_message(SnapshotArrived(snapshot))

    def _event_from_engine(self, event: EngineEvent) -> None:
        self.post_message(EventArrived(event))

    @on(SnapshotArrived)
    def _take_snapshot(self, message: SnapshotArrived) -> None:
        self._snapshot_posted = False
        snapshot = self._pending_snapshot or message.snapshot
        self.apply_snapshot(snapshot)

    def apply_snapshot(self, snapshot: EngineSnapshot) -> None:
        """Record a snapshot and redraw the visible screen (hidden screens catch up when shown)."""
        before = self.live.latest.state if self.live.latest is not None else None
        self.live.add_snapshot(snapshot)
        if self.live.latest is not None and self.live.latest.state is not before:
            self.refresh_keys()  # F7 and F8 are offered only while an export runs (see check_action)
        self._redraw_live()

    def _redraw_live(self) -> None:
        # While quitting, screens lose their widgets and the stack empties before the engine's last messages arrive.
        screen = self.screen_stack[-1] if self.screen_stack and self.is_running else None
        # A screen just switched to may not have its widgets yet; it draws from the history when resumed.
        if isinstance(screen, LiveScreen) and screen.is_mounted:
            screen.refresh_live(self.live)

    @on(EventArrived)
    def _take_event(self, message: EventArrived) -> None:
        event = message.event
        if not self.live.add_event(event):
            return
        if event.kind is EventKind.ERROR:
            self.notify_error(event.message, title="Error", timeout=8)
        elif event.kind in (EventKind.TAKEOUT_PENDING, EventKind.TAKEOUT_REFUSED):
            self.notify(terminal_text(event.message), title="Takeout", severity="warning", timeout=10, markup=False)
        # No redraw here: the engine publishes a snapshot at the refresh rate whatever happens, and the redraw
        # it brings shows this event too, so a burst of events (throttle flapping, chats finishing) costs one.

    def notify_error(self, sentence: str, *, title: str, timeout: float = 10) -> None:
        """A toast with an error's whole sentence, unless one since the export started said it already."""
        text = terminal_text(sentence)
        if text in self._toasted_errors:
            return
        self._toasted_errors.add(text)
        self.notify(text, title=title, severity="error", timeout=timeout, markup=False)

    # -- start-up and login ------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.refresh_keys()  # the footers were built before the first mode was current (see check_action)
        if self.api_id and self.api_hash:
            self.engine.open(self.api_id, self.api_hash)
            self._connect()
        else:
            self.push_screen(self._login_screen("api"), self._login_done)

    def _login_screen(self, step: str, error: str | None = None) -> LoginScreen:
        return LoginScreen(self.engine, step=step, error=error, demo=self.demo, phone=self.settings.telegram.phone)

    @work(exclusive=True, group="connect")
    async def _connect(self) -> None:
        try:
            authorized = await self.engine.connect()
        except Exception as e:
            self.push_screen(self._login_screen("api", str(e)), self._login_done)
            return
        if authorized:
            self.post_message(LoggedIn())
        else:
            self.push_screen(self._login_screen("phone"), self._login_done)

    def _login_done(self, ok: bool | None) -> None:
        if ok:
            self.post_message(LoggedIn())

    @on(LoggedIn)
    def _logged_in(self) -> None:
        self.engine.authorized = True
        self.refresh_keys()  # the keys that switch screens are offered from now on (see check_action)
        if self.engine.credentials is not None:
            self.api_id, self.api_hash = self.engine.credentials
        typed = (self.api_id, self.api_hash) != self._given_credentials
        if (
            self.demo is None
            and typed
            and (self.settings.telegram.api_id != self.api_id or self.settings.telegram.api_hash != self.api_hash)
        ):
            # Remember the credentials the user typed so the next start goes straight to the chats.
            self.settings = settings_with(self.settings, "telegram", api_id=self.api_id, api_hash=self.api_hash)
            try:
                path = save_settings(self.settings, self.config_path)
            except Exception as e:
                self.notify(terminal_text(str(e)), severity="error", markup=False)
            else:
                self.notify(f"Saved your api id and hash to {path}.")
        screen = self.get_screen_stack_top("chats")
        if isinstance(screen, ChatsScreen):
            screen.load_dialogs()

    def get_screen_stack_top(self, mode: str) -> Screen | None:
        stack = self._screen_stacks.get(mode) or []
        return stack[0] if stack else None

    # -- exports -------------------------------------------------------------------------------------

    @property
    def export_active(self) -> bool:
        snap = self.live.latest
        running = self.export_future is not None and not self.export_future.done()
        return running or (snap is not None and snap.state.is_active)

    @on(ExportRequested)
    def _export_requested(self, message: ExportRequested) -> None:
        self.start_export(message.request)

    def start_export(self, request: ExportRequest) -> bool:
        if self.runner is None or not self.logged_in:
            self.notify("Log in first.", severity="warning")
            return False
        if self.export_active:
            self.notify("An export is already running; cancel it (F8) or wait for it to finish.", severity="warning")
            return False
        self.live.clear()
        self._toasted_errors.clear()
        self.export_future = self.engine.start_export(request)
        self._await_export(self.export_future)
        self.refresh_keys()  # F8 from now on (F7 once the engine says the export runs)
        self.switch_mode("dashboard")
        chats = len(request.chats)
        self.notify(f"Exporting {chats} chat{'s' if chats != 1 else ''}.")
        return True

    @work(group="export")
    async def _await_export(self, future: Future[EngineSnapshot]) -> None:
        try:
            snapshot = await wait_for(future)
        except Exception as e:
            self.post_message(ExportFinished(None, str(e) or type(e).__name__))
        else:
            self.post_message(ExportFinished(snapshot))

    @on(ExportFinished)
    def _export_finished(self, message: ExportFinished) -> None:
        if message.snapshot is not None:
            self.apply_snapshot(message.snapshot)
        self.refresh_keys()  # the run is over: no F7 or F8 any more
        if message.error:
            self.notify_error(message.error, title="Export failed")
            return
        snap = message.snapshot
        if snap is None:
            return
        if snap.state is RunState.DONE:
            self.notify(f"Export finished: {snap.messages_done:,} messages.", title="Done", timeout=8)
        elif snap.state is RunState.CANCELLED:
            self.notify("Export cancelled; the next run continues where it stopped.", timeout=8)
        elif snap.state is RunState.FAILED:
            # Each reason once: those an error event already showed are not repeated.
            untold = [e for e in snap.errors if terminal_text(e) not in self._toasted_errors]
            if untold or not snap.errors:
                self.notify_error("; ".join(untold) or "Export failed.", title="Export failed")
        screen = self.get_screen_stack_top("chats")
        if isinstance(screen, ChatsScreen):
            screen.load_dialogs()  # "last export" column now has new numbers

    def action_pause_resume(self, wanted: str | None = None) -> None:
        """Pause a running export or resume a paused one (`wanted`: "pause" or "resume" only, as F7 offered it)."""
        snap = self.live.latest
        if self.runner is None or snap is None or snap.state not in (RunState.RUNNING, RunState.PAUSED):
            self.notify("No export is running.", severity="warning")
            return
        if wanted is not None and (wanted == "pause") != (snap.state is RunState.RUNNING):
            return  # the state changed since the key was offered: nothing to do
        if snap.state is RunState.RUNNING:
            self.runner.pause()
            self.notify("Pausing: requests in flight finish, nothing new starts.")
        else:
            self.runner.resume()
            self.notify("Resumed.")

    @work(exclusive=True, group="cancel")
    async def action_cancel_export(self) -> None:
        if self.runner is None or not self.export_active:
            self.notify("No export is running.", severity="warning")
            return
        sure = await self.push_screen_wait(
            ConfirmScreen(
                "Cancel the export? Finished notes stay; the next run continues where it stopped.",
                yes="Cancel export",
                no="Keep going",
            )
        )
        if sure and self.export_active:  # the export may have ended while the question was open
            await self.engine.cancel()

    @work(exclusive=True, group="quit")
    async def action_quit(self) -> None:
        if self.runner is not None and self.export_active:
            sure = await self.push_screen_wait(
                ConfirmScreen(
                    "An export is running. Quit? It stops cleanly and the next run resumes it.", yes="Quit", no="Stay"
                )
            )
            if not sure:
                return
            self.notify("Stopping the export cleanly…")
            await self.engine.cancel()
        await self.shutdown_engine()
        self.exit(0)

    async def shutdown_engine(self) -> None:
        await self.engine.close()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    # -- settings ------------------------------------------------------------------------------------

    @on(SettingsApplied)
    def _settings_applied(self, message: SettingsApplied) -> None:
        self.apply_settings(message.settings)

    def apply_settings(self, settings: Settings) -> None:
        """Hand new settings to the running engine: pools resize and limits change at once."""
        self.settings = settings
        if self.runner is None:
            return
        self.runner.update_settings(settings)
        if settings.workers.media_download_workers == 0 and self.live.latest is not None:
            # 0 means "automatic": the engine's own figure for this disk.
            self.runner.set_limits(media_workers=self.live.latest.media_workers_auto)

    # -- command palette -----------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        # Textual's own "Keys" opens its key panel; ours (below) opens the full list of this app's keys.
        yield from (c for c in super().get_system_commands(screen) if c.title != "Keys")
        if self.logged_in:  # before login there is only the login screen
            yield SystemCommand("Chats", "Pick the chats to export (F2)", lambda: self.switch_mode("chats"))
            yield SystemCommand("Dashboard", "Live progress of the export (F3)", lambda: self.switch_mode("dashboard"))
            yield SystemCommand("Pools", "Worker pools and the media queue (F4)", lambda: self.switch_mode("pools"))
            yield SystemCommand("Throttle", "Request latency and FloodWaits (F5)", lambda: self.switch_mode("throttle"))
            yield SystemCommand(
                "Settings", "Pool sizes, media workers, export options (F6)", lambda: self.switch_mode("settings")
            )
        if self.export_active:
            yield SystemCommand(
                "Pause or resume export", "Pause the running export, or resume it (F7)", self.action_pause_resume
            )
            yield SystemCommand(
                "Cancel export", "Stop the export; the next run continues it (F8)", self.action_cancel_export
            )
        yield SystemCommand("Keys", "Every key binding (F1)", self.action_help)
        if isinstance(screen, ChatsScreen):
            yield from screen.commands()

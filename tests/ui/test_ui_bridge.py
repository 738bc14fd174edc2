"""Screens stand on their own: they talk to the engine through the bridge and tell the app by messages."""

from __future__ import annotations

from textual.app import App
from textual.message import Message

from tests.support.waiting import click, wait_until
from tests.ui.samples import dialogs
from tobs_tui.config import Settings
from tobs_tui.engine import ChatSelection, EngineRunner
from tobs_tui.ui.bridge import EngineBridge
from tobs_tui.ui.messages import ExportRequested
from tobs_tui.ui.screens.chats import ChatsScreen
from tobs_tui.ui.screens.login import LoginScreen
from tobs_tui.ui.widgets.dialog_table import DialogTable

API_HASH = "0123456789abcdef0123456789abcdef"


class Host(App[None]):
    """A bare app that only shows one screen: nothing a screen could call into."""

    def __init__(self, screen_factory) -> None:
        super().__init__()
        self.screen_factory = screen_factory
        self.results: list[object] = []

    def on_mount(self) -> None:
        self.push_screen(self.screen_factory(), self.results.append)


def offline_bridge() -> EngineBridge:
    return EngineBridge(session="unused", settings=Settings, on_snapshot=lambda s: None, on_event=lambda e: None)


async def test_the_chat_list_asks_for_an_export_by_message():
    seen: list[Message] = []
    app = Host(lambda: ChatsScreen(offline_bridge()))
    async with app.run_test(size=(140, 40), message_hook=seen.append) as pilot:
        await pilot.pause()
        table = app.screen.query_one(DialogTable)
        table.set_dialogs(dialogs(12))
        table.toggle(table._rows[1])
        table.toggle(table._rows[3])
        wanted = {table._rows[1][0].chat_id, table._rows[3][0].chat_id}
        table.focus()
        await pilot.press("enter")
        await pilot.pause()
    asked = list({id(m): m for m in seen if isinstance(m, ExportRequested)}.values())  # seen again as it bubbles
    assert len(asked) == 1
    chats = asked[0].request.chats
    assert {s.chat_id for s in chats} == wanted and all(isinstance(s, ChatSelection) for s in chats)


async def test_login_runs_on_the_bridge_alone(emulator):
    w = emulator.world
    bridge = EngineBridge(
        session=emulator.session_string(authorized=False),
        settings=Settings,
        on_snapshot=lambda s: None,
        on_event=lambda e: None,
    )
    app = Host(lambda: LoginScreen(bridge, step="api"))
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.step == "api")
            for field, value in (("#api-id", "1"), ("#api-hash", API_HASH)):
                app.screen.query_one(field).value = value
            await click(pilot, "#login-next")
            await wait_until(pilot, lambda: app.screen.step == "phone", what="the phone step")
            assert isinstance(bridge.runner, EngineRunner) and bridge.credentials == (1, API_HASH)
            app.screen.query_one("#phone").value = w.demo_phone
            await click(pilot, "#login-next")
            await wait_until(pilot, lambda: app.screen.step == "code", what="the code step")
            app.screen.query_one("#code").value = w.demo_code
            await click(pilot, "#login-next")
            await wait_until(pilot, lambda: app.results == [True], what="the screen to dismiss")
    finally:
        await bridge.close()
    assert bridge.runner is None


def test_the_dashboard_renders_in_a_worker_process_even_on_one_cpu(monkeypatch):
    """On one CPU `tobs-tui export` renders in its own process; the dashboard's runner keeps a worker, as
    rendering on the engine's threads would hold the GIL against the UI's loop (docs/PERFORMANCE.md, section 6)."""
    import tobs_tui.engine.runner.runner as runner_module

    monkeypatch.setattr(runner_module, "usable_cpus", lambda: 1)
    dashboard = offline_bridge().open(1, API_HASH)
    headless = EngineRunner(Settings(), session="unused", api_id=1, api_hash=API_HASH)
    try:
        headless.start()
        assert dashboard._render_pool is not None
        assert headless._render_pool is None
    finally:
        dashboard.stop()
        headless.stop()

"""Keys and commands say what they do where the focus is, and offer only what can happen now."""

from __future__ import annotations

import pytest
from textual.command import CommandList, CommandPalette
from textual.containers import VerticalScroll
from textual.widgets import Input, Label
from textual.widgets._footer import FooterKey

from tests.support.waiting import wait_until
from tests.ui.samples import dialogs, snapshot
from tests.ui.test_ui_snapshots import offline_app
from tobs_tui.engine.snapshot import RunState
from tobs_tui.ui.app import DemoInfo
from tobs_tui.ui.screens.dashboard import DashboardScreen
from tobs_tui.ui.screens.login import LoginScreen
from tobs_tui.ui.widgets.dialog_table import DialogTable


async def palette_titles(app, pilot) -> list[str]:
    await pilot.press("ctrl+p")
    await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), what="the command palette")
    options = app.screen.query_one(CommandList)
    await wait_until(pilot, lambda: options.option_count > 0, what="the palette's commands")
    await pilot.pause(0.5)  # all of them: the commands are gathered in the background
    titles = [str(options.get_option_at_index(i).prompt).split("\n")[0] for i in range(options.option_count)]
    await pilot.press("escape")
    await pilot.pause()
    return titles


async def test_the_palette_lists_keys_once_and_cancel_only_while_an_export_runs():
    app = offline_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await app.switch_mode("dashboard")
        await pilot.pause()
        idle = await palette_titles(app, pilot)
        assert idle.count("Keys") == 1, idle
        assert "Cancel export" not in idle and "Pause or resume export" not in idle, idle
        app.apply_snapshot(snapshot(8.0))  # a running export
        running = await palette_titles(app, pilot)
        assert "Cancel export" in running and running.count("Keys") == 1, running


def status(app) -> str:
    return str(app.screen.query_one("#chat-status", Label).render())


async def test_typing_and_backspace_on_the_list_both_go_to_the_filter_and_the_status_says_so():
    app = offline_app()
    async with app.run_test(size=(140, 40)) as pilot:
        app.pop_screen()  # no login: the chat list with our own dialogs
        await pilot.pause()
        table = app.screen.query_one(DialogTable)
        table.set_dialogs(dialogs(30))
        filter_input = app.screen.query_one("#filter", Input)
        filter_input.focus()
        await pilot.press("escape")
        assert app.screen.focused is table and "Space selects" in status(app)
        await pilot.press("r", "u", "s", "t", "space", "l")
        assert filter_input.value == "rust l" and app.screen.focused is filter_input
        assert "Space too" in status(app) and "Space selects" not in status(app)
        await pilot.press("escape")
        assert app.screen.focused is table and "Space selects" in status(app)
        await pilot.press("backspace")
        assert filter_input.value == "rust " and app.screen.focused is filter_input
        await pilot.press("enter")
        await pilot.press("space")  # back on the list, Space selects
        assert table.selected and filter_input.value == "rust "


def footer_keys(app) -> dict[str, str]:
    """The keys the footer of the screen shown offers (whether or not they fit): key -> description."""
    return {k.key: k.description for k in app.screen.query(FooterKey) if not k.has_class("-command-palette")}


async def footer_offers(pilot, app, wanted: dict[str, str | None]) -> None:
    """Wait for the footer (it is rebuilt after a refresh) to offer each key with its description, or not (None)."""

    def offered() -> bool:
        keys = footer_keys(app)
        return all(keys.get(key) == description for key, description in wanted.items())

    await wait_until(pilot, offered, timeout=5, what=f"the footer to offer {wanted}, not {footer_keys(app)}")


@pytest.mark.parametrize("size", [(80, 24), (140, 40)])
async def test_f7_and_f8_are_offered_only_while_an_export_runs(size):
    app = offline_app(logged_in=True)
    async with app.run_test(size=size) as pilot:
        await app.switch_mode("dashboard")
        await footer_offers(pilot, app, {"f7": None, "f8": None})  # no export yet
        app.apply_snapshot(snapshot(4.0))
        await footer_offers(pilot, app, {"f7": "Pause", "f8": "Cancel export"})

        def shown() -> set[str]:
            return {k.key for k in app.screen.query(FooterKey) if k.display and k.region.width}

        await wait_until(pilot, lambda: {"f7", "f8"} <= shown(), timeout=5, what=f"F7 and F8 whole, not {shown()}")
        app.apply_snapshot(snapshot(8.0, RunState.PAUSED))
        await footer_offers(pilot, app, {"f7": "Resume", "f8": "Cancel export"})
        await app.switch_mode("pools")  # built while the export is paused
        await footer_offers(pilot, app, {"f7": "Resume", "f8": "Cancel export"})
        await app.switch_mode("dashboard")
        app.apply_snapshot(snapshot(12.0, RunState.DONE))
        await footer_offers(pilot, app, {"f7": None, "f8": None})
        assert not {"f7", "f8"} & set(app.screen.active_bindings), "and no other key offers them"
        # Pressing them now does nothing: no question, no toast, the state stays.
        await pilot.press("f7", "f8")
        await pilot.pause(0.3)
        assert isinstance(app.screen, DashboardScreen) and not app._notifications, list(app._notifications)
        assert app.live.latest.state is RunState.DONE
        # A screen built while the export ran offers them no longer when shown again.
        await app.switch_mode("pools")
        await footer_offers(pilot, app, {"f7": None, "f8": None})


@pytest.mark.parametrize("size", [(80, 24), (140, 40)])
async def test_before_login_no_key_leaves_the_login_screen(size):
    app = offline_app(demo=DemoInfo("realistic", "+15550100", "12345", "+15550199", "tobs-demo-2fa"))
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, LoginScreen)
        await footer_offers(pilot, app, {"f1": "Help", "f2": None, "f3": None, "f4": None, "f5": None})
        for key in ("f2", "f3", "f4", "f5"):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, LoginScreen) and app.current_mode == "chats", key
        titles = await palette_titles(app, pilot)
        assert not {"Chats", "Dashboard", "Pools", "Throttle"} & set(titles), titles
        assert isinstance(app.screen, LoginScreen)
        # Settings stays reachable (a proxy may be what the login needs), and F2 leads back to the login.
        await pilot.press("f6")
        await pilot.pause()
        assert app.current_mode == "settings"
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, LoginScreen) and app.current_mode == "chats"


SETTINGS_TAB_ORDER = [
    "critical",
    "standard",
    "media-workers",
    "concurrency",
    "output-dir",
    "timezone",
    "refresh",
    "proxy",
    "takeout",
    "download-media",
    "media-kinds",
    "apply",
    "save",
]


@pytest.mark.parametrize("size", [(80, 24), (140, 40)])
async def test_tab_goes_from_field_to_field_and_brings_each_into_view(size):
    app = offline_app(logged_in=True)
    async with app.run_test(size=size) as pilot:
        await app.switch_mode("settings")
        await pilot.pause()
        form = app.screen.query_one("#settings-form", VerticalScroll)
        seen = [app.screen.focused.id if app.screen.focused else None]
        for _ in SETTINGS_TAB_ORDER:
            await pilot.press("tab")
            await pilot.pause()
            focused = app.screen.focused
            seen.append(focused.id if focused else None)
            if focused is not None and form in focused.ancestors:
                assert form.region.contains_region(focused.region), (focused.id, focused.region, form.region)
        assert seen == [*SETTINGS_TAB_ORDER, SETTINGS_TAB_ORDER[0]], "no stop on the form itself"
        if size == (80, 24):
            assert form.max_scroll_y > 0, "the form is taller than this screen"
            # The page keys still scroll the form from the field that has the focus.
            await pilot.press("pagedown")
            await pilot.pause()
            assert form.scroll_y > 0 and app.screen.focused.id == "critical"

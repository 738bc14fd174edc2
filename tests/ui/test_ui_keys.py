"""Keys and commands say what they do where the focus is, and offer only what can happen now."""

from __future__ import annotations

from textual.command import CommandList, CommandPalette
from textual.widgets import Input, Label

from tests.ui.samples import dialogs, snapshot
from tests.ui.test_ui_snapshots import offline_app
from tobs_tui.ui.widgets.dialog_table import DialogTable


async def palette_titles(app, pilot) -> list[str]:
    await pilot.press("ctrl+p")
    await pilot.pause(0.5)
    assert isinstance(app.screen, CommandPalette)
    options = app.screen.query_one(CommandList)
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

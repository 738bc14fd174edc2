"""Keys and commands say what they do where the focus is, and offer only what can happen now."""

from __future__ import annotations

from textual.command import CommandList, CommandPalette

from tests.ui.samples import snapshot
from tests.ui.test_ui_snapshots import offline_app


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

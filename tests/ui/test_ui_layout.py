"""Every screen usable at 80x24 and nothing cut at the large size: checked on the real widgets' regions."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.geometry import Region
from textual.widgets import Button, Input, Label, Switch
from textual.widgets._footer import FooterKey

from tests.ui.samples import dialogs
from tests.ui.test_ui_snapshots import feed, offline_app
from tobs_tui.ui.app import DemoInfo
from tobs_tui.ui.widgets.chat_progress import ChatProgressList
from tobs_tui.ui.widgets.columns import fit_columns
from tobs_tui.ui.widgets.dialog_table import DialogTable

SMALL = (80, 24)


def header_line(widget) -> str:
    return "".join(seg.text for seg in widget.render_line(0))


async def test_settings_fields_are_visible_at_80x24():
    app = offline_app()
    async with app.run_test(size=SMALL) as pilot:
        await app.switch_mode("settings")
        await pilot.pause()
        for field in app.screen.query(Input):
            assert field.region.width >= 10 and field.region.right <= SMALL[0], (field.id, field.region)
        app.screen.query_one("#settings-form").scroll_end(animate=False)
        await pilot.pause()
        for button in app.screen.query(Button):
            assert str(button.label) in str(button.render()) and button.region.width >= len(str(button.label))


async def test_a_settings_label_never_runs_into_its_switch():
    app = offline_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await app.switch_mode("settings")
        await pilot.pause()
        for switch in app.screen.query(Switch):
            label = switch.parent.query_one(Label)
            assert label.content_region.right < switch.region.x, (label.content_region, switch.region)


@pytest.mark.parametrize("size", [SMALL, (140, 40)])
async def test_login_opens_at_its_heading_and_fits_the_width(size):
    app = offline_app(demo=DemoInfo("realistic", "+15550100", "12345", "+15550199", "tobs-demo-2fa"))
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        panel = app.screen.query_one("#login")
        assert panel.region.right <= size[0], panel.region
        assert app.screen.scroll_y == 0
        title = app.screen.query_one("#login-title")
        assert 0 < title.region.y < size[1] - 1, title.region


async def test_dashboard_columns_give_way_by_priority_at_80x24():
    app = offline_app()
    async with app.run_test(size=SMALL) as pilot:
        await app.switch_mode("dashboard")
        await pilot.pause()
        await feed(app, pilot)
        header = header_line(app.screen.query_one(ChatProgressList))
        for kept in ("Chat", "Messages", "ETA", "State"):
            assert kept in header, header
        assert "Written" not in header and "MB/s" not in header, header


async def test_chats_footer_is_whole_at_140_columns_and_the_table_fits_at_80():
    app = offline_app()
    async with app.run_test(size=(140, 40)) as pilot:
        app.pop_screen()
        await pilot.pause()
        keys = [k for k in app.screen.query(FooterKey) if "command_palette" not in k.action]
        palette = next(k for k in app.screen.query(FooterKey) if "command_palette" in k.action)
        assert keys and max(k.region.right for k in keys) <= palette.region.x, [(k.description, k.region) for k in keys]
        assert all(k.region.width > 0 for k in keys), [k.description for k in keys if not k.region.width]
    app = offline_app()
    async with app.run_test(size=SMALL) as pilot:
        app.pop_screen()
        await pilot.pause()
        table = app.screen.query_one(DialogTable)
        table.set_dialogs(dialogs(20))
        await pilot.pause()
        header = header_line(table)
        assert "Messages" in header and "Media" in header and len(header.rstrip()) <= table.size.width


def test_the_bar_shrinks_before_any_column_goes():
    columns = [("title", 0), ("bar", 24), ("a", 10), ("b", 10)]
    fit = {"flexible": "title", "flexible_min": 10, "shrink": [("bar", 6)], "give_way": ("a", "b")}
    assert fit_columns(100, columns, **fit) == {"title": 53, "bar": 24, "a": 10, "b": 10}
    assert fit_columns(50, columns, **fit) == {"title": 10, "bar": 17, "a": 10, "b": 10}
    assert fit_columns(30, columns, **fit) == {"title": 10, "bar": 8, "a": 0, "b": 10}


def visible(app, widget) -> Region:
    geo = app.screen.find_widget(widget)
    return geo.region.intersection(geo.clip).intersection(app.screen.region)


def words_seen(app, widget) -> str:
    """The words of a widget as the screen shows them inside its visible region, in reading order."""
    region = visible(app, widget)
    strips = app.screen._compositor.render_strips()
    rows = ("".join(seg.text for seg in strips[y].crop(region.x, region.right)) for y in range(region.y, region.bottom))
    return " ".join(" ".join(rows).split())


async def show_settings_errors(app, pilot) -> None:
    app.screen.query_one("#timezone", Input).value = "Mars/Olympus_Mons"
    app.screen.query_one("#proxy", Input).value = "socks5://user:pw@host"
    await pilot.press("ctrl+a")
    await pilot.pause()


@pytest.mark.parametrize("size", [SMALL, (110, 40), (116, 40), (117, 40), (125, 40)])
async def test_every_settings_field_hint_and_error_is_whole_at_any_width(size):
    # Between 110 and ~125 columns the 44-cell label and the 30-cell field once sat beside the engine's panel
    # without room: fields were cut, the disk hint was cut, and an error came out 2 cells wide (one letter a row).
    app = offline_app()
    async with app.run_test(size=size) as pilot:
        await app.switch_mode("settings")
        await pilot.pause()
        await feed(app, pilot)
        await show_settings_errors(app, pilot)
        form = app.screen.query_one("#settings-form")
        panel = app.screen.query_one("#engine-now")
        if panel.display and panel.region.y < form.region.bottom:  # beside the form: never over it
            assert form.region.right <= panel.region.x, (form.region, panel.region)
        for field in app.screen.query(Input):
            field.scroll_visible(animate=False, immediate=True)
            await pilot.pause()
            assert visible(app, field) == field.region, (field.id, field.region, visible(app, field))
            assert field.region.right <= form.scrollable_content_region.right, (field.id, field.region)
        hint = app.screen.query_one("#disk-info", Label)
        hint.scroll_visible(animate=False, immediate=True)
        await pilot.pause()
        assert words_seen(app, hint) == " ".join(str(hint.render()).split())
        for field_id in ("timezone", "proxy"):
            error = app.screen.query_one(f"#{field_id}-error", Label)
            error.scroll_visible(animate=False, immediate=True)
            await pilot.pause()
            whole = " ".join(str(error.render()).split())
            assert whole.startswith("must be") and words_seen(app, error) == whole, (field_id, error.region)
            # The error has the form's whole width: a short line or two, never a column of letters.
            assert error.region.width >= form.scrollable_content_region.width - 4, (field_id, error.region)
            assert error.region.height <= 3, (field_id, error.region)


@pytest.mark.parametrize("size", [SMALL, (140, 40)])
async def test_a_failed_save_says_applied_not_saved_and_why_on_a_line_of_its_own(size, tmp_path, monkeypatch):
    # At 80x24 the sentence once sat beside the buttons in 23 columns: 9 rows, the path split mid-word, the form
    # squeezed to 3 fields; and it said nothing of the values that were applied all the same.
    monkeypatch.chdir(tmp_path)  # a path of a usual length, whatever the length of pytest's own
    blocker = Path("Documents/afile")
    blocker.parent.mkdir()
    blocker.write_text("not a folder")
    app = offline_app(config_path=blocker / "config.toml")
    async with app.run_test(size=size) as pilot:
        await app.switch_mode("settings")
        await pilot.pause()
        app.screen.query_one("#concurrency", Input).value = "7"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.settings.export.max_concurrent_requests == 7, "applied all the same"
        result = app.screen.query_one("#settings-result", Label)
        buttons = app.screen.query_one("#settings-buttons")
        whole = " ".join(str(result.render()).split())
        assert "Applied to the running engine" in whole and "not saved" in whole, whole
        assert str(blocker / "config.toml") in whole and "permissions" in whole, whole
        assert result.region.y >= buttons.region.bottom and result.region.width == size[0], result.region
        assert words_seen(app, result) == whole, ("the whole sentence, its path in one piece", words_seen(app, result))
        assert result.region.height <= 3, result.region
        assert app.screen.query_one("#settings-form").region.height >= 10


async def test_the_latency_legend_leaves_the_line_alone_at_80x24():
    # 36 columns of chart once had its 4-line legend and the "FW 11s" label drawn over the latency line.
    app = offline_app()
    async with app.run_test(size=SMALL) as pilot:
        await app.switch_mode("throttle")
        await pilot.pause()
        await feed(app, pilot)
        chart = app.screen.query_one("#latency")
        region = visible(app, chart)
        strips = app.screen._compositor.render_strips()
        rows = [
            "".join(seg.text for seg in strips[y].crop(region.x, region.right)) for y in range(region.y, region.bottom)
        ]
        top = next(i for i, row in enumerate(rows) if "┌" in row)
        bottom = next(i for i, row in enumerate(rows) if "└" in row)
        inside = "\n".join(rows[top + 1 : bottom])  # the plot's frame
        for label in ("throttled", "baseline", "threshold", "latency", "FW "):
            assert label not in inside, (label, rows)
        assert "throttled" in rows[-1] and "baseline" in rows[-1] and "3x" in rows[-1], rows[-1]

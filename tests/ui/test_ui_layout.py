"""Every screen usable at 80x24 and nothing cut at the large size: checked on the real widgets' regions."""

from __future__ import annotations

import pytest
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

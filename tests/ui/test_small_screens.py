"""Every value whole or shortened (never cut), and everything that does not fit in a box that scrolls and takes the
focus: the dashboard's chat rows and recent events, the settings' engine figures, the throttle's FloodWait list,
the pools, the chat list and the dialogs, at 80x24 and at 200x60 (the dialogs at 60x20 too)."""

from __future__ import annotations

import dataclasses
import re
from datetime import date

import pytest
from rich.cells import cell_len
from textual.widget import Widget
from textual.widgets import Button, Label

from tests.support.waiting import wait_until
from tests.ui.samples import WALL0, dialogs, snapshot
from tests.ui.test_ui_small import seen, visible
from tests.ui.test_ui_snapshots import feed, offline_app
from tobs_tui.engine.snapshot import (
    ChatKind,
    ChatProgress,
    ChatState,
    DcParts,
    EngineEvent,
    EngineSnapshot,
    EventKind,
)
from tobs_tui.ui import format as fmt
from tobs_tui.ui.screens.confirm import ConfirmScreen
from tobs_tui.ui.screens.help import HelpScreen
from tobs_tui.ui.screens.since import SinceScreen
from tobs_tui.ui.widgets.chat_progress import ChatProgressList
from tobs_tui.ui.widgets.dialog_table import DialogTable

SMALL, LARGE = (80, 24), (200, 60)
SIZES = [SMALL, LARGE]
LONG_TITLE = "The International Association of Extremely Verbose Channel Titles (Official Announcements)"
FLOOD = 'Telegram asked to wait 86400 s on messages.getHistory for "{}"; waiting 86401 s.'


def big_numbers(base: EngineSnapshot, queued: int = 36) -> EngineSnapshot:
    """Two running chats with counts and a rate wider than their columns' usual widths, and rows of titles alike
    up to their last word."""
    chats = [
        ChatProgress(1, LONG_TITLE, None, ChatState.RUNNING, 987_654, 1_000_000, 12_345_000_000, 99_000_000_000,
                     123_456.0, 12_345_678_901.0, 4 * 86400.0),
        ChatProgress(2, "Millions", None, ChatState.RUNNING, 1_000_000, 12_000_000, 999_000_000, 1_500_000_000,
                     2345.6, 98_765_432.0, 3700.0),
    ]  # fmt: skip
    chats += [
        ChatProgress(100 + i, f"Queued chat number {i}", None, ChatState.QUEUED, 0, 500, 0, 0, 0.0, 0.0, None)
        for i in range(queued)
    ]
    return dataclasses.replace(base, chats=tuple(chats))


async def show_dashboard(app, pilot, snap: EngineSnapshot) -> ChatProgressList:
    await app.switch_mode("dashboard")
    await pilot.pause()
    app.apply_snapshot(snap)
    widget = app.screen.query_one(ChatProgressList)
    # The box grows to its rows (up to the stylesheet's cap) on the next layout.
    await wait_until(
        pilot, lambda: sum("Queued" in line for line in seen(app, widget)) >= 3, what="the chat rows in their box"
    )
    return widget


async def focus_by_tab(app, pilot, widget: Widget, presses: int = 8) -> None:
    """Tab from where the focus is until it reaches `widget`: what a keyboard user does."""
    for _ in range(presses):
        if app.screen.focused is widget:
            return
        await pilot.press("tab")
        await pilot.pause()
    assert app.screen.focused is widget, f"Tab never reaches {widget!r}; focus is on {app.screen.focused!r}"


# -- 1. the dashboard's chat rows ------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
async def test_a_chat_row_never_cuts_a_number(size):
    app = offline_app()
    async with app.run_test(size=size) as pilot:
        widget = await show_dashboard(app, pilot, big_numbers(snapshot(20.0)))
        rows = seen(app, widget)
        big = next(line for line in rows if "987" in line)
        millions = next(line for line in rows if "Millions" in line)
        assert "987,654 / 1,000,000" in big or "987.7k / 1.0M" in big, big
        assert "1,000,000 / 12,000,000" in millions or "1.0M / 12.0M" in millions, millions
        if size == LARGE:
            # Room for every digit and every column: the counts whole, the rate with its unit.
            assert "987,654 / 1,000,000" in big and "1,000,000 / 12,000,000" in millions, (big, millions)
            assert "12.35 GB/s" in big and "98.77 MB/s" in millions, (big, millions)
        # A number running into the column's edge: a comma group of fewer than 3 digits at a cell's end.
        for line in (big, millions):
            assert not re.search(r",\d{1,2}(\s|$)", line.replace("│", " ")), line


async def test_the_messages_column_widens_on_a_wide_screen_and_goes_short_on_a_narrow_one():
    app = offline_app()
    async with app.run_test(size=(60, 20)) as pilot:
        widget = await show_dashboard(app, pilot, big_numbers(snapshot(20.0)))
        millions = next(line for line in seen(app, widget) if "Millions" in line)
        assert "1,000,000 / 12,000,000" in millions or "1.0M / 12.0M" in millions, millions


async def test_like_titles_are_cut_with_an_ellipsis_and_keep_their_ends_at_80x24():
    app = offline_app()
    async with app.run_test(size=SMALL) as pilot:
        widget = await show_dashboard(app, pilot, big_numbers(snapshot(20.0)))
        queued = [line for line in seen(app, widget) if "Queued" in line]
        assert len(queued) >= 3, seen(app, widget)
        titles = [line.split("queued")[0].strip("│ ") for line in queued]
        assert all("…" in title for title in titles), titles
        assert len(set(titles)) == len(titles), f"rows of like titles must read apart: {titles}"
        # The pointer on a row whose title is cut shows the whole title.
        row = next(y for y, line in enumerate(seen(app, widget)) if "Queued" in line)
        region = visible(app, widget)
        await pilot.hover(offset=(region.x + 3, region.y + row))
        await pilot.pause()
        assert widget.tooltip and str(widget.tooltip).startswith("Queued chat number"), widget.tooltip


def test_short_counts_rates_and_middle_cuts():
    from tobs_tui.ui.widgets.columns import cut_middle

    assert fmt.short_count(9_999) == "9,999" and fmt.short_count(987_654) == "987.7k"
    assert fmt.short_count(999_960) == "1.0M" and fmt.short_count(12_000_000) == "12.0M"
    assert fmt.count_of(987_654, 1_000_000, 17) == "987.7k / 1.0M"
    assert fmt.count_of(4_000, 12_000, 17) == "4,000 / 12,000" and fmt.count_of(5, None) == f"5 / {fmt.DASH}"
    for rate in (1_250_000, 99_999_000, 123_456_000, 999_999_000, 12_345_678_901, 999_000_000_000, 5e12):
        assert len(fmt.mb_per_s(rate)) <= 10, fmt.mb_per_s(rate)
    assert fmt.mb_per_s(1_250_000) == "1.25 MB/s" and fmt.mb_per_s(12_345_678_901) == "12.35 GB/s"
    assert cut_middle("Queued chat number 12", 16) == "Queued c…mber 12"
    assert cut_middle("short", 16) == "short"
    assert cell_len(cut_middle("家族のグループチャット・旅行計画と写真共有のための場所", 15)) == 15


# -- 2. the engine's figures on the settings screen -------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
async def test_the_engine_figures_are_on_screen_with_the_buttons_and_their_result(size):
    app = offline_app()
    async with app.run_test(size=size) as pilot:
        await app.switch_mode("settings")
        await pilot.pause()
        await feed(app, pilot)
        await pilot.press("ctrl+a")  # Apply: the result line shows too
        await pilot.pause()
        panel = app.screen.query_one("#engine-now")
        assert panel.region.area and visible(app, panel) == panel.region, (panel.region, visible(app, panel))
        assert panel.region.bottom <= size[1] - 1, panel.region  # above the footer
        words = " ".join(" ".join(seen(app, panel)).split())
        for figure in ("critical workers 4", "standard workers 2", "media workers 8", "request limit 8",
                       "in flight 5", "takeout off", "export disk ssd"):  # fmt: skip
            assert figure in words, (figure, words)
        for widget in (*app.screen.query(Button), app.screen.query_one("#settings-result", Label)):
            assert widget.region.area and visible(app, widget) == widget.region, (widget, widget.region)
        assert "Applied" in " ".join(seen(app, app.screen.query_one("#settings-result")))
        assert app.screen.query_one("#settings-form").region.height >= 10


# -- 3. the dashboard's recent events ---------------------------------------------------------------------------------


def many_events(base: EngineSnapshot, n: int = 40) -> EngineSnapshot:
    events = [
        EngineEvent(float(i), WALL0 + i, EventKind.FLOOD_WAIT, FLOOD.format(f"{LONG_TITLE} {i}"), seconds=86401.0)
        for i in range(n - 1)
    ]
    events.append(EngineEvent(float(n), WALL0 + n, EventKind.ERROR, "The newest event: chat 7 failed."))
    return dataclasses.replace(base, events=tuple(events))


@pytest.mark.parametrize("size", SIZES)
async def test_the_recent_events_take_the_focus_and_scroll(size):
    app = offline_app()
    async with app.run_test(size=size) as pilot:
        await app.switch_mode("dashboard")
        await pilot.pause()
        app.apply_snapshot(many_events(snapshot(20.0)))
        log = app.screen.query_one("#events")
        await wait_until(pilot, lambda: log.max_scroll_y > 0, what="the events overflowing their box")
        words = " ".join(" ".join(seen(app, log)).split())
        assert log.scroll_y == 0 and "The newest event" in words, ("the newest on top, in view", words)
        await focus_by_tab(app, pilot, log)
        await pilot.press("pagedown")
        await wait_until(pilot, lambda: log.scroll_y > 0, what="Page Down scrolling the events")
        await pilot.press("end")
        await wait_until(pilot, lambda: log.scroll_y == log.max_scroll_y, what="End scrolling to the oldest event")
        words = " ".join(" ".join(seen(app, log)).split())
        assert log.scroll_y == log.max_scroll_y and "Titles (Official Announcements) 0" in words, words


# -- 4. the throttle's FloodWait list ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
async def test_the_floodwait_list_takes_the_focus_and_scrolls(size):
    app = offline_app()
    async with app.run_test(size=size) as pilot:
        await app.switch_mode("throttle")
        await pilot.pause()
        app.apply_snapshot(many_events(snapshot(20.0), 30))
        flood = app.screen.query_one("#flood-list")
        await wait_until(pilot, lambda: flood.max_scroll_y > 0, what="the FloodWaits overflowing their box")
        assert visible(app, flood).area, "the list has rows on screen"
        await focus_by_tab(app, pilot, flood)
        await pilot.press("end")
        await wait_until(pilot, lambda: flood.scroll_y == flood.max_scroll_y > 0, what="End scrolling the list")
        await pilot.press("home")
        await wait_until(pilot, lambda: flood.scroll_y == 0, what="Home scrolling the list back")


# -- 5. the pools -----------------------------------------------------------------------------------------------------


def with_dcs(base: EngineSnapshot, dcs: int) -> EngineSnapshot:
    by_dc = tuple(DcParts(dc, dc % 3, 30_000_000 + dc, 10) for dc in range(1, dcs + 1))
    media = dataclasses.replace(
        base.media, by_dc=by_dc, bytes_done=12_345_000_000_000, bytes_expected=99_999_000_000_000
    )
    return dataclasses.replace(base, media=media)


@pytest.mark.parametrize("size", SIZES)
async def test_every_pool_row_can_be_scrolled_to(size):
    app = offline_app()
    async with app.run_test(size=size) as pilot:
        await app.switch_mode("pools")
        await pilot.pause()
        app.apply_snapshot(with_dcs(snapshot(20.0), 6))
        await pilot.pause()
        pools = app.screen.query_one("#pools")
        media = app.screen.query_one("#pool-media")
        await wait_until(pilot, lambda: "DC 1 parts" in " ".join(seen(app, media)), what="the media rows")
        await focus_by_tab(app, pilot, pools)
        shown: set[str] = set()
        for _ in range(6):
            shown |= set(re.findall(r"DC \d parts", " ".join(seen(app, media))))
            shown |= {"bytes"} if "12.3 TB of 100.0 TB" in " ".join(seen(app, media)) else set()
            before = pools.scroll_y
            await pilot.press("pagedown")
            moved = lambda before=before: pools.scroll_y > before or pools.scroll_y == pools.max_scroll_y  # noqa: E731
            await wait_until(pilot, moved, what="Page Down scrolling the pools")
        wanted = {f"DC {dc} parts" for dc in range(1, 7)} | {"bytes"}
        assert shown == wanted, f"rows never in view: {wanted - shown}"
        if size == LARGE:
            assert pools.max_scroll_y == 0, "at 200x60 every row fits without scrolling"


# -- 6. the chat list -------------------------------------------------------------------------------------------------


def wide_dialogs() -> list:
    out = dialogs(30)
    long_name = "a_thirty_two_character_username"  # Telegram's longest: 32
    out[0] = dataclasses.replace(
        out[0],
        kind=ChatKind.CHANNEL,
        title=LONG_TITLE,
        username=long_name + "x",
        top_message_id=12_345_680,
        last_exported_id=1_000,
    )
    for i in (1, 2, 3):
        out[i] = dataclasses.replace(out[i], kind=ChatKind.SUPERGROUP, title=f"Queued chat in a long list, number {i}")
    return out


@pytest.mark.parametrize("size", SIZES)
async def test_the_chat_list_never_cuts_a_count_a_username_or_a_title_silently(size):
    app = offline_app(logged_in=True)
    async with app.run_test(size=size) as pilot:
        app.pop_screen()
        await pilot.pause()
        table = app.screen.query_one(DialogTable)
        table.set_dialogs(wide_dialogs())
        table.focus()
        await pilot.pause()
        rows = seen(app, table)
        big = next(line for line in rows if "12,345,680" in line or "12.3M" in line)
        assert "12,344,680 new" in big or "12.3M new" in big, big
        if size == LARGE:
            assert "@a_thirty_two_character_usernamex" in big, big
            assert LONG_TITLE in big, big
        else:
            assert "…" in big and "nts)" in big, "a cut title keeps its end: " + big
        alike = [line for line in rows if "Queued" in line]
        titles = [re.search(r"Queued.*?(?=\s{2})", line)[0] for line in alike]
        assert len(titles) >= 2 and len(set(titles)) == len(titles), f"rows of like titles must read apart: {titles}"


# -- 7. the dialogs ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(60, 20), SMALL])
@pytest.mark.parametrize("dialog", ["confirm", "since", "help"])
async def test_a_dialog_fits_a_small_screen(size, dialog):
    app = offline_app(logged_in=True)
    async with app.run_test(size=size) as pilot:
        app.pop_screen()
        await pilot.pause()
        modal = {
            "confirm": lambda: ConfirmScreen(
                "Cancel the export? Finished notes stay; the next run continues where it stopped.",
                yes="Cancel export",
                no="Keep going",
            ),
            "since": lambda: SinceScreen(date(2024, 1, 31)),
            "help": HelpScreen,
        }[dialog]()
        app.push_screen(modal)
        await pilot.pause(0.2)
        box = modal.query_one("#help" if dialog == "help" else "#dialog")
        assert app.screen.region.contains_region(box.region), (box.region, size)
        for button in modal.query(Button):
            assert visible(app, button) == button.region, (button.label, button.region)

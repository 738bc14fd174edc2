"""Widget-level tests fed with real engine data types: the chat table, formatting, history, panels."""

from __future__ import annotations

import io
import statistics
import time
from datetime import date, timedelta

import pytest
from rich.console import Console
from textual.app import App, ComposeResult

from tests.ui.samples import dialogs, snapshot, topics
from tobs_tui.engine.snapshot import (
    ChatKind,
    ChatProgress,
    ChatState,
    DcParts,
    DialogInfo,
    EngineEvent,
    EventKind,
    MediaStats,
    PoolStats,
    RunState,
)
from tobs_tui.ui import format as fmt
from tobs_tui.ui.history import LiveHistory
from tobs_tui.ui.screens.login import check_api
from tobs_tui.ui.screens.since import parse_since
from tobs_tui.ui.widgets.chat_progress import ChatProgressList
from tobs_tui.ui.widgets.dialog_table import DialogTable, RowOptions, last_export_text
from tobs_tui.ui.widgets.event_log import event_line
from tobs_tui.ui.widgets.pool_panel import pool_table
from tobs_tui.ui.widgets.run_summary import summary_text


def plain(renderable, width: int = 160) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.file.getvalue()


class TableApp(App):
    def __init__(self, rows: list[DialogInfo]) -> None:
        super().__init__()
        self.rows = rows
        self.wanted: list[int] = []

    def compose(self) -> ComposeResult:
        yield DialogTable()

    def on_mount(self) -> None:
        self.query_one(DialogTable).set_dialogs(self.rows)

    def on_dialog_table_topics_wanted(self, event: DialogTable.TopicsWanted) -> None:
        self.wanted.append(event.chat_id)


def titles(table: DialogTable) -> list[str]:
    return [d.title if t is None else f"{d.title}/{t.title}" for d, t in table._rows]


def screen_text(table: DialogTable) -> list[str]:
    return [table.render_line(y).text for y in range(table.scrollable_content_region.height)]


# -- the chat table ---------------------------------------------------------------------------------


async def test_filter_matches_title_username_and_id_case_insensitively():
    app = TableApp(dialogs(40))
    async with app.run_test(size=(120, 30)):
        table = app.query_one(DialogTable)
        assert table.visible_count == 40
        table.set_filter("RUST")
        assert titles(table) and all("Rust" in t for t in titles(table))
        table.set_filter("@handle11")
        assert titles(table) == ["Makers Forum 11"]
        table.set_filter("1007")
        assert titles(table) == ["Rust Learners 7"]
        table.set_filter("no such chat")
        assert table.visible_count == 0
        assert "Title" in screen_text(table)[0]
        table.set_filter("")
        assert table.visible_count == 40


async def test_kind_filter_and_sort_by_columns():
    app = TableApp(dialogs(40))
    async with app.run_test(size=(120, 30)):
        table = app.query_one(DialogTable)
        table.set_kind_filter(frozenset({ChatKind.CHANNEL}))
        assert {d.kind for d, _ in table._rows} == {ChatKind.CHANNEL}
        table.set_kind_filter(None)
        table.sort_by("title")
        names = [d.title.lower() for d, _ in table._rows]
        assert names == sorted(names)
        table.sort_by("title")  # again: reversed
        assert [d.title.lower() for d, _ in table._rows] == sorted(names, reverse=True)
        table.sort_by("unread")
        unread = [d.unread for d, _ in table._rows]
        assert unread == sorted(unread, reverse=True)
        assert "Unread ▼" in screen_text(table)[0]


async def test_space_selects_and_select_all_respects_the_filter():
    app = TableApp(dialogs(40))
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(DialogTable)
        table.focus()
        first = table.current
        await pilot.press("space")
        assert set(table.selected) == {(first[0].chat_id, None)}
        assert table.cursor == 1, "space moves on so several rows are picked quickly"
        await pilot.press("up", "space")
        assert table.selected == {}
        table.set_filter("photo")
        table.select_all()
        assert {k[0] for k in table.selected} == {d.chat_id for d, _ in table._rows}
        assert all("Photo" in d.title for d in dialogs(40) if (d.chat_id, None) in table.selected)
        table.select_none()
        assert table.selected == {}


async def test_forum_expands_to_topics_and_picks_stay_consistent():
    app = TableApp(dialogs(12))
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(DialogTable)
        table.focus()
        table.set_filter("makers forum 5")
        await pilot.press("right")
        await pilot.pause()
        assert app.wanted == [1005], "an unloaded forum asks for its topics"
        table.set_topics(1005, topics(1005))
        assert titles(table) == [
            "Makers Forum 5",
            "Makers Forum 5/Topic 0",
            "Makers Forum 5/Topic 1",
            "Makers Forum 5/Topic 2",
        ]
        table.toggle(table._rows[0])
        table.toggle(table._rows[2])  # a topic of a chat picked whole replaces the whole-chat pick
        assert set(table.selected) == {(1005, 10051)}
        table.toggle(table._rows[0])
        assert set(table.selected) == {(1005, None)}
        table.cursor = 2
        await pilot.press("left")
        assert titles(table) == ["Makers Forum 5"] and table.cursor == 0


async def test_options_apply_to_the_selection_and_show_in_the_row():
    app = TableApp(dialogs(10))
    async with app.run_test(size=(140, 30)):
        table = app.query_one(DialogTable)
        table.toggle(table._rows[0])
        table.toggle(table._rows[1])
        table.set_options(media=False)
        table.set_options(since=date(2024, 1, 31))
        assert set(table.selected.values()) == {RowOptions(media=False, since=date(2024, 1, 31))}
        lines = screen_text(table)
        assert "off" in lines[1] and "2024-01-31" in lines[1]
        assert "off" not in lines[3]


def test_last_export_column_words():
    d = DialogInfo(1, ChatKind.USER, "A", None, top_message_id=100, unread=0)
    assert last_export_text(d) == "never"
    assert last_export_text(DialogInfo(1, ChatKind.USER, "A", None, 100, 0, last_exported_id=100)) == "up to date"
    assert last_export_text(DialogInfo(1, ChatKind.CHANNEL, "A", None, 1100, 0, last_exported_id=100)) == "1,000 new"
    # Private chats share the account's id sequence: the id gap is an upper bound, not a count.
    assert last_export_text(DialogInfo(1, ChatKind.USER, "A", None, 1100, 0, last_exported_id=100)) == "has new"
    assert DialogInfo(1, ChatKind.USER, "A", None, 1100, 0).message_estimate is None
    assert DialogInfo(1, ChatKind.SUPERGROUP, "A", None, 1100, 0).message_estimate == 1100


async def test_filter_keystroke_with_10000_dialogs_is_well_under_50ms():
    many = [
        DialogInfo(
            i,
            list(ChatKind)[i % 6],
            f"Chat {i} {'project' if i % 7 else 'family'} {i * 31 % 997}",
            f"user{i}" if i % 2 else None,
            i * 13 % 90_000,
            i % 9,
            is_forum=i % 6 == 5,
        )
        for i in range(10_000)
    ]
    app = TableApp(many)
    async with app.run_test(size=(160, 50)):
        table = app.query_one(DialogTable)
        typed = "project 42"
        costs = []
        for _rounds in range(3):
            for n in range(1, len(typed) + 1):
                start = time.perf_counter()
                table.set_filter(typed[:n])
                screen_text(table)  # the visible lines are what a keystroke has to draw
                costs.append((time.perf_counter() - start) * 1000)
            for n in range(len(typed), -1, -1):
                start = time.perf_counter()
                table.set_filter(typed[:n])
                screen_text(table)
                costs.append((time.perf_counter() - start) * 1000)
        median, worst = statistics.median(costs), max(costs)
        print(
            f"\nfilter keystroke over 10,000 dialogs: median {median:.2f} ms, worst {worst:.2f} ms "
            f"({len(costs)} keystrokes)"
        )
        assert table.visible_count == 10_000
        assert median < 50, f"median keystroke {median:.1f} ms"


# -- formatting --------------------------------------------------------------------------------------


def test_unknown_values_read_as_a_dash():
    assert fmt.duration(None) == fmt.DASH
    assert fmt.duration(float("nan")) == fmt.DASH
    assert fmt.rate(None) == fmt.DASH
    assert fmt.size(None) == fmt.DASH
    assert fmt.millis(None) == fmt.DASH


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (59.4, "59s"), (61, "1m 01s"), (3_600, "1h 00m"), (90_000, "1d 01h")]
)
def test_durations(seconds, text):
    assert fmt.duration(seconds) == text


def test_sizes_and_rates():
    assert fmt.size(999) == "999 B"
    assert fmt.size(1_250_000) == "1.2 MB"
    assert fmt.mb_per_s(1_250_000) == "1.25 MB/s"
    assert fmt.rate(240.54, " msgs/s") == "241 msgs/s"
    assert fmt.rate(12_345) == "12.3k/s"


# -- history ---------------------------------------------------------------------------------------


def test_history_keeps_each_latency_sample_and_event_once():
    live = LiveHistory()
    for t in (5.0, 10.0, 10.0, 20.0):
        live.add_snapshot(snapshot(t))
    ts = [s.t for s in live.latency]
    assert ts == sorted(set(ts))
    assert len(live.events) == len(snapshot(20.0).events)
    assert not live.add_event(snapshot(20.0).events[0])
    assert [p.t for p in live.rates] == [5.0, 10.0, 10.0, 20.0]
    assert list(live.queue_depth["critical"]) == [7.0] * 4
    assert list(live.queue_depth["media"]) == [9.0] * 4, "the media queue depth comes from MediaStats"


def test_a_snapshot_delivered_after_a_newer_one_changes_nothing():
    live = LiveHistory()
    for t in (5.0, 6.0, 5.99):
        live.add_snapshot(snapshot(t))
    assert [p.t for p in live.rates] == [5.0, 6.0] and live.latest.t == 6.0


def test_history_starts_over_when_a_new_engine_clock_begins():
    live = LiveHistory()
    live.add_snapshot(snapshot(20.0))
    live.add_snapshot(snapshot(3.0))
    assert [p.t for p in live.rates] == [3.0]
    assert all(s.t <= 3.0 for s in live.latency)


# -- panels ------------------------------------------------------------------------------------------


class ProgressApp(App):
    def compose(self) -> ComposeResult:
        yield ChatProgressList()


async def test_chat_rows_put_running_chats_first_and_dash_what_is_unknown():
    app = ProgressApp()
    async with app.run_test(size=(150, 12)):
        widget = app.query_one(ChatProgressList)
        assert "No export yet" in widget.render_line(0).text
        widget.show(snapshot(20.0).chats)
        lines = [widget.render_line(y).text for y in range(4)]
        assert "Messages" in lines[0] and "ETA" in lines[0]
        assert "Rust Learners 1" in lines[1] and "running" in lines[1]
        assert "Makers Forum 5" in lines[2] and "queued" in lines[2]
        assert "Alice 0" in lines[3] and "done" in lines[3]
        assert "4,000 / 12,000" in lines[1] and "1.25 MB/s" in lines[1] and "33s" in lines[1]
        assert "━" * 8 in lines[1]
        assert lines[2].rstrip().endswith(fmt.DASH)


async def test_failed_chat_shows_its_error():
    chat = ChatProgress(
        1, "Broken", None, ChatState.FAILED, 5, 10, 0, 0, 0.0, 0.0, None, error="The chat is private now."
    )
    app = ProgressApp()
    async with app.run_test(size=(150, 12)):
        widget = app.query_one(ChatProgressList)
        widget.show((chat,))
        assert "The chat is private now." in widget.render_line(1).text


async def test_hundreds_of_chats_draw_only_what_is_visible():
    many = tuple(
        ChatProgress(i, f"Chat {i:03d}", None, ChatState.RUNNING, i, 500, 0, 0, 1.0, 0.0, 10.0) for i in range(400)
    )
    app = ProgressApp()
    async with app.run_test(size=(150, 20)):
        widget = app.query_one(ChatProgressList)
        widget.show(many)
        assert widget.virtual_size.height == 401
        start = time.perf_counter()
        for y in range(widget.scrollable_content_region.height):
            widget.render_line(y)
        assert (time.perf_counter() - start) < 0.05


def test_pool_numbers_and_media_only_queue():
    text = plain(pool_table(PoolStats("critical", 6, 2, 11, 900, 3, 0.5, 12.25, 2.0)))
    assert "11" in text and "900" in text and "12 ms" in text
    empty = plain(pool_table(None))
    assert empty.count(fmt.DASH) == 8
    media = plain(pool_table(None, MediaStats(workers=8, files_done=3, files_queued=17, files_in_flight=5)))
    assert "17" in media and "8" in media
    assert "DC " not in media  # a run that fetched no part names no data center


def test_media_queue_names_the_data_center_of_its_parts():
    stats = MediaStats(workers=8, by_dc=(DcParts(2, 3, 1_717, 900_000_000), DcParts(4, 2, 692, 500_000_000)))
    lines = plain(pool_table(None, stats)).splitlines()
    dc2 = next(line for line in lines if "DC 2 parts" in line)
    dc4 = next(line for line in lines if "DC 4 parts" in line)
    assert "1,717 done" in dc2 and "in flight" in dc2 and dc2.rstrip().endswith("3")
    assert "692 done" in dc4 and dc4.rstrip().endswith("2")


def test_summary_headline():
    text = summary_text(snapshot(20.0)).plain
    assert "running" in text and "in flight 5 / 8" in text and "FloodWaits 1" in text
    paused = summary_text(snapshot(20.0, RunState.PAUSED)).plain
    assert "paused" in paused
    assert "no engine snapshot" in summary_text(None).plain


def test_flood_wait_event_line_names_its_wait():
    event = EngineEvent(1.0, 1_764_000_000.0, EventKind.FLOOD_WAIT, "Telegram asked us to wait.", seconds=31.0)
    line = event_line(event).plain
    assert "FloodWait" in line and "31s" in line and line.startswith("16:00:00")


def test_a_vault_event_line_says_what_was_kept():
    said = "Kept your edits to 1 note (Chat (1)/2024/2024-01.md); new messages go after them."
    line = event_line(EngineEvent(1.0, 1_764_000_000.0, EventKind.VAULT, said)).plain
    assert "✎ vault" in line and line.endswith(said)


# -- input checks --------------------------------------------------------------------------------------


def test_since_date_parsing():
    assert parse_since("") is None
    assert parse_since(" 2024-01-31 ") == date(2024, 1, 31)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_since("31/01/2024")
    with pytest.raises(ValueError, match="future"):
        parse_since((date.today() + timedelta(days=2)).isoformat())


def test_api_credentials_check():
    assert check_api(" 12345 ", "0123456789ABCDEF0123456789abcdef") == (12345, "0123456789abcdef0123456789abcdef")
    with pytest.raises(ValueError, match="whole number"):
        check_api("abc", "0" * 32)
    with pytest.raises(ValueError, match="32 hexadecimal"):
        check_api("1", "xyz")


def test_event_lines_and_chat_rows_show_hostile_titles_as_inert_text():
    from tobs_tui.ui.widgets.chat_progress import cells

    hostile = "[bold red]x[/] \x1b[2J\x07\nrow \u202eevil"
    event = EngineEvent(1.0, 1_764_000_000.0, EventKind.ERROR, f"Chat {hostile} failed.")
    line = event_line(event).plain
    assert "[bold red]x[/] \\x1b[2J\\x07\\nrow \\u202eevil" in line
    chat = ChatProgress(7, hostile, None, ChatState.FAILED, 0, 5, 0, 0, 0.0, 0.0, None, error=hostile)
    assert cells(chat)[0] == "[bold red]x[/] \\x1b[2J\\x07\\nrow \\u202eevil"

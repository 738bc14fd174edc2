"""What a refresh costs: only changed chat rows are drawn again, charts wait for their own data, the headline
relays out only when its height can change."""

from __future__ import annotations

import dataclasses

from textual.app import App, ComposeResult

from tests.ui.samples import snapshot
from tobs_tui.engine.snapshot import EngineEvent, EventKind
from tobs_tui.ui.history import LiveHistory
from tobs_tui.ui.widgets.chat_progress import ChatProgressList
from tobs_tui.ui.widgets.run_summary import RunSummary


class ProgressApp(App):
    def compose(self) -> ComposeResult:
        yield ChatProgressList()


def painted(widget) -> list[str]:
    """The widget's lines as the compositor gets them (through its line cache)."""
    return [strip.text for strip in widget.render_lines(widget.size.region)]


async def test_only_the_chat_rows_that_changed_are_drawn_again():
    first = snapshot(20.0)
    running = first.chats[1]
    moved = dataclasses.replace(running, messages_done=running.messages_done + 1234)
    second = dataclasses.replace(first, chats=(first.chats[0], moved, first.chats[2]))
    app = ProgressApp()
    async with app.run_test(size=(150, 12)) as pilot:
        widget = app.query_one(ChatProgressList)
        widget.show(first.chats)
        await pilot.pause()
        before = painted(widget)
        drawn: list[int] = []
        render_line = widget.render_line
        widget.render_line = lambda y: drawn.append(y) or render_line(y)
        widget.show(second.chats)
        after = painted(widget)
    assert drawn == [1], "the running chat sorts first: its line, and no other, is drawn again"
    assert f"{moved.messages_done:,} / " in after[1] and after[1] != before[1]
    assert after[:1] + after[2:] == before[:1] + before[2:]


def test_events_do_not_count_as_new_chart_data():
    live = LiveHistory()
    live.add_snapshot(snapshot(10.0))
    series, latency, events = live.series_version, live.latency_version, live.events_version
    live.add_event(EngineEvent(t=11.0, wall=0.0, kind=EventKind.CHAT_DONE, message="Alice 0 finished."))
    assert (live.series_version, live.latency_version) == (series, latency)
    assert live.events_version == events + 1
    live.add_snapshot(snapshot(10.5))
    assert live.series_version == series + 1 and live.latency_version == latency + 1
    live.add_snapshot(snapshot(10.5))
    assert live.latency_version == latency + 1, "no latency sample newer than the last one: the chart keeps its data"


class SummaryApp(App):
    def compose(self) -> ComposeResult:
        yield RunSummary()


async def test_the_headline_grows_to_two_lines_only_when_it_does_not_fit():
    app = SummaryApp()
    async with app.run_test(size=(200, 6)) as pilot:
        summary = app.query_one(RunSummary)
        summary.show(snapshot(20.0))
        await pilot.pause()
        assert summary.size.height == 1
    app = SummaryApp()
    async with app.run_test(size=(60, 6)) as pilot:
        summary = app.query_one(RunSummary)
        await pilot.pause()
        assert summary.size.height == 1, "no snapshot yet: a short line"
        summary.show(snapshot(20.0))
        await pilot.pause()
        assert summary.size.height > 1, "the full headline wraps at 60 columns: the layout must make room"

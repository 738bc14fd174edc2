"""What a user sees at 80x24 (and that 100x30 and 200x60 keep it): every part of the dashboard and every row of
the pools without scrolling, whole footer keys, a failed or parked chat's reason, a headline that keeps each label
with its value. Checked on the text the screen really shows, inside each widget's region."""

from __future__ import annotations

import dataclasses

import pytest
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets._footer import FooterKey

from tests.support.waiting import wait_until
from tests.ui.samples import snapshot
from tests.ui.test_ui_snapshots import charts_drawn, offline_app
from tobs_tui.engine.snapshot import ChatProgress, ChatState, DcParts, EngineSnapshot
from tobs_tui.ui.app import DemoInfo
from tobs_tui.ui.widgets.chat_progress import ChatProgressList
from tobs_tui.ui.widgets.run_summary import RunSummary

SIZES = [(80, 24), (100, 30), (200, 60)]
FAILED = 'Telegram refused a request for "Tech News" (BAD_REQUEST); run the export again later to continue it.'
PARKED = "Telegram asked for a wait of 2.0 h (7200 s); the chat is parked and the next run continues it."


def screen_lines(app) -> list[str]:
    """The screen as the terminal shows it, one string per row (a wide character counts as one)."""
    return ["".join(seg.text for seg in strip) for strip in app.screen._compositor.render_strips()]


def visible(app, widget: Widget) -> Region:
    """The part of a widget's region that is on screen (clipped by its containers and the screen)."""
    geo = app.screen.find_widget(widget)
    return geo.region.intersection(geo.clip).intersection(app.screen.region)


def seen(app, widget: Widget) -> list[str]:
    """The rows of the screen inside the widget's visible region."""
    region = visible(app, widget)
    strips = app.screen._compositor.render_strips()
    return ["".join(seg.text for seg in strips[y].crop(region.x, region.right)) for y in range(region.y, region.bottom)]


def with_chats(base: EngineSnapshot, n: int) -> EngineSnapshot:
    chats = list(base.chats)
    for i in range(n - len(chats)):
        chats.append(ChatProgress(2000 + i, f"Queued chat {i}", None, ChatState.QUEUED, 0, 500, 0, 0, 0.0, 0.0, None))
    media = dataclasses.replace(base.media, by_dc=(DcParts(2, 1, 40, 10), DcParts(4, 2, 30, 10)))
    return dataclasses.replace(base, chats=tuple(chats[:n]), media=media)


async def feed_chats(app, pilot, n: int) -> None:
    for t in (4.0, 8.0, 12.0, 16.0, 20.0):
        app.apply_snapshot(with_chats(snapshot(t), n))
    await pilot.pause()
    await wait_until(pilot, lambda: charts_drawn(app), what="the charts")


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("chats", [3, 6, 40])
async def test_the_whole_dashboard_is_on_screen_without_scrolling(size, chats):
    app = offline_app()
    async with app.run_test(size=size) as pilot:
        await app.switch_mode("dashboard")
        await pilot.pause()
        await feed_chats(app, pilot, chats)
        screen = app.screen
        assert screen.max_scroll_y == 0, "the screen itself must not need scrolling"
        footer_row = size[1] - 1
        for part in ("#summary", "#total", "#chats", "#throughput", "#events-box"):
            widget = screen.query_one(part)
            assert visible(app, widget) == widget.region, (part, widget.region)
            assert widget.region.bottom <= footer_row, (part, widget.region)

        # The chart is built on a thread and shown when done: later on a loaded machine.
        def drawn() -> bool:
            chart = seen(app, screen.query_one("#throughput"))
            return chart[-1].startswith("╰") and any("┬" in line for line in chart)

        await wait_until(pilot, drawn, what="the chart's x axis and bottom border")
        summary = " ".join(seen(app, screen.query_one("#summary")))
        assert "server healthy" in summary, summary


@pytest.mark.parametrize("size", SIZES)
async def test_every_row_of_the_pools_is_readable(size):
    app = offline_app()
    async with app.run_test(size=size) as pilot:
        await app.switch_mode("pools")
        await pilot.pause()
        await feed_chats(app, pilot, 3)
        assert app.screen.max_scroll_y == 0
        wanted = {
            "#pool-critical": ("workers", "busy", "queued", "completed", "failed", "wait p50", "wait p95", "mean run"),
            "#pool-standard": ("workers", "failed", "wait p95", "mean run"),
            "#pool-media": ("workers", "failed", "parts in flight", "bytes", "rate", "DC 2 parts", "DC 4 parts"),
        }
        for panel, labels in wanted.items():
            text = "\n".join(seen(app, app.screen.query_one(panel)))
            for label in labels:
                assert label in text, (panel, label, text)
        media = "\n".join(seen(app, app.screen.query_one("#pool-media")))
        assert "13.3 MB of 42.4 MB" in media and "MB/s" in media, media


async def footer_checks(pilot, app, where: str) -> None:
    def laid_out() -> list[FooterKey]:
        keys = [k for k in app.screen.query(FooterKey) if k.display]
        return keys if keys and all(k.region.width for k in keys) else []

    await wait_until(pilot, laid_out, what=f"the footer of {where}")  # a footer is rebuilt after a switch
    keys = laid_out()
    palette = next(k for k in keys if k.has_class("-command-palette"))
    shown = [k for k in keys if k is not palette]
    assert any(k.action.endswith("help") for k in shown), (where, "F1 Help stays")
    for key in shown:
        assert key.region.width > 0 and key.region.right <= palette.region.x, (where, key.description)
    row = screen_lines(app)[-1]
    for key in shown:
        assert f"{key.key_display} {key.description}" in row, (where, key.description, row)


@pytest.mark.parametrize("size", SIZES)
async def test_footer_keys_are_whole_on_every_screen(size):
    app = offline_app(demo=DemoInfo("realistic", "+15550100", "12345", "+15550199", "tobs-demo-2fa"))
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await footer_checks(pilot, app, "login")
        app.pop_screen()
        for mode in ("chats", "dashboard", "pools", "throttle", "settings"):
            await app.switch_mode(mode)
            await pilot.pause(0.2)
            await footer_checks(pilot, app, mode)
        if size[0] >= 140:
            assert all(k.display for k in app.screen.query(FooterKey)), "a wide footer shows every key"


async def test_a_failed_and_a_parked_chat_say_why_in_their_row_at_80_columns():
    base = snapshot(20.0)
    failed = ChatProgress(1003, "Tech News", None, ChatState.FAILED, 0, 12_000, 0, 0, 0.0, 0.0, None, FAILED)
    parked = ChatProgress(1004, "Photo Stream 📷", None, ChatState.PARKED, 250, 600, 0, 0, 0.0, 0.0, None, PARKED)
    snap = dataclasses.replace(base, chats=(*base.chats, failed, parked))
    app = offline_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.switch_mode("dashboard")
        await pilot.pause()
        app.apply_snapshot(snap)
        shows = lambda: any("Photo Stream" in line for line in seen(app, app.screen.query_one(ChatProgressList)))  # noqa: E731
        await wait_until(pilot, shows, what="the chats")
        rows = seen(app, app.screen.query_one(ChatProgressList))
        tech = next(line for line in rows if "Tech News" in line)
        photo = next(line for line in rows if "Photo Stream" in line)
        assert "failed" in tech and "BAD_REQUEST" in tech and "0 / 12,000" in tech, tech
        assert "Photo Stream 📷" in photo, "the emoji is two cells, and the title keeps it"
        assert "parked" in photo and "wait 2.0 h" in photo and "250 / 600" in photo, photo


class SummaryApp(App):
    def compose(self) -> ComposeResult:
        yield RunSummary()


@pytest.mark.parametrize("width", [60, 70, 80, 90, 100, 110])
async def test_the_headline_never_parts_a_label_from_its_value(width):
    snap = dataclasses.replace(snapshot(20.0), eta_s=220.0, takeout="pending")
    app = SummaryApp()
    async with app.run_test(size=(width, 6)) as pilot:
        summary = app.query_one(RunSummary)
        summary.show(snap)
        await pilot.pause()
        lines = [line.rstrip() for line in seen(app, summary) if line.strip()]
        text = "\n".join(lines)
        for item in ("ETA 3m 40s", "in flight 5 / 8", "FloodWaits 1", "server healthy", "takeout pending"):
            assert item in text, (item, lines)

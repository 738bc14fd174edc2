"""Each screen rendered from fixed data (pinned time zone, fixed wall clock) and compared with a reviewed SVG.

After an intended change of a screen, regenerate with TOBS_UPDATE_SNAPSHOTS=1, open the SVGs in
tests/ui/snapshots/ in a browser, and commit them with the change.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.widgets import Input

from tests.support.waiting import wait_until
from tests.ui.samples import dialogs, snapshot, topics
from tobs_tui.config import Settings, settings_with
from tobs_tui.ui.app import DemoInfo, TobsApp
from tobs_tui.ui.widgets.charts import ChartBase
from tobs_tui.ui.widgets.dialog_table import DialogTable

SNAPSHOTS = Path(__file__).parent / "snapshots"
# The large terminal the screenshots show, and the smallest one every screen must stay usable in.
SIZES = {"": (140, 40), "-80x24": (80, 24)}
sizes = pytest.mark.parametrize("suffix", list(SIZES))


def fixed_settings() -> Settings:
    # Pool sizes would otherwise follow this machine's CPU count.
    settings = settings_with(Settings(), "workers", max_threads=6)
    return settings_with(settings, "export", output_dir="/srv/vault")


def offline_app(*, logged_in: bool = False, **kw) -> TobsApp:
    """No api credentials: the app shows the login screen and starts no engine, so only our data is drawn.

    `logged_in` marks the session authorised, as after a login: the keys that switch screens are offered (before
    login there is only the login screen)."""
    app = TobsApp(fixed_settings(), session="unused", **kw)
    app.engine.authorized = logged_in
    return app


async def check(app: TobsApp, pilot, name: str, tmp_path: Path) -> None:
    for field in app.screen.query(Input):
        field.cursor_blink = False
    # Taken once it holds still: a loaded machine lays out what a new screen's on_mount set a few frames later
    # (the login screen's hint and connection lines were once missing from its screenshot).
    svg = app.export_screenshot(title=name)
    for _ in range(40):
        await pilot.pause(0.05)
        again = app.export_screenshot(title=name)
        if again == svg:
            break
        svg = again
    stored = SNAPSHOTS / f"{name}.svg"
    if os.environ.get("TOBS_UPDATE_SNAPSHOTS") == "1":
        stored.write_text(svg, encoding="utf-8")
        return
    assert stored.exists(), f"no stored snapshot {stored.name}; run with TOBS_UPDATE_SNAPSHOTS=1 and review it"
    if svg != stored.read_text(encoding="utf-8"):
        (tmp_path / stored.name).write_text(svg, encoding="utf-8")
        pytest.fail(f"{name} changed; compare {tmp_path / stored.name} with {stored}")


def charts_drawn(app: TobsApp) -> bool:
    """Every chart on screen shows the newest data it was offered, at its size: charts redraw at most once a
    second, on a thread, so a loaded machine shows them later."""
    if any(w.group == "chart" and not w.is_finished for w in app.workers):
        return False
    for chart in app.screen.query(ChartBase):
        if chart._pending is not None or chart._timer_set:
            return False
        if chart._last_data and (chart._built is None or chart._built[0] != (chart.size.width, chart.size.height)):
            return False
    return True


async def feed(app: TobsApp, pilot) -> None:
    for t in (4.0, 8.0, 12.0, 16.0, 20.0):
        app.apply_snapshot(snapshot(t))
    await pilot.pause()
    await wait_until(pilot, lambda: charts_drawn(app), what="the charts")


@sizes
async def test_login_screen(tmp_path, suffix):
    app = offline_app(demo=DemoInfo("realistic", "+15550100", "12345", "+15550199", "tobs-demo-2fa"))
    async with app.run_test(size=SIZES[suffix]) as pilot:
        await wait_until(pilot, lambda: "connection:" in app.export_screenshot(), what="the login screen's lines")
        await check(app, pilot, f"login{suffix}", tmp_path)


@sizes
async def test_chats_screen(tmp_path, suffix):
    app = offline_app(logged_in=True)
    async with app.run_test(size=SIZES[suffix]) as pilot:
        app.pop_screen()
        await pilot.pause()
        table = app.screen.query_one(DialogTable)
        table.set_dialogs(dialogs(60))
        table.set_topics(1005, topics(1005))
        table.toggle(table._rows[1])
        table.toggle(table._rows[2])
        table.set_options(media=False)
        table.focus()
        await pilot.pause()
        await check(app, pilot, f"chats{suffix}", tmp_path)


@sizes
@pytest.mark.parametrize("mode", ["dashboard", "pools", "throttle", "settings"])
async def test_live_screens(mode, tmp_path, suffix):
    app = offline_app(logged_in=True)
    async with app.run_test(size=SIZES[suffix]) as pilot:
        await app.switch_mode(mode)
        await pilot.pause()
        await feed(app, pilot)
        await check(app, pilot, f"{mode}{suffix}", tmp_path)


@sizes
async def test_help_screen(tmp_path, suffix):
    app = offline_app(logged_in=True)
    async with app.run_test(size=SIZES[suffix]) as pilot:
        await app.switch_mode("dashboard")
        await pilot.press("f1")
        await pilot.pause()
        await check(app, pilot, f"help{suffix}", tmp_path)

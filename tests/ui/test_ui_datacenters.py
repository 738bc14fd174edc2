"""The demo's two data centers on screen: an export with media, then the pools screen names DC 4's parts."""

from __future__ import annotations

from tests.support.waiting import wait_until
from tests.ui.test_ui_app import SIZE, log_in, pick, small_chats
from tobs_tui.config import settings_with
from tobs_tui.emulator import Emulator
from tobs_tui.engine.snapshot import RunState
from tobs_tui.ui.app import DemoInfo, TobsApp
from tobs_tui.ui.widgets.pool_panel import PoolPanel


async def test_pools_screen_shows_parts_from_the_second_dc(settings, tmp_path):
    emulator = Emulator(profile="lan", seed=1, dcs=(2, 4)).start()
    w = emulator.world
    app = TobsApp(
        settings_with(settings, "export", max_file_size_mb=2),  # files small enough for a quick test
        session=emulator.session_string(authorized=False),
        api_id=1,
        api_hash="0123456789abcdef0123456789abcdef",
        demo=DemoInfo("lan", w.demo_phone, w.demo_code, w.twofa_phone, w.twofa_password),
        config_path=tmp_path / "config.toml",
    )
    try:
        async with app.run_test(size=SIZE) as pilot:
            await log_in(pilot, app, w.demo_phone, w.demo_code)
            (chat,) = small_chats(app, 1)
            await pick(pilot, app, chat.title)
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.current_mode == "dashboard", what="the dashboard")
            done = lambda: app.live.latest is not None and app.live.latest.state is RunState.DONE  # noqa: E731
            await wait_until(pilot, done, timeout=120, what="the export to finish")
            by_dc = {d.dc: d.done for d in app.live.latest.media.by_dc}
            assert by_dc.get(4, 0) > 0 and by_dc.get(2, 0) > 0, by_dc
            await pilot.press("f4")
            await pilot.pause(0.6)
            assert app.screen.query_one("#pool-media", PoolPanel).display
            media = app.export_screenshot().replace("&#160;", " ")
            assert "DC 2 parts" in media and "DC 4 parts" in media
            assert f"{by_dc[4]:,} done" in media
    finally:
        if app.runner is not None:
            app.runner.stop()
        emulator.stop()

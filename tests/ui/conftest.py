"""UI test fixtures: a fixed time zone for event clocks, the emulator, and an app driven through login."""

from __future__ import annotations

import time

import pytest

from tobs_tui.config import Settings, settings_with
from tobs_tui.emulator import Emulator
from tobs_tui.ui.app import DemoInfo, TobsApp


@pytest.fixture(autouse=True)
def utc_clock(monkeypatch):
    """Event times render as local wall-clock time; pin the zone so screens read the same everywhere."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def emulator():
    emu = Emulator(profile="lan", seed=1).start()
    yield emu
    emu.stop()


@pytest.fixture
def settings(tmp_path) -> Settings:
    s = settings_with(Settings(), "export", output_dir=str(tmp_path / "vault"))
    return settings_with(s, "ui", refresh_hz=4.0)


@pytest.fixture
def make_app(emulator, settings, tmp_path):
    """An app on the emulator with an unauthorised session (so it starts at the login screen)."""
    apps: list[TobsApp] = []

    def make(**kw) -> TobsApp:
        w = emulator.world
        app = TobsApp(
            kw.pop("settings", settings),
            session=kw.pop("session", None) or emulator.session_string(authorized=False),
            api_id=1,
            api_hash="0123456789abcdef0123456789abcdef",
            demo=DemoInfo("lan", w.demo_phone, w.demo_code, w.twofa_phone, w.twofa_password),
            config_path=tmp_path / "config.toml",
            **kw,
        )
        apps.append(app)
        return app

    yield make
    for app in apps:
        if app.runner is not None:
            app.runner.stop()

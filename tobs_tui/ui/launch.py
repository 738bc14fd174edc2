"""Starts the TUI: on the user's own session, or (--demo) on the built-in emulator through real Telethon."""

from __future__ import annotations

import sys
from argparse import Namespace
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from tobs_tui.config import APP_NAME, Settings, settings_with
from tobs_tui.emulator.credentials import DEMO_API_HASH, DEMO_API_ID
from tobs_tui.terminal import terminal_text

if TYPE_CHECKING:
    from tobs_tui.emulator import Emulator
    from tobs_tui.ui.app import TobsApp


def demo_dir() -> Path:
    """Where the demo keeps its vault and settings, away from the user's real ones."""
    return platformdirs.user_data_path(APP_NAME) / "demo"


def demo_app(settings: Settings, emulator: Emulator, profile: str, config_path: Path) -> TobsApp:
    """The app wired to a running emulator, as --demo and the screenshot script start it."""
    from tobs_tui.ui.app import DemoInfo, TobsApp

    world = emulator.world
    return TobsApp(
        settings,
        # A fresh, unauthorised key: the demo starts at the login screen like a first run.
        session=emulator.session_string(authorized=False),
        api_id=DEMO_API_ID,
        api_hash=DEMO_API_HASH,
        demo=DemoInfo(profile, world.demo_phone, world.demo_code, world.twofa_phone, world.twofa_password),
        config_path=config_path,
    )


def run_app(args: Namespace, settings: Settings) -> int:
    """Run the app until the user quits; returns the process exit code."""
    from tobs_tui.ui.app import TobsApp

    if not getattr(args, "demo", False):
        app = TobsApp(
            settings,
            session=settings.telegram.session_path,
            api_id=settings.telegram.api_id or None,
            api_hash=settings.telegram.api_hash or None,
            config_path=getattr(args, "config", None),
        )
        return _run(app)

    from tobs_tui.emulator import Emulator

    profile = getattr(args, "profile", None) or "realistic"
    # Two data centers, as a real account meets them: the pools screen shows parts from DC 4 too.
    try:
        emulator = Emulator(profile=profile, seed=1, world=getattr(args, "world", None), dcs=(2, 4))
    except ValueError as e:  # a world file that cannot be read: its reader's sentence names the file and the fault
        print(f"tobs-tui: {terminal_text(str(e))}", file=sys.stderr)
        return 2
    emulator.start()
    try:
        base = demo_dir()
        settings = settings_with(settings, "export", output_dir=str(base / "vault"))
        return _run(demo_app(settings, emulator, profile, base / "config.toml"))
    finally:
        emulator.stop()


def _run(app) -> int:
    try:
        code = app.run()
    finally:
        if app.runner is not None:
            app.runner.stop()
    return 0 if code is None else int(code)

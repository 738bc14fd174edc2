"""Pictures of every screen, taken from the real app running the demo (emulator + real Telethon).

    python scripts/screenshots.py [--out screenshots] [--seconds 40] [--profile throttled]

Writes <screen>.svg: the pictures README.md and docs/TUI.md show, drawn by the viewer in its own monospace
font where Fira Code, which they name, is not installed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from textual.widgets import Input

from tobs_tui.config import Settings, settings_with
from tobs_tui.emulator import Emulator
from tobs_tui.engine import RunState
from tobs_tui.ui.app import TobsApp
from tobs_tui.ui.launch import demo_app
from tobs_tui.ui.screens.chats import ChatsScreen
from tobs_tui.ui.screens.login import LoginScreen
from tobs_tui.ui.widgets.dialog_table import DialogTable

SIZE = (150, 44)


async def wait_for(pilot, condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the demo did not reach the expected state in time")
        await pilot.pause(0.1)


async def take(app: TobsApp, pilot, out: Path, name: str, shots: list[Path]) -> None:
    for field in app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause(0.3)
    shots.append(Path(app.save_screenshot(f"{name}.svg", path=str(out))))
    print(f"  {name}.svg")


async def run(out: Path, seconds: float, profile: str) -> list[Path]:
    emulator = Emulator(profile=profile, seed=1).start()
    shots: list[Path] = []
    try:
        with tempfile.TemporaryDirectory(prefix="tobs-shots-") as tmp:
            settings = settings_with(Settings(), "export", output_dir=str(Path(tmp) / "vault"))
            settings = settings_with(settings, "ui", refresh_hz=4.0)
            world = emulator.world
            app = demo_app(settings, emulator, profile, Path(tmp) / "config.toml")
            async with app.run_test(size=SIZE) as pilot:
                await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.step == "phone")
                app.screen.query_one("#phone", Input).value = world.demo_phone
                await take(app, pilot, out, "login", shots)
                await pilot.press("enter")
                await wait_for(pilot, lambda: app.screen.step == "code")
                app.screen.query_one("#code", Input).value = world.demo_code
                await pilot.press("enter")
                await wait_for(pilot, lambda: isinstance(app.screen, ChatsScreen))
                table = app.screen.query_one(DialogTable)
                await wait_for(pilot, lambda: table.dialog_count > 0)
                # A mix the dashboard can show: the largest chats plus a forum's topics.
                for row in table._rows[:6]:
                    table.toggle(row)
                forum = next((d for d, _ in table._rows if d.is_forum), None)
                if forum is not None:
                    table.cursor = next(i for i, (d, _) in enumerate(table._rows) if d is forum)
                    table.action_expand()
                    await wait_for(pilot, lambda: forum.chat_id in table.expanded)
                table.focus()
                await take(app, pilot, out, "chats", shots)
                await pilot.press("enter")
                await wait_for(pilot, lambda: app.current_mode == "dashboard")
                started = time.monotonic()
                await wait_for(pilot, lambda: time.monotonic() - started >= seconds, timeout=seconds + 5)
                await take(app, pilot, out, "dashboard", shots)
                for key, name in (("f4", "pools"), ("f5", "throttle"), ("f6", "settings")):
                    await pilot.press(key)
                    await take(app, pilot, out, name, shots)
                await pilot.press("f1")
                await take(app, pilot, out, "help", shots)
                await pilot.press("escape")
                snap = app.live.latest
                print(
                    f"  export after {seconds:.0f} s: {snap.messages_done:,} messages, "
                    f"{snap.flood_waits} FloodWaits, {len(snap.throttle.spans)} throttled spans"
                )
                if snap.state in (RunState.RUNNING, RunState.PAUSED):
                    await app.shutdown_engine()
    finally:
        emulator.stop()
    return shots


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "screenshots")
    parser.add_argument("--seconds", type=float, default=40.0, help="how long the export runs before the pictures")
    parser.add_argument(
        "--profile",
        default="throttled",
        help="emulator profile; 'throttled' puts throttle spans and FloodWaits on the charts soonest",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"Running the demo ({args.profile}) and taking pictures into {args.out}:")
    shots = asyncio.run(run(args.out, args.seconds, args.profile))
    print(f"{len(shots)} pictures written.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

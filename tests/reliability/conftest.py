"""Fixtures for the reliability tests: an emulator serving the crash harness's small world, and runners on it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from crash_harness import WORLD_TOML

from tobs_tui.emulator import Emulator
from tobs_tui.emulator.world import World
from tobs_tui.engine.runner import EngineRunner
from tobs_tui.headless import EMULATOR_API_HASH, EMULATOR_API_ID

from _reliability_support import engine_settings

@pytest.fixture
def small_world():
    """A few chats of every kind, media included, small enough for seconds per export."""
    return World(tomllib.loads(WORLD_TOML))


@pytest.fixture
def emulator(small_world):
    emu = Emulator(profile="lan", seed=1, world=small_world).start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def make_runner(emulator, tmp_path):
    """EngineRunners on `emulator` (or another Emulator given as emu=), stopped at the end of the test."""
    runners: list[EngineRunner] = []

    def make(*, emu: Emulator | None = None, authorized: bool = True, out: Path | None = None, media: bool = False,
             on_event=None, on_snapshot=None, **export_changes) -> EngineRunner:
        emu = emu or emulator
        settings = engine_settings(out or tmp_path / "vault", media=media, **export_changes)
        runner = EngineRunner(settings, session=emu.session_string(authorized=authorized),
                              api_id=EMULATOR_API_ID, api_hash=EMULATOR_API_HASH, on_event=on_event,
                              on_snapshot=on_snapshot)
        runner.start()
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.stop()

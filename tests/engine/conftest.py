"""Fixtures for the engine tests: a real emulator on loopback with the small test world, and runners on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tobs_tui.emulator import Emulator
from tobs_tui.emulator.world import World
from tobs_tui.engine.runner import EngineRunner
from tobs_tui.headless import EMULATOR_API_HASH, EMULATOR_API_ID

from _engine_helpers import engine_settings



@pytest.fixture
def emulator():
    emu = Emulator(profile="lan", seed=1, world=World.synthetic(1, scale="test")).start()
    try:
        yield emu
    finally:
        emu.stop()



@pytest.fixture
def make_runner(emulator, tmp_path):
    runners: list[EngineRunner] = []

    def make(*, authorized: bool = True, out: Path | None = None, on_event=None, on_snapshot=None,
             **export_changes) -> EngineRunner:
        settings = engine_settings(out or tmp_path / "vault", **export_changes)
        runner = EngineRunner(settings, session=emulator.session_string(authorized=authorized),
                              api_id=EMULATOR_API_ID, api_hash=EMULATOR_API_HASH, on_event=on_event,
                              on_snapshot=on_snapshot)
        runner.start()
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.stop()

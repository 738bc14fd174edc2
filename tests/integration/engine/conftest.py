"""Fixtures for the engine tests: a real emulator on loopback with the small test world, and runners on it."""

from __future__ import annotations

import pytest

from tests.support.runners import runner_factory, running_emulator
from tobs_tui.emulator.world import World


@pytest.fixture
def emulator():
    with running_emulator(world=World.synthetic(1, scale="test")) as emu:
        yield emu


@pytest.fixture
def make_runner(emulator, tmp_path):
    with runner_factory(emulator, tmp_path / "vault") as make:
        yield make

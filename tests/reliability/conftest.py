"""Fixtures for the reliability tests: an emulator serving the crash harness's small world, and runners on it."""

from __future__ import annotations

import tomllib

import pytest

from tests.reliability.crash_harness import WORLD_TOML
from tests.support.runners import runner_factory, running_emulator
from tobs_tui.emulator.world import World


@pytest.fixture
def small_world():
    """A few chats of every kind, media included, small enough for seconds per export."""
    return World(tomllib.loads(WORLD_TOML))


@pytest.fixture
def emulator(small_world):
    with running_emulator(world=small_world) as emu:
        yield emu


@pytest.fixture
def make_runner(emulator, tmp_path):
    """EngineRunners on `emulator` (or another Emulator given as emu=), stopped at the end of the test."""
    with runner_factory(emulator, tmp_path / "vault") as make:
        yield make

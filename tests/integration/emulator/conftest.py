"""Emulator server fixtures: one shared lan emulator for tests that don't interfere, fresh ones for those that do."""

from __future__ import annotations

import contextlib

import pytest
from telethon import TelegramClient
from telethon.sessions import StringSession

from tobs_tui.emulator import Emulator

API_ID, API_HASH = 1, "emulator"  # the emulator accepts any api id / hash


@pytest.fixture(scope="session")
def shared_emu():
    """A lan emulator for read-only tests; tests that script faults or change the profile make their own."""
    with Emulator(profile="lan", seed=1) as emu:
        yield emu


@pytest.fixture
def make_emu():
    """Start a fresh emulator with the given profile/overrides; stopped after the test."""
    started: list[Emulator] = []

    def make(profile: str = "lan", **kwargs) -> Emulator:
        emu = Emulator(profile=profile, **kwargs).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


@contextlib.asynccontextmanager
async def connected(emu: Emulator, **kwargs):
    """A plain Telethon client on the emulator's session, connected, its entity cache filled from the dialogs."""
    client = TelegramClient(StringSession(emu.session_string()), API_ID, API_HASH, **kwargs)
    await client.connect()
    try:
        await client.get_dialogs()
        yield client
    finally:
        await client.disconnect()


def chat_with(emu: Emulator, at_least: int, at_most: int) -> int:
    """A chat of the world whose size is in range (keeps iteration tests fast but multi-page)."""
    return min(
        (p for p in emu.world.chat_ids() if at_least <= emu.world.message_count(p) <= at_most),
        key=emu.world.message_count,
    )


@pytest.fixture
def connect():
    """``async with connect(emu, **client_kwargs) as client``: see ``connected``."""
    return connected


@pytest.fixture
def pick_chat():
    """``pick_chat(emu, at_least, at_most)``: see ``chat_with``."""
    return chat_with

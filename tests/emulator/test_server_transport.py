"""Real Telethon over loopback against the emulator's MTProto server."""

from __future__ import annotations

import os

import pytest
from telethon import TelegramClient
from telethon.sessions import StringSession

from tests.emulator.conftest import TinyApi
from tobs_tui.emulator.profiles import Behaviour, get_profile
from tobs_tui.emulator.requestlog import RequestLog
from tobs_tui.emulator.server import DcServer, ServerThread
from tobs_tui.emulator.sessionfile import session_string


@pytest.fixture
def tiny():
    api = TinyApi()
    server = DcServer(api, Behaviour(get_profile("lan")), RequestLog())
    thread = ServerThread(server)
    thread.start()
    key = os.urandom(256)
    api.authorize(server.add_key(key))
    yield server, session_string(2, server.host, server.port, key)
    thread.stop()


async def test_connect_get_me_and_history(tiny):
    server, text = tiny
    client = TelegramClient(StringSession(text), 1, "x")
    await client.connect()
    try:
        me = await client.get_me()
        assert me.id == 1000
        ids = [m.id async for m in client.iter_messages("me", reverse=True, wait_time=0)]
        assert ids == list(range(1, 251))
    finally:
        await client.disconnect()

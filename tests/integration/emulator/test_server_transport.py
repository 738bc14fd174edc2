"""Real Telethon over loopback against the emulator: connect, login state, paging, reconnects, the log."""

from __future__ import annotations

import asyncio

import pytest
from telethon import TelegramClient
from telethon.sessions import StringSession
from telethon.tl import functions

API_ID, API_HASH = 1, "emulator"  # the emulator accepts any api id and hash


async def test_connect_get_me_and_dialogs(shared_emu, connect):
    async with connect(shared_emu) as client:
        me = await client.get_me()
        assert me.id == shared_emu.world.self_user_id
        dialogs = await client.get_dialogs()
        assert [d.id for d in dialogs] == shared_emu.world.chat_ids()


async def test_reverse_iteration_returns_every_id_once_in_order(shared_emu, connect, pick_chat):
    peer = pick_chat(shared_emu, 250, 2000)
    async with connect(shared_emu) as client:
        entity = await client.get_input_entity(peer)
        ids = [m.id async for m in client.iter_messages(entity, reverse=True, wait_time=0)]
    assert len(ids) == shared_emu.world.message_count(peer)
    assert ids == sorted(set(ids))


async def test_unauthorized_key_is_not_logged_in(shared_emu):
    client = TelegramClient(StringSession(shared_emu.session_string(authorized=False)), API_ID, API_HASH)
    await client.connect()
    try:
        assert not await client.is_user_authorized()
        assert await client.get_me() is None
    finally:
        await client.disconnect()


async def test_unknown_method_raises_at_once(shared_emu, connect):
    async with connect(shared_emu) as client:
        with pytest.raises(Exception, match="METHOD_NOT_SUPPORTED"):
            await asyncio.wait_for(client(functions.help.GetAppConfigRequest(hash=0)), 5)


async def test_request_log_records_unwrapped_methods_with_peer_and_params(make_emu, connect, pick_chat):
    emu = make_emu()
    peer = pick_chat(emu, 250, 2000)
    async with connect(emu) as client:
        entity = await client.get_input_entity(peer)
        emu.log.clear()
        request = functions.messages.GetHistoryRequest(entity, 150, None, 0, 7, 0, 0, 0)
        await client(functions.InvokeWithoutUpdatesRequest(request))
    records = emu.log.find(method="GetHistoryRequest")
    assert len(records) == 1
    assert records[0].peer == peer
    assert records[0].params["limit"] == 7 and records[0].params["offset_id"] == 150
    assert records[0].error is None
    assert emu.log.count(method="GetHistoryRequest", peer=peer) == 1
    assert emu.log.count(method="GetHistoryRequest", peer=peer + 1) == 0
    assert emu.log.count(method="GetConfigRequest") == 0  # cleared after connect
    emu.log.clear()
    assert emu.log.records == []


async def test_listens_on_loopback_only(shared_emu):
    import psutil

    assert shared_emu.host == "127.0.0.1"
    # The listening socket itself is bound to loopback (checked without sending traffic anywhere else).
    listening = [
        c.laddr
        for c in psutil.Process().net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == shared_emu.port
    ]
    assert listening and {a.ip for a in listening} == {"127.0.0.1"}


async def test_reconnects_after_the_server_drops_every_connection(make_emu, connect, pick_chat):
    emu = make_emu()
    peer = pick_chat(emu, 250, 2000)
    async with connect(emu) as client:
        entity = await client.get_input_entity(peer)
        ids = []
        async for m in client.iter_messages(entity, reverse=True, wait_time=0):
            ids.append(m.id)
            if len(ids) == 150:
                emu.drop_connections()
        assert len(ids) == emu.world.message_count(peer)
        assert ids == sorted(set(ids))
    assert len({r.conn_id for r in emu.log.find(method="GetHistoryRequest")}) == 2


async def test_unknown_auth_key_is_reported_as_auth_key_not_found(shared_emu):
    from telethon.errors import AuthKeyNotFound

    from tobs_tui.emulator.sessionfile import session_string

    text = session_string(2, shared_emu.host, shared_emu.port, bytes(range(256)))
    client = TelegramClient(StringSession(text), API_ID, API_HASH, connection_retries=0)
    try:
        with pytest.raises(AuthKeyNotFound):
            await asyncio.wait_for(client.connect(), 10)
    finally:
        await client.disconnect()


async def test_garbage_on_a_connection_closes_only_that_connection(shared_emu, connect):
    import struct
    from zlib import crc32

    reader, writer = await asyncio.open_connection(shared_emu.host, shared_emu.port)
    frame = struct.pack("<ii", 12 + 20, 0) + b"\x01" * 20
    writer.write(frame + struct.pack("<I", crc32(frame)))
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, no answer
    writer.close()
    async with connect(shared_emu) as client:
        assert (await client.get_me()).id == shared_emu.world.self_user_id

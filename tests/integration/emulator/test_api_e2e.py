"""The world and its handlers end to end: the real Telethon client over loopback against the emulator."""

from __future__ import annotations

import hashlib

import pytest
from telethon import TelegramClient, errors
from telethon.sessions import StringSession
from telethon.tl import functions, types

from tobs_tui.emulator import Emulator
from tobs_tui.emulator.content import HOSTILE_FILE_NAMES
from tobs_tui.emulator.world import World


@pytest.fixture(scope="module")
def emu():
    with Emulator(world=World.synthetic(1, scale="test")) as e:
        yield e


@pytest.fixture
async def client(emu):
    c = TelegramClient(StringSession(emu.session_string()), 1, "x", receive_updates=False)
    await c.connect()
    await c.get_dialogs()  # as an exporter starts: this is where Telethon learns the access hashes
    yield c
    await c.disconnect()


def by_title(world: World, title: str):
    return next(world.chats[p] for p in world.chat_ids() if world.chats[p].title == title)


async def test_get_me_and_dialogs_in_order(client, emu):
    me = await client.get_me()
    assert me.id == emu.world.self_user_id and me.username == "tobs_demo"
    dialogs = await client.get_dialogs()
    assert [d.id for d in dialogs] == emu.world.chat_ids()
    assert all(d.message is not None for d in dialogs)
    forum = next(d for d in dialogs if d.name == "Forum HQ")
    assert forum.entity.forum and forum.is_channel


async def test_full_reverse_iteration_of_ten_thousand_messages(client, emu):
    spec = by_title(emu.world, "Ten Thousand")
    ids = [m.id async for m in client.iter_messages(spec.peer_id, reverse=True, wait_time=0)]
    assert ids == list(range(1, 10_001))


async def test_min_id_resume(client, emu):
    spec = by_title(emu.world, "Ten Thousand")
    newer = [m.id async for m in client.iter_messages(spec.peer_id, min_id=9_000, wait_time=0)]
    assert newer == list(range(10_000, 9_000, -1))
    resumed = [m.id async for m in client.iter_messages(spec.peer_id, min_id=9_950, reverse=True, wait_time=0)]
    assert resumed == list(range(9_951, 10_001))


async def test_private_chat_shares_the_account_id_space(client, emu):
    spec = next(
        emu.world.chats[p]
        for p in emu.world.chat_ids()
        if emu.world.chats[p].kind == "private" and emu.world.chats[p].count == 500
    )
    ids = [m.id async for m in client.iter_messages(spec.peer_id, reverse=True, wait_time=0)]
    assert ids == list(spec.ids())
    picked = await client.get_messages(spec.peer_id, ids=[ids[7], ids[300]])
    assert [m.id for m in picked] == [ids[7], ids[300]]


async def test_forum_topics_through_iter_messages(client, emu):
    spec = by_title(emu.world, "Forum HQ")
    topics = await client(functions.messages.GetForumTopicsRequest(spec.peer_id, None, 0, 0, 100))
    assert len(topics.topics) == 5
    seen = []
    for topic in topics.topics:
        ids = [m.id async for m in client.iter_messages(spec.peer_id, reply_to=topic.id, wait_time=0)]
        assert ids == sorted(ids, reverse=True) and ids
        seen += ids
    assert sorted(seen) == list(range(1, spec.count + 1))


async def test_takeout_session(client, emu):
    spec = by_title(emu.world, "Family 🏡")
    emu.log.clear()
    async with client.takeout(finalize=True, contacts=True) as takeout:
        ids = [m.id async for m in takeout.iter_messages(spec.peer_id, reverse=True, wait_time=0)]
    assert ids == list(spec.ids())
    assert emu.log.count(method="InitTakeoutSessionRequest") == 1
    assert emu.log.count(method="FinishTakeoutSessionRequest") == 1


async def media_messages(client, peer, kind, n):
    found = []
    async for m in client.iter_messages(peer, wait_time=0):
        if isinstance(m.media, kind):
            found.append(m)
            if len(found) == n:
                return found
    return found


async def test_byte_exact_downloads(client, emu):
    world = emu.world
    for title, kind in [
        ("Family 🏡", types.MessageMediaDocument),
        ("Family 🏡", types.MessageMediaPhoto),
        ("News Channel", types.MessageMediaDocument),
    ]:
        for m in await media_messages(client, by_title(world, title).peer_id, kind, 2):
            data = await client.download_media(m, file=bytes)
            media_id = m.document.id if m.document else m.photo.id
            assert len(data) == world.file_size(media_id)
            assert hashlib.sha256(data).hexdigest() == world.sha256_of_media(media_id)


async def test_download_survives_a_stale_file_reference(emu):
    world = World.synthetic(5, scale="test")
    with Emulator(world=world) as own:
        c = TelegramClient(StringSession(own.session_string()), 1, "x", receive_updates=False)
        await c.connect()
        try:
            await c.get_dialogs()
            for title in ("Ten Thousand", "Family 🏡"):  # channels.getMessages and messages.getMessages
                msg = (await media_messages(c, by_title(world, title).peer_id, types.MessageMediaDocument, 1))[0]
                world.expire_file_references()
                data = await c.download_media(msg, file=bytes)
                assert hashlib.sha256(data).hexdigest() == world.sha256_of_media(msg.document.id)
            expired = [r for r in own.log.records if r.method == "GetFileRequest" and r.error]
            assert [r.error for r in expired] == ["FILE_REFERENCE_EXPIRED"] * 2
            assert own.log.count(method="GetMessagesRequest") == 2  # channels.* and messages.* refetches
        finally:
            await c.disconnect()


async def test_hostile_names_arrive_verbatim(client, emu):
    spec = next(emu.world.chats[p] for p in emu.world.chat_ids() if emu.world.chats[p].hostile)
    names = {m.file.name async for m in client.iter_messages(spec.peer_id, wait_time=0) if m.file}
    assert set(HOSTILE_FILE_NAMES) <= names


async def test_vanished_chat(emu):
    world = World.synthetic(6, scale="test")
    with Emulator(world=world) as own:
        c = TelegramClient(StringSession(own.session_string()), 1, "x", receive_updates=False)
        await c.connect()
        try:
            spec = by_title(world, "News Channel")
            await c.get_dialogs()
            world.delete_chat(spec.peer_id)
            with pytest.raises(errors.ChannelPrivateError):
                await c.get_messages(spec.peer_id, limit=10)
            assert spec.peer_id not in [d.id for d in await c.get_dialogs()]
        finally:
            await c.disconnect()


async def test_login_with_two_factor_password(emu):
    world = emu.world
    c = TelegramClient(StringSession(emu.session_string(authorized=False)), 1, "x", receive_updates=False)
    await c.connect()
    try:
        assert not await c.is_user_authorized()
        with pytest.raises(errors.PhoneNumberInvalidError):
            await c.send_code_request("+19998887766")
        await c.send_code_request(world.twofa_phone)
        with pytest.raises(errors.PhoneCodeInvalidError):
            await c.sign_in(world.twofa_phone, "99999")
        with pytest.raises(errors.SessionPasswordNeededError):
            await c.sign_in(world.twofa_phone, world.demo_code)
        with pytest.raises(errors.PasswordHashInvalidError):
            await c.sign_in(password="guess")
        me = await c.sign_in(password=world.twofa_password)
        assert me.id == world.self_user_id and await c.is_user_authorized()
        assert (await c.get_me()).id == world.self_user_id
        await c.log_out()
    finally:
        await c.disconnect()


async def test_login_with_code(emu):
    world = emu.world
    c = TelegramClient(StringSession(emu.session_string(authorized=False)), 1, "x", receive_updates=False)
    await c.connect()
    try:
        await c.send_code_request(world.demo_phone)
        me = await c.sign_in(world.demo_phone, world.demo_code)
        assert me.id == world.self_user_id
        assert len(await c.get_dialogs()) == len(world.chat_ids())
    finally:
        await c.disconnect()


async def test_ten_thousand_dialogs():
    world = World({"seed": 2, "chats": [{"kind": "supergroup", "title": "Busy", "messages": 2, "repeat": 10_000}]})
    with Emulator(world=world) as own:
        c = TelegramClient(StringSession(own.session_string()), 1, "x", receive_updates=False)
        await c.connect()
        try:
            dialogs = await c.get_dialogs(limit=None)
            assert [d.id for d in dialogs] == world.chat_ids()
            assert dialogs.total == 10_000
        finally:
            await c.disconnect()


async def test_a_random_file_reference_expiry_is_real_and_the_fresh_reference_works(emu):
    """Every getFile rolls FILE_REFERENCE_EXPIRED here; the fault makes the file's reference stale for real, and
    the reference the client fetches again is not expired again at once, so each download succeeds after exactly
    one refresh instead of failing every attempt."""
    world = World.synthetic(5, scale="test")
    with Emulator(world=world) as own:
        own.set_profile("lan", {"file_reference_rate": 1.0})
        c = TelegramClient(StringSession(own.session_string()), 1, "x", receive_updates=False)
        await c.connect()
        try:
            await c.get_dialogs()
            msgs = await media_messages(c, by_title(world, "Family 🏡").peer_id, types.MessageMediaDocument, 2)
            for msg in msgs:
                data = await c.download_media(msg, file=bytes)
                assert hashlib.sha256(data).hexdigest() == world.sha256_of_media(msg.document.id)
                # The reference the message carried is stale now; only the one fetched again is served.
                assert world.file_reference(msg.document.id) != msg.document.file_reference
            expired = [r for r in own.log.records if r.method == "GetFileRequest" and r.error]
            assert [r.error for r in expired] == ["FILE_REFERENCE_EXPIRED"] * len(msgs)
        finally:
            await c.disconnect()

"""Scripted and profile faults as Telethon experiences them: FloodWait, errors, dropped connections, lost replies."""

from __future__ import annotations

import asyncio
import time

import pytest
from telethon import errors
from telethon.tl import functions


def history(entity, offset_id: int = 0, limit: int = 10):
    return functions.messages.GetHistoryRequest(entity, offset_id, None, 0, limit, 0, 0, 0)


async def test_flood_wait_under_threshold_sleeps_and_retries(make_emu, connect, pick_chat):
    emu = make_emu()
    peer = pick_chat(emu, 250, 2000)
    async with connect(emu) as client:
        entity = await client.get_input_entity(peer)
        emu.script("GetHistoryRequest", nth=1, error="FLOOD_WAIT_1")
        started = time.monotonic()
        result = await client(history(entity))
        elapsed = time.monotonic() - started
    assert len(result.messages) == 10
    assert elapsed >= 1.0
    assert [r.error for r in emu.log.find(method="GetHistoryRequest")] == ["FLOOD_WAIT_1", None]


async def test_flood_wait_above_threshold_reaches_the_caller(make_emu, connect, pick_chat):
    emu = make_emu()
    peer = pick_chat(emu, 250, 2000)
    async with connect(emu) as client:
        entity = await client.get_input_entity(peer)
        emu.script("GetHistoryRequest", nth=1, error="FLOOD_WAIT_120")
        started = time.monotonic()
        with pytest.raises(errors.FloodWaitError) as caught:
            await client(history(entity))
        assert time.monotonic() - started < 5
        assert caught.value.seconds == 120
        # Telethon now refuses the same method by itself until the wait is over; the server saw one call.
        with pytest.raises(errors.FloodWaitError):
            await client(history(entity))
        assert emu.log.count(method="GetHistoryRequest") == 1
        assert (await client.get_me()).id == emu.world.self_user_id


async def test_flood_premium_wait_is_slept_like_flood_wait(make_emu, connect, pick_chat):
    emu = make_emu()
    peer = pick_chat(emu, 250, 2000)
    async with connect(emu) as client:
        entity = await client.get_input_entity(peer)
        emu.script("GetHistoryRequest", error="FLOOD_PREMIUM_WAIT_1")
        assert len((await client(history(entity))).messages) == 10
    assert [r.error for r in emu.log.find(method="GetHistoryRequest")] == ["FLOOD_PREMIUM_WAIT_1", None]


async def test_scripted_error_targets_the_nth_call_on_one_peer(make_emu, connect, pick_chat):
    emu = make_emu()
    small = pick_chat(emu, 250, 2000)
    other = next(p for p in emu.world.chat_ids() if p != small and emu.world.message_count(p) > 20)
    async with connect(emu) as client:
        a, b = await client.get_input_entity(small), await client.get_input_entity(other)
        emu.script("GetHistoryRequest", nth=2, peer=small, error="FILE_REFERENCE_EXPIRED")
        await client(history(a))
        await client(history(b))  # another peer: not counted
        with pytest.raises(errors.FileReferenceExpiredError):
            await client(history(a))
        await client(history(a))
    assert [r.error for r in emu.log.find(method="GetHistoryRequest", peer=small)] == [
        None,
        "FILE_REFERENCE_EXPIRED",
        None,
    ]


@pytest.mark.parametrize("action", ["drop_before_reply", "drop_after_reply"])
async def test_dropped_connection_loses_no_message(make_emu, action, connect, pick_chat):
    emu = make_emu()
    peer = pick_chat(emu, 250, 2000)
    async with connect(emu) as client:
        entity = await client.get_input_entity(peer)
        emu.script("GetHistoryRequest", nth=2, action=action)
        ids = [m.id async for m in client.iter_messages(entity, reverse=True, wait_time=0)]
    assert len(ids) == emu.world.message_count(peer)
    assert ids == sorted(set(ids))
    records = emu.log.find(method="GetHistoryRequest")
    assert [r.error for r in records].count(action) == 1
    assert len({r.conn_id for r in records}) == 2  # Telethon reconnected
    if action == "drop_before_reply":
        # The unanswered request was sent again, unchanged, on the new connection.
        dropped = next(i for i, r in enumerate(records) if r.error == action)
        assert records[dropped + 1].params == records[dropped].params
        assert records[dropped + 1].conn_id != records[dropped].conn_id


async def test_no_reply_leaves_the_caller_to_its_timeout_and_the_server_healthy(make_emu, connect, pick_chat):
    emu = make_emu()
    peer = pick_chat(emu, 250, 2000)
    async with connect(emu) as client:
        entity = await client.get_input_entity(peer)
        emu.script("GetHistoryRequest", action="no_reply")
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(client(history(entity)), 0.5)
        assert len((await asyncio.wait_for(client(history(entity)), 5)).messages) == 10
    assert [r.error for r in emu.log.find(method="GetHistoryRequest")] == ["no_reply", None]


async def test_token_bucket_answers_the_seconds_until_a_token_frees(make_emu, connect, pick_chat):
    emu = make_emu(overrides={"rate_limits": {"GetHistoryRequest": (0.25, 2.0)}})
    peer = pick_chat(emu, 250, 2000)
    async with connect(emu, flood_sleep_threshold=0) as client:
        entity = await client.get_input_entity(peer)
        await client(history(entity))
        await client(history(entity))
        with pytest.raises(errors.FloodWaitError) as caught:
            await client(history(entity))
    assert caught.value.seconds == 4  # one token at 0.25/s
    # Other methods have no bucket in this override.
    assert emu.log.count(method="GetHistoryRequest", error="FLOOD_WAIT_4") == 1


async def test_takeout_requests_get_the_generous_bucket(make_emu, connect, pick_chat):
    emu = make_emu(overrides={"rate_limits": {"GetHistoryRequest": (0.25, 1.0)}, "takeout_factor": 4.0})
    peer = pick_chat(emu, 250, 2000)
    async with connect(emu, flood_sleep_threshold=0) as client:
        entity = await client.get_input_entity(peer)
        async with client.takeout() as takeout:
            await takeout(history(entity))
            with pytest.raises(errors.FloodWaitError) as caught:
                await takeout(history(entity))
    assert caught.value.seconds == 1  # 0.25/s x 4 for takeout
    assert emu.log.count(method="InitTakeoutSessionRequest") == 1


async def test_latency_knob_delays_every_reply(make_emu, connect, pick_chat):
    emu = make_emu(overrides={"latency_ms": 150.0})
    peer = pick_chat(emu, 250, 2000)
    async with connect(emu) as client:
        entity = await client.get_input_entity(peer)
        started = time.monotonic()
        await client(history(entity))
        assert time.monotonic() - started >= 0.15
        emu.set_profile("lan")
        started = time.monotonic()
        await client(history(entity))
        assert time.monotonic() - started < 0.15


async def test_seeded_random_drops_lose_no_message(make_emu, connect, pick_chat):
    only_drops = {
        "rate_limits": {},
        "latency_ms": 0.0,
        "jitter_ms": 0.0,
        "media_bandwidth": 0,
        "flood_wait_rate": 0.0,
        "flood_premium_rate": 0.0,
        "internal_error_rate": 0.0,
        "no_reply_rate": 0.0,
        "drop_before_rate": 0.15,
        "drop_after_rate": 0.15,
    }
    emu = make_emu("hostile", seed=3, overrides=only_drops)
    peer = pick_chat(emu, 1000, 3000)
    async with connect(emu) as client:
        entity = await client.get_input_entity(peer)
        ids = [m.id async for m in client.iter_messages(entity, reverse=True, wait_time=0)]
    assert len(ids) == emu.world.message_count(peer) and ids == sorted(set(ids))
    drops = [r for r in emu.log.records if r.error in ("drop_before_reply", "drop_after_reply")]
    assert len(drops) >= 2
    assert len({r.conn_id for r in emu.log.records}) == len(drops) + 1  # one reconnect per drop


def test_profile_can_be_chosen_before_start():
    from tobs_tui.emulator import Emulator

    emu = Emulator(profile="lan")
    emu.set_profile("throttled", {"throttle_every_s": 0.0})
    assert emu.profile.name == "throttled" and emu.profile.throttle_every_s == 0.0
    with pytest.raises(ValueError, match="Unknown emulator profile"):
        emu.set_profile("fast")
    assert emu.profile.name == "throttled"

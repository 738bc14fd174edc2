"""History batches: a short one ends the chat without another call, and render jobs travel to worker processes
as the replies' TL bytes without changing a note; after a FloodWait, one request goes before the rest."""

from __future__ import annotations

import asyncio
import datetime
import pickle
import struct
import time
from dataclasses import replace

import pytest
from telethon import TelegramClient
from telethon.extensions import BinaryReader
from telethon.sessions import StringSession
from telethon.tl import functions, types

from tobs_tui.engine.render.workers import RenderJob, render_job
from tobs_tui.engine.telegram.backoff import FloodWaitPolicy
from tobs_tui.engine.telegram.concurrency import AdaptiveLimit
from tobs_tui.engine.telegram.source import TelegramSource
from tobs_tui.engine.telegram.throttle import ThrottleDetector
from tobs_tui.engine.telegram.tlreader import FastReader

# The history replies' types as Telethon's generated code reads them (the engine reads them lean).
PLAIN = {
    c.CONSTRUCTOR_ID: c for c in (types.messages.Messages, types.messages.MessagesSlice, types.messages.ChannelMessages)
}


@pytest.fixture
async def source(emulator):
    client = TelegramClient(
        StringSession(emulator.session_string()), 1, "emulator", flood_sleep_threshold=0, receive_updates=False
    )
    await client.connect()
    try:
        yield TelegramSource(
            client,
            throttle=ThrottleDetector(),
            policy=FloodWaitPolicy(),
            limit=AdaptiveLimit(8),
            timeout_s=30,
            emit=lambda *a, **k: None,
        )
    finally:
        await client.disconnect()


async def test_a_short_batch_ends_the_history_without_an_empty_call(source):
    dialogs = await source.dialogs()
    for dialog in dialogs:
        before, got, after = source.requests, 0, 0
        while True:
            batch = await source.history_batch(dialog.chat_id, after=after, limit=37)
            got += len(batch.messages)
            if batch.exhausted:
                break
            after = batch.messages[-1].id
        calls = source.requests - before
        # ceil(got / 37) calls, plus one that comes back empty only when the last page was exactly full.
        assert calls == got // 37 + 1, (dialog.title, got, calls)


async def test_a_job_sent_as_tl_bytes_renders_exactly_what_the_objects_render(source):
    checked = 0
    for dialog in await source.dialogs():
        after = 0
        while True:
            batch = await source.history_batch(dialog.chat_id, after=after, limit=37)
            if batch.messages:
                assert len(batch.raw) == 1 and batch.raw[0]
                # Every other message, as when a forum selection keeps some topics only.
                keep = batch.messages[::2] if checked % 2 else batch.messages
                # The engine reads its messages lean; Telethon's own reader makes the whole objects.
                reader = BinaryReader(batch.raw[0])
                whole = {m.id: m for m in PLAIN[reader.read_int(signed=False)].from_reader(reader).messages}
                objects = RenderJob(
                    tz=datetime.UTC,
                    messages=tuple(whole[m.id] for m in keep),
                    names={m.id: "Ann" for m in keep},
                    targets={},
                    media={},
                    peer_names={},
                    markdown=True,
                    json=True,
                    notes=tuple(f"note {m.id % 3}.md" for m in keep),
                )
                job = replace(objects, messages=keep, raw=batch.raw)
                sent = job.for_worker()
                assert sent.messages == () and sent.ids == tuple(m.id for m in keep)
                assert render_job(pickle.loads(pickle.dumps(sent))) == render_job(objects)
                assert render_job(job) == render_job(objects)  # rendered in this process: decoded whole too
                checked += len(keep)
            if batch.exhausted:
                break
            after = batch.messages[-1].id
    assert checked > 500


async def test_the_fast_reader_decodes_every_reply_as_telethon_does(source):
    """Both processes decode history replies through FastReader: every reply of the test world (every entity,
    media and service kind it has) must come out as Telethon's own reader makes it, and a cut reply must raise."""
    compared = 0
    for dialog in await source.dialogs():
        after = 0
        while True:
            batch = await source.history_batch(dialog.chat_id, after=after, limit=100)
            for raw in batch.raw:
                reader = BinaryReader(raw)
                expected = PLAIN[reader.read_int(signed=False)].from_reader(reader)  # Telethon, unpatched
                got = FastReader(raw).tgread_object()
                assert got.to_dict() == expected.to_dict()
                assert bytes(got) == bytes(expected) == raw
                compared += len(got.messages)
                with pytest.raises((BufferError, IndexError, struct.error)):
                    FastReader(raw[: len(raw) // 2]).tgread_object()
            if batch.exhausted:
                break
            after = batch.messages[-1].id
    assert compared > 1_000


async def test_after_a_flood_wait_one_request_goes_first_and_the_rest_follow_its_reply(source, emulator):
    """Requests held by a FloodWait do not all go at once when it runs out: one goes, the rest follow its reply.
    Media parts hold their own slots (not the request limit, which a FloodWait cuts to one), so this is what
    keeps sixteen parts from meeting a bucket that refilled a few tokens."""
    chat = next(d.chat_id for d in await source.dialogs() if d.kind.value in ("channel", "supergroup"))
    peer = source.input_peer(chat)
    sends: list[tuple[float, float, str]] = []
    send = source._send

    async def timed(wire, dc_id):
        sent = time.monotonic()
        outcome = "ok"
        try:
            return await send(wire, dc_id)
        except Exception as e:
            outcome = type(e).__name__
            raise
        finally:
            sends.append((sent, time.monotonic(), outcome))

    source._send = timed
    parts = asyncio.Semaphore(16)  # as MediaDownloader's parts cap: not the request limit

    async def page(offset: int) -> None:
        request = functions.messages.GetHistoryRequest(
            peer=peer, offset_id=offset, offset_date=None, add_offset=0, limit=10, max_id=0, min_id=0, hash=0
        )
        await source.call(request, part_slot=parts)

    emulator.script("GetHistoryRequest", nth=1, error="FLOOD_WAIT_1")
    first = asyncio.create_task(page(1))
    while not sends:  # the FloodWait is back: its hold is on
        await asyncio.sleep(0.01)
    await asyncio.gather(first, *(page(10 * k) for k in range(2, 6)))
    assert source.flood_waits == 1
    after = sorted(s for s in sends if s[2] == "ok")
    assert len(after) == 5
    trial_back = after[0][1]
    assert all(sent >= trial_back for sent, _, _ in after[1:]), after

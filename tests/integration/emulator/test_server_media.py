"""The media bandwidth model: each part in flight gets the cap, up to media_streams per connection."""

from __future__ import annotations

import asyncio
import time

from telethon import utils
from telethon.tl import functions

PART = 128 * 1024
BANDWIDTH = 512 * 1024  # so one part takes 0.25 s


async def _a_big_document(client, emu):
    for peer in emu.world.chat_ids():
        async for m in client.iter_messages(peer, limit=300):
            if m.document and m.document.size >= 8 * PART:
                return m
    raise AssertionError("the synthetic world has no document of 1 MiB")


async def _timed(coros) -> tuple[float, list]:
    started = time.monotonic()
    results = await asyncio.gather(*coros)
    return time.monotonic() - started, results


async def test_parallel_parts_share_no_cap_up_to_the_stream_count(make_emu, connect):
    emu = make_emu(overrides={"media_bandwidth": BANDWIDTH, "media_streams": 4})
    async with connect(emu) as client:
        message = await _a_big_document(client, emu)
        _dc, location = utils.get_input_location(message.media)

        def part(i: int):
            return client(functions.upload.GetFileRequest(location, i * PART, PART))

        await part(7)  # warm up: the first reply pays one-off costs in the client
        sequential = time.monotonic()
        parts = [await part(i) for i in range(4)]
        sequential = time.monotonic() - sequential
        parallel, parallel_parts = await _timed(part(i) for i in range(4))
        queued, _ = await _timed(part(i) for i in range(8))

    assert [p.bytes for p in parts] == [p.bytes for p in parallel_parts]
    assert all(len(p.bytes) == PART for p in parts)
    assert sequential >= 4 * 0.25 * 0.95
    # Four parts in flight take about one part's time (plus the client's own decryption of 512 KiB).
    assert parallel < sequential / 2
    assert queued >= 2 * 0.25 * 0.95  # eight parts on four streams take two rounds
    assert emu.log.count(method="GetFileRequest") == 17
    assert {r.bytes for r in emu.log.find(method="GetFileRequest")} == {PART}


async def test_download_is_byte_exact_through_the_server(shared_emu, connect):
    import hashlib

    async with connect(shared_emu) as client:
        message = await _a_big_document(client, shared_emu)
        data = await client.download_media(message, bytes)
    assert hashlib.sha256(data).hexdigest() == shared_emu.world.sha256_of_media(message.document.id)

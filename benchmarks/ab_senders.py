"""A/B 3: per-batch sender preload vs per-message lookup, naming every sender of a 500-message batch with 50
senders, some of which the batch did not carry; the network calls go through the real emulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from telethon import utils

from benchmarks.harness import Row, Samples, emulator, ratio_row, spread_text
from tobs_tui.emulator.credentials import DEMO_API_HASH, DEMO_API_ID
from tobs_tui.engine import (
    AdaptiveLimit,
    FloodWaitPolicy,
    SenderPreloader,
    TelegramSource,
    ThrottleDetector,
    build_client,
    display_name,
)

SECTION = "3. Sender preload vs per-message lookup"
ROWS = ("senders.lookups", "senders.network_calls", "senders.batch_time", "senders.batch_time_uncached")

BATCH = 500
MEMBERS = 49  # plus our own account: 50 possible senders
NOT_CARRIED = 10  # senders whose entities the batch does not carry


class Bench:
    """One Telethon connection, one 500-message batch, and the three ways of naming its senders."""

    def __init__(self, source: TelegramSource, messages: tuple, entities: dict) -> None:
        self.source = source
        self.messages = messages
        self.entities = entities

    async def preload(self) -> tuple[list[str], dict[str, float]]:
        preloader = SenderPreloader(self.source.resolve_users)  # a cold cache: the batch's first sight
        calls = self.source.requests
        started = time.perf_counter()
        await preloader.preload(self.messages, self.entities)
        names = [preloader.name_of(m) for m in self.messages]
        seconds = time.perf_counter() - started
        stats = preloader.stats()
        return names, {"seconds": seconds, "lookups": stats["lookups"], "network_calls": self.source.requests - calls}

    async def per_message(self, *, cache: bool) -> tuple[list[str], dict[str, float]]:
        """Name each message's sender when it is rendered: from the batch's entities, else (with `cache`) a
        name fetched earlier, else one users.getUsers call for that sender, as message.get_sender() does."""
        known: dict[int, str] = {}
        calls = self.source.requests
        lookups = 0
        names: list[str] = []
        started = time.perf_counter()
        for m in self.messages:
            sender = m.sender_id
            if sender is None:
                names.append("Unknown sender")
                continue
            lookups += 1
            entity = self.entities.get(sender)
            if entity is not None:
                names.append(display_name(entity))
            elif cache and sender in known:
                names.append(known[sender])
            else:
                found = await self.source.resolve_users([sender])
                name = display_name(found[sender]) if sender in found else f"User {utils.resolve_id(sender)[0]}"
                known[sender] = name
                names.append(name)
        seconds = time.perf_counter() - started
        return names, {"seconds": seconds, "lookups": lookups, "network_calls": self.source.requests - calls}


async def _prepare(session: str) -> tuple[TelegramSource, Bench]:
    client = build_client(session, DEMO_API_ID, DEMO_API_HASH)
    source = TelegramSource(
        client,
        throttle=ThrottleDetector(),
        policy=FloodWaitPolicy(),
        limit=AdaptiveLimit(8),
        timeout_s=30,
        emit=lambda *a, **k: None,
    )
    await client.connect()
    chat = (await source.dialogs())[0]
    messages: list = []
    entities: dict = {}
    after = 0
    while len(messages) < BATCH:
        batch = await source.history_batch(chat.chat_id, after=after)
        messages.extend(batch.messages)
        entities.update(batch.entities)
        after = batch.messages[-1].id
    messages = messages[:BATCH]
    source.remember(entities)  # the access hashes a real run learnt from earlier batches
    senders = sorted({m.sender_id for m in messages if m.sender_id is not None})
    dropped = [s for s in senders if s > 0 and utils.resolve_id(s)[0] >= 1000][:NOT_CARRIED]
    carried = {pid: e for pid, e in entities.items() if pid not in dropped}
    return source, Bench(source, tuple(messages), carried)


def run(quick: bool, work: Path, progress: Callable[[str], None]) -> list[Row]:
    profile = "lan" if quick else "realistic"
    rounds = 1 if quick else 3
    chats = [
        {
            "kind": "supergroup",
            "title": "Senders",
            "messages": BATCH + 100,
            "media": 0.0,
            "members": list(range(1000, 1000 + MEMBERS)),
        }
    ]
    with emulator(profile, chats) as emu:
        return asyncio.run(_run(emu.session_string, profile, rounds, progress))


async def _run(session: str, profile: str, rounds: int, progress: Callable[[str], None]) -> list[Row]:
    source, bench = await _prepare(session)
    try:
        reference: list[str] | None = None
        unique = len({m.sender_id for m in bench.messages if m.sender_id is not None})
        missing = unique - len({m.sender_id for m in bench.messages if m.sender_id in bench.entities})

        # The rounds alternate order as harness.run_rounds does, here on one loop and one connection.
        samples = Samples()
        ways = {
            "preload": bench.preload,
            "per_message": lambda: bench.per_message(cache=True),
            "uncached": lambda: bench.per_message(cache=False),
        }
        names_order = list(ways)
        for r in range(rounds):
            for name in names_order if r % 2 == 0 else names_order[::-1]:
                progress(f"round {r + 1}/{rounds}: {name}")
                names, metrics = await ways[name]()
                if reference is None:
                    reference = names
                elif names != reference:
                    raise AssertionError(f"{name} named the senders differently from the preload")
                samples.add(name, metrics)
    finally:
        await source.client.disconnect()
    return rows(samples, profile, unique, missing)


def rows(s: Samples, profile: str, unique: int, missing: int) -> list[Row]:
    setup = f"{BATCH} messages, {unique} senders, {missing} not carried by the batch; emulator profile `{profile}`"
    ms = "{:.1f}"
    return [
        ratio_row(
            "senders.lookups",
            SECTION,
            "Sender lookups per batch, preload / per-message",
            s,
            "lookups",
            "preload",
            "per_message",
            better="lower",
            estimate="500 messages / 50 senders → 50 lookups",
            note=setup + ".",
            fmt="{:.0f}",
        ),
        ratio_row(
            "senders.network_calls",
            SECTION,
            "Network calls per batch, preload / per-message (cached)",
            s,
            "network_calls",
            "preload",
            "per_message",
            better="lower",
            estimate="at most one batched call",
            note=f"uncached per-message: {spread_text(s.of('uncached', 'network_calls'), '{:.0f}')} calls.",
            fmt="{:.0f}",
        ),
        _ms_row(
            "senders.batch_time", "Time to name a batch's senders, preload / per-message (cached)", s, "per_message", ms
        ),
        _ms_row(
            "senders.batch_time_uncached",
            "Time to name a batch's senders, preload / per-message (uncached, like message.get_sender())",
            s,
            "uncached",
            ms,
        ),
    ]


def _ms_row(id: str, name: str, s: Samples, baseline: str, fmt: str) -> Row:
    for variant in ("preload", baseline):
        s.values[variant]["ms"] = [v * 1000 for v in s.of(variant, "seconds")]
    return ratio_row(
        id,
        SECTION,
        name,
        s,
        "ms",
        "preload",
        baseline,
        better="lower",
        estimate="3–8 % of export time",
        note="A/B values in ms per 500-message batch.",
        fmt=fmt,
    )

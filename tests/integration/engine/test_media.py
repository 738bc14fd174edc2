"""The media downloader against the emulator: real Telethon over loopback, real files, real SQLite.

Run as a script (`python test_media.py child ...`) it is the process the resume test kills mid-file.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import errno
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from telethon import TelegramClient
from telethon.sessions import StringSession
from telethon.tl import types

from tests.support.child import REPO
from tobs_tui.emulator import Emulator
from tobs_tui.emulator.content import HOSTILE_FILE_NAMES, HOSTILE_TITLE
from tobs_tui.emulator.world import World
from tobs_tui.engine.media import downloader as media_mod
from tobs_tui.engine.media import files as files_mod
from tobs_tui.engine.media.downloader import MediaDownloader
from tobs_tui.engine.media.locations import PART_SIZE, file_location, parts_in_flight_for
from tobs_tui.engine.media.stage import ChatContext, media_item
from tobs_tui.engine.options import ExportOptions
from tobs_tui.engine.render.media import FILE_KINDS
from tobs_tui.engine.runtime.pools import DualPool
from tobs_tui.engine.snapshot import EventKind
from tobs_tui.engine.telegram.backoff import FloodWaitPolicy
from tobs_tui.engine.telegram.concurrency import AdaptiveLimit
from tobs_tui.engine.telegram.source import TelegramSource
from tobs_tui.engine.telegram.throttle import ThrottleDetector
from tobs_tui.engine.vault.filenames import chat_dir_name, numbered_name
from tobs_tui.engine.vault.vault import Vault

MiB = 1024 * 1024
# Seed 7 gives the channel every downloadable kind; the group shares the world's common document with it.
MEDIA_WORLD = {
    "seed": 7,
    "max_file_size": 3 * MiB,
    "chats": [
        {"kind": "channel", "title": "Media Channel", "messages": 40, "media": 0.9, "username": "media_channel"},
        {"kind": "supergroup", "title": HOSTILE_TITLE, "messages": 24, "hostile": True},
        {"kind": "group", "title": "Family", "messages": 30, "media": 0.5},
    ],
}
BIG_WORLD = {
    "seed": 3,
    "max_file_size": 9 * MiB,
    "chats": [
        {"kind": "channel", "title": "Big Files", "messages": 30, "media": 0.9},
    ],
}
CAPPED = {"media_bandwidth": 2 * MiB, "media_streams": 4}  # one 1 MiB part takes ~0.5 s


# -- the harness ------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Harness:
    emu: Emulator
    source: TelegramSource
    vault: Vault
    pools: DualPool
    downloader: MediaDownloader
    events: list[tuple[EventKind, str]]
    root: Path

    def chat_id(self, title: str) -> int:
        return next(c for c in self.emu.world.chat_ids() if self.emu.world.chats[c].title == title)

    def context(self, chat_id: int) -> ChatContext:
        title = self.emu.world.chats[chat_id].title
        return ChatContext(chat_id, title, chat_dir_name(title, chat_id), True)

    async def items(self, chat_id: int):
        out, after = [], 0
        while True:
            batch = await self.source.history_batch(chat_id, after=after)
            out += [i for m in batch.messages if (i := media_item(m, datetime.UTC)) is not None]
            if batch.exhausted:
                return out
            after = batch.messages[-1].id

    async def download(self, chat_id: int, items=None):
        items = await self.items(chat_id) if items is None else items
        return items, await self.downloader.process(self.context(chat_id), items)


@contextlib.asynccontextmanager
async def harness(emu: Emulator, root: Path, *, options: ExportOptions | None = None, **kwargs):
    client = TelegramClient(
        StringSession(emu.session_string()), 1, "emulator", flood_sleep_threshold=0, receive_updates=False
    )
    await client.connect()
    events: list[tuple[EventKind, str]] = []

    def emit(kind, message, **_):
        events.append((kind, message))

    source = TelegramSource(
        client, throttle=ThrottleDetector(), policy=FloodWaitPolicy(), limit=AdaptiveLimit(8), timeout_s=30, emit=emit
    )
    await source.dialogs()
    vault = Vault(root)
    vault.recover()
    pools = DualPool(3, 2, name="media-test")
    kwargs.setdefault("workers", 4)
    kwargs.setdefault("parts_per_file", 4)
    downloader = MediaDownloader(
        source, vault, pools, options or ExportOptions(tz=datetime.UTC), emit=emit, retry_pause_s=0.05, **kwargs
    )
    try:
        yield Harness(emu, source, vault, pools, downloader, events, root)
    finally:
        await downloader.close()
        await client.disconnect()
        pools.shutdown()
        vault.close()


@pytest.fixture
def make_emu():
    started: list[Emulator] = []

    def make(world: dict, **overrides) -> Emulator:
        emu = Emulator(profile="lan", world=World(world), overrides=overrides or None).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetched_offsets(emu: Emulator, media_id: int) -> Counter:
    """Offsets of the parts the emulator actually served for one file (errors excluded)."""
    return Counter(
        r.params["offset"]
        for r in emu.log.find(method="GetFileRequest")
        if r.params.get("location.id") == media_id and r.error is None
    )


async def biggest(h: Harness, chat_id: int, kinds=("document", "video")):
    items = [i for i in await h.items(chat_id) if i.kind in kinds]
    return max(items, key=lambda i: i.size)


async def sample_while(task: asyncio.Task, probe, every: float = 0.02) -> list:
    seen = []
    while not task.done():
        seen.append(probe())
        await asyncio.sleep(every)
    return seen


# -- units ----------------------------------------------------------------------------------------------


def test_parts_in_flight_grow_with_the_file_up_to_the_setting():
    assert parts_in_flight_for(None, 4) == 1
    assert parts_in_flight_for(100, 4) == 1
    assert parts_in_flight_for(PART_SIZE, 4) == 1
    assert parts_in_flight_for(PART_SIZE + 1, 4) == 2
    assert parts_in_flight_for(3 * PART_SIZE, 4) == 3
    assert parts_in_flight_for(40 * PART_SIZE, 4) == 4
    assert parts_in_flight_for(40 * PART_SIZE, 1) == 1


def test_photo_location_is_the_largest_size():
    photo = types.Photo(
        11,
        22,
        b"ref",
        datetime.datetime(2025, 1, 1),
        [
            types.PhotoStrippedSize("i", b"\x01" * 40),
            types.PhotoSize("m", 320, 240, 20_000),
            types.PhotoSizeProgressive("y", 1280, 960, [5_000, 60_000, 90_000]),
            types.PhotoSize("x", 800, 600, 50_000),
        ],
        2,
    )
    loc = file_location(types.MessageMediaPhoto(photo=photo))
    assert (loc.thumb_size, loc.size, loc.is_photo) == ("y", 90_000, True)
    assert isinstance(loc.input(), types.InputPhotoFileLocation) and loc.input().thumb_size == "y"
    assert file_location(types.MessageMediaGeo(types.GeoPointEmpty())) is None


async def test_file_slots_let_the_largest_waiting_file_in_first_and_resize_live():
    slots = media_mod._FileSlots(1)
    order: list[int] = []
    gate = asyncio.Event()

    async def file(size: int) -> None:
        async with slots.slot(-size):
            order.append(size)
            await gate.wait()

    first = asyncio.create_task(file(5))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(file(size)) for size in (10, 300, 20)]
    await asyncio.sleep(0)
    assert (slots.busy, slots.waiting) == (1, 3)
    slots.resize(2)
    await asyncio.sleep(0)
    assert order == [5, 300] and slots.busy == 2
    gate.set()
    await asyncio.gather(first, *rest)
    assert order == [5, 300, 20, 10] and (slots.busy, slots.waiting) == (0, 0)


# -- downloads against the emulator -----------------------------------------------------------------------


async def test_every_kind_downloads_byte_exact_into_the_layout(make_emu, tmp_path):
    emu = make_emu(MEDIA_WORLD)
    async with harness(emu, tmp_path / "vault") as h:
        chat = h.chat_id("Media Channel")
        items, refs = await h.download(chat)
        stats = h.downloader.stats()
    assert {i.kind for i in items} >= FILE_KINDS, "the test world must hold every downloadable kind"
    db = sqlite3.connect(tmp_path / "vault" / ".tobs" / "state.sqlite")
    rows = {
        r[0]: r[1:] for r in db.execute("SELECT msg_id, status, sha256, path FROM media WHERE chat_id = ?", (chat,))
    }
    chat_dir = chat_dir_name("Media Channel", chat)
    for item in items:
        ref = refs[item.msg_id]
        assert ref.status == "ok", (item, ref)
        path = tmp_path / "vault" / ref.path
        want = emu.world.sha256_of_media(item.media_id)
        assert sha256(path) == want, f"{item.kind} {ref.path} is not byte-exact"
        assert rows[item.msg_id] == ("done", want, ref.path)
        folder, name = ref.path.rsplit("/", 1)
        assert folder == f"{chat_dir}/media/{item.kind}/{item.month}" and name.startswith(f"{item.msg_id}_")
    assert not list((tmp_path / "vault").rglob("*.part")), "no partial file is left behind"
    assert stats.files_done == len(items) and stats.files_failed == 0
    assert stats.bytes_done == stats.bytes_expected == sum(i.size for i in items)
    standard = next(p for p in h.pools.metrics() if p.name == "standard")
    assert standard.completed >= len(items) - stats.files_deduped, "SHA-256 runs on the standard pool"


async def test_a_large_file_has_several_aligned_parts_in_flight(make_emu, tmp_path):
    emu = make_emu(BIG_WORLD, **CAPPED)
    async with harness(emu, tmp_path / "vault", parts_per_file=3) as h:
        chat = emu.world.chat_ids()[0]
        item = await biggest(h, chat)
        assert item.size > 5 * MiB
        task = asyncio.create_task(h.download(chat, [item]))
        seen = await sample_while(task, lambda: h.downloader.stats())
        _, refs = task.result()
    assert refs[item.msg_id].status == "ok"
    assert max(s.parts_in_flight for s in seen) == 3
    assert max(s.files_in_flight for s in seen) == 1
    progress = [s.files[0].bytes_done for s in seen if s.files]
    assert progress == sorted(progress) and any(0 < p < item.size for p in progress), "measured bytes grow part by part"
    requests = [r for r in emu.log.find(method="GetFileRequest") if r.params.get("location.id") == item.media_id]
    assert {r.params["limit"] for r in requests} == {PART_SIZE}
    assert sorted(r.params["offset"] for r in requests) == list(range(0, item.size, PART_SIZE))
    assert sha256(tmp_path / "vault" / refs[item.msg_id].path) == emu.world.sha256_of_media(item.media_id)


async def test_flood_wait_mid_file_waits_and_goes_on(make_emu, tmp_path):
    emu = make_emu(BIG_WORLD, **CAPPED)
    async with harness(emu, tmp_path / "vault") as h:
        chat = emu.world.chat_ids()[0]
        item = await biggest(h, chat)
        timed = h.source.throttle.get_stats()["sample_count"]
        emu.script("GetFileRequest", 3, error="FLOOD_WAIT_1")
        _, refs = await h.download(chat, [item])
    assert refs[item.msg_id].status == "ok"
    assert any(kind is EventKind.FLOOD_WAIT for kind, _ in h.events)
    assert h.source.limit.decreases == 0, "a media part's FloodWait leaves the history request limit alone"
    assert h.source.throttle.get_stats()["sample_count"] == timed, "parts are not timed as round trips"
    assert emu.log.count(method="GetFileRequest", error="FLOOD_WAIT_1") == 1
    offsets = fetched_offsets(emu, item.media_id)
    assert set(offsets) == set(range(0, item.size, PART_SIZE)) and max(offsets.values()) == 1
    assert sha256(tmp_path / "vault" / refs[item.msg_id].path) == emu.world.sha256_of_media(item.media_id)


async def test_expired_file_reference_mid_file_refetches_the_message(make_emu, tmp_path):
    emu = make_emu(BIG_WORLD, **CAPPED)
    async with harness(emu, tmp_path / "vault", parts_per_file=2) as h:
        chat = emu.world.chat_ids()[0]
        item = await biggest(h, chat)
        task = asyncio.create_task(h.download(chat, [item]))
        while not h.downloader.stats().files or h.downloader.stats().files[0].bytes_done < 2 * PART_SIZE:
            await asyncio.sleep(0.01)
        emu.world.expire_file_references()
        _, refs = await task
    assert refs[item.msg_id].status == "ok", refs[item.msg_id]
    assert emu.log.count(method="GetFileRequest", error="FILE_REFERENCE_EXPIRED") >= 1
    assert emu.log.count(method="GetMessagesRequest") == 1, "one refetch for a fresh reference"
    offsets = fetched_offsets(emu, item.media_id)
    assert set(offsets) == set(range(0, item.size, PART_SIZE)) and max(offsets.values()) == 1
    assert sha256(tmp_path / "vault" / refs[item.msg_id].path) == emu.world.sha256_of_media(item.media_id)


async def test_hostile_names_stay_inside_and_never_collide(make_emu, tmp_path):
    emu = make_emu(MEDIA_WORLD)
    root = tmp_path / "vault"
    async with harness(emu, root) as h:
        chat = h.chat_id(HOSTILE_TITLE)
        items, refs = await h.download(chat)
    assert {i.file_name for i in items} == set(HOSTILE_FILE_NAMES), "every held hostile name is exercised"
    paths = [refs[i.msg_id].path for i in items]
    assert all(refs[i.msg_id].status == "ok" for i in items)
    assert len({p.casefold() for p in paths}) == len(paths), "no two files share a name"
    real_root = os.path.realpath(root)
    for item, rel in zip(items, paths):
        full = os.path.realpath(root / rel)
        assert os.path.commonpath([real_root, full]) == real_root
        assert Path(full).relative_to(real_root).parts[:3] == (chat_dir_name(HOSTILE_TITLE, chat), "media", "document")
        name = Path(full).name
        assert name.startswith(f"{item.msg_id}_") and "\x00" not in name and "\u202e" not in name
        assert not name.lower().endswith((".md", ".markdown", ".canvas", ".base")), "a media file is never a note"
        assert len(name.encode()) <= 120
        assert sha256(Path(full)) == emu.world.sha256_of_media(item.media_id)
    outside = {p for p in tmp_path.rglob("*") if p.is_file() and root not in p.parents}
    assert not outside, f"files escaped the export dir: {outside}"


async def test_the_same_file_in_two_chats_is_stored_once_and_linked(make_emu, tmp_path):
    emu = make_emu(MEDIA_WORLD)
    shared = emu.world.shared_document_id
    async with harness(emu, tmp_path / "vault") as h:
        chats = [h.chat_id("Media Channel"), h.chat_id("Family")]
        refs = {}
        for chat in chats:
            items, got = await h.download(chat)
            refs.update({(chat, i.msg_id): got[i.msg_id] for i in items if i.media_id == shared})
        deduped = h.downloader.stats().files_deduped
    assert len(refs) >= 3 and {c for c, _ in refs} == set(chats), "the shared document is in both chats"
    inodes = {os.stat(tmp_path / "vault" / r.path).st_ino for r in refs.values()}
    assert len(inodes) == 1, "hard links of one stored copy"
    assert len({r.path for r in refs.values()}) == len(refs), "each message has its own path"
    assert deduped == len(refs) - 1
    parts = -(-emu.world.file_size(shared) // PART_SIZE)
    assert sum(fetched_offsets(emu, shared).values()) == parts, "downloaded once"


async def test_without_hard_links_the_reuse_is_recorded(make_emu, tmp_path, monkeypatch):
    # A file system without hard links (FAT, some network shares) cannot run here; os.link answers as it would.
    def no_links(*_a, **_k):
        raise OSError(errno.EPERM, "hard links not supported")

    monkeypatch.setattr(media_mod.os, "link", no_links)
    emu = make_emu(MEDIA_WORLD)
    shared = emu.world.shared_document_id
    async with harness(emu, tmp_path / "vault") as h:
        chat = h.chat_id("Media Channel")
        items, refs = await h.download(chat)
    copies = [refs[i.msg_id] for i in items if i.media_id == shared]
    assert len(copies) >= 2
    assert len({r.path for r in copies}) == 1, "every message points at the one stored copy"
    assert sum(fetched_offsets(emu, shared).values()) == -(-emu.world.file_size(shared) // PART_SIZE)
    db = sqlite3.connect(tmp_path / "vault" / ".tobs" / "state.sqlite")
    reasons = [r[0] for r in db.execute("SELECT reason FROM media WHERE media_id = ? AND status = 'done'", (shared,))]
    assert sum(1 for r in reasons if r and "stored once at" in r) == len(copies) - 1


async def test_kinds_and_max_size_are_respected(make_emu, tmp_path):
    emu = make_emu(MEDIA_WORLD)
    options = ExportOptions(tz=datetime.UTC, media_kinds=("photo", "voice"), max_file_size=500_000)
    async with harness(emu, tmp_path / "vault", options=options) as h:
        chat = h.chat_id("Media Channel")
        items, refs = await h.download(chat)
    fetched = {r.params.get("location.id") for r in emu.log.find(method="GetFileRequest")}
    for item in items:
        ref = refs[item.msg_id]
        wanted = item.kind in ("photo", "voice") and item.size <= 500_000
        assert (ref.status == "ok") == wanted, (item, ref)
        assert (item.media_id in fetched) == wanted
        if not wanted:
            assert ref.path is None and ref.reason in ("too large", f"{item.kind} files are not selected")
    assert any(i.kind == "photo" and i.size > 500_000 for i in items), "the world must have a too-large photo"


async def test_a_failing_file_is_recorded_and_a_rerun_retries_it(make_emu, tmp_path):
    emu = make_emu(MEDIA_WORLD)
    root = tmp_path / "vault"
    async with harness(emu, root, workers=1) as h:
        chat = h.chat_id("Media Channel")
        items = [i for i in await h.items(chat) if i.size <= PART_SIZE][:2]
        for _ in range(media_mod.MAX_FILE_ATTEMPTS):
            emu.script("GetFileRequest", 1, error="FILE_ID_INVALID")
        _, refs = await h.download(chat, items)
        bad, good = refs[items[0].msg_id], refs[items[1].msg_id]
        assert bad.status == "failed" and "file id is invalid" in bad.reason.lower()
        assert good.status == "ok", "the export moves on to the next file"
        assert any(k is EventKind.ERROR and "re-run" in m for k, m in h.events)
        record = h.vault.store.media_record(chat, items[0].msg_id)
        assert (record.status, record.path) == ("failed", media_mod.media_rel_path(h.context(chat).dir_name, items[0]))
    async with harness(emu, root) as h2:
        retried = await h2.downloader.retry_failed(h2.context(chat))
        assert [(r.msg_id, r.ref.status) for r in retried] == [(items[0].msg_id, "ok")]
        record = h2.vault.store.media_record(chat, items[0].msg_id)
    assert record.status == "done" and record.sha256 == emu.world.sha256_of_media(items[0].media_id)
    assert sha256(root / record.path) == record.sha256


async def test_a_failed_file_whose_message_changed_is_given_up_once(make_emu, tmp_path):
    emu = make_emu(MEDIA_WORLD)
    root = tmp_path / "vault"
    async with harness(emu, root, workers=1) as h:
        chat = h.chat_id("Media Channel")
        item = next(i for i in await h.items(chat) if i.size <= PART_SIZE)
        for _ in range(media_mod.MAX_FILE_ATTEMPTS):
            emu.script("GetFileRequest", 1, error="FILE_ID_INVALID")
        _, refs = await h.download(chat, [item])
        assert refs[item.msg_id].status == "failed"
        # The message now holds another file (edited on Telegram): the one that failed is not there to fetch.
        h.vault.store.upsert_media(
            dataclasses.replace(h.vault.store.media_record(chat, item.msg_id), media_id=item.media_id + 1)
        )
    async with harness(emu, root) as h2:
        emu.log.clear()
        assert await h2.downloader.retry_failed(h2.context(chat)) == []
        record = h2.vault.store.media_record(chat, item.msg_id)
        assert (record.status, record.reason) == ("skipped", "The message or its file is gone from Telegram.")
        assert [r.method for r in emu.log.records] == ["GetMessagesRequest"]
        emu.log.clear()
        assert await h2.downloader.retry_failed(h2.context(chat)) == []
        assert emu.log.records == [], "no later run asks for it again"


async def test_files_in_flight_follow_the_live_worker_count(make_emu, tmp_path):
    emu = make_emu(MEDIA_WORLD, media_bandwidth=4 * MiB, media_streams=8)
    async with harness(emu, tmp_path / "vault", workers=4) as h:
        chat = h.chat_id("Media Channel")
        items = await h.items(chat)
        h.downloader.set_workers(1)
        await asyncio.sleep(0)
        task = asyncio.create_task(h.download(chat, items[:8]))
        seen = await sample_while(task, lambda: h.downloader.stats())
        await task
    assert max(s.files_in_flight for s in seen) == 1
    assert max(s.files_queued for s in seen) >= 1
    assert seen[-1].workers == 1


async def test_postprocessing_without_ffmpeg_is_skipped_with_an_event(make_emu, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    emu = make_emu(MEDIA_WORLD)
    async with harness(emu, tmp_path / "vault", postprocess=True) as h:
        _items, refs = await h.download(h.chat_id("Media Channel"))
    assert any("ffmpeg is not on PATH" in m for _, m in h.events)
    assert all(r.status == "ok" for r in refs.values())
    assert not list((tmp_path / "vault").rglob("*.thumb.jpg"))


def fake_ffmpeg(tmp_path: Path, monkeypatch) -> None:
    """ffmpeg is not installed on the test machines: a stand-in on PATH takes its command line and writes the
    output file (a tiny JPEG-looking thumbnail)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ffmpeg"
    fake.write_text("#!/bin/sh\nfor last; do :; done\nprintf '\\377\\330thumb' > \"$last\"\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


async def test_postprocessing_makes_video_thumbnails_on_the_standard_pool(make_emu, tmp_path, monkeypatch):
    fake_ffmpeg(tmp_path, monkeypatch)
    emu = make_emu(MEDIA_WORLD)
    async with harness(emu, tmp_path / "vault", postprocess=True) as h:
        items, refs = await h.download(h.chat_id("Media Channel"))
        await h.downloader.close()
        standard = next(p for p in h.pools.metrics() if p.name == "standard")
    videos = [i for i in items if i.kind in media_mod.THUMBNAIL_KINDS]
    assert videos
    for item in videos:
        thumb = tmp_path / "vault" / (refs[item.msg_id].path + ".thumb.jpg")
        assert thumb.read_bytes() == b"\xff\xd8thumb"
    assert not list((tmp_path / "vault").rglob("*.thumb.jpg.*"))
    assert standard.completed >= len(items) + len(videos) - h.downloader.stats().files_deduped


async def test_a_crash_between_rename_and_record_finishes_without_fetching(make_emu, tmp_path):
    emu = make_emu(BIG_WORLD)
    root = tmp_path / "vault"
    async with harness(emu, root) as h:
        chat = emu.world.chat_ids()[0]
        item = await biggest(h, chat)
        _, _refs = await h.download(chat, [item])
        done = h.vault.store.media_record(chat, item.msg_id)
        # The state a kill leaves right after the rename: every part recorded, the row not yet "done".
        parts = range(-(-item.size // PART_SIZE))
        h.vault.store.start_media(dataclasses.replace(done, status="partial", sha256=None), parts)
        emu.log.clear()
        _, again = await h.download(chat, [item])
        record = h.vault.store.media_record(chat, item.msg_id)
    assert again[item.msg_id].status == "ok" and emu.log.count(method="GetFileRequest") == 0
    assert (record.status, record.sha256) == ("done", emu.world.sha256_of_media(item.media_id))
    assert sha256(root / record.path) == record.sha256 and not list(root.rglob("*.part"))


# -- the vault is the user's: names the engine has not written are left alone -------------------------------


def _numbered(rel: str, n: int = 2) -> str:
    head, _, name = rel.rpartition("/")
    return f"{head}/{numbered_name(name, n)}"


def _rows(root: Path) -> dict[int, tuple[str, str]]:
    db = sqlite3.connect(root / ".tobs" / "state.sqlite")
    try:
        return {m: (p, st) for m, p, st in db.execute("SELECT msg_id, path, status FROM media")}
    finally:
        db.close()


async def test_files_of_the_users_at_new_names_are_left_alone(make_emu, tmp_path):
    emu = make_emu(MEDIA_WORLD)
    root = tmp_path / "vault"
    async with harness(emu, root) as h:
        chat = h.chat_id("Media Channel")
        items = await h.items(chat)
        doc = next(i for i in items if i.kind == "document" and i.media_id != emu.world.shared_document_id)
        photo = next(i for i in items if i.kind == "photo")
        other = next(i for i in items if i.kind not in ("document", "photo") and i.size <= PART_SIZE)
        picked = [doc, photo, other]
        default = {i.msg_id: media_mod.media_rel_path(h.context(chat).dir_name, i) for i in picked}
        mine = {
            root / default[doc.msg_id]: b"MY OWN PLAN - do not lose",
            root / (default[photo.msg_id] + ".part"): b"MY PART FILE",
        }
        for path, data in mine.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        (root / default[other.msg_id]).mkdir(parents=True)  # a folder of theirs where the file would go
        _, refs = await h.download(chat, picked)
    for path, data in mine.items():
        assert path.read_bytes() == data, f"{path.name} of the user's was changed"
    assert (root / default[other.msg_id]).is_dir()
    rows = _rows(root)
    for item in picked:
        ref = refs[item.msg_id]
        assert ref.status == "ok" and ref.path == _numbered(default[item.msg_id]), ref
        assert rows[item.msg_id] == (ref.path, "done"), "the state DB records the name used"
        assert sha256(root / ref.path) == emu.world.sha256_of_media(item.media_id)
    assert sorted(p.name for p in root.rglob("*.part")) == [Path(default[photo.msg_id]).name + ".part"]


async def test_a_file_stored_once_is_linked_beside_a_file_of_the_users(make_emu, tmp_path):
    emu = make_emu(MEDIA_WORLD)
    root = tmp_path / "vault"
    shared = emu.world.shared_document_id
    async with harness(emu, root) as h:
        first, second = h.chat_id("Media Channel"), h.chat_id("Family")
        await h.download(first, [i for i in await h.items(first) if i.media_id == shared])
        again = [i for i in await h.items(second) if i.media_id == shared][:1]
        rel = media_mod.media_rel_path(h.context(second).dir_name, again[0])
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"mine")
        (root / (rel + ".part")).write_bytes(b"my part")
        _, refs = await h.download(second, again)
    assert (root / rel).read_bytes() == b"mine" and (root / (rel + ".part")).read_bytes() == b"my part"
    ref = refs[again[0].msg_id]
    assert ref.path == _numbered(rel) and _rows(root)[again[0].msg_id] == (ref.path, "done")
    assert sha256(root / ref.path) == emu.world.sha256_of_media(shared)
    assert sum(fetched_offsets(emu, shared).values()) == -(-emu.world.file_size(shared) // PART_SIZE)


async def test_a_thumbnail_of_the_users_is_left_alone(make_emu, tmp_path, monkeypatch):
    fake_ffmpeg(tmp_path, monkeypatch)
    emu = make_emu(MEDIA_WORLD)
    root = tmp_path / "vault"
    async with harness(emu, root, postprocess=True) as h:
        chat = h.chat_id("Media Channel")
        video = next(i for i in await h.items(chat) if i.kind in media_mod.THUMBNAIL_KINDS)
        rel = media_mod.media_rel_path(h.context(chat).dir_name, video)
        mine = root / (rel + ".thumb.jpg")
        mine.parent.mkdir(parents=True, exist_ok=True)
        mine.write_bytes(b"my picture")
        _, refs = await h.download(chat, [video])
        await h.downloader.close()
    assert mine.read_bytes() == b"my picture"
    assert not (root / rel).exists(), "the video took a name whose thumbnail is free"
    ref = refs[video.msg_id]
    assert ref.path == _numbered(rel) and sha256(root / ref.path) == emu.world.sha256_of_media(video.media_id)
    assert (root / (ref.path + ".thumb.jpg")).read_bytes() == b"\xff\xd8thumb"


async def test_a_file_that_takes_the_name_during_the_download_is_left_alone(make_emu, tmp_path, monkeypatch):
    emu = make_emu(BIG_WORLD)
    root = tmp_path / "vault"
    async with harness(emu, root) as h:
        chat = emu.world.chat_ids()[0]
        item = await biggest(h, chat)
        rel = media_mod.media_rel_path(h.context(chat).dir_name, item)
        original = h.downloader._files.write_part

        def write_part(transfer, part, data):
            (root / rel).write_bytes(b"saved by the user meanwhile")  # while the parts come in
            return original(transfer, part, data)

        monkeypatch.setattr(h.downloader._files, "write_part", write_part)
        _, refs = await h.download(chat, [item])
    assert (root / rel).read_bytes() == b"saved by the user meanwhile"
    ref = refs[item.msg_id]
    assert ref.path == _numbered(rel) and _rows(root)[item.msg_id] == (ref.path, "done")
    assert sha256(root / ref.path) == emu.world.sha256_of_media(item.media_id)
    assert not list(root.rglob("*.part"))


async def test_an_unfinished_download_whose_name_was_taken_goes_on_beside_it(make_emu, tmp_path):
    emu = make_emu(BIG_WORLD)
    root = tmp_path / "vault"
    async with harness(emu, root) as h:
        chat = emu.world.chat_ids()[0]
        item = await biggest(h, chat)
        await h.download(chat, [item])
        done = h.vault.store.media_record(chat, item.msg_id)
        # What a failed (or parked) run leaves: every part in "<name>.part", the row "failed". Then the user
        # saves a file of their own under the name.
        os.replace(root / done.path, root / (done.path + ".part"))
        h.vault.store.start_media(
            dataclasses.replace(done, status="failed", sha256=None), range(item.size // PART_SIZE)
        )
        (root / done.path).write_bytes(b"mine now")
        emu.log.clear()
        _, refs = await h.download(chat, [item])
    assert (root / done.path).read_bytes() == b"mine now"
    ref = refs[item.msg_id]
    assert ref.path == _numbered(done.path) and _rows(root)[item.msg_id] == (ref.path, "done")
    assert sha256(root / ref.path) == emu.world.sha256_of_media(item.media_id)
    assert set(fetched_offsets(emu, item.media_id)) == {(item.size // PART_SIZE) * PART_SIZE}, "recorded parts kept"
    assert not list(root.rglob("*.part"))


class _Killed(BaseException):
    pass


async def test_a_part_file_is_claimed_in_the_state_before_it_is_created(make_emu, tmp_path, monkeypatch):
    emu = make_emu(BIG_WORLD)
    root = tmp_path / "vault"
    seen: list[tuple[str, str | None]] = []
    real_open = files_mod.open_for_writing

    def open_then_die(path, flags, mode=0o644):
        fd = real_open(path, flags, mode)
        rel = Path(path).relative_to(root).as_posix().removesuffix(".part")
        db = sqlite3.connect(root / ".tobs" / "state.sqlite")
        seen.append((rel, next((r[0] for r in db.execute("SELECT path FROM media WHERE path = ?", (rel,))), None)))
        db.close()
        os.close(fd)
        raise _Killed  # the process dies right after creating the part file

    async with harness(emu, root) as h:
        chat = emu.world.chat_ids()[0]
        item = await biggest(h, chat)
        rel = media_mod.media_rel_path(h.context(chat).dir_name, item)
        monkeypatch.setattr(files_mod, "open_for_writing", open_then_die)
        with pytest.raises(_Killed):
            await h.download(chat, [item])
        monkeypatch.setattr(files_mod, "open_for_writing", real_open)
    assert seen == [(rel, rel)], "the row naming the part file is there before the file"
    assert (root / (rel + ".part")).exists()
    async with harness(emu, root) as h:
        _, refs = await h.download(chat, [item])
    assert refs[item.msg_id].path == rel, "the next run knows the part file for its own"
    assert sha256(root / rel) == emu.world.sha256_of_media(item.media_id) and not list(root.rglob("*.part"))


# -- resume after a kill ----------------------------------------------------------------------------------


def _child(session: str, root: str, chat_id: int, msg_id: int) -> None:
    """Download one file until the parent kills this process."""

    async def run() -> None:
        emu = _RemoteEmulator(session)
        async with harness(emu, Path(root)) as h:
            items = [i for i in await h.items(chat_id) if i.msg_id == msg_id]
            await h.downloader.process(
                ChatContext(chat_id, "Big Files", chat_dir_name("Big Files", chat_id), True), items
            )

    asyncio.run(run())


class _RemoteEmulator:
    """Just enough of Emulator for harness() in the child: the session of the parent's emulator."""

    def __init__(self, session: str) -> None:
        self._session = session

    def session_string(self) -> str:
        return self._session


async def test_a_killed_download_resumes_from_the_bytes_it_has(make_emu, tmp_path):
    emu = make_emu(BIG_WORLD, **CAPPED)
    root = tmp_path / "vault"
    chat = emu.world.chat_ids()[0]
    async with harness(emu, root) as h:
        item = await biggest(h, chat)
    assert item.size > 5 * MiB
    emu.log.clear()
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.engine.test_media",
            "child",
            emu.session_string(),
            str(root),
            str(chat),
            str(item.msg_id),
        ],
        cwd=REPO,
    )
    db_path = root / ".tobs" / "state.sqlite"
    try:
        deadline = time.monotonic() + 60
        recorded: set[int] = set()
        while len(recorded) < 2:
            assert child.poll() is None, "the child finished before it was killed"
            assert time.monotonic() < deadline, "the child made no progress"
            await asyncio.sleep(0.02)
            with contextlib.suppress(sqlite3.Error):
                db = sqlite3.connect(db_path, timeout=1)
                recorded = {r[0] for r in db.execute("SELECT part FROM media_parts")}
                db.close()
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    db = sqlite3.connect(db_path)
    at_kill = {r[0] for r in db.execute("SELECT part FROM media_parts")}
    db.close()
    assert at_kill and len(at_kill) < -(-item.size // PART_SIZE), "killed in the middle of the file"
    first_run = fetched_offsets(emu, item.media_id)
    emu.log.clear()

    async with harness(emu, root) as h:
        items = [i for i in await h.items(chat) if i.msg_id == item.msg_id]
        _, refs = await h.download(chat, items)
    assert refs[item.msg_id].status == "ok"
    second_run = fetched_offsets(emu, item.media_id)
    assert not {p * PART_SIZE for p in at_kill} & set(second_run), "no recorded part is fetched again"
    twice = set(first_run) & set(second_run)
    assert len(twice) <= 4, f"only the parts in flight at the kill are fetched twice: {sorted(twice)}"
    assert set(first_run) | set(second_run) == set(range(0, item.size, PART_SIZE))
    assert sha256(root / refs[item.msg_id].path) == emu.world.sha256_of_media(item.media_id)
    assert not list(root.rglob("*.part"))


if __name__ == "__main__" and sys.argv[1:2] == ["child"]:
    _child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))


async def test_a_name_the_user_takes_at_every_try_is_never_claimed(make_emu, tmp_path, monkeypatch):
    """Between the look for a free name and the create, a file of the user's appears there, every time: the
    download gives up, and no row is left claiming their files (a later run would take them for its own)."""
    emu = make_emu(MEDIA_WORLD)
    root = tmp_path / "vault"
    async with harness(emu, root) as h:
        chat = h.chat_id("Media Channel")
        item = next(i for i in await h.items(chat) if i.kind == "photo")
        files = h.downloader._files
        real_free_name = files.free_name
        taken: list[Path] = []

        def free_name_then_taken(rel, sides, *, first=1):
            name = real_free_name(rel, sides, first=first)
            part = root / (name + ".part")
            part.parent.mkdir(parents=True, exist_ok=True)
            part.write_bytes(b"MINE")  # the user, in between
            taken.append(part)
            return name

        monkeypatch.setattr(files, "free_name", free_name_then_taken)
        _, refs = await h.download(chat, [item])
    assert refs[item.msg_id].status == "failed" and len(taken) == 3
    assert all(p.read_bytes() == b"MINE" for p in taken)
    claimed = {root / f"{path}.part" for path, _ in _rows(root).values()}
    assert not claimed & set(taken), "a row claims a part file of the user's"

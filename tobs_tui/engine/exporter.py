"""The export pipeline: fetch history batches -> preload senders -> media stage -> render + write + commit on
the critical pool, chat by chat (several at once), a big chat split into id ranges fetched concurrently and
written in order. Exactly-once: each chat resumes from its committed last id after `Vault.recover()`."""

from __future__ import annotations

import asyncio
import datetime
import functools
import json
import logging
import sqlite3
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from telethon import errors, utils
from telethon.tl import functions, types

from tobs_tui.engine import heap
from tobs_tui.engine.corrections import Retried, correct_json_lines, correct_note
from tobs_tui.engine.names import chat_dir_name, media_file_name, topic_dir_name
from tobs_tui.engine.pools import DualPool, TaskPriority
from tobs_tui.engine.progress import RateMeter
from tobs_tui.engine.renderproc import Rendered, RenderJob, RenderPool, render_job
from tobs_tui.engine.render import (
    MediaRef,
    media_facts,
    media_kind,
    ReplyTarget,
    MonthKeys,
    month_key,
)
from tobs_tui.engine.render.json_export import chat_header
from tobs_tui.engine.render.media import FILE_KINDS
from tobs_tui.engine.senders import SenderPreloader, display_name
from tobs_tui.engine.snapshot import ChatKind, ChatState, DialogInfo, EventKind
from tobs_tui.engine.source import ChatParked, ChatUnavailable, HistoryBatch, RequestFailed, TelegramSource
from tobs_tui.engine.store import MediaRecord
from tobs_tui.engine.vault import Vault, VaultWriteError, write_error

log = logging.getLogger(__name__)

# Ranges of 10 pages, each fetching up to 8 ahead of the writer: the next ranges are (nearly) whole when the
# writer reaches them, so fetching never waits on one range's requests in sequence. Measured on `lan` against
# 2,000 ids and 4 ahead: 0.74-0.76 of raw iter_messages instead of 0.66-0.69, +9 MB peak (at most 8 ranges x 8
# pages buffered). The price: a range's last page is partly empty where ids have gaps (deleted messages), about
# one request in 20 more than whole pages on a sparse chat, against one in 40 with 2,000-id ranges.
RANGE_IDS = 1_000            # ids per range when a channel's history is split for concurrent fetching
SPLIT_ABOVE = 2 * RANGE_IDS  # a chat is split only when it has more new ids than this
RANGE_QUEUE = 8              # batches a range may fetch ahead of the writer (bounds memory)
MERGE_BATCHES = 4            # waiting batches of one range rendered and committed together
RENDER_AHEAD = 4            # batches rendering in worker processes while the oldest is committed
RECENT_INDEX = 20_000        # reply targets kept in memory per chat before falling back to the state DB
GENERAL_TOPIC = 1
SNIPPET_CHARS = 160          # enough text for any reply preview; stored per message in the state DB
# Channel-like chats number their messages per chat, so id ranges are dense and worth splitting; users and
# basic groups share one account-wide counter, so their ids are sparse and fetched as one stream.
_SPLITTABLE = {ChatKind.CHANNEL, ChatKind.SUPERGROUP, ChatKind.FORUM}



@dataclass(frozen=True)
class ChatSelection:
    chat_id: int
    topic_ids: tuple[int, ...] | None = None
    download_media: bool = True
    since: datetime.date | None = None


@dataclass(frozen=True)
class ExportOptions:
    """What the pipeline needs from the settings, fixed for one export run."""

    tz: datetime.tzinfo
    formats: tuple[str, ...] = ("markdown", "json")
    media_kinds: tuple[str, ...] = ("photo", "video", "document", "audio", "voice", "round", "sticker",
                                    "animation")
    max_file_size: int = 0    # bytes; 0 = no limit
    chats_at_once: int = 3


@dataclass(frozen=True)
class MediaItem:
    """A message's downloadable file as Telegram describes it."""

    msg_id: int
    media_id: int
    kind: str
    file_name: str | None
    mime_type: str | None
    size: int | None
    month: str
    media: object = field(default=None, compare=False, repr=False)   # the TL media: where to download it


@dataclass(frozen=True)
class ChatContext:
    chat_id: int
    title: str
    dir_name: str
    download_media: bool


class MediaStage(Protocol):
    """Decides (and, with downloads, fetches) each batch's files BEFORE the batch is rendered and committed,
    so a note never embeds a file that failed. Returns the MediaRef per message id. A stage records the files
    it fetches; the rows of files it skips go in the batch's commit."""

    async def process(self, chat: ChatContext, items: list[MediaItem]) -> dict[int, MediaRef]: ...


def media_item(message, tz: datetime.tzinfo) -> MediaItem | None:
    """The message's downloadable file (kind and facts as the renderers see them), or None."""
    media = getattr(message, "media", None)
    kind = media_kind(media)
    if kind not in FILE_KINDS:
        return None
    holder = getattr(media, "photo", None) if kind == "photo" else getattr(media, "document", None)
    media_id = getattr(holder, "id", None)
    if media_id is None:
        return None   # an empty/expired photo or document: nothing to download
    facts = media_facts(media)
    return MediaItem(message.id, media_id, kind, facts.file_name, facts.mime_type, facts.size,
                     month_key(message, tz), media=media)


def media_rel_path(dir_name: str, item: MediaItem) -> str:
    name = media_file_name(item.msg_id, item.file_name, item.kind, item.mime_type)
    return f"{dir_name}/media/{item.kind}/{item.month}/{name}"


class PendingMedia:
    """Without the download workers: every wanted file is recorded as "pending" where it will land."""

    def __init__(self, options: ExportOptions) -> None:
        self._options = options

    async def process(self, chat: ChatContext, items: list[MediaItem]) -> dict[int, MediaRef]:
        refs: dict[int, MediaRef] = {}
        for item in items:
            reason = skip_reason(item, chat, self._options)
            path = None if reason else media_rel_path(chat.dir_name, item)
            refs[item.msg_id] = MediaRef(kind=item.kind, path=path, status="skipped" if reason else "pending",
                                         file_name=item.file_name, mime_type=item.mime_type, size=item.size,
                                         reason=reason)
        return refs


def skip_reason(item: MediaItem, chat: ChatContext, options: ExportOptions) -> str | None:
    if not chat.download_media:
        return "media downloads are off for this export"
    if item.kind not in options.media_kinds:
        return f"{item.kind} files are not selected"
    if options.max_file_size and item.size is not None and item.size > options.max_file_size:
        return "too large"
    return None


def topic_of(message) -> int:
    """The forum topic a message belongs to: its reply header's top id, or General (1) without one."""
    if isinstance(getattr(message, "action", None), types.MessageActionTopicCreate):
        return message.id
    reply = getattr(message, "reply_to", None)
    if isinstance(reply, types.MessageReplyHeader) and reply.forum_topic:
        return reply.reply_to_top_id or reply.reply_to_msg_id or GENERAL_TOPIC
    return GENERAL_TOPIC


def snippet_of(message) -> str:
    """The start of a message's text for reply previews; the renderer shortens it to words for display."""
    return (getattr(message, "message", "") or "")[:SNIPPET_CHARS]


def yaml_str(value: str | None) -> str:
    # JSON strings are valid YAML scalars and escape everything a title may hold.
    return "null" if value is None else json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class PreparedBatch:
    """One fetched batch, ready to render and commit."""

    job: RenderJob
    headers: dict[str, str]                      # note file -> its month header (a new note starts with it)
    rows: list[tuple[int, str, str, str]]        # message index rows for the state DB
    topic_last: dict[int, int]
    media_records: list[MediaRecord]
    last_id: int                                 # the batch's newest id: the resume point once committed
    fetched: int                                 # messages in the batch (progress counts these)


@dataclass
class ChatRun:
    """Mutable progress of one chat; touched only on the engine loop."""

    info: DialogInfo
    selection: ChatSelection
    state: ChatState = ChatState.QUEUED
    done: int = 0
    expected: int = 0
    bytes_done: int = 0
    error: str | None = None
    meter: RateMeter = field(default_factory=RateMeter)
    started: float | None = None
    finished: float | None = None


class ChatExport:
    """One chat's run: resume point, topic routing, ordered range fetching and batch commits."""

    def __init__(self, exporter: Exporter, run: ChatRun) -> None:
        self.x = exporter
        self.run = run
        self.info = run.info
        self.chat_id = run.info.chat_id
        self.writer = exporter.vault.chat_writer(self.chat_id)
        self.month_of = MonthKeys(exporter.options.tz)
        self.store = exporter.vault.store
        self.recent: OrderedDict[int, tuple[str, str, str]] = OrderedDict()
        self.topic_dirs: dict[int, str] = {}
        self.topic_last: dict[int, int] = {}
        self.dir_name = ""
        self._headers: dict[tuple[str, str], str] = {}

    # -- setup ---------------------------------------------------------------------------------------
    async def prepare(self) -> int:
        """Create/refresh the chat's record; returns the id to resume after."""
        record = await self.x.in_pool(self.store.chat_progress, self.chat_id)
        # Keep the folder of earlier runs even if the chat was renamed since (incremental runs append to it).
        self.dir_name = record.dir_name if record and record.dir_name else chat_dir_name(self.info.title,
                                                                                         self.chat_id)
        await self.x.in_pool(self.store.upsert_chat, self.chat_id, title=self.info.title,
                             kind=self.info.kind.value, username=self.info.username, dir_name=self.dir_name)
        after = record.last_id if record else 0
        if self.info.is_forum:
            topics = await self.x.source.topics(self.chat_id)
            for topic in topics:
                self.topic_dirs[topic.topic_id] = topic_dir_name(topic.title, topic.topic_id)
            self.topic_last = await self.x.in_pool(self.store.topic_last_ids, self.chat_id)
            wanted = self.run.selection.topic_ids
            # A topic chosen for the first time (or left out before) starts from its beginning even if others
            # are further on; messages of topics already past an id are skipped when they come by again.
            behind = [self.topic_last.get(t.topic_id, 0) for t in topics
                      if (not wanted or t.topic_id in wanted)
                      and t.top_message_id > self.topic_last.get(t.topic_id, 0)]
            after = min([after, *behind])
        since = self.run.selection.since
        if since is not None and after == 0:
            after = await self._first_id_before(since)
        return after

    async def _first_id_before(self, since: datetime.date) -> int:
        """The newest id older than `since` (so the export starts at the first message on that day)."""
        start = datetime.datetime.combine(since, datetime.time(), tzinfo=self.x.options.tz)
        r = await self.x.source.call(functions.messages.GetHistoryRequest(
            peer=self.x.source.input_peer(self.chat_id), offset_id=0, offset_date=start, add_offset=0, limit=1,
            max_id=0, min_id=0, hash=0), chat_id=self.chat_id)
        return max((m.id for m in r.messages), default=0)

    # -- the run -------------------------------------------------------------------------------------
    async def export(self) -> None:
        after = await self.prepare()
        top = self.info.top_message_id
        if self.info.kind in _SPLITTABLE:
            self.run.expected = max(0, top - after)
        ranges = self._ranges(after, top)
        await self._fetch_in_order(ranges)
        await self._retry_files()
        await self.finish()

    def _ranges(self, after: int, top: int) -> list[tuple[int, int | None]]:
        if self.info.kind not in _SPLITTABLE or top - after <= SPLIT_ABOVE:
            return [(after, None)]
        bounds = list(range(after, top, RANGE_IDS))
        # The last range has no upper bound: it ends at the chat's newest id (see _fetch_batches).
        return [(lo, lo + RANGE_IDS + 1) for lo in bounds[:-1]] + [(bounds[-1], None)]

    async def _fetch_in_order(self, ranges: list[tuple[int, int | None]]) -> None:
        queues: list[asyncio.Queue[HistoryBatch | None]] = [asyncio.Queue(RANGE_QUEUE) for _ in ranges]
        tasks: dict[int, asyncio.Task] = {}
        # One task per batch being rendered (in worker processes) and then committed after the one before it,
        # oldest first: the loop goes on preparing the next batches while a commit waits for its fsyncs.
        commits: deque[asyncio.Task] = deque()

        def ensure(i: int) -> None:
            if i < len(ranges) and i not in tasks:
                tasks[i] = asyncio.create_task(self._fetch_range(ranges[i], queues[i]))

        try:
            for i in range(len(ranges)):
                # Ranges ahead of the writer are fetched while it works; how many is bounded by the limit.
                for j in range(i, min(len(ranges), i + max(1, self.x.source.limit.limit))):
                    ensure(j)
                while (batch := await self._next_group(queues[i])) is not None:
                    prepared = await self._prepare(batch)
                    rendered = self.x.render(prepared.job)
                    commits.append(asyncio.create_task(
                        self._commit_after(commits[-1] if commits else None, prepared, rendered)))
                    while commits and (len(commits) > RENDER_AHEAD or commits[0].done()):
                        await self._settled(commits)
                tasks.pop(i).result()
            while commits:
                await self._settled(commits)
        finally:
            for task in commits:
                task.cancel()
            # A commit already running finishes (see _commit); the ones behind it never start.
            await asyncio.gather(*commits, return_exceptions=True)
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)

    @staticmethod
    async def _next_group(queue: asyncio.Queue) -> HistoryBatch | None:
        """The next batch, merged with the ones already waiting behind it (up to MERGE_BATCHES): one render job
        and one commit for several batches when fetching runs ahead, without ever waiting to fill a group."""
        first = await queue.get()
        if first is None:
            return None
        group = [first]
        while len(group) < MERGE_BATCHES and not queue.empty():
            nxt = queue.get_nowait()
            if nxt is None:
                queue.put_nowait(None)   # the range's end marker stays for the next call
                break
            group.append(nxt)
        if len(group) == 1:
            return first
        entities: dict = {}
        for b in group:
            entities.update(b.entities)
        return HistoryBatch(messages=tuple(m for b in group for m in b.messages), entities=entities,
                            count=group[-1].count, exhausted=group[-1].exhausted,
                            raw=tuple(r for b in group for r in b.raw) if all(b.raw for b in group) else ())

    async def _fetch_range(self, bounds: tuple[int, int | None], queue: asyncio.Queue) -> None:
        try:
            await self._fetch_batches(bounds, queue)
        except Exception:
            # Wake the writer: it sees the end marker and then this task's exception via result().
            await queue.put(None)
            raise

    async def _fetch_batches(self, bounds: tuple[int, int | None], queue: asyncio.Queue) -> None:
        after, before = bounds
        # The last range ends at the chat's newest id when the export started (the runner reads it again if
        # the dialog list is old): a full last page needs no call to learn that nothing is newer, and a chat
        # with nothing new needs no call at all. A message that arrives during the export comes with this run
        # if a page fetched anyway holds it, else with the next one, which starts after the last id written.
        top = self.info.top_message_id if before is None else 0
        while not 0 < top <= after:
            batch = await self.x.source.history_batch(self.chat_id, after=after, before=before)
            if batch.count is not None and self.info.kind not in _SPLITTABLE and not self.run.expected:
                record = await self.x.in_pool(self.store.chat_progress, self.chat_id)
                self.run.expected = max(0, batch.count - (record.message_count if record else 0))
            if batch.messages:
                await queue.put(batch)
                after = batch.messages[-1].id
            if batch.exhausted:
                break
        await queue.put(None)

    async def _prepare(self, batch: HistoryBatch) -> PreparedBatch:
        """In batch order on the loop: sender names, the media stage, topic routing and reply targets — all a
        renderer needs, as plain data, so rendering itself can run anywhere."""
        x = self.x
        opts = x.options
        await x.preloader.preload(batch.messages, batch.entities)
        names = {m.id: x.preloader.name_of(m) for m in batch.messages}
        wanted = self.run.selection.topic_ids
        # Files only of the messages that get a note: not of topics left out, nor of ones written already.
        items = [item for m in batch.messages
                 if (not self.info.is_forum or self._in_export(topic_of(m), m.id, wanted))
                 and (item := media_item(m, opts.tz)) is not None]
        chat = ChatContext(self.chat_id, self.info.title, self.dir_name, self.run.selection.download_media)
        media = await x.media_stage.process(chat, items) if items else {}
        keep, notes, rows = [], [], []
        headers: dict[str, str] = {}
        topic_last: dict[int, int] = {}
        for m in batch.messages:
            month = self.month_of(m)
            base = self.dir_name
            if self.info.is_forum:
                topic = topic_of(m)
                if isinstance(getattr(m, "action", None), types.MessageActionTopicCreate):
                    self.topic_dirs.setdefault(topic, topic_dir_name(m.action.title, topic))
                if not self._in_export(topic, m.id, wanted):
                    continue
                topic_last[topic] = m.id
                tdir = self.topic_dirs.get(topic) or topic_dir_name(f"Topic {topic}", topic)
                base = f"{self.dir_name}/topics/{tdir}"
            note = f"{base}/{month[:4]}/{month}"
            keep.append(m)
            path = f"{note}.md"
            notes.append(path)
            if path not in headers:
                headers[path] = self._month_header(month, base)
            row = (m.id, note, names.get(m.id, ""), snippet_of(m))
            rows.append(row)
            self._remember(row)
        self.topic_last.update(topic_last)
        reply_ids = {m.reply_to.reply_to_msg_id for m in keep
                     if isinstance(getattr(m, "reply_to", None), types.MessageReplyHeader)
                     and m.reply_to.reply_to_msg_id}
        found = {i: self.recent[i] for i in reply_ids if i in self.recent}
        missing = reply_ids - found.keys()
        if missing:
            found.update(await x.in_pool(self.store.lookup_messages, self.chat_id, missing))
        targets = {i: ReplyTarget(note=v[0], sender=v[1], snippet=v[2]) for i, v in found.items()}
        peer_names = {pid: display_name(e) for pid, e in batch.entities.items()}
        for m in keep:
            # Forwards from chats the reply did not carry: the dialog list may know them.
            fwd = getattr(getattr(m, "fwd_from", None), "from_id", None)
            pid = utils.get_peer_id(fwd) if fwd is not None else None
            if pid is not None and pid not in peer_names and (entity := x.source.entity(pid)) is not None:
                peer_names[pid] = display_name(entity)
        job = RenderJob(tz=opts.tz, messages=tuple(keep), names=names, targets=targets, media=media,
                        peer_names=peer_names, markdown="markdown" in opts.formats, json="json" in opts.formats,
                        raw=batch.raw, notes=tuple(notes))
        # The downloader records the files it fetched (parts, SHA-256, reasons); files nobody fetches (skipped,
        # or pending without the downloader) are recorded here, in the batch's own transaction.
        records = [MediaRecord(chat_id=self.chat_id, msg_id=item.msg_id, media_id=item.media_id, kind=item.kind,
                               path=ref.path or "", size=item.size, status=ref.status, reason=ref.reason)
                   for item in items if (ref := media.get(item.msg_id)) is not None
                   and (ref.status == "skipped" or isinstance(x.media_stage, PendingMedia))]
        return PreparedBatch(job=job, headers=headers, rows=rows, topic_last=topic_last, media_records=records,
                             last_id=batch.messages[-1].id, fetched=len(batch.messages))

    def _in_export(self, topic: int, msg_id: int, wanted: tuple[int, ...] | None) -> bool:
        """A forum message goes in a note when its topic is chosen (or all are) and it is past that topic's
        last written id."""
        return (not wanted or topic in wanted) and msg_id > self.topic_last.get(topic, 0)

    @staticmethod
    async def _settled(commits: deque[asyncio.Task]) -> None:
        """Wait for the oldest commit and drop it. Shielded: cancelling the writer must not cancel a running
        commit a second time (the `finally` above cancels each once, and a commit that started finishes)."""
        await asyncio.shield(commits[0])
        commits.popleft()

    async def _commit_after(self, previous: asyncio.Task | None, prepared: PreparedBatch,
                            rendered: asyncio.Future) -> None:
        """Commit once the batch before has committed: a batch never lands after a gap (exactly once)."""
        try:
            if previous is not None:
                await asyncio.shield(previous)   # cancelling this batch must not cancel the one before
        except BaseException:
            rendered.cancel()
            raise
        await self._commit(prepared, rendered)

    async def _commit(self, prepared: PreparedBatch, rendered: asyncio.Future) -> None:
        try:
            output = await rendered
        except asyncio.CancelledError:
            rendered.cancel()
            raise
        fut = self.x.pools.submit(self._append_and_commit, prepared, output, priority=TaskPriority.HIGH)
        try:
            written = await asyncio.shield(fut)
        except asyncio.CancelledError:
            # The commit runs on regardless; count it if it landed, so progress matches the vault.
            await asyncio.wait([fut])
            if not fut.cancelled() and fut.exception() is None:
                self._account(prepared.fetched, fut.result())
            raise
        self._account(prepared.fetched, written)

    def _account(self, messages: int, written: int) -> None:
        self.run.done += messages
        self.run.expected = max(self.run.expected, self.run.done)
        self.run.bytes_done += written
        self.run.meter.update(self.run.done)
        heap.settle()

    # -- on the critical pool ------------------------------------------------------------------------
    def _append_and_commit(self, prepared: PreparedBatch, rendered: Rendered) -> int:
        # The worker joined each note's blocks: one encode and one buffered append per note and batch.
        written = 0
        for note, text in rendered.notes:
            written += self.writer.append(note, text, header=prepared.headers[note])
        if rendered.json:
            self.writer.append_json_line(rendered.json)
            written += len(rendered.json)
        # The pending media rows ride in the batch's own transaction: one fsync less, and never one without the other.
        self.writer.commit(last_id=prepared.last_id, messages=prepared.rows,
                           topic_last_ids=prepared.topic_last or None, media=prepared.media_records)
        return written

    def _remember(self, row: tuple[int, str, str, str]) -> None:
        self.recent[row[0]] = row[1:]
        if len(self.recent) > RECENT_INDEX:
            self.recent.popitem(last=False)

    def _month_header(self, month: str, base: str) -> str:
        # Asked for every message; a chat has few distinct (month, folder) pairs.
        header = self._headers.get((month, base))
        if header is None:
            header = self._headers[(month, base)] = self._new_month_header(month, base)
        return header

    def _new_month_header(self, month: str, base: str) -> str:
        return (f"---\nchat_id: {self.chat_id}\nchat: {yaml_str(self.info.title)}\nmonth: \"{month}\"\n---\n\n"
                f"[[{self.dir_name}/{self.dir_name}|{self.dir_name}]] · {month}\n\n")

    # -- the chat's summary files --------------------------------------------------------------------
    async def _retry_files(self) -> None:
        """Files that earlier runs could not fetch are tried again once the chat's new messages are in, and the
        notes and JSON lines that said so are corrected before finish() writes result.json from those lines."""
        retry = getattr(self.x.media_stage, "retry_failed", None)
        if retry is None or not self.run.selection.download_media:
            return
        retried = await retry(ChatContext(self.chat_id, self.info.title, self.dir_name, True))
        if retried:
            await self.x.in_pool(self._correct, retried)

    def _correct(self, retried: list[Retried]) -> None:
        notes = self.store.lookup_messages(self.chat_id, [r.msg_id for r in retried])
        by_note: dict[str, list[Retried]] = {}
        for r in retried:
            if r.msg_id in notes:
                by_note.setdefault(f"{notes[r.msg_id][0]}.md", []).append(r)
        for rel, items in by_note.items():
            self.writer.rewrite(rel, functools.partial(_correct_note, retried=items))
        self.writer.rewrite(self.writer.json_rel, functools.partial(correct_json_lines, retried=retried))
        # Corrected, or found otherwise than as written (edited by hand): either way nothing is left to do.
        self.store.forget_stale_media(self.chat_id, [r.msg_id for r in retried])

    async def finish(self) -> None:
        await self.x.in_pool(self._write_summary)

    def _write_summary(self) -> None:
        record = self.store.chat_progress(self.chat_id)
        if record is None or record.last_id == 0:
            return
        notes = sorted(p for p in self.store.note_lengths(self.chat_id) if p.endswith(".md")
                       and not p.startswith("."))
        exported = datetime.datetime.fromtimestamp(record.last_export or time.time(), datetime.UTC)
        lines = [
            "---",
            f"id: {self.chat_id}",
            f"type: {self.info.kind.value}",
            f"title: {yaml_str(self.info.title)}",
            f"username: {yaml_str(self.info.username)}",
            f"exported_range: [{record.first_id or 0}, {record.last_id}]",
            f"messages: {record.message_count}",
            f"last_export: \"{exported.isoformat(timespec='seconds')}\"",
            "---",
            "",
            f"# {_plain_heading(self.info.title)}",
            "",
        ]
        for note in notes:
            label = note.removesuffix(".md").removeprefix(self.dir_name + "/")
            lines.append(f"- [[{note.removesuffix('.md')}|{label}]]")
        lines.append("")
        self.writer.write_index_note(f"{self.dir_name}/{self.dir_name}.md", "\n".join(lines))
        if "json" in self.x.options.formats:
            header = chat_header(self.info.title, self.info.kind, self.chat_id, self.info.username)
            self.writer.write_result_json(f"{self.dir_name}/result.json", header)


def _correct_note(src: BinaryIO, length: int, out: BinaryIO, retried: list[Retried]) -> bool:
    corrected = correct_note(src.read(length), retried)   # a month note: small enough to edit whole
    if corrected is None:
        return False
    out.write(corrected)
    return True


async def run_on_pool(pools: DualPool, root: Path, fn, *args,
                      priority: TaskPriority = TaskPriority.HIGH, **kwargs):
    """Disk and SQLite work on a pool; a cancelled caller still waits for it to finish, so no write outlives
    the caller and the vault is never closed under a running commit."""
    fut = pools.submit(fn, *args, priority=priority, **kwargs)
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:
        await asyncio.wait([fut])
        if not fut.cancelled():
            fut.exception()   # the caller is gone: its error would only be "never retrieved" noise
        raise
    except (OSError, sqlite3.OperationalError) as exc:
        # A full disk often shows first in the state DB ("database or disk is full"): one sentence for the
        # user, not a traceback, and the chat stops at its last commit.
        raise write_error(exc, root) from exc


def _plain_heading(title: str) -> str:
    return "".join(c if c.isalnum() or c in " -_.,()'&" else " " for c in title).strip() or "Chat"


class Exporter:
    """Runs one export request over an open vault: several chats at once, each in order."""

    def __init__(self, source: TelegramSource, vault: Vault, pools: DualPool, options: ExportOptions, *,
                 emit: Callable[..., None], render_pool: RenderPool | None = None,
                 media_stage: MediaStage | None = None) -> None:
        self.source = source
        self.vault = vault
        self.pools = pools
        self.options = options
        self.emit = emit
        self.render_pool = render_pool
        self.media_stage = media_stage or PendingMedia(options)
        self.preloader = SenderPreloader(source.resolve_users)
        self.runs: dict[int, ChatRun] = {}

    def render(self, job: RenderJob) -> asyncio.Future:
        """Render a batch in a worker process (or on the critical pool without one); the future keeps order."""
        if self.render_pool is None:
            return self.pools.submit(render_job, job, priority=TaskPriority.HIGH)
        return asyncio.get_running_loop().run_in_executor(self.render_pool.executor, render_job, job.for_worker())

    async def in_pool(self, fn, *args, **kwargs):
        """Disk and SQLite work on the critical pool (see run_on_pool)."""
        return await run_on_pool(self.pools, self.vault.root, fn, *args, **kwargs)

    async def run(self, jobs: list[tuple[ChatSelection, DialogInfo]]) -> None:
        for sel, info in jobs:
            self.runs[info.chat_id] = ChatRun(info=info, selection=sel,
                                              expected=max(0, info.top_message_id) if info.kind in _SPLITTABLE
                                              else 0)
        gate = asyncio.Semaphore(max(1, self.options.chats_at_once))

        async def one(run: ChatRun) -> None:
            async with gate:
                await self._export_chat(run)

        tasks = [asyncio.ensure_future(one(r)) for r in self.runs.values()]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            # gather() gives up at the first chat that ends cancelled or failed while others may still be
            # mid-commit on the pool; the caller closes the vault next, so every chat must have stopped first.
            for task in tasks:
                if not task.cancelling():   # a second cancel would cut short a chat's shielded finish()
                    task.cancel()
            await asyncio.wait(tasks)
            raise

    async def _export_chat(self, run: ChatRun) -> None:
        cid = run.info.chat_id
        run.state = ChatState.RUNNING
        run.started = time.monotonic()
        self.emit(EventKind.CHAT_STARTED, f"Exporting \"{run.info.title}\".", chat_id=cid)
        chat = ChatExport(self, run)
        try:
            await chat.export()
        except ChatUnavailable as e:
            run.state, run.error = ChatState.FAILED, str(e)
            self.emit(EventKind.ERROR, str(e), chat_id=cid)
        except ChatParked as e:
            run.state, run.error = ChatState.PARKED, str(e)
            self.emit(EventKind.CHAT_PARKED, f"\"{run.info.title}\": {e}", seconds=float(e.seconds), chat_id=cid)
            await chat.finish()
        except (RequestFailed, VaultWriteError) as e:
            run.state, run.error = ChatState.FAILED, str(e)
            self.emit(EventKind.ERROR, f"\"{run.info.title}\": {e}", chat_id=cid)
            if isinstance(e, RequestFailed):
                await chat.finish()
        except errors.RPCError as e:
            # Any other refusal by Telegram concerns this chat only; the others go on.
            run.state = ChatState.FAILED
            run.error = (f"Telegram refused a request for \"{run.info.title}\" ({e.message}); run the export "
                         "again later to continue it.")
            self.emit(EventKind.ERROR, run.error, chat_id=cid)
            await chat.finish()
        except asyncio.CancelledError:
            run.state = ChatState.CANCELLED
            await asyncio.shield(chat.finish())
            raise
        else:
            run.state = ChatState.DONE
            run.expected = run.done
            self.emit(EventKind.CHAT_DONE, f"\"{run.info.title}\" done: {run.done} messages.", chat_id=cid)
        finally:
            run.finished = time.monotonic()


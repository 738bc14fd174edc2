"""One chat's run: its resume point, id ranges fetched concurrently and written in order, each batch prepared
(senders, media stage, topic routing, reply targets), rendered and committed after the one before it."""

from __future__ import annotations

import asyncio
import datetime
import itertools
import logging
from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from telethon import utils
from telethon.tl import functions, types

from tobs_tui.engine.media.stage import (
    ChatContext,
    MediaItem,
    media_item,
)
from tobs_tui.engine.options import ChatSelection
from tobs_tui.engine.pipeline.batch import PreparedBatch, snippet_of, topic_of
from tobs_tui.engine.pipeline.finish import retry_files, set_aside_result_json, write_summary
from tobs_tui.engine.pipeline.senders import display_name
from tobs_tui.engine.render import (
    MediaRef,
    MonthKeys,
    ReplyTarget,
)
from tobs_tui.engine.render.notes import month_header
from tobs_tui.engine.render.workers import Rendered, RenderJob
from tobs_tui.engine.runtime import gc_tuning as heap
from tobs_tui.engine.runtime.pools import TaskPriority
from tobs_tui.engine.runtime.rates import RateMeter
from tobs_tui.engine.runtime.threads import pool_side
from tobs_tui.engine.snapshot import ChatKind, ChatState, DialogInfo, EventKind
from tobs_tui.engine.telegram.source import HISTORY_LIMIT, HistoryBatch
from tobs_tui.engine.vault.filenames import UnsafePathError, chat_dir_name, safe_path, topic_dir_name
from tobs_tui.engine.vault.store import ChatRecord, MediaRecord
from tobs_tui.engine.vault.vault import staging_prefix

if TYPE_CHECKING:
    from tobs_tui.engine.pipeline.exporter import Exporter

log = logging.getLogger(__name__)

# Ranges of 5 pages, fetched page after page, several ranges at once: up to twice the request limit of ranges
# run ahead of the writer, and the request limit gives a free slot to the oldest range first, so the range the
# writer needs next is never starved by those behind it while every slot stays busy at long round trips. What
# the ranges hold ahead of the writer is bounded in pages (AHEAD_PAGES) rather than per range, so a range never
# stops half-way while others sit idle. A range's pages come one round trip after another, and the writer takes
# them in order: with 10-page ranges it fell behind the fetching, and at 50 ms per reply a fifth of the export
# was the writer catching up after the last reply. The price of ranges: a range's last page is partly empty
# where ids have gaps (deleted messages), about one request in 10 more than whole pages on a sparse chat.
RANGE_IDS = 500  # ids per range when a channel's history is split for concurrent fetching
SPLIT_ABOVE = 2 * RANGE_IDS  # a chat is split only when it has more new ids than this
TAIL_RANGE_IDS = 200  # ids per range among the chat's last ids
TAIL_RANGES_PER_SLOT = 4  # short ranges at the end, per request slot
AHEAD_PAGES = 64  # pages fetched and not yet taken by the writer, in all ranges but its own (bounds memory)
RANGES_PER_SLOT = 2  # ranges running per request slot: one waiting for a slot whenever another's reply lands
MERGE_BATCHES = 4  # waiting batches of one range rendered and committed together
RENDER_AHEAD = 4  # batches rendering in worker processes while the oldest is committed
RECENT_INDEX = 20_000  # reply targets kept in memory per chat before falling back to the state DB
# Channel-like chats number their messages per chat, so id ranges are dense and worth splitting; users and
# basic groups share one account-wide counter, so their ids are sparse and fetched as one stream.
SPLITTABLE = {ChatKind.CHANNEL, ChatKind.SUPERGROUP, ChatKind.FORUM}


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

    @property
    def partial_forum(self) -> bool:
        """Some topics of a forum chosen: progress counts the messages written, not the forum's ids scanned."""
        return self.info.is_forum and bool(self.selection.topic_ids)


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
        self.staging = False  # a back-fill's batches are being prepared (loop side; each batch carries it on)
        # Fetching ahead of the writer: the range it writes, the pages other ranges hold for it (in all and each).
        self._head, self._ahead = 0, 0
        self._counted: dict[int, int] = {}
        self._room = asyncio.Condition()

    # -- setup ---------------------------------------------------------------------------------------
    async def prepare(self) -> int:
        """Create/refresh the chat's record; returns the id to resume after."""
        record = await self.x.in_pool(self.store.chat_progress, self.chat_id)
        if record is not None and await self.x.in_pool(self.store.unverified, self.chat_id):
            await self._verify_rebuilt(record)
            record = await self.x.in_pool(self.store.chat_progress, self.chat_id)
        # Keep the folder of earlier runs even if the chat was renamed since (incremental runs append to it).
        self.dir_name = record.dir_name if record and record.dir_name else chat_dir_name(self.info.title, self.chat_id)
        await self.x.in_pool(
            self.store.upsert_chat,
            self.chat_id,
            title=self.info.title,
            kind=self.info.kind.value,
            username=self.info.username,
            dir_name=self.dir_name,
            first_name=self.info.first_name,
            is_self=self.info.is_self,
        )
        after = record.last_id if record else 0
        if record is None and "json" in self.x.options.formats:
            # Nothing of this chat ever exported here, so a result.json already in its folder is someone else's.
            notice = await self.x.in_pool(set_aside_result_json, self.x.vault, self.dir_name, lambda head: False)
            if notice:
                self.x.emit(EventKind.VAULT, notice, chat_id=self.chat_id)
        if self.info.is_forum:
            topics = await self.x.source.topics(self.chat_id)
            for topic in topics:
                self.topic_dirs[topic.topic_id] = topic_dir_name(topic.title, topic.topic_id)
            self.topic_last = await self.x.in_pool(self.store.topic_last_ids, self.chat_id)
            wanted = self.run.selection.topic_ids
            # A topic chosen for the first time (or left out before) starts from its beginning even if others
            # are further on; messages of topics already past an id are skipped when they come by again.
            behind = [
                self.topic_last.get(t.topic_id, 0)
                for t in topics
                if (not wanted or t.topic_id in wanted) and t.top_message_id > self.topic_last.get(t.topic_id, 0)
            ]
            after = min([after, *behind])
        since = self.run.selection.since
        if since is not None and after == 0:
            after = await self._first_id_before(since)
        elif since is not None and record is not None and record.last_id and not self.run.selection.backfill:
            self._say(
                f"\"{self.info.title}\" was exported before, so the start date {since} does not apply to it: this run"
                " continues after its last exported message. To fetch the messages before its first exported one,"
                " back-fill it (`tobs-tui export --backfill`)."
            )
        return after

    async def _verify_rebuilt(self, record: ChatRecord) -> None:
        """A chat read back from its notes: its newest block ids are asked of Telegram before the export goes on
        after the newest. A block a person copied from another chat's note names a message this chat does not
        have; its id would make the export skip this chat's messages below it. Ids Telegram does not have in this
        chat (copied, or deleted there) leave the message index; the notes keep their blocks."""
        gone: list[int] = []
        newest = await self.x.in_pool(self.store.committed_ids, self.chat_id, None, 0)
        while newest:
            chunk, newest = newest[-HISTORY_LIMIT:], newest[:-HISTORY_LIMIT]
            batch = await self.x.source.messages_by_id(self.chat_id, chunk)
            found = {m.id for m in batch.messages}
            gone += [i for i in chunk if i not in found]
            if found:
                break  # the newest this chat has on Telegram: what is below it is not asked for
        if gone:
            await self.x.in_pool(self.store.drop_claims, self.chat_id, record.dir_name, gone)
            shown = ", ".join(f"^m{i}" for i in sorted(gone)[-3:])
            count = "1 message block" if len(gone) == 1 else f"{len(gone)} message blocks"
            self.x.emit(
                EventKind.VAULT,
                f"\"{self.info.title}\": {count} in its notes ({shown}) {'is' if len(gone) == 1 else 'are'} not"
                " this chat's on Telegram (copied from another chat's note, or deleted there); the notes keep"
                " them as they are, and the export goes on after the chat's newest message.",
                chat_id=self.chat_id,
            )
        await self.x.in_pool(self.store.verified, self.chat_id)

    def _say(self, message: str) -> None:
        """A notice about this chat's run: an event for the dashboard, a warning for the headless command's stderr."""
        log.warning("%s", message)
        self.x.emit(EventKind.INFO, message, chat_id=self.chat_id)

    async def _first_id_before(self, since: datetime.date) -> int:
        """The newest id older than `since` (so the export starts at the first message on that day)."""
        start = datetime.datetime.combine(since, datetime.time(), tzinfo=self.x.options.tz)
        if start.timestamp() <= 0:
            # Telegram reads an offset_date of 0 or less as none at all (the newest message); nothing in
            # Telegram is older than 1970, so the whole history is what such a date asks for.
            return 0
        r = await self.x.source.call(
            functions.messages.GetHistoryRequest(
                peer=self.x.source.input_peer(self.chat_id),
                offset_id=0,
                offset_date=start,
                add_offset=0,
                limit=1,
                max_id=0,
                min_id=0,
                hash=0,
            ),
            chat_id=self.chat_id,
        )
        return max((m.id for m in r.messages), default=0)

    # -- the run -------------------------------------------------------------------------------------
    async def export(self) -> None:
        after = await self.prepare()
        await self.repair()
        top = self.info.top_message_id
        if self.info.kind in SPLITTABLE and not self.run.partial_forum:  # a partial forum's: Exporter.run
            self.run.expected = max(0, top - after)
        await self._backfill()
        ranges = self._ranges(after, top)
        await self._fetch_in_order(ranges)
        await retry_files(self)
        await self.finish()

    async def repair(self) -> None:
        """Notes and the JSONL that were deleted or cut short by hand (found by Vault.recover) get the messages
        they held fetched again and appended in id order, before any new message; each batch commits like
        any other, so a run stopped halfway continues the repair next time."""
        await self._find_lost_months()
        repairs = await self.x.in_pool(self.store.repairs, self.chat_id)
        json_after = await self.x.in_pool(self._json_lines_missing_after) if "json" in self.x.options.formats else None
        if json_after is not None:
            # Messages in the notes and no JSONL at all: a state rebuilt from the notes after the JSONL went
            # with it before any result.json was written (the first export stopped), or JSON turned on since;
            # or a JSONL that ends before the notes do (runs with JSON turned off in between).
            await self.x.in_pool(self.store.add_repairs, [(self.chat_id, self.writer.json_rel)])
            repairs = sorted({*repairs, self.writer.json_rel})
        for rel in repairs:
            json = rel == self.writer.json_rel
            # The JSONL's newest line, not its last: a forum exported topic by topic is not in id order.
            if json:
                after = json_after if json_after is not None else await self.x.in_pool(self.writer.max_json_id)
            else:
                after = await self.x.in_pool(self.writer.last_id_in, rel)
            note = None if json else rel.removesuffix(".md")
            ids = await self.x.in_pool(self.store.committed_ids, self.chat_id, note, after)
            if json:  # not those an earlier repair asked for and did not get (deleted on Telegram)
                gone_before = await self.x.in_pool(self.store.json_gone, self.chat_id)
                ids = [i for i in ids if i not in gone_before]
            got: set[int] = set()
            restored = 0
            for start in range(0, len(ids), HISTORY_LIMIT):
                chunk = ids[start : start + HISTORY_LIMIT]
                batch = await self.x.source.messages_by_id(self.chat_id, chunk)
                if not batch.messages:
                    continue
                prepared = await self._prepare(batch, only=frozenset(chunk), into=note)
                rendered = await self.x.render(prepared.job)
                await self.x.in_pool(self._append_repair, rel, prepared, rendered)
                restored += len(prepared.job.messages)
                got.update(m.id for m in prepared.job.messages)
            if json:
                await self.x.in_pool(self.store.settle_json_repair, self.chat_id, rel, [i for i in ids if i not in got])
            else:
                await self.x.in_pool(self.store.forget_repair, rel)
            what = "its JSON lines" if json else rel
            if restored:
                count = "1 message" if restored == 1 else f"{restored} messages"
                said = f"Repaired \"{self.info.title}\": {count} fetched again into {what}."
                gone = len(ids) - restored
                if gone > 0:
                    said += (
                        " The other one could not be fetched again; it was deleted on Telegram."
                        if gone == 1
                        else f" The other {gone} could not be fetched again; they were deleted on Telegram."
                    )
            elif len(ids) == 1:
                said = (
                    f"\"{self.info.title}\": the message missing from {what} could not be fetched again;"
                    " it was deleted on Telegram."
                )
            elif ids:
                said = (
                    f"\"{self.info.title}\": the {len(ids)} messages missing from {what} could not be fetched again;"
                    " they were deleted on Telegram."
                )
            else:
                continue  # nothing was missing after all (a note whose last messages a person deleted, then undid)
            self.x.emit(EventKind.VAULT, said, chat_id=self.chat_id)

    async def _find_lost_months(self) -> None:
        """Month notes the index note listed, lost with the state and every JSON line of theirs (vault/rebuild.py):
        their messages are the chat's messages of that month on Telegram, found by date (as --since finds a
        day), indexed in the note, and fetched into it by the repair like any deleted note's."""
        for rel in await self.x.in_pool(self.store.lost_months, self.chat_id):
            year, _, month = rel.rsplit("/", 1)[-1].removesuffix(".md").partition("-")
            first = datetime.date(int(year), int(month), 1)
            after = await self._first_id_before(first)
            upto = await self._first_id_before((first + datetime.timedelta(days=32)).replace(day=1))
            ids = await self._history_ids(after, upto) if upto > after else []
            await self.x.in_pool(self.store.found_lost_month, self.chat_id, rel, ids)

    async def _history_ids(self, after: int, upto: int) -> list[int]:
        """Ids of the chat's messages in (after, upto], ascending."""
        found: list[int] = []
        offset = upto + 1
        while True:
            r = await self.x.source.call(
                functions.messages.GetHistoryRequest(
                    peer=self.x.source.input_peer(self.chat_id),
                    offset_id=offset,
                    offset_date=None,
                    add_offset=0,
                    limit=HISTORY_LIMIT,
                    max_id=upto + 1,
                    min_id=after,
                    hash=0,
                ),
                chat_id=self.chat_id,
            )
            page = [m.id for m in r.messages if after < m.id <= upto]
            found += page
            # Not a page shorter than asked: Telegram leaves out messages withheld in the account's country, so
            # a short page is no end (see TelegramSource.history_batch). This repair path pays one empty call.
            if not page or min(page) <= after + 1:
                return sorted(set(found))
            offset = min(page)

    @pool_side
    def _json_lines_missing_after(self) -> int | None:
        """Where messages in the notes with no JSON lines start: after id 0 when there is no JSONL at all, after
        its newest line when it ends before the chat's newest exported message (runs with JSON turned off in
        between); None when none are missing."""
        record = self.store.chat_progress(self.chat_id)
        if not (record and record.message_count):
            return None
        # Messages an earlier repair asked for and did not get (deleted on Telegram) are not missing any more.
        gone = self.store.json_gone(self.chat_id)

        def missing_after(after: int) -> bool:
            return any(i not in gone for i in self.store.committed_ids(self.chat_id, None, after))

        if not self.store.note_lengths(self.chat_id).get(self.writer.json_rel):
            return 0 if missing_after(0) else None
        # Its last line first (one read at its end); a last line whose id cannot be read (0) is never taken for
        # "none": that would fetch every message again.
        last = self.writer.last_id_in(self.writer.json_rel)
        if last <= 0 or not missing_after(last):
            return None
        # Committed messages after its last line: missing, unless the JSONL is not in id order (a forum exported
        # topic by topic appends each topic's lines after the others') and holds them before it.
        newest = self.writer.max_json_id()
        return newest if missing_after(newest) else None

    @pool_side
    def _append_repair(self, rel: str, prepared: PreparedBatch, rendered: Rendered) -> None:
        if rel == self.writer.json_rel:
            if rendered.json:
                self.writer.append_json_line(rendered.json)
        else:
            for note, text in rendered.notes:
                if note == rel:
                    self.writer.append(note, text, header=prepared.headers[note])
        # Nothing new is committed: the chat's last id and message count stay, the file's length moves.
        self.writer.commit(last_id=0, messages=[], media=prepared.media_records)

    # -- back-fill -----------------------------------------------------------------------------------
    async def _backfill(self) -> None:
        """Messages older than the first exported one: asked for now, or left unfinished by an earlier run. They
        are committed exactly once like any batch, into staged copies of the notes and the JSONL (the chat's
        notes only ever grow at their end), then spliced in front of the chat's own files, before new messages
        are appended after them (docs/STATE.md)."""
        pending = await self.x.in_pool(self.store.backfill, self.chat_id)
        if pending is None:
            if not self.run.selection.backfill:
                return
            record = await self.x.in_pool(self.store.chat_progress, self.chat_id)
            if record is None or not record.first_id:
                return  # nothing exported yet: this run starts where it was asked to
            pending = await self._start_backfill(record)
            if pending is None:
                return
        after, before = pending
        if self.info.kind in SPLITTABLE:
            self.run.expected += max(0, before - 1 - after)
        self.staging = True
        try:
            await self._fetch_in_order(self._backfill_ranges(after, before))
        finally:
            self.staging = False
        await self.x.in_pool(self._splice)

    async def _start_backfill(self, record: ChatRecord) -> tuple[int, int] | None:
        assert record.first_id is not None
        since = self.run.selection.since
        after = await self._first_id_before(since) if since is not None else 0
        if after >= record.first_id - 1:
            since_text = f" from {since}" if since is not None else ""
            self._say(f"\"{self.info.title}\" has no messages{since_text} before its first exported one.")
            return None
        await self.x.in_pool(self.store.start_backfill, self.chat_id, after_id=after, before_id=record.first_id)
        return after, record.first_id

    def _backfill_ranges(self, after: int, before: int) -> list[tuple[int, int | None]]:
        """Like _ranges, but every range has an upper bound: the back-fill ends below the first exported id."""
        if self.info.kind not in SPLITTABLE or before - after <= SPLIT_ABOVE:
            return [(after, before)]
        return [(lo, min(lo + RANGE_IDS + 1, before)) for lo in range(after, before - 1, RANGE_IDS)]

    @pool_side
    def _splice(self) -> None:
        self.writer.splice_staged()
        self.store.end_backfill(self.chat_id)

    def _ranges(self, after: int, top: int) -> list[tuple[int, int | None]]:
        if self.info.kind not in SPLITTABLE or top - after <= SPLIT_ABOVE:
            return [(after, None)]
        # The last ids go in short ranges: at the end nothing is left to fetch beside the last ranges, and a
        # range's pages come one round trip after another.
        tail = max(after, top - TAIL_RANGES_PER_SLOT * self.x.source.limit.max_limit * TAIL_RANGE_IDS)
        bounds = [*range(after, tail, RANGE_IDS), *range(tail, top, TAIL_RANGE_IDS)]
        # The last range has no upper bound: it ends at the chat's newest id (see _fetch_batches).
        return [(lo, hi + 1) for lo, hi in itertools.pairwise(bounds)] + [(bounds[-1], None)]

    async def _fetch_in_order(self, ranges: list[tuple[int, int | None]]) -> None:
        queues: list[asyncio.Queue[HistoryBatch | None]] = [asyncio.Queue() for _ in ranges]
        tasks: dict[int, asyncio.Task] = {}
        # One task per batch being rendered (in worker processes) and then committed after the one before it,
        # oldest first: the loop goes on preparing the next batches while a commit waits for its fsyncs.
        commits: deque[asyncio.Task] = deque()
        self._head, self._ahead = 0, 0
        self._counted.clear()

        def ensure(i: int) -> None:
            if i < len(ranges) and i not in tasks:
                tasks[i] = asyncio.create_task(self._fetch_range(i, ranges[i], queues[i]))

        try:
            started = 0
            for i in range(len(ranges)):
                # Ranges ahead of the writer are fetched while it works, enough for every slot the limit may
                # reach: those without a slot wait for one, behind the older ranges. The window is counted in
                # ids, not ranges, so the short ranges at the end all run while the writer is still on a long one.
                reach = ranges[i][0] + RANGES_PER_SLOT * self.x.source.limit.max_limit * RANGE_IDS
                while started < len(ranges) and (started <= i or ranges[started][0] < reach):
                    ensure(started)
                    started += 1
                await self._move_head(i)
                while (batch := await self._next_group(queues[i])) is not None:
                    prepared = await self._prepare(batch)
                    rendered = self.x.render(prepared.job)
                    commits.append(
                        asyncio.create_task(self._commit_after(commits[-1] if commits else None, prepared, rendered))
                    )
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

    async def _move_head(self, i: int) -> None:
        """The writer reached range `i`: its pages no longer count as ahead of it, and it may always fetch."""
        async with self._room:
            self._head = i
            self._ahead -= self._counted.pop(i, 0)
            self._room.notify_all()

    async def _wait_for_room(self, index: int) -> None:
        """Ranges ahead of the writer fetch while fewer than AHEAD_PAGES pages wait for it; its own range always."""
        if index > self._head and self._ahead >= AHEAD_PAGES:
            async with self._room:
                await self._room.wait_for(lambda: index <= self._head or self._ahead < AHEAD_PAGES)

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
                queue.put_nowait(None)  # the range's end marker stays for the next call
                break
            group.append(nxt)
        if len(group) == 1:
            return first
        entities: dict = {}
        for b in group:
            entities.update(b.entities)
        return HistoryBatch(
            messages=tuple(m for b in group for m in b.messages),
            entities=entities,
            count=group[-1].count,
            exhausted=group[-1].exhausted,
            raw=tuple(r for b in group for r in b.raw) if all(b.raw for b in group) else (),
        )

    async def _fetch_range(self, index: int, bounds: tuple[int, int | None], queue: asyncio.Queue) -> None:
        try:
            await self._fetch_batches(index, bounds, queue)
        except Exception:
            # Wake the writer: it sees the end marker and then this task's exception via result().
            await queue.put(None)
            raise

    async def _fetch_batches(self, index: int, bounds: tuple[int, int | None], queue: asyncio.Queue) -> None:
        after, before = bounds
        # The last range ends at the chat's newest id when the export started (the runner reads it again if
        # the dialog list is old): a full last page needs no call to learn that nothing is newer, and a chat
        # with nothing new needs no call at all. A message that arrives during the export comes with this run
        # if a page fetched anyway holds it, else with the next one, which starts after the last id written.
        top = self.info.top_message_id if before is None else 0
        while not 0 < top <= after:
            await self._wait_for_room(index)
            # The oldest range first when requests wait for a slot: the writer needs it soonest.
            batch = await self.x.source.history_batch(self.chat_id, after=after, before=before, priority=index)
            if batch.count is not None and self.info.kind not in SPLITTABLE and not self.run.expected:
                record = await self.x.in_pool(self.store.chat_progress, self.chat_id)
                self.run.expected = max(0, batch.count - (record.message_count if record else 0))
            if batch.messages:
                if index > self._head:
                    self._ahead += 1
                    self._counted[index] = self._counted.get(index, 0) + 1
                await queue.put(batch)
                after = batch.messages[-1].id
            if batch.exhausted:
                break
        await queue.put(None)

    async def _prepare(
        self, batch: HistoryBatch, *, only: frozenset[int] | None = None, into: str | None = None
    ) -> PreparedBatch:
        """In batch order on the loop: sender names, the media stage, topic routing and reply targets — all a
        renderer needs, as plain data, so rendering itself can run anywhere. `only`: a repair's messages,
        committed before, whatever the topics chosen now (topic progress stays as it is). `into`: the note (path
        without ".md") a repair restores, where the state says these messages were: a forum topic renamed
        since has its notes under another folder name now."""
        x = self.x
        opts = x.options
        staged = self.staging
        # A back-fill leaves out what is already in the vault (a forum topic first chosen after the export
        # began was fetched from its beginning), so nothing lands twice.
        known = (
            set(await x.in_pool(self.store.lookup_messages, self.chat_id, [m.id for m in batch.messages]))
            if staged
            else set()
        )
        await x.preloader.preload(batch.messages, batch.entities)
        names = {m.id: x.preloader.name_of(m) for m in batch.messages}
        wanted = self.run.selection.topic_ids

        def kept(m) -> bool:
            if only is not None:
                return m.id in only
            return m.id not in known and (not self.info.is_forum or self._in_export(topic_of(m), m.id, wanted))

        # Files only of the messages that get a note: not of topics left out, nor of ones written already.
        items = [item for m in batch.messages if kept(m) and (item := media_item(m, opts.tz)) is not None]
        chat = ChatContext(self.chat_id, self.info.title, self.dir_name, self.run.selection.download_media)
        if only is not None:
            media = await self._repair_media(chat, items)
        else:
            media = await x.media_stage.process(chat, items) if items else {}
        keep, notes, rows = [], [], []
        headers: dict[str, str] = {}
        topic_last: dict[int, int] = {}
        for m in batch.messages:
            if m.id in known:
                continue
            month = self.month_of(m)
            base = self.dir_name
            if self.info.is_forum:
                topic = topic_of(m)
                if isinstance(getattr(m, "action", None), types.MessageActionTopicCreate):
                    self.topic_dirs.setdefault(topic, topic_dir_name(m.action.title, topic))
                if not kept(m):
                    continue
                if only is None:
                    topic_last[topic] = m.id
                tdir = self.topic_dirs.get(topic) or topic_dir_name(f"Topic {topic}", topic)
                base = f"{self.dir_name}/topics/{tdir}"
            elif not kept(m):
                continue
            note = f"{base}/{month[:4]}/{month}" if into is None else into
            keep.append(m)
            path = f"{note}.md"
            notes.append(path)
            if path not in headers:
                headers[path] = self._month_header(month, base)
            row = (m.id, note, names.get(m.id, ""), snippet_of(m))
            rows.append(row)
            self._remember(row)
        if staged:
            topic_last = {}  # topics' resume points are the forward export's; a back-fill stays below them
        self.topic_last.update(topic_last)
        reply_ids = {
            m.reply_to.reply_to_msg_id
            for m in keep
            if isinstance(getattr(m, "reply_to", None), types.MessageReplyHeader) and m.reply_to.reply_to_msg_id
        }
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
        bots = {m.via_bot_id for m in keep if isinstance(getattr(m, "via_bot_id", None), int)}
        usernames = {
            bot: name
            for bot in bots
            if (entity := batch.entities.get(bot) or x.source.entity(bot)) is not None
            and (name := getattr(entity, "username", None))
        }
        job = RenderJob(
            tz=opts.tz,
            messages=tuple(keep),
            names=names,
            targets=targets,
            media=media,
            peer_names=peer_names,
            markdown="markdown" in opts.formats,
            json="json" in opts.formats,
            raw=batch.raw,
            notes=tuple(notes),
            usernames=usernames,
        )
        # The downloader records the files it fetched (parts, SHA-256, reasons); files nobody fetches (skipped,
        # or pending without the downloader) are recorded here, in the batch's own transaction.
        records = [
            MediaRecord(
                chat_id=self.chat_id,
                msg_id=item.msg_id,
                media_id=item.media_id,
                kind=item.kind,
                path=ref.path or "",
                size=item.size,
                status=ref.status,
                reason=ref.reason,
            )
            for item in items
            if only is None  # a repair's messages have their rows already
            and (ref := media.get(item.msg_id)) is not None
            and (ref.status == "skipped" or not x.media_stage.records_files)
        ]
        return PreparedBatch(
            job=job,
            headers=headers,
            rows=rows,
            topic_last=topic_last,
            media_records=records,
            last_id=batch.messages[-1].id,
            fetched=len(batch.messages),
            staged=staged,
        )

    async def _repair_media(self, chat: ChatContext, items: list[MediaItem]) -> dict[int, MediaRef]:
        """A repaired message's file as its first export had it, whatever this run's media settings: skipped
        with the reason recorded then, linked when it is on disk, else fetched again."""
        refs: dict[int, MediaRef] = {}
        fetch: list[MediaItem] = []
        fresh: list[MediaItem] = []
        for item in items:
            record = await self.x.in_pool(self.store.media_record, self.chat_id, item.msg_id)
            if record is None:
                fresh.append(item)
            elif record.status == "skipped":
                refs[item.msg_id] = MediaRef(
                    item.kind, None, "skipped", item.file_name, item.mime_type, item.size, record.reason
                )
            elif record.status == "done" and await self.x.in_pool(self._on_disk, record):
                refs[item.msg_id] = MediaRef(item.kind, record.path, "ok", item.file_name, item.mime_type, item.size)
            else:
                fetch.append(item)
        if fetch:
            refs.update(await self.x.media_stage.process(replace(chat, download_media=True), fetch))
        if fresh:
            refs.update(await self.x.media_stage.process(chat, fresh))
        return refs

    @pool_side
    def _on_disk(self, record: MediaRecord) -> bool:
        try:
            return safe_path(self.x.vault.root, record.path).stat().st_size == record.size
        except (OSError, UnsafePathError):
            return False

    def _in_export(self, topic: int, msg_id: int, wanted: tuple[int, ...] | None) -> bool:
        """A forum message goes in a note when its topic is chosen (or all are) and it is past that topic's
        last written id (a back-fill's are all below the first exported id)."""
        return (not wanted or topic in wanted) and (self.staging or msg_id > self.topic_last.get(topic, 0))

    @staticmethod
    async def _settled(commits: deque[asyncio.Task]) -> None:
        """Wait for the oldest commit and drop it. Shielded: cancelling the writer must not cancel a running
        commit a second time (the `finally` above cancels each once, and a commit that started finishes)."""
        await asyncio.shield(commits[0])
        commits.popleft()

    async def _commit_after(
        self, previous: asyncio.Task | None, prepared: PreparedBatch, rendered: asyncio.Future
    ) -> None:
        """Commit once the batch before has committed: a batch never lands after a gap (exactly once)."""
        try:
            if previous is not None:
                await asyncio.shield(previous)  # cancelling this batch must not cancel the one before
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
                self._account(self._progress_of(prepared), fut.result())
            raise
        self._account(self._progress_of(prepared), written)

    def _progress_of(self, prepared: PreparedBatch) -> int:
        return len(prepared.rows) if self.run.partial_forum else prepared.fetched

    def _account(self, messages: int, written: int) -> None:
        self.run.done += messages
        self.run.expected = max(self.run.expected, self.run.done)
        self.run.bytes_done += written
        self.run.meter.update(self.run.done)
        heap.settle()

    # -- on the critical pool ------------------------------------------------------------------------
    @pool_side
    def _append_and_commit(self, prepared: PreparedBatch, rendered: Rendered) -> int:
        # The worker joined each note's blocks: one encode and one buffered append per note and batch.
        written = 0
        stage = staging_prefix(self.chat_id) if prepared.staged else ""
        for note, text in rendered.notes:
            written += self.writer.append(stage + note, text, header=prepared.headers[note])
        if rendered.json:
            self.writer.append_json_line(rendered.json, staged=prepared.staged)
            written += len(rendered.json)
        # The pending media rows ride in the batch's own transaction: one fsync less, and never one without the other.
        theirs = self.writer.commit(
            last_id=prepared.last_id,
            messages=prepared.rows,
            topic_last_ids=prepared.topic_last or None,
            media=prepared.media_records,
            backfill_after=prepared.last_id if prepared.staged else None,
        )
        for note in theirs:
            # On a pool thread: the runner's emit only queues the event.
            self.x.emit(
                EventKind.VAULT,
                f"{note} was already there, not written by this export; your text in it was kept and"
                f" \"{self.info.title}\"'s messages of that month were added after it.",
                chat_id=self.chat_id,
            )
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
        return month_header(self.chat_id, self.info.title, self.dir_name, month)

    # -- the end of the run --------------------------------------------------------------------------
    async def finish(self) -> None:
        await self.x.in_pool(write_summary, self)

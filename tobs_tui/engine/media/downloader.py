"""Media downloads: one queue of files, several 1 MiB parts in flight per large file, byte-level resume from
`<name>.part`, dedupe by Telegram file id, SHA-256 and optional thumbnails on the standard pool."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import os
import shutil
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import replace

from telethon import errors, utils
from telethon.tl import functions, types

from tobs_tui.engine.media.files import REFETCHING, DownloadFailed, MediaFiles, Transfer
from tobs_tui.engine.media.locations import PART_SIZE, FileLocation, file_location, part_end, parts_in_flight_for
from tobs_tui.engine.media.stage import ChatContext, MediaItem, media_item, media_rel_path, skip_reason
from tobs_tui.engine.media.thumbnails import THUMBNAIL_KINDS, Thumbnailer
from tobs_tui.engine.options import ExportOptions
from tobs_tui.engine.render import MediaRef
from tobs_tui.engine.render.corrections import Retried
from tobs_tui.engine.runtime.pools import DualPool, TaskPriority
from tobs_tui.engine.runtime.rates import RateMeter
from tobs_tui.engine.snapshot import DcParts, EventKind, MediaFileProgress, MediaStats
from tobs_tui.engine.telegram.source import ChatParked, RequestFailed, TelegramSource
from tobs_tui.engine.vault.pooled import run_on_pool
from tobs_tui.engine.vault.store import MediaRecord
from tobs_tui.engine.vault.vault import Vault

log = logging.getLogger(__name__)

MAX_PARTS_IN_FLIGHT = 16  # all files together; keeps memory (one part buffered each) and connection load bounded
MAX_FILE_ATTEMPTS = 3  # a file that fails this often (other than FloodWait) is recorded failed
MAX_REFERENCE_REFRESHES = 3  # FILE_REFERENCE_EXPIRED again and again means the message no longer gives access
RETRY_PAUSE_S = 1.0


class _ShortPart(Exception):
    pass


class _FileSlots:
    """Files in flight: a semaphore whose size changes live (media_download_workers) and that lets the waiting
    file with the lowest key in first."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.busy = 0
        self._waiters: list[tuple[int, int, asyncio.Future]] = []
        self._seq = itertools.count()

    @property
    def waiting(self) -> int:
        return sum(1 for *_, f in self._waiters if not f.done())

    @contextlib.asynccontextmanager
    async def slot(self, key: int) -> AsyncIterator[None]:
        if self.busy < self.limit and not self._waiters:
            self.busy += 1
        else:
            future = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiters, (key, next(self._seq), future))
            try:
                await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    self._release()  # the slot came just as we were cancelled: pass it on
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        self.busy -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.busy < self.limit:
            *_, future = heapq.heappop(self._waiters)
            if not future.done():
                self.busy += 1
                future.set_result(None)

    def resize(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._wake()


class MediaDownloader:
    """The exporter's media stage: downloads each batch's files before the batch is committed, so a note never
    embeds a file that is not on disk. Lives on the engine loop; disk work runs on the pools."""

    records_files = True

    def __init__(
        self,
        source: TelegramSource,
        vault: Vault,
        pools: DualPool,
        options: ExportOptions,
        *,
        workers: int,
        parts_per_file: int,
        emit: Callable[..., None],
        enabled: bool = True,
        postprocess: bool = False,
        max_parts_in_flight: int = MAX_PARTS_IN_FLIGHT,
        retry_pause_s: float = RETRY_PAUSE_S,
    ) -> None:
        if workers < 1 or parts_per_file < 1 or max_parts_in_flight < 1:
            raise ValueError("workers, parts_per_file and max_parts_in_flight must each be at least 1")
        self.source = source
        self.vault = vault
        self.store = vault.store
        self.pools = pools
        self.options = options
        self.parts_per_file = parts_per_file
        self.enabled = enabled
        self.parts_cap = max_parts_in_flight
        self._emit = emit
        self._retry_pause_s = retry_pause_s
        self._slots = _FileSlots(workers)
        self._parts = asyncio.Semaphore(max_parts_in_flight)
        self._transfers: dict[tuple[int, int], Transfer] = {}
        self._by_media: dict[int, asyncio.Future] = {}
        self._post: set[asyncio.Future] = set()
        self._failed_now: set[tuple[int, int]] = set()
        ffmpeg = shutil.which("ffmpeg") if postprocess else None
        self._thumbnailer = Thumbnailer(vault, ffmpeg) if ffmpeg else None
        # With thumbnails on, a video's new name must be free for its ".thumb.jpg" too.
        self._files = MediaFiles(vault, thumbnail_kinds=THUMBNAIL_KINDS if self._thumbnailer else ())
        if postprocess and ffmpeg is None:
            emit(
                EventKind.INFO,
                "Video thumbnails are skipped: ffmpeg is not on PATH; install ffmpeg or turn "
                "post-processing off in the settings.",
            )
        self.files_done = self.files_failed = self.files_skipped = self.files_deduped = 0
        self.parts_in_flight = 0
        self.bytes_fetched = 0
        self._by_dc: dict[int, list[int]] = {}  # DC -> [parts in flight, parts done, bytes]
        # [finished, wanted] bytes per chat: files this run finished (done or reused), and files still to come.
        self._chat_bytes: dict[int, list[int]] = {}
        self._meter = RateMeter()

    # -- live settings and progress ----------------------------------------------------------------
    @property
    def workers(self) -> int:
        return self._slots.limit

    def set_workers(self, n: int) -> None:
        """Files in flight from now on; called on the engine loop (EngineRunner.set_limits)."""
        self._slots.resize(n)

    def stats(self) -> MediaStats:
        self._meter.update(self.bytes_fetched)
        live = tuple(
            MediaFileProgress(t.chat_id, t.msg_id, t.name, t.bytes_done, t.size, t.parts_in_flight)
            for t in self._transfers.values()
        )
        return MediaStats(
            workers=self._slots.limit,
            files_done=self.files_done,
            files_failed=self.files_failed,
            files_skipped=self.files_skipped,
            files_queued=self._slots.waiting,
            files_in_flight=len(live),
            parts_in_flight=self.parts_in_flight,
            bytes_done=sum(c[0] for c in self._chat_bytes.values()) + sum(t.bytes_done for t in live),
            bytes_expected=sum(c[0] + c[1] for c in self._chat_bytes.values()),
            bytes_per_s=self._meter.smoothed,
            files_deduped=self.files_deduped,
            parts_cap=self.parts_cap,
            files=live,
            by_dc=tuple(DcParts(dc, *counts) for dc, counts in sorted(self._by_dc.items())),
        )

    def chat_bytes(self, chat_id: int) -> tuple[int, int]:
        """(bytes on disk, bytes expected) of the chat's files in this run."""
        finished, wanted = self._chat_bytes.get(chat_id, (0, 0))
        moving = sum(t.bytes_done for t in self._transfers.values() if t.chat_id == chat_id)
        return finished + moving, finished + wanted

    # -- the stage ---------------------------------------------------------------------------------
    async def process(self, chat: ChatContext, items: list[MediaItem]) -> dict[int, MediaRef]:
        refs: dict[int, MediaRef] = {}
        wanted: list[MediaItem] = []
        for item in items:
            reason = (
                "media downloads are off in the settings" if not self.enabled else skip_reason(item, chat, self.options)
            )
            if reason is None and file_location(item.media) is None:
                reason = "Telegram gave no downloadable file"
            if reason is None:
                wanted.append(item)
                continue
            self.files_skipped += 1
            refs[item.msg_id] = MediaRef(
                kind=item.kind,
                path=None,
                status="skipped",
                file_name=item.file_name,
                mime_type=item.mime_type,
                size=item.size,
                reason=reason,
            )
            # No row here: the exporter records skipped files in the batch's own transaction (no extra fsync).
        results = await _all(
            self._one(chat.chat_id, chat.title, item, media_rel_path(chat.dir_name, item)) for item in wanted
        )
        for item, ref in zip(wanted, results):
            refs[item.msg_id] = ref
        return refs

    async def retry_failed(self, chat: ChatContext) -> list[Retried]:
        """Try again the files of committed messages that earlier runs recorded as failed, and find the ones
        fetched since whose notes still say so (a run stopped between the two). Returns what each such note
        should now say; files that failed in this run wait for the next one."""
        stale = await self._in_pool(self.store.stale_media, chat.chat_id)
        records = {r.msg_id: r for r in await self._in_pool(self.store.failed_media, chat.chat_id)}
        for msg_id in stale.keys() - records.keys():
            record = await self._in_pool(self.store.media_record, chat.chat_id, msg_id)
            if record is not None and record.status in ("done", "partial", "pending"):
                records[msg_id] = record
        retry: list[tuple[MediaItem, MediaRecord]] = []
        for msg_id, record in sorted(records.items()):
            if (chat.chat_id, msg_id) in self._failed_now:
                continue  # it just failed every attempt in this run; the next run tries again
            try:
                message = await self._refetch(chat.chat_id, msg_id)
            except DownloadFailed as e:
                log.info("Not retrying message %d of chat %d: %s", msg_id, chat.chat_id, e)
                continue
            except ChatParked as e:
                self._emit(
                    EventKind.INFO, f"Failed files of \"{chat.title}\" are not retried now: {e}", chat_id=chat.chat_id
                )
                return []
            item = media_item(message, self.options.tz) if message is not None else None
            # A row rebuilt from the vault does not know which Telegram file it was (media_id None): the message's.
            known = record.media_id is None or item is None or item.media_id == record.media_id
            if item is None or not known or file_location(item.media) is None:
                # The message was deleted, or its file replaced or emptied: nothing to fetch or correct, now or
                # in later runs (a failed row is given up, so no run asks for the message again).
                if record.status in ("failed", "lost"):
                    await self._in_pool(
                        self.store.upsert_media,
                        replace(record, status="skipped", reason="The message or its file is gone from Telegram."),
                    )
                if msg_id in stale:
                    await self._in_pool(self.store.forget_stale_media, chat.chat_id, [msg_id])
                    del stale[msg_id]
                continue
            if self.enabled and skip_reason(item, chat, self.options) is None:
                retry.append((item, record))
        # What each note shows is kept before fetching: a run stopped after a file lands still fixes its note.
        shown = {r.msg_id: r.reason or "" for _, r in retry if r.status == "failed"}
        if shown:
            await self._in_pool(self.store.mark_stale_media, chat.chat_id, shown)
        stale.update((k, v) for k, v in shown.items() if k not in stale)
        try:
            refs = await _all(self._one(chat.chat_id, chat.title, item, record.path) for item, record in retry)
        except ChatParked as e:
            self._emit(
                EventKind.INFO, f"Failed files of \"{chat.title}\" are not retried now: {e}", chat_id=chat.chat_id
            )
            return []
        restored = sum(ref.status == "ok" and record.status == "lost" for (_, record), ref in zip(retry, refs))
        if restored:
            self._emit(
                EventKind.VAULT,
                f"Repaired \"{chat.title}\": {restored} media file{'s' if restored != 1 else ''} deleted, cut short"
                " or changed by hand downloaded again.",
                chat_id=chat.chat_id,
            )
        return [
            Retried(item.msg_id, item.kind, stale[item.msg_id], ref, item.media)
            for (item, _), ref in zip(retry, refs)
            if ref.status == "ok" and item.msg_id in stale
        ]

    async def close(self) -> None:
        """Wait for post-processing still running (it writes into the vault)."""
        if self._post:
            await asyncio.gather(*self._post, return_exceptions=True)

    # -- one file ----------------------------------------------------------------------------------
    async def _one(self, chat_id: int, title: str, item: MediaItem, rel: str) -> MediaRef:
        """Dedupe against a download of the same file in flight, else fetch (or reuse) it."""
        counts = self._chat_bytes.setdefault(chat_id, [0, 0])
        size = item.size or 0
        counts[1] += size
        ok = False
        try:
            first = self._by_media.get(item.media_id)
            if first is not None:
                source = await asyncio.shield(first)
                if source is not None:
                    ref = await self._reuse(chat_id, item, rel, source)
                    ok = True
                    return ref
            future = asyncio.get_running_loop().create_future()
            self._by_media[item.media_id] = future
            outcome: MediaRecord | None = None
            try:
                ref, outcome = await self._fetch_or_reuse(chat_id, title, item, rel)
            finally:
                future.set_result(outcome)
                if self._by_media.get(item.media_id) is future:
                    del self._by_media[item.media_id]
            ok = ref.status == "ok"
            return ref
        finally:
            counts[1] -= size
            if ok:
                counts[0] += size

    async def _fetch_or_reuse(
        self, chat_id: int, title: str, item: MediaItem, rel: str
    ) -> tuple[MediaRef, MediaRecord | None]:
        record = await self._in_pool(self.store.media_record, chat_id, item.msg_id)
        if record is not None and record.status == "done" and await self._in_pool(self._files.intact, record):
            self.files_done += 1
            return self._ref(item, record.path, "ok"), record
        for earlier in await self._in_pool(self.store.done_media, item.media_id):
            if await self._in_pool(self._files.intact, earlier):
                return await self._reuse(chat_id, item, rel, earlier), earlier
        # Largest first: a batch then ends on small files, which keep the connection's streams busy to the end
        # instead of one big file's last parts trickling in alone.
        async with self._slots.slot(-(item.size or 0)):
            try:
                done = await self._download(chat_id, item, rel)
            except DownloadFailed as e:
                self.files_failed += 1
                self._failed_now.add((chat_id, item.msg_id))
                reason = str(e)
                self._emit(
                    EventKind.ERROR,
                    f"Could not download {item.kind} {rel.rsplit('/', 1)[-1]} in "
                    f"\"{title}\": {reason} A re-run of the export tries it again.",
                    chat_id=chat_id,
                )
                return self._ref(item, None, "failed", reason), None
        self.files_done += 1
        return self._ref(item, done.path, "ok"), done

    def _ref(self, item: MediaItem, path: str | None, status: str, reason: str | None = None) -> MediaRef:
        return MediaRef(
            kind=item.kind,
            path=path,
            status=status,
            file_name=item.file_name,
            mime_type=item.mime_type,
            size=item.size,
            reason=reason,
        )

    async def _reuse(self, chat_id: int, item: MediaItem, rel: str, source: MediaRecord) -> MediaRef:
        """The same Telegram file is on disk already: a hard link at this message's path (or the next free name),
        else its path."""
        path, aside = await self._in_pool(self._files.link, chat_id, item, rel, source.path)
        if aside:
            self._changed_by_hand(chat_id, path, aside)
        await self._in_pool(
            self.store.finish_media,
            MediaRecord(
                chat_id,
                item.msg_id,
                item.media_id,
                item.kind,
                path,
                source.size,
                source.size or 0,
                "done",
                source.sha256,
                f"stored once at {source.path}" if path == source.path and rel != source.path else None,
            ),
        )
        self.files_deduped += 1
        self.files_done += 1
        return self._ref(item, path, "ok")

    def _changed_by_hand(self, chat_id: int, path: str, aside: str) -> None:
        self._emit(
            EventKind.VAULT,
            f"{path} had been changed by hand: your file is kept as {aside}, and the engine's is back at its"
            " name, where the notes link it.",
            chat_id=chat_id,
        )

    # -- the download --------------------------------------------------------------------------------
    async def _download(self, chat_id: int, item: MediaItem, rel: str) -> MediaRecord:
        location = file_location(item.media)
        assert location is not None, "process() keeps only items with a file location"
        transfer = await self._in_pool(self._files.open_part, chat_id, item, rel, location.size)
        key = (chat_id, item.msg_id)
        self._transfers[key] = transfer
        try:
            attempts = refreshes = moves = 0
            while True:
                try:
                    await self._fetch_parts(transfer, location)
                    break
                except errors.FileMigrateError as e:
                    moves += 1
                    if moves > MAX_REFERENCE_REFRESHES:
                        raise DownloadFailed("Telegram kept sending the file to another data center.") from None
                    location = replace(location, dc_id=e.new_dc)
                except errors.RPCError as e:
                    # upload.getFile names a whole family of reference errors (FILE_REFERENCE_EXPIRED, _INVALID,
                    # _EMPTY, ...); each is cured by the message fetched again, which carries a fresh reference.
                    # Any other refusal is one of the file's attempts (below).
                    if not _is_file_reference_error(e):
                        attempts = await self._another_attempt(rel, e, attempts)
                        continue
                    refreshes += 1
                    if refreshes > MAX_REFERENCE_REFRESHES:
                        raise DownloadFailed("Telegram kept refusing the file's reference.") from None
                    location = await self._fresh_location(chat_id, item.msg_id, location)
                except RequestFailed as e:
                    raise DownloadFailed(str(e)) from None
                except _ShortPart as e:
                    attempts = await self._another_attempt(rel, e, attempts)
            digest = await self._in_pool(self._files.finish_part, transfer, priority=TaskPriority.NORMAL)
            done = MediaRecord(
                chat_id,
                item.msg_id,
                item.media_id,
                item.kind,
                transfer.rel,  # the path open_part chose: rel, or a free name next to it
                transfer.bytes_done,
                transfer.bytes_done,
                "done",
                digest,
            )
            done = await self._in_pool(self._files.commit_file, transfer, done)
            if transfer.set_aside:
                self._changed_by_hand(chat_id, done.path, transfer.set_aside)
            if self._thumbnailer is not None and item.kind in THUMBNAIL_KINDS:
                self._thumbnail(done.path)
            return done
        except DownloadFailed as e:
            # The part list stays: a re-run resumes this file from the bytes it has. The engine's own file
            # downloaded again stays "lost" at its path (the notes link it), so the next run does the same.
            status, reason = ("lost", REFETCHING) if transfer.own_target else ("failed", str(e))
            await self._in_pool(
                self.store.upsert_media,
                MediaRecord(
                    chat_id,
                    item.msg_id,
                    item.media_id,
                    item.kind,
                    transfer.rel,
                    location.size,
                    transfer.bytes_done,
                    status,
                    reason=reason,
                ),
            )
            raise
        finally:
            del self._transfers[key]
            if transfer.fd is not None:
                os.close(transfer.fd)

    async def _another_attempt(self, rel: str, e: Exception, attempts: int) -> int:
        """One more of a file's attempts spent on `e`, after a pause; DownloadFailed when none are left."""
        attempts += 1
        why = _rpc_reason(e) if isinstance(e, errors.RPCError) else "a part came back short"
        if attempts >= MAX_FILE_ATTEMPTS:
            raise DownloadFailed(f"Telegram refused the download ({why}).") from None
        log.info("Retrying %s after %s", rel, why)
        await asyncio.sleep(self._retry_pause_s)
        return attempts

    async def _fetch_parts(self, transfer: Transfer, location: FileLocation) -> None:
        size = transfer.size
        if size is None:
            await self._fetch_until_short(transfer, location)
            return
        total = -(-size // PART_SIZE)
        missing = deque(p for p in range(total) if p not in transfer.done_parts)
        if not missing:
            return

        failures: list[Exception] = []

        async def worker() -> None:
            # After a refused part the others take no new part but finish theirs: what is in flight already
            # was served, and dropping it would mean fetching it twice.
            while missing and not failures:
                part = missing.popleft()
                try:
                    data = await self._get_part(transfer, location, part)
                    if len(data) != part_end(part, size) - part * PART_SIZE:
                        raise _ShortPart(part)
                except (errors.RPCError, RequestFailed, _ShortPart) as e:
                    failures.append(e)
                    return
                await self._in_pool(self._files.write_part, transfer, part, data)

        await _all(worker() for _ in range(parts_in_flight_for(size, self.parts_per_file)))
        if failures:
            raise failures[0]

    async def _fetch_until_short(self, transfer: Transfer, location: FileLocation) -> None:
        part = 0
        while part in transfer.done_parts:
            part += 1
        while True:
            data = await self._get_part(transfer, location, part)
            if data:
                await self._in_pool(self._files.write_part, transfer, part, data)
            if len(data) < PART_SIZE:
                transfer.size = transfer.bytes_done
                return
            part += 1

    async def _get_part(self, transfer: Transfer, location: FileLocation, part: int) -> bytes:
        request = functions.upload.GetFileRequest(location.input(), offset=part * PART_SIZE, limit=PART_SIZE)
        transfer.parts_in_flight += 1
        self.parts_in_flight += 1
        dc = self._by_dc.setdefault(location.dc_id, [0, 0, 0])
        dc[0] += 1
        try:
            result = await self.source.call(
                request, chat_id=transfer.chat_id, part_slot=self._parts, dc_id=location.dc_id
            )
        finally:
            transfer.parts_in_flight -= 1
            self.parts_in_flight -= 1
            dc[0] -= 1
        dc[1] += 1
        dc[2] += len(result.bytes)
        self.bytes_fetched += len(result.bytes)
        return result.bytes

    async def _fresh_location(self, chat_id: int, msg_id: int, old: FileLocation) -> FileLocation:
        """A FILE_REFERENCE_* error: the message, fetched again, carries a fresh reference."""
        message = await self._refetch(chat_id, msg_id)
        location = file_location(getattr(message, "media", None))
        if location is None or location.media_id != old.media_id:
            raise DownloadFailed("The message no longer holds this file (it was deleted or edited).")
        return location

    async def _refetch(self, chat_id: int, msg_id: int):
        entity = self.source.entity(chat_id)
        ids = [types.InputMessageID(msg_id)]
        if isinstance(entity, types.Channel):
            request = functions.channels.GetMessagesRequest(utils.get_input_channel(entity), ids)
        else:
            request = functions.messages.GetMessagesRequest(ids)
        try:
            result = await self.source.call(request, chat_id=chat_id)
        except RequestFailed as e:
            raise DownloadFailed(str(e)) from None
        except errors.RPCError as e:
            raise DownloadFailed(f"Telegram would not return the message again ({_rpc_reason(e)}).") from None
        return next(
            (m for m in result.messages if getattr(m, "id", None) == msg_id and not isinstance(m, types.MessageEmpty)),
            None,
        )

    # -- post-processing on the standard pool --------------------------------------------------------
    def _thumbnail(self, rel: str) -> None:
        assert self._thumbnailer is not None
        future = self.pools.submit(self._thumbnailer.make, rel, priority=TaskPriority.LOW)
        self._post.add(future)
        future.add_done_callback(self._post_done)

    def _post_done(self, future: asyncio.Future) -> None:
        self._post.discard(future)
        if not future.cancelled() and (message := future.result()) is not None:
            self._emit(EventKind.INFO, message)

    # -- helpers -------------------------------------------------------------------------------------
    async def _in_pool(self, fn, *args, priority: TaskPriority = TaskPriority.HIGH, **kwargs):
        return await run_on_pool(self.pools, self.vault.root, fn, *args, priority=priority, **kwargs)


# Telethon raises the FILE_REFERENCE_* errors it knows as their own classes, whose `message` is only the code's
# name (BAD_REQUEST); the others (FILE_REFERENCE_0_EXPIRED, ...) as a plain RPCError carrying Telegram's text.
_FILE_REFERENCE_ERRORS = (
    errors.FileReferenceExpiredError,
    errors.FileReferenceInvalidError,
    errors.FileReferenceEmptyError,
)


def _is_file_reference_error(e: errors.RPCError) -> bool:
    return isinstance(e, _FILE_REFERENCE_ERRORS) or (e.message or "").upper().startswith("FILE_REFERENCE_")


def _rpc_reason(e: errors.RPCError) -> str:
    # Telethon's text for a known error ("The file id is invalid"), else Telegram's own ("SOME_ERROR").
    return str(e).split(" (caused by", 1)[0]


async def _all(coros: Iterable) -> list:
    """Run together; the first exception cancels the rest (after they unwind) and is raised as itself."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    if not tasks:
        return []
    try:
        _done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except asyncio.CancelledError:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    # Every failure is retrieved (the rest would be "never retrieved" noise); the first is raised.
    failures = [e for t in tasks if t.done() and not t.cancelled() and (e := t.exception()) is not None]
    if failures:
        raise failures[0]
    return [t.result() for t in tasks]

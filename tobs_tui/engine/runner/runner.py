"""The engine on its own thread with its own asyncio loop, driven by thread-safe commands.

Telethon 1.45 hangs inside Textual's loop on Python >= 3.12 (docs/ARCHITECTURE.md), so the engine never runs
on the caller's loop: every command is scheduled onto the engine loop and answered with a
concurrent.futures.Future; progress leaves as immutable EngineSnapshot / EngineEvent values.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import datetime
import logging
import math
import threading
import time
import zoneinfo
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telethon import TelegramClient, errors

from tobs_tui import redaction
from tobs_tui.config import Settings
from tobs_tui.cpus import usable_cpus
from tobs_tui.engine.media.downloader import MediaDownloader
from tobs_tui.engine.options import ChatSelection, ExportOptions
from tobs_tui.engine.pipeline.exporter import Exporter
from tobs_tui.engine.render.workers import RenderPool, render_workers_for, shared_render_pool
from tobs_tui.engine.runner.progress import ProgressReport
from tobs_tui.engine.runtime import gc_tuning as heap
from tobs_tui.engine.runtime.disk import media_workers_for, resolve_media_workers
from tobs_tui.engine.runtime.loop_idle import IdleTimedSelector, idle_timed_loop
from tobs_tui.engine.runtime.pools import DualPool, TaskPriority
from tobs_tui.engine.snapshot import (
    ChatState,
    DialogInfo,
    EngineEvent,
    EngineSnapshot,
    EventKind,
    RunState,
    TopicInfo,
)
from tobs_tui.engine.telegram.backoff import BackoffPolicy, FloodWaitPolicy
from tobs_tui.engine.telegram.client import build_client
from tobs_tui.engine.telegram.concurrency import AdaptiveLimit
from tobs_tui.engine.telegram.login import LoginError, LoginFlow, QrCode
from tobs_tui.engine.telegram.proxycheck import CONNECT_ERRORS, proxy_failure
from tobs_tui.engine.telegram.source import TelegramSource
from tobs_tui.engine.telegram.throttle import ThrottleDetector
from tobs_tui.engine.vault.store import StateStore
from tobs_tui.engine.vault.vault import STATE_DIR, Vault

log = logging.getLogger(__name__)

__all__ = ["ChatSelection", "EngineRunner", "ExportRequest", "LoginError", "NotConnectedError"]

_EVENTS_KEPT = 200
_STOP_TASKS_S = 5.0  # how long tasks left on the loop at stop get to end once cancelled
# Telegram's round trips are tens to hundreds of ms and its throttling adds hundreds; below 50 ms a 3x rise is
# the scheduler of a machine short of CPU (on 2 cores beside two CPU-burning processes the server's share of a
# loopback reply reached 60-70 ms with our loop idle), so the throttle thresholds never start below 3 x 50 ms.
THROTTLE_BASELINE_FLOOR_S = 0.050
_EVENTS_IN_SNAPSHOT = 50
# A dialog list older than this when an export starts has its chosen chats' newest ids read again.
TOPS_FRESH_S = 10.0
# How long the second look at a proxy that failed may take (it runs only after Telethon gave up on it).
PROXY_CHECK_TIMEOUT_S = 5.0
COUNTS_AT_ONCE = 100  # message counts fetched per message_counts call (a screenful of rows is ~40)


@dataclass(frozen=True)
class ExportRequest:
    chats: tuple[ChatSelection, ...]
    output_dir: Path | None = None


class NotConnectedError(Exception):
    """A command that needs Telegram was sent before connect() (or after a failed one)."""


class BusyError(Exception):
    """An export is already running; one sentence for the user."""


class TelegramRefusedError(Exception):
    """Telegram (or a server standing in for it) answered a request every time with an error; one sentence."""


def resolve_timezone(name: str) -> datetime.tzinfo:
    if name == "local":
        return datetime.datetime.now().astimezone().tzinfo or datetime.UTC
    return zoneinfo.ZoneInfo(name)


class EngineRunner:
    """Owns the engine thread; every public method is thread-safe."""

    def __init__(
        self,
        settings: Settings,
        *,
        session: str | Path,
        api_id: int | None = None,
        api_hash: str | None = None,
        on_snapshot: Callable[[EngineSnapshot], None] | None = None,
        on_event: Callable[[EngineEvent], None] | None = None,
        pools: DualPool | None = None,
        policy: BackoffPolicy | None = None,
        render_pool: RenderPool | None = None,
        render_in_process: bool | None = None,
    ) -> None:
        # pools/policy/render_pool replace the defaults (the benchmarks' A/B baselines: one FIFO pool, fixed
        # backoff, render workers at normal priority); a render pool given here is its owner's to shut down.
        # render_in_process: render on the engine's own threads, without worker processes; None decides by the
        # CPUs this process may use (render_workers_for: in process on one).
        self._settings = settings
        self._session = session
        self._api_id = api_id if api_id is not None else settings.telegram.api_id
        self._api_hash = api_hash if api_hash is not None else settings.telegram.api_hash
        redaction.add(self._api_hash)  # typed at the login screen, perhaps: never in a log line
        self._proxy = settings.network.parsed_proxy()
        self._on_snapshot = on_snapshot
        self._on_event = on_event
        self._origin = time.monotonic()
        self._hz = settings.ui.refresh_hz
        self._events: deque[EngineEvent] = deque(maxlen=_EVENTS_KEPT)
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._selector: IdleTimedSelector | None = None
        self._pools: DualPool | None = None
        self._throttle = ThrottleDetector(
            on_event=self._throttle_event, origin=self._origin, baseline_floor_s=THROTTLE_BASELINE_FLOOR_S
        )
        self._policy = policy or FloodWaitPolicy()
        self._given_pools = pools
        self._limit: AdaptiveLimit | None = None
        self._client: TelegramClient | None = None
        self._source: TelegramSource | None = None
        self._login: LoginFlow | None = None
        self._dialogs: dict[int, DialogInfo] = {}
        self._dialogs_at = -math.inf  # when the list was read (monotonic)
        self._counts: dict[int, int] = {}  # message counts asked for by chat id (loop only)
        self._exporter: Exporter | None = None
        self._export_task: asyncio.Task | None = None
        self._unpaused: asyncio.Event | None = None
        self._render_pool: RenderPool | None = None
        self._given_render_pool = render_pool
        self._render_in_process = (
            render_workers_for(usable_cpus()) == 0 if render_in_process is None else render_in_process
        )
        self._state = RunState.IDLE
        self._media_workers = settings.workers.media_download_workers or 0
        self._media: MediaDownloader | None = None
        self._disk_type = "unknown"
        self._media_workers_auto = media_workers_for("unknown")
        self._progress = ProgressReport(self._origin)
        self._run_errors: list[str] = []
        self._publisher: asyncio.Task | None = None
        self._snapshot = self._build_snapshot()

    # -- thread and loop -----------------------------------------------------------------------------
    def start(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                return
            ready = threading.Event()
            self._pools = self._given_pools or DualPool(*self._settings.pool_sizes(), name="tobs")
            # Started now so its worker processes are warm by the time the first export renders.
            if self._given_render_pool is not None:
                self._render_pool = self._given_render_pool
            elif not self._render_in_process:
                self._render_pool = shared_render_pool()
            self._thread = threading.Thread(target=self._thread_main, args=(ready,), name="tobs-engine", daemon=True)
            self._thread.start()
            ready.wait()
            heap.calm_collector()  # stop() restores it; only a runner that started asks for it

    def _thread_main(self, ready: threading.Event) -> None:
        # A plain new loop: never Textual's, never one with an eager task factory (Telethon issue 4721); its
        # selector counts the time it waits for the network, which tells our CPU from the server's latency.
        loop, self._selector = idle_timed_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._unpaused = asyncio.Event()
        self._unpaused.set()
        self._limit = AdaptiveLimit(self._settings.export.max_concurrent_requests)
        self._publisher = loop.create_task(self._publish_loop())
        # The Settings screen shows the measured disk and worker count before any export starts.
        self._disk_measured = loop.create_task(self._measure_disk())
        ready.set()
        try:
            loop.run_forever()
        finally:
            # What stop() did not end itself (the disk measurement of a runner stopped as it started, say) is
            # cancelled and given its turn, as asyncio.run does, rather than destroyed pending with the loop.
            left = asyncio.all_tasks(loop)
            for task in left:
                task.cancel()
            if left:
                loop.run_until_complete(asyncio.wait(left, timeout=_STOP_TASKS_S))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _measure_disk(self) -> None:
        """Disk type of the configured export dir and the media workers it gives; on the engine loop."""
        out = Path(self._settings.export.output_dir).expanduser()
        configured = self._settings.workers.media_download_workers
        loop = asyncio.get_running_loop()
        try:
            workers, disk, _ = await loop.run_in_executor(None, resolve_media_workers, out, configured)
        except ValueError as e:
            # A bad MEDIA_WORKERS: the export refuses to start with this sentence; until then say it once.
            self._emit(EventKind.ERROR, str(e))
            return
        self._disk_type, self._media_workers_auto = disk.kind, media_workers_for(disk.kind)
        if self._media is None:
            self._media_workers = workers

    def _submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future:
        self.start()
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def _call_soon(self, fn: Callable[..., None], *args: Any) -> None:
        self.start()
        assert self._loop is not None
        self._loop.call_soon_threadsafe(fn, *args)

    # -- connection and login ------------------------------------------------------------------------
    def connect(self) -> concurrent.futures.Future:
        return self._submit(self._connect())

    async def _connect(self) -> bool:
        if self._client is None:
            self._client = build_client(
                self._session, self._api_id, self._api_hash, self._proxy, ipv6=self._settings.network.ipv6
            )
            assert self._limit is not None
            self._source = TelegramSource(
                self._client,
                throttle=self._throttle,
                policy=self._policy,
                limit=self._limit,
                timeout_s=self._settings.export.request_timeout_s,
                emit=self._emit,
                gate=self._wait_unpaused,
                loop_clock=self._selector,
                whole=self._render_pool is None,
            )
            self._login = LoginFlow(self._client)
        if not self._client.is_connected():
            try:
                await asyncio.wait_for(self._client.connect(), self._settings.export.request_timeout_s)
            except CONNECT_ERRORS:
                if self._proxy is None:
                    raise ConnectionError("Could not connect to Telegram; check the network and try again.") from None
                session = self._client.session
                sentence = await proxy_failure(self._proxy, session.server_address, session.port, PROXY_CHECK_TIMEOUT_S)
                raise ConnectionError(sentence) from None
        return await self._client.is_user_authorized()

    def _need_login(self) -> LoginFlow:
        if self._login is None:
            raise NotConnectedError("Not connected yet; connect first.")
        return self._login

    def send_code(self, phone: str) -> concurrent.futures.Future:
        redaction.add(phone)

        async def run() -> None:
            await self._need_login().send_code(phone)

        return self._submit(run())

    def sign_in(self, code: str) -> concurrent.futures.Future:
        async def run() -> str:
            return await self._need_login().sign_in(code)

        return self._submit(run())

    def qr_code(self) -> concurrent.futures.Future:
        """Future[QrCode]: a fresh code to draw (call again for a new one before the last expires)."""

        async def run() -> QrCode:
            return await self._need_login().qr_code()

        return self._submit(run())

    def qr_wait(self) -> concurrent.futures.Future:
        """Future[str]: "ok" once another app accepted the code, "password_needed", or "refresh"."""

        async def run() -> str:
            return await self._need_login().qr_wait()

        return self._submit(run())

    def check_password(self, password: str) -> concurrent.futures.Future:
        redaction.add(password)

        async def run() -> None:
            await self._need_login().check_password(password)

        return self._submit(run())

    # -- dialogs and topics --------------------------------------------------------------------------
    def _need_source(self) -> TelegramSource:
        if self._source is None:
            raise NotConnectedError("Not connected yet; connect first.")
        return self._source

    def list_dialogs(self) -> concurrent.futures.Future:
        return self._submit(self._list_dialogs())

    async def _list_dialogs(self) -> list[DialogInfo]:
        try:
            dialogs = await self._need_source().dialogs()
        except errors.RPCError as e:
            raise TelegramRefusedError(
                f"Telegram refused to list your chats ({e.message}); nothing was exported, try again later."
            ) from e
        last_ids = await asyncio.get_running_loop().run_in_executor(None, self._exported_last_ids)
        result = [
            dataclasses.replace(d, last_exported_id=last_ids.get(d.chat_id), message_count=self._counts.get(d.chat_id))
            for d in dialogs
        ]
        self._dialogs = {d.chat_id: d for d in result}
        self._dialogs_at = time.monotonic()
        return result

    async def _fresh_tops(self, chat_ids: list[int]) -> None:
        """Bring the chosen chats' newest ids up to now when the list is older than TOPS_FRESH_S (the selection
        screen may have been open for minutes): an export takes each chat up to that id, and its progress and
        ETA count from it."""
        if time.monotonic() - self._dialogs_at <= TOPS_FRESH_S:
            return
        tops = await self._need_source().tops(chat_ids)
        for cid, top in tops.items():
            info = self._dialogs.get(cid)
            if info is not None and top != info.top_message_id:
                self._dialogs[cid] = dataclasses.replace(info, top_message_id=top)

    def _exported_last_ids(self) -> dict[int, int]:
        """From the state DB of the configured export dir (a second connection; WAL allows it mid-export)."""
        db = Path(self._settings.export.output_dir).expanduser() / STATE_DIR / "state.sqlite"
        if not db.exists():
            return {}
        store = StateStore(db)
        try:
            return {r.chat_id: r.last_id for r in store.all_chats() if r.last_id}
        finally:
            store.close()

    def exported_last_ids(self) -> concurrent.futures.Future:
        """Committed last id per chat from the state DB, no Telegram request: what a running or stopped export
        has already written."""

        async def run() -> dict[int, int]:
            return await asyncio.get_running_loop().run_in_executor(None, self._exported_last_ids)

        return self._submit(run())

    def message_counts(self, chat_ids: Iterable[int]) -> concurrent.futures.Future:
        """Message counts of chats whose ids cannot tell (private chats, bots, basic groups), for the rows a
        reader shows: one history call of one message each, through the same request limit and FloodWait
        handling as an export, remembered for the runner's life. Chats that cannot be read now are left out."""
        asked = list(dict.fromkeys(chat_ids))

        async def run() -> dict[int, int]:
            source = self._need_source()
            wanted = [c for c in asked if c not in self._counts][:COUNTS_AT_ONCE]
            found = await asyncio.gather(*(source.message_count(c) for c in wanted))
            self._counts.update({c: n for c, n in zip(wanted, found) if n is not None})
            return dict(self._counts)

        return self._submit(run())

    def list_topics(self, chat_id: int) -> concurrent.futures.Future:
        async def run() -> list[TopicInfo]:
            return await self._need_source().topics(chat_id)

        return self._submit(run())

    # -- export ---------------------------------------------------------------------------------------
    def start_export(self, request: ExportRequest) -> concurrent.futures.Future:
        return self._submit(self._start_export(request))

    async def _start_export(self, request: ExportRequest) -> EngineSnapshot:
        if self._export_task is not None and not self._export_task.done():
            raise BusyError("An export is already running; wait for it to finish or cancel it first.")
        self._export_task = asyncio.current_task()
        # What exists now (the dialog list, the client's caches, the app) outlives the export.
        heap.freeze_heap()
        try:
            return await self._export(request)
        finally:
            self._export_task = None
            heap.thaw()  # the batches' objects were frozen as they settled (heap.settle)

    async def _export(self, request: ExportRequest) -> EngineSnapshot:
        source = self._need_source()
        settings = self._settings
        out = Path(request.output_dir or settings.export.output_dir).expanduser()
        self._run_errors = []
        self._progress.reset()
        self._state = RunState.RUNNING
        assert self._pools is not None
        loop = asyncio.get_running_loop()
        vault: Vault | None = None
        try:
            # Opening and recovering the vault is disk work on the export's path: HIGH, so it never queues
            # behind post-processing on the standard pool.
            vault = await self._pools.submit(Vault, out, priority=TaskPriority.HIGH)
            report = await self._pools.submit(vault.recover, priority=TaskPriority.HIGH)
            if report.rolled_back_bytes:
                self._emit(
                    EventKind.INFO,
                    f"Recovered the vault after an interrupted run: rolled back "
                    f"{report.rolled_back_bytes} uncommitted bytes.",
                )
            for notice in report.notices():
                self._emit(EventKind.VAULT, notice)
            if any(sel.chat_id not in self._dialogs for sel in request.chats):
                await self._list_dialogs()
            await self._fresh_tops([sel.chat_id for sel in request.chats if sel.chat_id in self._dialogs])
            jobs = []
            for sel in request.chats:
                info = self._dialogs.get(sel.chat_id)
                if info is None:
                    msg = f"Chat {sel.chat_id} is not in your dialog list; it was skipped."
                    self._run_errors.append(msg)
                    self._emit(EventKind.ERROR, msg, chat_id=sel.chat_id)
                    continue
                jobs.append((sel, info))
            options = ExportOptions(
                tz=resolve_timezone(settings.export.timezone),
                formats=settings.export.formats,
                media_kinds=settings.export.media_kinds,
                max_file_size=settings.export.max_file_size_mb * 1024 * 1024,
                chats_at_once=max(2, min(4, settings.export.max_concurrent_requests // 2)),
            )
            workers, disk, _ = await self._pools.submit(
                resolve_media_workers, out, settings.workers.media_download_workers, priority=TaskPriority.HIGH
            )
            self._disk_type, self._media_workers_auto = disk.kind, media_workers_for(disk.kind)
            self._media_workers = workers
            self._media = MediaDownloader(
                source,
                vault,
                self._pools,
                options,
                workers=workers,
                parts_per_file=settings.workers.parts_per_file,
                emit=self._emit,
                enabled=settings.export.download_media,
                postprocess=settings.workers.postprocess,
            )
            self._exporter = Exporter(
                source,
                vault,
                self._pools,
                options,
                emit=self._emit_from_export,
                media_stage=self._media,
                render_pool=self._render_pool,
            )
            if settings.export.takeout:
                await source.start_takeout(
                    files=settings.export.download_media, file_max_size=options.max_file_size or None
                )
            exported = False
            try:
                await self._exporter.run(jobs)
                exported = all(r.state is ChatState.DONE for r in self._exporter.runs.values())
            finally:
                if source.takeout_id is not None:
                    # Telegram's "data exported successfully" only when it was: not for a run cancelled, failed
                    # or with a chat left unfinished.
                    await asyncio.shield(source.finish_takeout(success=exported and not self._run_errors))
            failed = [r for r in self._exporter.runs.values() if r.state is not ChatState.DONE]
            self._state = RunState.FAILED if failed or self._run_errors else RunState.DONE
        except asyncio.CancelledError:
            self._state = RunState.CANCELLED
            self._emit(
                EventKind.INFO,
                "Export cancelled; everything committed so far is kept and a re-run continues from there.",
            )
            return self._publish()
        except Exception as e:
            self._state = RunState.FAILED
            self._run_errors.append(str(e))
            self._emit(EventKind.ERROR, str(e))
            raise
        finally:
            if self._media is not None:
                await asyncio.shield(self._media.close())
            if vault is not None:
                await asyncio.shield(loop.run_in_executor(None, vault.close))
        return self._publish()

    def pause(self) -> None:
        def do() -> None:
            if self._state is RunState.RUNNING and self._unpaused is not None:
                self._unpaused.clear()
                self._state = RunState.PAUSED
                self._emit(EventKind.INFO, "Export paused.")

        self._call_soon(do)

    def resume(self) -> None:
        def do() -> None:
            if self._unpaused is not None and not self._unpaused.is_set():
                self._unpaused.set()
                if self._state is RunState.PAUSED:
                    self._state = RunState.RUNNING
                self._emit(EventKind.INFO, "Export resumed.")

        self._call_soon(do)

    async def _wait_unpaused(self) -> None:
        assert self._unpaused is not None
        await self._unpaused.wait()

    def cancel(self) -> concurrent.futures.Future:
        async def run() -> None:
            task = self._export_task
            if task is None or task.done():
                return
            self._state = RunState.CANCELLING
            assert self._unpaused is not None
            self._unpaused.set()  # a paused export must wake up to unwind
            task.cancel()
            await asyncio.wait([task])

        return self._submit(run())

    # -- live settings ---------------------------------------------------------------------------------
    def set_limits(
        self,
        *,
        critical: int | None = None,
        standard: int | None = None,
        media_workers: int | None = None,
        max_concurrent_requests: int | None = None,
    ) -> None:
        self.start()
        assert self._pools is not None
        if critical is not None or standard is not None:
            self._pools.resize(critical=critical, standard=standard)
        if media_workers is not None:
            self._call_soon(self._set_media_workers, media_workers)
        if max_concurrent_requests is not None:
            assert self._limit is not None
            self._call_soon(self._limit.set_max, max_concurrent_requests)

    def _set_media_workers(self, n: int) -> None:
        n = n if n > 0 else self._media_workers_auto  # 0 = auto: back to what the disk type suggests
        self._media_workers = n
        stage = self._exporter.media_stage if self._exporter is not None else None
        if stage is not None:
            stage.set_workers(n)

    def update_settings(self, settings: Settings) -> None:
        """Limits and pool sizes apply now; timezone, takeout, formats and media choices at the next export."""
        old = self._settings
        self._settings = settings
        if settings.pool_sizes() != old.pool_sizes():
            critical, standard = settings.pool_sizes()
            self.set_limits(critical=critical, standard=standard)
        if settings.export.max_concurrent_requests != old.export.max_concurrent_requests:
            self.set_limits(max_concurrent_requests=settings.export.max_concurrent_requests)
        if settings.workers.media_download_workers != old.workers.media_download_workers:
            self.set_limits(media_workers=settings.workers.media_download_workers)
        if settings.ui.refresh_hz != old.ui.refresh_hz:
            self.set_snapshot_rate(settings.ui.refresh_hz)
        if settings.export.output_dir != old.export.output_dir:
            self._submit(self._measure_disk())
        if self._source is not None:
            self._call_soon(setattr, self._source, "timeout_s", settings.export.request_timeout_s)

    def set_snapshot_rate(self, hz: float) -> None:
        if hz <= 0:
            raise ValueError("the snapshot rate must be positive")
        self._hz = hz

    # -- snapshots and events ------------------------------------------------------------------------
    def snapshot(self) -> EngineSnapshot:
        return self._snapshot

    async def _publish_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0 / self._hz)
            self._publish()

    def _publish(self) -> EngineSnapshot:
        snap = self._build_snapshot()
        self._snapshot = snap
        if self._on_snapshot is not None:
            try:
                self._on_snapshot(snap)
            except Exception:
                log.exception("The snapshot callback failed")
        return snap

    def _emit(self, kind: EventKind, message: str, *, seconds: float | None = None, chat_id: int | None = None) -> None:
        event = EngineEvent(
            t=time.monotonic() - self._origin,
            wall=time.time(),
            kind=kind,
            message=message,
            seconds=seconds,
            chat_id=chat_id,
        )
        self._events.append(event)
        log.info("%s: %s", kind.value, message)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                log.exception("The event callback failed")

    def _emit_from_export(
        self, kind: EventKind, message: str, *, seconds: float | None = None, chat_id: int | None = None
    ) -> None:
        """The exporter's events. An error of no one chat (the vault's result.json not written) is an error of the
        run: the summary lists it and the run ends failed, as a chat's error does."""
        if kind is EventKind.ERROR and chat_id is None and message not in self._run_errors:
            self._run_errors.append(message)
        self._emit(kind, message, seconds=seconds, chat_id=chat_id)

    def _throttle_event(self, kind: str, t: float, info: dict) -> None:
        # Called from ThrottleDetector.record, which runs on the engine loop.
        if kind == "throttle_start":
            # The detector counts only the server's share, and only a rise that persisted with fewer in flight.
            self._emit(
                EventKind.THROTTLE_START,
                f"Telegram is slowing our requests: replies take {info.get('avg_latency_ms', 0):.0f} ms on its side "
                f"against {info.get('baseline_latency_ms', 0):.0f} ms before; fewer requests in flight.",
            )
        else:
            self._emit(EventKind.THROTTLE_END, "Latency is back to normal.")

    def _build_snapshot(self) -> EngineSnapshot:
        runs = list(self._exporter.runs.values()) if self._exporter is not None else []
        source = self._source
        return self._progress.snapshot(
            state=self._state,
            runs=runs,
            media=self._media,
            limit=self._limit,
            flood_waits=source.flood_waits if source is not None else 0,
            pools=self._pools.metrics() if self._pools is not None else (),
            media_workers=self._media_workers,
            throttle=self._throttle.snapshot(),
            events=tuple(self._events)[-_EVENTS_IN_SNAPSHOT:],
            takeout=source.takeout_state if source is not None else "off",
            disk_type=self._disk_type,
            media_workers_auto=self._media_workers_auto,
            run_errors=tuple(self._run_errors),
        )

    # -- shutdown --------------------------------------------------------------------------------------
    def stop(self, timeout: float = 10) -> None:
        if self._thread is None or self._loop is None:
            return

        async def shutdown() -> None:
            task = self._export_task
            if task is not None and not task.done():
                task.cancel()
                await asyncio.wait([task], timeout=timeout)
            if self._publisher is not None:
                self._publisher.cancel()
            if self._client is not None and self._client.is_connected():
                await asyncio.wait_for(self._client.disconnect(), timeout)

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout + 2)
        except (concurrent.futures.TimeoutError, Exception):
            log.exception("Engine shutdown did not finish cleanly")
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
            if self._pools is not None:
                self._pools.shutdown(wait=False, cancel_pending=True)
            self._thread = None
            heap.restore_collector()

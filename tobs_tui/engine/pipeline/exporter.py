"""One export request over an open vault: several chats at once (each a `ChatExport`, pipeline/chat.py), the
render worker processes, and what ends each chat's run (done, parked, failed, cancelled)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from telethon import errors

from tobs_tui.engine.media.stage import (
    MediaStage,
    PendingMedia,
)
from tobs_tui.engine.options import ChatSelection, ExportOptions
from tobs_tui.engine.pipeline.chat import SPLITTABLE, ChatExport, ChatRun
from tobs_tui.engine.pipeline.finish import write_account_json
from tobs_tui.engine.pipeline.senders import SenderPreloader
from tobs_tui.engine.render.workers import RenderJob, RenderPool, render_job
from tobs_tui.engine.runtime.pools import DualPool, TaskPriority
from tobs_tui.engine.snapshot import ChatState, DialogInfo, EventKind
from tobs_tui.engine.telegram.source import (
    ChatParked,
    ChatUnavailable,
    RequestFailed,
    TelegramSource,
)
from tobs_tui.engine.vault.filenames import UnsafePathError
from tobs_tui.engine.vault.pooled import run_on_pool
from tobs_tui.engine.vault.vault import Vault, VaultWriteError

log = logging.getLogger(__name__)


class Exporter:
    """Runs one export request over an open vault: several chats at once, each in order."""

    def __init__(
        self,
        source: TelegramSource,
        vault: Vault,
        pools: DualPool,
        options: ExportOptions,
        *,
        emit: Callable[..., None],
        render_pool: RenderPool | None = None,
        media_stage: MediaStage | None = None,
    ) -> None:
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
            self.runs[info.chat_id] = ChatRun(
                info=info, selection=sel, expected=max(0, info.top_message_id) if info.kind in SPLITTABLE else 0
            )
        # A partly chosen forum's size is its chosen topics', known before it starts (one call per topic).
        await asyncio.gather(*(self._chosen_topics_expected(r) for r in self.runs.values() if r.partial_forum))
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
                if not task.cancelling():  # a second cancel would cut short a chat's shielded finish()
                    task.cancel()
            await asyncio.wait(tasks)
            raise
        finally:
            if tasks and "json" in self.options.formats:
                # Every chat has stopped: the account-level file agrees with each chat's result.json.
                await asyncio.shield(self._write_account_json())

    async def _chosen_topics_expected(self, run: ChatRun) -> None:
        """Messages still to write in the chosen topics of a forum: each topic's size (one thread call each) less
        what its notes hold; the whole forum's estimate stays when a size cannot be asked."""
        cid, wanted = run.info.chat_id, run.selection.topic_ids or ()
        sizes = await asyncio.gather(*(self.source.topic_count(cid, t) for t in wanted))
        if any(n is None for n in sizes):
            return
        record = await self.in_pool(self.vault.store.chat_progress, cid)
        written = (
            await self.in_pool(self.vault.store.topic_message_counts, cid, record.dir_name, wanted)
            if record is not None and record.dir_name
            else {}
        )
        run.expected = sum(max(0, (n or 0) - written.get(t, 0)) for t, n in zip(wanted, sizes, strict=True))

    async def _write_account_json(self) -> None:
        try:
            await self.in_pool(write_account_json, self.vault, lambda said: self.emit(EventKind.VAULT, said))
        except VaultWriteError as e:
            self.emit(EventKind.ERROR, f"The vault's result.json was not updated: {e}")

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
        except (RequestFailed, VaultWriteError, UnsafePathError) as e:
            # A file of this chat that cannot be written (a link planted in its folder, a folder in the way)
            # stops this chat only, with its sentence; the others go on.
            run.state, run.error = ChatState.FAILED, str(e)
            self.emit(EventKind.ERROR, f"\"{run.info.title}\": {e}", chat_id=cid)
            if isinstance(e, RequestFailed):
                await chat.finish()
        except errors.RPCError as e:
            # Any other refusal by Telegram concerns this chat only; the others go on.
            run.state = ChatState.FAILED
            run.error = (
                f"Telegram refused a request for \"{run.info.title}\" ({e.message}); run the export "
                "again later to continue it."
            )
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

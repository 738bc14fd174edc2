"""What a snapshot says about progress: per-chat and total messages and bytes, their rates and ETAs, from the
chats' own counters; the runner adds its state, limits, pools, throttle and events."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from tobs_tui.engine.media.downloader import MediaDownloader
from tobs_tui.engine.pipeline.chat import ChatRun
from tobs_tui.engine.runtime.rates import RateMeter
from tobs_tui.engine.snapshot import (
    ChatProgress,
    ChatState,
    EngineEvent,
    EngineSnapshot,
    MediaStats,
    PoolStats,
    RunState,
    ThrottleStats,
)
from tobs_tui.engine.telegram.concurrency import AdaptiveLimit


class ProgressReport:
    """Rate meters of one run (the total, and per chat over the same bytes as the total: notes + media, so the
    chats' MB/s add up to the run's) and the snapshot built from them. Used on the engine loop only."""

    def __init__(self, origin: float) -> None:
        self._origin = origin
        self._total_meter = RateMeter()
        self._bytes_meter = RateMeter()
        self._chat_bytes_meters: dict[int, RateMeter] = {}

    def reset(self) -> None:
        self._total_meter.reset()
        self._bytes_meter.reset()
        self._chat_bytes_meters = {}

    def chat(self, run: ChatRun, media: MediaDownloader | None, *, paused: bool = False) -> ChatProgress:
        media_done, media_expected = media.chat_bytes(run.info.chat_id) if media else (0, 0)
        bytes_meter = self._chat_bytes_meters.get(run.info.chat_id)
        if bytes_meter is None:  # not setdefault: that would build a meter per chat for every snapshot
            bytes_meter = self._chat_bytes_meters[run.info.chat_id] = RateMeter()
        moving = run.state is ChatState.RUNNING and not paused
        if moving:
            run.meter.update(run.done)
            bytes_meter.update(run.bytes_done + media_done)
        elif paused:
            run.meter.hold()
            bytes_meter.hold()
        return ChatProgress(
            chat_id=run.info.chat_id,
            title=run.info.title,
            topic_id=None,
            state=run.state,
            messages_done=run.done,
            messages_expected=max(run.expected, run.done),
            bytes_done=run.bytes_done + media_done,
            bytes_expected=run.bytes_done + media_expected,
            msgs_per_s=run.meter.smoothed if moving else 0.0,
            bytes_per_s=bytes_meter.smoothed if moving else 0.0,
            eta_s=run.meter.eta(run.expected - run.done) if moving else None,
            error=run.error,
        )

    def snapshot(
        self,
        *,
        state: RunState,
        runs: Iterable[ChatRun],
        media: MediaDownloader | None,
        limit: AdaptiveLimit | None,
        flood_waits: int,
        pools: Sequence[PoolStats],
        media_workers: int,
        throttle: ThrottleStats,
        events: tuple[EngineEvent, ...],
        takeout: str,
        disk_type: str,
        media_workers_auto: int,
        run_errors: tuple[str, ...],
    ) -> EngineSnapshot:
        runs = list(runs)
        paused = state is RunState.PAUSED
        chats = tuple(self.chat(r, media, paused=paused) for r in runs)
        done = sum(c.messages_done for c in chats)
        expected = sum(c.messages_expected for c in chats)
        written = sum(c.bytes_done for c in chats)
        # While paused nothing moves: no rates, no ETA, and the pause does not drag the smoothed rates down.
        active = state.is_active and not paused
        if active:
            self._total_meter.update(done)
            self._bytes_meter.update(written)
        elif paused:
            self._total_meter.hold()
            self._bytes_meter.hold()
        errors = run_errors + tuple(r.error for r in runs if r.error)
        return EngineSnapshot(
            t=time.monotonic() - self._origin,
            state=state,
            chats=chats,
            messages_done=done,
            messages_expected=expected,
            msgs_per_s=self._total_meter.smoothed if active else 0.0,
            msgs_per_s_instant=self._total_meter.instant if active else 0.0,
            bytes_per_s=self._bytes_meter.smoothed if active else 0.0,
            bytes_per_s_instant=self._bytes_meter.instant if active else 0.0,
            eta_s=run_eta(self._total_meter.eta(expected - done), chats) if active else None,
            requests_in_flight=limit.in_flight if limit is not None else 0,
            concurrency_limit=limit.limit if limit is not None else 0,
            flood_waits=flood_waits,
            pools=tuple(pools),
            media=media.stats() if media is not None else MediaStats(workers=media_workers),
            throttle=throttle,
            events=events,
            takeout=takeout,
            disk_type=disk_type,
            media_workers_auto=media_workers_auto,
            errors=errors,
        )


def run_eta(total_eta: float | None, chats: Sequence[ChatProgress]) -> float | None:
    """The run's ETA from its total rate, but never before its slowest running chat can finish."""
    slowest = max((c.eta_s for c in chats if c.eta_s is not None), default=None)
    if total_eta is None or slowest is None:
        return total_eta if slowest is None else slowest
    return max(total_eta, slowest)

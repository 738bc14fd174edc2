"""Deterministic engine snapshots and dialogs for the UI tests: what a mid-export engine really publishes."""

from __future__ import annotations

from tobs_tui.engine.snapshot import (
    ChatKind,
    ChatProgress,
    ChatState,
    DialogInfo,
    EngineEvent,
    EngineSnapshot,
    EventKind,
    LatencySample,
    MediaStats,
    PoolStats,
    RunState,
    ThrottleStats,
    TopicInfo,
)

WALL0 = 1_764_000_000.0  # a fixed wall clock so event times render the same everywhere


def dialogs(n: int = 40) -> list[DialogInfo]:
    kinds = [ChatKind.USER, ChatKind.GROUP, ChatKind.SUPERGROUP, ChatKind.CHANNEL, ChatKind.BOT, ChatKind.FORUM]
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        out.append(
            DialogInfo(
                chat_id=1000 + i,
                kind=kind,
                title=f"{['Alice', 'Rust Learners', 'Photo Club', 'Daily News', 'WeatherBot', 'Makers Forum'][i % 6]} {i}",
                username=f"handle{i}" if i % 3 else None,
                top_message_id=(i * 7919) % 50_000 + 10,
                unread=i % 5,
                is_forum=kind is ChatKind.FORUM,
                last_exported_id=None if i % 4 == 0 else ((i * 7919) % 50_000 + 10) - (i % 3) * 25,
            )
        )
    return out


def topics(chat_id: int) -> list[TopicInfo]:
    return [TopicInfo(topic_id=chat_id * 10 + k, title=f"Topic {k}", top_message_id=100 + k) for k in range(3)]


def events(t: float) -> tuple[EngineEvent, ...]:
    out = [
        EngineEvent(2.0, WALL0 + 2.0, EventKind.CHAT_STARTED, "Exporting Rust Learners 1.", chat_id=1001),
        EngineEvent(9.0, WALL0 + 9.0, EventKind.THROTTLE_START, "Requests are 3.4x slower than usual: easing off."),
        EngineEvent(
            11.0, WALL0 + 11.0, EventKind.FLOOD_WAIT, "Telegram asked to wait 7 s; waiting 11 s.", seconds=11.0
        ),
        EngineEvent(16.0, WALL0 + 16.0, EventKind.THROTTLE_END, "Latency is back to normal."),
        EngineEvent(18.0, WALL0 + 18.0, EventKind.CHAT_DONE, "Alice 0 done: 310 messages.", chat_id=1000),
    ]
    return tuple(e for e in out if e.t <= t)


def latency(t: float) -> tuple[LatencySample, ...]:
    samples = []
    for k in range(int(t * 5)):
        x = k / 5
        ms = 42.0 + (k * 37 % 11)
        if 8.0 <= x <= 16.0:
            ms *= 4.2
        samples.append(LatencySample(x, ms, "messages.getHistory"))
    return tuple(samples[-100:])


def snapshot(
    t: float = 20.0, state: RunState = RunState.RUNNING, *, media_workers: int = 8, critical: int = 4, standard: int = 2
) -> EngineSnapshot:
    frac = min(1.0, t / 60.0)
    chats = (
        ChatProgress(1000, "Alice 0", None, ChatState.DONE, 310, 310, 2_400_000, 2_400_000, 0.0, 0.0, 0.0),
        ChatProgress(
            1001,
            "Rust Learners 1",
            None,
            ChatState.RUNNING,
            int(12_000 * frac),
            12_000,
            int(40e6 * frac),
            40_000_000,
            240.5,
            1_250_000.0,
            (1 - frac) * 50,
        ),
        ChatProgress(1005, "Makers Forum 5", 10051, ChatState.QUEUED, 0, 800, 0, 0, 0.0, 0.0, None),
    )
    done = sum(c.messages_done for c in chats)
    expected = sum(c.messages_expected for c in chats)
    return EngineSnapshot(
        t=t,
        state=state,
        chats=chats,
        messages_done=done,
        messages_expected=expected,
        msgs_per_s=240.5,
        msgs_per_s_instant=251.0,
        bytes_per_s=1_250_000.0,
        bytes_per_s_instant=1_300_000.0,
        eta_s=(expected - done) / 240.5,
        requests_in_flight=5,
        concurrency_limit=8,
        flood_waits=1,
        pools=(
            PoolStats("critical", critical, 3, 7, 1520, 0, 0.4, 3.1, 1.2),
            PoolStats("standard", standard, 1, 2, 311, 1, 1.5, 9.8, 4.4),
        ),
        media=MediaStats(
            workers=media_workers,
            files_done=42,
            files_failed=1,
            files_queued=9,
            files_in_flight=4,
            parts_in_flight=12,
            bytes_done=int(40e6 * frac),
            bytes_expected=42_400_000,
        ),
        throttle=ThrottleStats(
            avg_latency_ms=61.0,
            baseline_latency_ms=44.0,
            threshold_ms=132.0,
            is_throttled=False,
            sample_count=100,
            recent=latency(t),
            spans=((9.0, 16.0),) if t > 9 else (),
        ),
        events=events(t),
        disk_type="ssd",
        media_workers_auto=8,
    )

"""Immutable data that crosses from the engine thread to its readers (the TUI, headless progress).

Everything here is a frozen dataclass built by the engine from measured values; readers
never mutate it and never reach into engine objects directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class ChatKind(str, Enum):
    USER = "user"
    BOT = "bot"
    GROUP = "group"  # basic group
    SUPERGROUP = "supergroup"
    CHANNEL = "channel"  # broadcast channel
    FORUM = "forum"  # supergroup with topics


class RunState(str, Enum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLING = "cancelling"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_active(self) -> bool:
        """An export is under way: running, paused, or cancelling (its commits still landing)."""
        return self in (RunState.RUNNING, RunState.PAUSED, RunState.CANCELLING)


class ChatState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    PARKED = "parked"  # given up for now (e.g. a FloodWait of hours); a re-run continues it
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class TopicInfo:
    topic_id: int
    title: str
    top_message_id: int


@dataclass(frozen=True)
class DialogInfo:
    """One dialog as the chat-selection screen and `tobs-tui chats` show it."""

    chat_id: int  # marked peer id (Telethon `utils.get_peer_id`)
    kind: ChatKind
    title: str
    username: str | None
    top_message_id: int  # newest message id: the message estimate for a first export
    unread: int
    is_forum: bool = False
    last_exported_id: int | None = None  # from the state DB; None = never exported
    message_count: int | None = None  # counted on request (`EngineRunner.message_counts`) where ids cannot tell
    # A user's first name as Telegram has it ("" for none, as a deleted account's), which Telegram Desktop's
    # result.json names a private chat by; None for a group or channel.
    first_name: str | None = None
    is_self: bool = False  # the account's own chat: Saved Messages

    @property
    def ids_per_chat(self) -> bool:
        """Channels and supergroups number their messages per chat; private chats and basic groups share one
        id sequence per account."""
        return self.kind in (ChatKind.CHANNEL, ChatKind.SUPERGROUP, ChatKind.FORUM)

    @property
    def message_estimate(self) -> int | None:
        """Messages in the chat, from its newest id: channels and supergroups number their messages per chat,
        but private chats and basic groups share one id sequence per account, so there it is the count asked
        for separately, or unknown (None) until then."""
        return self.top_message_id if self.ids_per_chat else self.message_count

    @property
    def new_since_export(self) -> int | None:
        """Messages newer than the last export: a count where ids are per chat, an upper bound where the
        account shares one id sequence (private chats, basic groups); 0 means up to date either way."""
        if self.last_exported_id is None:
            return None
        return max(0, self.top_message_id - self.last_exported_id)


@dataclass(frozen=True)
class PoolStats:
    name: str  # "critical", "standard", "media"
    workers: int
    busy: int
    queued: int
    completed: int
    failed: int
    wait_p50_ms: float
    wait_p95_ms: float
    mean_run_ms: float


@dataclass(frozen=True)
class LatencySample:
    t: float  # seconds since the engine started (monotonic)
    ms: float
    method: str


@dataclass(frozen=True)
class ThrottleStats:
    avg_latency_ms: float
    baseline_latency_ms: float
    threshold_ms: float  # the throttle threshold (3 x baseline)
    is_throttled: bool
    sample_count: int
    recent: tuple[LatencySample, ...] = ()
    spans: tuple[tuple[float, float | None], ...] = ()  # throttled (start, end or None if ongoing)


class EventKind(str, Enum):
    THROTTLE_START = "throttle_start"
    THROTTLE_END = "throttle_end"
    FLOOD_WAIT = "flood_wait"
    TAKEOUT_PENDING = "takeout_pending"
    TAKEOUT_REFUSED = "takeout_refused"
    CHAT_STARTED = "chat_started"
    CHAT_DONE = "chat_done"
    CHAT_PARKED = "chat_parked"
    ERROR = "error"
    INFO = "info"
    VAULT = "vault"  # what the engine found changed in the vault and kept or repaired


@dataclass(frozen=True)
class EngineEvent:
    t: float  # seconds since the engine started (monotonic)
    wall: float  # time.time() when it happened
    kind: EventKind
    message: str  # one clear sentence for the user
    seconds: float | None = None  # FloodWait: the wait we chose
    chat_id: int | None = None


@dataclass(frozen=True)
class ChatProgress:
    chat_id: int
    title: str
    topic_id: int | None
    state: ChatState
    messages_done: int
    messages_expected: int
    bytes_done: int
    bytes_expected: int
    msgs_per_s: float
    bytes_per_s: float
    eta_s: float | None
    error: str | None = None


@dataclass(frozen=True)
class MediaFileProgress:
    """One file being downloaded right now."""

    chat_id: int
    msg_id: int
    name: str
    bytes_done: int
    bytes_expected: int | None
    parts_in_flight: int


@dataclass(frozen=True)
class DcParts:
    """Media parts per data center this run: the account's own DC, or one a file lives on."""

    dc: int
    in_flight: int
    done: int
    bytes: int


@dataclass(frozen=True)
class MediaStats:
    workers: int
    files_done: int = 0
    files_failed: int = 0
    files_skipped: int = 0
    files_queued: int = 0
    files_in_flight: int = 0
    parts_in_flight: int = 0
    bytes_done: int = 0
    bytes_expected: int = 0
    bytes_per_s: float = 0.0  # smoothed download rate (bytes fetched this run)
    files_deduped: int = 0  # stored once, linked again
    parts_cap: int = 0  # the global cap on parts in flight
    files: tuple[MediaFileProgress, ...] = ()
    by_dc: tuple[DcParts, ...] = ()  # ordered by DC id


@dataclass(frozen=True)
class EngineSnapshot:
    t: float  # seconds since the engine started
    state: RunState
    chats: tuple[ChatProgress, ...]
    messages_done: int
    messages_expected: int
    msgs_per_s: float  # smoothed
    msgs_per_s_instant: float
    bytes_per_s: float  # smoothed
    bytes_per_s_instant: float
    eta_s: float | None
    requests_in_flight: int
    concurrency_limit: int
    flood_waits: int
    pools: tuple[PoolStats, ...]
    media: MediaStats
    throttle: ThrottleStats
    events: tuple[EngineEvent, ...] = ()  # the most recent events, oldest first
    takeout: str = "off"  # "off", "pending", "active", "refused", "ended" (by Telegram, during the run)
    disk_type: str = "unknown"  # "ssd", "hdd", "unknown" — for the settings panel
    media_workers_auto: int = 6
    errors: tuple[str, ...] = field(default_factory=tuple)

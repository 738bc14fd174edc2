"""The world's fixed facts and building blocks: its clock, id marks and data center, deterministic draws
from a seed, and the specs of users, forum topics and chats (a chat's messages follow from its spec)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# The world's "now" (2026-01-01 UTC): fixed so the same seed gives the same dates on every run.
WORLD_NOW = 1_767_225_600
CHANNEL_MARK = 1_000_000_000_000
SELF_USER_ID = 100
DC_ID = 2
_MASK63 = (1 << 63) - 1


# Media kind codes live in the low 4 bits of every media id, so a file's size and mime type follow from its
# id alone (upload.getFile only carries the id).


def mix(*parts: int) -> int:
    """A fast 63-bit hash of small ints (splitmix64 rounds), the root of all determinism here."""
    h = 0x9E3779B97F4A7C15
    for p in parts:
        h = (h ^ (p & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h = (h ^ (h >> 31)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 29
    return h & _MASK63


class Draws:
    """A tiny seeded stream (64-bit LCG, high bits) for per-message choices.

    random.Random costs several microseconds just to seed, more than building a message; this costs nothing.
    """

    __slots__ = ("_state",)

    def __init__(self, seed: int):
        self._state = seed & 0xFFFFFFFFFFFFFFFF

    def _next(self) -> int:
        self._state = (self._state * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        return self._state >> 11

    def random(self) -> float:
        return self._next() / 9007199254740992.0

    def randrange(self, n: int) -> int:
        return self._next() % n

    def randint(self, a: int, b: int) -> int:
        return a + self._next() % (b - a + 1)

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.random()

    def choice(self, seq: Sequence[Any]) -> Any:
        return seq[self._next() % len(seq)]

    def sample(self, seq: Sequence[Any], k: int) -> list[Any]:
        pool = list(seq)
        for i in range(k):
            j = i + self._next() % (len(pool) - i)
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:k]


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram counts entity offsets in."""
    return len(text.encode("utf-16-le")) // 2


def as_datetime(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def timestamp_of(value: Any) -> int:
    """Seconds since the epoch of a request date; Telethon's 0 arrives as 1970 and means 'not set'."""
    if value is None:
        return 0
    if isinstance(value, datetime):
        return int(value.timestamp())
    return int(value)


@dataclass
class UserSpec:
    """One user of the world (mutable only while the world is being built)."""

    id: int
    first_name: str
    last_name: str = ""
    username: str | None = None
    phone: str | None = None
    deleted: bool = False
    bot: bool = False


@dataclass
class TopicSpec:
    """A forum topic: its id is the id of the service message that created it."""

    id: int
    title: str
    icon_color: int


@dataclass
class ChatSpec:
    """A dialog's header; its messages are generated from (seed, raw_id, message id)."""

    peer_id: int
    raw_id: int
    kind: str  # private | group | supergroup | channel | forum
    title: str
    count: int
    media: float
    members: tuple[int, ...]
    first_date: int
    step: float
    username: str | None = None
    signatures: bool = False
    hostile: bool = False
    topics: list[TopicSpec] = field(default_factory=list)
    deleted: bool = False
    # Ids of messages deleted from the history since the world was built (World.delete_messages): history,
    # threads and getMessages leave them out, as Telegram does; the rest of the chat stays as it was.
    gone: set[int] = field(default_factory=set)
    # Ids of messages withheld from this account (World.withhold_messages), as Telegram withholds messages
    # restricted in the user's country: they keep their place in a history page's window but are cut from the
    # reply, so the page comes back shorter than asked for in the middle of the history.
    withheld: set[int] = field(default_factory=set)
    # Private chats and basic groups share one message id sequence per account, as on Telegram: their k-th
    # message has id k * stride + slot. Channels count their own ids (stride 1, slot 0).
    stride: int = 1
    slot: int = 0

    @property
    def is_channel(self) -> bool:
        return self.kind in ("supergroup", "channel", "forum")

    def msg_id(self, k: int) -> int:
        """The message id of the k-th message (1-based)."""
        return k * self.stride + self.slot

    def local(self, msg_id: int) -> int | None:
        """The k of a message id, or None if the id is not one of this chat's messages."""
        k, rest = divmod(msg_id - self.slot, self.stride)
        return k if rest == 0 and 1 <= k <= self.count and msg_id not in self.gone else None

    def ids(self) -> Sequence[int]:
        """All message ids, ascending."""
        every = range(self.msg_id(1), self.msg_id(self.count) + 1, self.stride)
        return [i for i in every if i not in self.gone] if self.gone else every

    @property
    def top_id(self) -> int:
        k = self.count
        while k > 1 and self.msg_id(k) in self.gone:
            k -= 1
        return self.msg_id(k)

    def date_of(self, k: int) -> int:
        """Unix date of the k-th message: increasing with k over the chat's span."""
        return self.first_date + int((k - 1) * self.step)

    def date_of_id(self, msg_id: int) -> int:
        return self.date_of((msg_id - self.slot) // self.stride)


KINDS = ("private", "group", "supergroup", "channel", "forum")

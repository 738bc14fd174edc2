"""The emulator's synthetic Telegram world: users, chats, topics and messages generated on demand from a seed.

Nothing per message is stored: a message is a pure function of (seed, chat, id), so a chat of a million
messages costs no memory. Only small things (users, chat headers, topic id lists, TL peers) are cached.
"""

from __future__ import annotations

import json
import random
import tomllib
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from telethon.tl import types

from .media import MediaFile, media_key

# The world's "now" (2026-01-01 UTC): fixed so the same seed gives the same dates on every run.
WORLD_NOW = 1_767_225_600
CHANNEL_MARK = 1_000_000_000_000
SELF_USER_ID = 100
DC_ID = 2
_MASK63 = (1 << 63) - 1

DEMO_PHONE = "+15550100"
DEMO_CODE = "12345"
TWOFA_PHONE = "+15550199"
TWOFA_PASSWORD = "tobs-demo-2fa"

# Media kind codes live in the low 4 bits of every media id, so a file's size and mime type follow from its
# id alone (upload.getFile only carries the id).
PHOTO, DOCUMENT, VIDEO, ROUND, VOICE, AUDIO, STICKER, ANIMATION = range(1, 9)
_KIND_SIZES = {  # (min, max) bytes, drawn log-uniformly
    PHOTO: (60_000, 3_000_000),
    DOCUMENT: (2_000, 30_000_000),
    VIDEO: (1_000_000, 40_000_000),
    ROUND: (200_000, 3_000_000),
    VOICE: (5_000, 400_000),
    AUDIO: (1_000_000, 9_000_000),
    STICKER: (10_000, 60_000),
    ANIMATION: (100_000, 3_000_000),
}
_KIND_MIME = {
    PHOTO: "image/jpeg",
    VIDEO: "video/mp4",
    ROUND: "video/mp4",
    VOICE: "audio/ogg",
    AUDIO: "audio/mpeg",
    STICKER: "image/webp",
    ANIMATION: "video/mp4",
}
# Photo sizes: type, edge in px, share of the full size (the full size 'y' comes last, as Telegram sends it).
_PHOTO_SIZES = (("s", 90, 0.01), ("m", 320, 0.06), ("x", 800, 0.3), ("y", 1280, 1.0))
_MEDIA_WEIGHTS = (
    (PHOTO, 34), (DOCUMENT, 14), (VIDEO, 10), (ROUND, 4), (VOICE, 8), (AUDIO, 6), (STICKER, 9),
    (ANIMATION, 7), (0, 8),  # 0: the world's shared document (the same file in many messages and chats)
)
_MEDIA_KINDS = [k for k, _ in _MEDIA_WEIGHTS]
_MEDIA_CUM = []
_acc = 0
for _, _w in _MEDIA_WEIGHTS:
    _acc += _w
    _MEDIA_CUM.append(_acc)
del _acc, _w

_DOC_NAMES = (
    ("report-{n}.pdf", "application/pdf"), ("archive-{n}.zip", "application/zip"),
    ("notes {n}.txt", "text/plain"), ("Quarterly Plan {n}.pdf", "application/pdf"),
    ("data_{n}.csv", "text/csv"), ("schéma-{n}.pdf", "application/pdf"),
)
HOSTILE_FILE_NAMES = (
    "../../etc/passwd",
    "CON.txt",
    "a/b\\c.txt",
    "nul\x00byte.txt",
    "evil\u202etxt.exe",
    "ctrl\x01\x07\x1b[31mred.txt",
    "x" * 296 + ".txt",
    "..",
    " leading and trailing .txt ",
    "<script>alert(1)</script>.html",
    "COM1",
    "тест файл 🎉.txt",
)
HOSTILE_TITLE = "Hostile / names .. ../ chat"

# Text building blocks: (text, entity kind or None). Offsets are computed in UTF-16 code units.
_PLAIN = (
    "Hello there", "ok 👍", "café crème", "e\u0301 combining", "שלום עולם", "مرحبا بالعالم",
    "# not a heading", "> not a quote", "- not a list", "1. not a list either", "[[not a wikilink]]",
    "a | b | c", "<b>not html</b>", "*stars* _under_ `tick`", "C:\\path\\file", "👨‍👩‍👧 family",
    "🇺🇦🇯🇵 flags", "see you at 10:30", "price: $5 & 10%", "line one\nline two", "#hashtag", "~~tilde~~",
)
_STYLED = (
    ("bold text", "bold"), ("italic ✨ words", "italic"), ("underlined", "underline"),
    ("struck out", "strike"), ("print('hi')", "code"), ("def f(x):\n    return x * 2", "pre"),
    ("the docs", "text_url"), ("https://example.org/page?q=1", "url"), ("@tobs_demo", "mention"),
    ("Alice", "mention_name"), ("hidden 🤫 spoiler", "spoiler"), ("a quoted line\nand another", "blockquote"),
    ("🔥", "custom_emoji"), ("𝔘𝔫𝔦𝔠𝔬𝔡𝔢 bold", "bold"),
)
_FIRST_NAMES = (
    "Alice", "Bob", "Chloé", "Dmitri", "Eitan", "Fatima", "György", "Hana", "Iñigo", "Jun", "Kwame",
    "Léa", "Mohammed", "Nadia", "Olek", "Priya", "Quinn", "Rafael", "Saanvi", "Tomás", "Uma", "Viktor",
)
_LAST_NAMES = ("Smith", "Müller", "Nakamura", "O'Brien", "Ivanova", "García", "", "Kowalski", "Dubois")
_TOPIC_TITLES = ("Announcements", "Off-topic 🎲", "Help & Support", "Releases", "Design", "Random")
_TEXT_VARIANTS = 2048
_REACTIONS = ("👍", "❤", "🔥", "😁", "🎉", "🤔")
_POLL = ("Where do we meet?", ("Office", "Café", "Online"))


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
    return datetime.fromtimestamp(ts, tz=timezone.utc)


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
        return k if rest == 0 and 1 <= k <= self.count else None

    def ids(self) -> range:
        """All message ids, ascending."""
        return range(self.msg_id(1), self.msg_id(self.count) + 1, self.stride)

    @property
    def top_id(self) -> int:
        return self.msg_id(self.count)

    def date_of(self, k: int) -> int:
        """Unix date of the k-th message: increasing with k over the chat's span."""
        return self.first_date + int((k - 1) * self.step)

    def date_of_id(self, msg_id: int) -> int:
        return self.date_of((msg_id - self.slot) // self.stride)


KINDS = ("private", "group", "supergroup", "channel", "forum")
class WorldFileError(ValueError):
    """A world file the user wrote is wrong; the message says what and how to fix it."""


_TOP_KEYS = {"seed", "max_file_size", "generated_users", "self", "users", "chats"}
_SELF_KEYS = {"first_name", "last_name", "username"}
_USER_KEYS = {"id", "first_name", "last_name", "username", "phone", "deleted", "bot"}
_CHAT_KEYS = {"kind", "title", "user", "messages", "media", "members", "username", "signatures", "topics",
              "span_days", "hostile", "repeat", "id"}


def _check_keys(section: Any, known: set[str], where: str) -> None:
    """A misspelt key would silently do nothing, so name it."""
    if not isinstance(section, dict):
        raise WorldFileError(f"In the world file, {where} must be a table of keys; see docs/WORLD.md.")
    unknown = sorted(set(section) - known)
    if unknown:
        raise WorldFileError(f"Unknown key {unknown[0]!r} in {where} of the world file; known keys: "
                         f"{', '.join(sorted(known))}.")


class World:
    """A deterministic Telegram world; see docs/WORLD.md for the file format and the demo credentials."""

    demo_phone = DEMO_PHONE
    demo_code = DEMO_CODE
    twofa_phone = TWOFA_PHONE
    twofa_password = TWOFA_PASSWORD

    def __init__(self, data: dict[str, Any]):
        self.seed = int(data.get("seed", 1))
        self.max_file_size = int(data.get("max_file_size", 40 * 1024 * 1024))
        self.self_user_id = SELF_USER_ID
        self._file_reference_epoch = 0
        self._own_expiries: dict[int, int] = {}   # media id -> times its own reference expired
        self.users: dict[int, UserSpec] = {}
        self.chats: dict[int, ChatSpec] = {}
        self._by_username: dict[str, int] = {}
        self._tl_users: dict[int, types.User] = {}
        self._tl_chats: dict[int, Any] = {}
        self._peers: dict[int, Any] = {}
        self._topic_ids: dict[tuple[int, int, int], list[int]] = {}
        self._sha256: dict[int, str] = {}
        self._texts: dict[int, tuple[str, list[Any] | None]] = {}
        self._order: tuple[list[int], list[tuple[int, int, int]]] | None = None
        self._build(data)

    # ----------------------------------------------------------------- construction
    @classmethod
    def synthetic(cls, seed: int = 1, *, scale: str = "demo") -> World:
        """A ready-made world: "test" (small, fast), "demo" (~40 dialogs) or "big" (adds 1,000,000 messages)."""
        if scale not in ("test", "demo", "big"):
            raise ValueError(f"Unknown world scale {scale!r}; use 'test', 'demo' or 'big'.")
        return cls(_synthetic_data(seed, scale))

    @classmethod
    def load(cls, path: str | Path) -> World:
        """Load a world file (.toml or .json), documented in docs/WORLD.md."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise WorldFileError(f"Cannot read the world file {path}: {exc.strerror}; check the path.") from exc
        try:
            data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            raise WorldFileError(f"The world file {path} is not valid {path.suffix[1:].upper()}: {exc}.") from exc
        return cls(data)

    def _build(self, data: dict[str, Any]) -> None:
        _check_keys(data, _TOP_KEYS, "the world file")
        _check_keys(data.get("self", {}), _SELF_KEYS, "[self]")
        for raw in data.get("users", []):
            _check_keys(raw, _USER_KEYS, f"user {raw.get('id', '?')}")
        for raw in data.get("chats", []):
            _check_keys(raw, _CHAT_KEYS, f"chat {raw.get('title', raw.get('kind', '?'))!r}")
        try:
            self._build_checked(data)
        except WorldFileError:
            raise
        except (TypeError, ValueError, AttributeError) as exc:
            raise WorldFileError(f"The world file has a value of the wrong type ({exc}); see docs/WORLD.md.") from exc

    def _build_checked(self, data: dict[str, Any]) -> None:
        me = dict(data.get("self", {}))
        self.users[SELF_USER_ID] = UserSpec(
            SELF_USER_ID, me.get("first_name", "Demo"), me.get("last_name", "User"),
            me.get("username", "tobs_demo"), DEMO_PHONE.lstrip("+"))
        next_id = 1000
        for i in range(int(data.get("generated_users", 0))):
            rng = random.Random(mix(self.seed, 11, i))
            first = _FIRST_NAMES[i % len(_FIRST_NAMES)]
            last = rng.choice(_LAST_NAMES)
            username = f"{first.lower()}_{i}".encode("ascii", "ignore").decode() if i % 3 != 1 else None
            spec = UserSpec(next_id, first, last, username, deleted=(i % 17 == 5), bot=(i % 13 == 7))
            if spec.deleted:
                spec.first_name, spec.last_name, spec.username = "", "", None
            if spec.bot:
                spec.username = f"{first.lower()}_{i}_bot".encode("ascii", "ignore").decode()
            self.users[next_id] = spec
            next_id += 1
        for raw in data.get("users", []):
            uid = int(raw.get("id", next_id))
            next_id = max(next_id, uid) + 1
            if uid in self.users:
                raise WorldFileError(f"User id {uid} appears twice in the world file; give each user its own id.")
            self.users[uid] = UserSpec(
                uid, raw.get("first_name", ""), raw.get("last_name", ""), raw.get("username"),
                raw.get("phone"), bool(raw.get("deleted", False)), bool(raw.get("bot", False)))
        others = [u for u in self.users if u != SELF_USER_ID]
        for u in self.users.values():
            if u.username:
                self._by_username[u.username.lower()] = u.id
        next_group, next_channel = 2000, 1_100_000_000
        rank = 0
        for raw in data.get("chats", []):
            repeat = int(raw.get("repeat", 1))
            for copy in range(repeat):
                kind = raw.get("kind", "supergroup")
                if kind not in KINDS:
                    raise WorldFileError(
                        f"Unknown chat kind {kind!r} in the world file; use one of {', '.join(KINDS)}.")
                count = max(1, int(raw.get("messages", 100)))
                title = raw.get("title", f"{kind.title()} {rank}")
                if repeat > 1:
                    title = f"{title} #{copy + 1}"
                if kind == "private":
                    uid = raw.get("user")
                    if uid is None:
                        if not others:
                            raise WorldFileError("A private chat needs a user; add [[users]] or generated_users.")
                        uid = others[(rank + copy) % len(others)]
                    uid = int(uid)
                    if uid not in self.users:
                        raise WorldFileError(f"Private chat with unknown user {uid}; list that user under [[users]].")
                    if uid in self.chats:
                        continue  # one private chat per user, as on Telegram
                    peer_id, raw_id = uid, uid
                    u = self.users[uid]
                    title = " ".join(p for p in (u.first_name, u.last_name) if p) or "Deleted Account"
                    members: tuple[int, ...] = (SELF_USER_ID, uid)
                elif kind == "group":
                    raw_id = int(raw.get("id", next_group))
                    next_group = max(next_group, raw_id) + 1
                    peer_id = -raw_id
                else:
                    raw_id = int(raw.get("id", next_channel))
                    next_channel = max(next_channel, raw_id) + 1
                    peer_id = -(CHANNEL_MARK + raw_id)
                if kind != "private":
                    if "members" in raw:
                        members = tuple(int(m) for m in raw["members"])
                        unknown = [m for m in members if m not in self.users]
                        if unknown:
                            raise WorldFileError(
                                f"Chat {title!r} lists unknown members {unknown}; add them to [[users]].")
                    else:
                        rng = random.Random(mix(self.seed, 12, raw_id))
                        pool = others  # deleted accounts keep their old messages, as on Telegram
                        members = tuple(rng.sample(pool, min(len(pool), rng.randint(3, 12))))
                    members = (SELF_USER_ID,) + tuple(m for m in members if m != SELF_USER_ID)
                if peer_id in self.chats:
                    raise WorldFileError(
                        f"Chat id {raw_id} appears twice in the world file; give each chat its own id.")
                span_days = float(raw.get("span_days", min(3 * 365, max(60, count * 600 / 86400))))
                last_date = WORLD_NOW - rank * 7 * 3600 - (raw_id % 3600)
                step = span_days * 86400 / max(count - 1, 1)
                spec = ChatSpec(
                    peer_id=peer_id, raw_id=raw_id, kind=kind, title=title, count=count,
                    media=float(raw.get("media", 0.2)), members=members,
                    first_date=int(last_date - step * (count - 1)), step=step,
                    username=raw.get("username") if repeat == 1 else None,
                    signatures=bool(raw.get("signatures", kind == "channel")),
                    hostile=bool(raw.get("hostile", False)))
                if kind == "forum":
                    titles = raw.get("topics", list(_TOPIC_TITLES[:4]))
                    gap = max(1, count // (2 * (len(titles) + 1)))
                    for k, topic_title in enumerate(titles):
                        tid = 2 + k * gap
                        if tid > count:
                            raise WorldFileError(
                                f"Forum {title!r} has too few messages for {len(titles)} topics; raise 'messages'.")
                        spec.topics.append(TopicSpec(tid, topic_title, (0x6FB9F0, 0xFFD67E, 0xCB86DB, 0x8EEE98)[k % 4]))
                if spec.username:
                    self._by_username[spec.username.lower()] = peer_id
                self.chats[peer_id] = spec
                rank += 1
        private = [c for c in self.chats.values() if not c.is_channel]
        for slot, spec in enumerate(private):
            spec.stride, spec.slot = max(len(private), 1), slot
            if spec.msg_id(spec.count) >= 2**31 // 2:
                raise WorldFileError(
                    f"Private chats and basic groups share one id space; {len(private)} of them with "
                    f"{spec.count} messages in {spec.title!r} do not fit. Use fewer chats or messages.")
        self.chat_by_slot = private
        shared = mix(self.seed, 13) & ~0xF
        self.shared_document_id = shared | DOCUMENT

    # ----------------------------------------------------------------- the contract others call
    def chat_ids(self) -> list[int]:
        """Marked peer ids of the live dialogs, newest top message first (Telegram's dialog order)."""
        return list(self._dialog_order()[0])

    @staticmethod
    def dialog_key(spec: ChatSpec) -> tuple[int, int, int]:
        """What dialogs are ordered by (descending): top message date, top message id, peer."""
        return spec.date_of(spec.count), spec.top_id, spec.peer_id

    def _dialog_order(self) -> tuple[list[int], list[tuple[int, int, int]]]:
        """Dialog order and the negated keys (ascending, for bisect); rebuilt only when the world changes."""
        # Tests change the world from their own thread while the server reads it: work on a local copy.
        order = self._order
        if order is None:
            live = [c for c in self.chats.values() if not c.deleted]
            live.sort(key=self.dialog_key, reverse=True)
            keys = [self.dialog_key(c) for c in live]
            order = ([c.peer_id for c in live], [(-d, -t, -p) for d, t, p in keys])
            self._order = order
        return order

    def dialogs_after(self, key: tuple[int, int, int] | None) -> list[int]:
        """Dialog order from the first dialog strictly older than ``key`` (all of it for None)."""
        order, negated = self._dialog_order()
        if key is None:
            return order
        return order[bisect_right(negated, (-key[0], -key[1], -key[2])):]

    def message_count(self, peer_id: int) -> int:
        return self.chat(peer_id).count

    def add_messages(self, peer_id: int, n: int) -> None:
        """Append ``n`` new messages (later dates, higher ids) to a chat; the dialog moves up accordingly."""
        spec = self.chat(peer_id)
        spec.count += n
        self._order = None

    def delete_chat(self, peer_id: int) -> None:
        """Make a chat vanish: it leaves the dialog list and requests for it fail as Telegram's would."""
        self.chat(peer_id).deleted = True
        self._order = None

    def expire_file_references(self) -> None:
        """Make every file_reference handed out so far stale (upload.getFile answers FILE_REFERENCE_EXPIRED)."""
        self._file_reference_epoch += 1

    def expire_file_reference(self, media_id: int) -> None:
        """Make one file's reference stale; the message fetched again carries a new one."""
        self._own_expiries[media_id] = self._own_expiries.get(media_id, 0) + 1

    def chat(self, peer_id: int) -> ChatSpec:
        try:
            return self.chats[peer_id]
        except KeyError:
            raise KeyError(f"No chat with peer id {peer_id} in this world") from None

    def peer_by_username(self, username: str) -> int | None:
        return self._by_username.get(username.lower().lstrip("@"))

    # ----------------------------------------------------------------- media
    def media_file(self, media_id: int, variant: str = "") -> MediaFile:
        """The byte stream of a document, or of one photo size (``variant`` is its type)."""
        kind = media_id & 0xF
        if kind not in _KIND_SIZES:
            raise KeyError(f"{media_id} is not a media id of this world")
        lo, hi = _KIND_SIZES[kind]
        hi = max(lo, min(hi, self.max_file_size))
        rng = random.Random(mix(self.seed, 21, media_id))
        full = int(lo * (hi / lo) ** rng.random())
        if kind == PHOTO:
            share = {t: s for t, _, s in _PHOTO_SIZES}.get(variant or "y")
            if share is None:
                raise KeyError(f"Photo {media_id} has no size {variant!r}")
            size = max(600, int(full * share)) if share < 1 else full
            return MediaFile(media_key(self.seed, media_id, variant or "y"), size, "image/jpeg")
        if variant:
            raise KeyError(f"Document {media_id} has no thumbnail {variant!r}")
        mime = _KIND_MIME.get(kind) or _DOC_NAMES[mix(media_id, 1) % len(_DOC_NAMES)][1]
        return MediaFile(media_key(self.seed, media_id), full, mime)

    def file_size(self, media_id: int) -> int:
        """Size of the full file (the largest size, for a photo)."""
        return self.media_file(media_id).size

    def sha256_of_media(self, media_id: int) -> str:
        """Hex sha256 of the full file (the largest size, for a photo): what a byte-exact download must give."""
        if media_id not in self._sha256:
            self._sha256[media_id] = self.media_file(media_id).sha256()
        return self._sha256[media_id]

    def access_hash(self, ident: int) -> int:
        return mix(self.seed, 31, ident)

    def file_reference(self, media_id: int) -> bytes:
        own = self._own_expiries.get(media_id)
        parts = (self.seed, 32, media_id, self._file_reference_epoch) + ((own,) if own else ())
        return mix(*parts).to_bytes(8, "big") + b"tobsref"

    # ----------------------------------------------------------------- TL objects (memoised)
    def peer(self, peer_id: int) -> Any:
        p = self._peers.get(peer_id)
        if p is None:
            if peer_id > 0:
                p = types.PeerUser(peer_id)
            elif peer_id > -CHANNEL_MARK:
                p = types.PeerChat(-peer_id)
            else:
                p = types.PeerChannel(-peer_id - CHANNEL_MARK)
            self._peers[peer_id] = p
        return p

    def tl_user(self, user_id: int) -> types.User:
        u = self._tl_users.get(user_id)
        if u is None:
            s = self.users[user_id]
            if s.deleted:
                u = types.User(user_id, deleted=True, access_hash=self.access_hash(user_id))
            else:
                u = types.User(
                    user_id, is_self=user_id == SELF_USER_ID, bot=s.bot or None,
                    access_hash=self.access_hash(user_id), first_name=s.first_name,
                    last_name=s.last_name or None, username=s.username, phone=s.phone,
                    status=None if s.bot else types.UserStatusRecently(),
                    bot_info_version=1 if s.bot else None)
            self._tl_users[user_id] = u
        return u

    def tl_chat(self, peer_id: int) -> Any:
        c = self._tl_chats.get(peer_id)
        if c is None:
            s = self.chats[peer_id]
            date = as_datetime(s.first_date)
            if s.kind == "group":
                c = types.Chat(s.raw_id, s.title, types.ChatPhotoEmpty(), len(s.members), date, 1)
            else:
                c = types.Channel(
                    s.raw_id, s.title, types.ChatPhotoEmpty(), date,
                    broadcast=s.kind == "channel" or None, megagroup=s.kind != "channel" or None,
                    forum=s.kind == "forum" or None, signatures=s.signatures or None,
                    access_hash=self.access_hash(s.raw_id), username=s.username,
                    participants_count=len(s.members))
            self._tl_chats[peer_id] = c
        return c

    def entities_for(self, peer_ids: Sequence[int], user_ids: set[int]) -> tuple[list[Any], list[types.User]]:
        """The chats and users lists a result carries so Telethon can resolve every peer it mentions."""
        chats = []
        for pid in dict.fromkeys(peer_ids):
            if pid > 0:
                user_ids.add(pid)
            else:
                chats.append(self.tl_chat(pid))
        return chats, [self.tl_user(u) for u in sorted(user_ids) if u in self.users]

    # ----------------------------------------------------------------- paging
    def topic_of(self, spec: ChatSpec, msg_id: int) -> int:
        """The forum topic a message belongs to (1 = General); cheap, used to filter without building messages."""
        for t in spec.topics:
            if t.id == msg_id:
                return msg_id
        eligible = [t.id for t in spec.topics if t.id < msg_id]
        h = mix(self.seed, 41, spec.raw_id, msg_id)
        if not eligible or h % 4 == 0:
            return 1
        return eligible[(h >> 3) % len(eligible)]

    def topic_message_ids(self, spec: ChatSpec, topic_id: int) -> Sequence[int]:
        """Ascending ids of one topic's messages (cached per chat size, a few ints per message at most)."""
        key = (spec.peer_id, topic_id, spec.count)
        ids = self._topic_ids.get(key)
        if ids is None:
            ids = [m for m in range(1, spec.count + 1) if self.topic_of(spec, m) == topic_id]
            self._topic_ids = {k: v for k, v in self._topic_ids.items() if k[:2] != key[:2]}
            self._topic_ids[key] = ids
        return ids

    def replies_ids(self, spec: ChatSpec, msg_id: int) -> Sequence[int]:
        """Ascending ids of a thread: a forum topic, or the replies to one message (replies reach back <= 50)."""
        if spec.kind == "forum" and (msg_id == 1 or any(t.id == msg_id for t in spec.topics)):
            return self.topic_message_ids(spec, msg_id)
        k = spec.local(msg_id)
        if k is None:
            return []
        end = min(spec.count, k + 50)
        return [spec.msg_id(m) for m in range(k + 1, end + 1) if self._reply_target(spec, m) == k]

    @staticmethod
    def window(asc: Sequence[int], date_of, *, offset_id: int, offset_date: Any, add_offset: int,
               limit: int, max_id: int, min_id: int) -> list[int]:
        """Telegram's history window over ascending ids, returned newest first.

        max_id/min_id are exclusive and applied first; offset_id wins over offset_date; the window is
        ``desc[max(i + add_offset, 0) : max(i + add_offset + limit, 0)]`` where i is the offset's position.
        """
        limit = 100 if limit <= 0 else min(limit, 100)
        lo = bisect_left(asc, min_id + 1) if min_id > 0 else 0
        hi = bisect_left(asc, max_id) if max_id > 0 else len(asc)
        if hi <= lo:
            return []
        date = timestamp_of(offset_date)
        if offset_id > 0:
            start = bisect_left(asc, offset_id)
        elif date > 0:
            start = bisect_left(asc, date, key=date_of)
        else:
            start = hi
        position = hi - max(lo, min(start, hi))
        a = max(position + add_offset, 0)
        b = min(max(position + add_offset + limit, 0), hi - lo)
        return [asc[hi - 1 - j] for j in range(a, b)]

    # ----------------------------------------------------------------- messages
    def _reply_target(self, spec: ChatSpec, msg_id: int) -> int | None:
        if msg_id <= 2:
            return None
        h = mix(self.seed, 51, spec.raw_id, msg_id)
        if h % 10 != 0:
            return None
        target = msg_id - 1 - (h >> 8) % min(50, msg_id - 2)
        if spec.kind == "forum":
            topic = self.topic_of(spec, msg_id)
            if topic == msg_id or self.topic_of(spec, target) != topic:
                return None
        return target

    def messages(self, spec: ChatSpec, ids: Sequence[int]) -> tuple[list[Any], set[int]]:
        """Build the messages with these ids (ids past the end give MessageEmpty) and the users they mention."""
        users: set[int] = set()
        out = []
        for mid in ids:
            k = spec.local(mid)
            if k is not None:
                out.append(self._message(spec, k, users))
            else:
                out.append(types.MessageEmpty(mid, peer_id=self.peer(spec.peer_id)))
        return out, users

    def _message(self, spec: ChatSpec, mid: int, users: set[int]) -> Any:
        """The ``mid``-th message of a chat (its TL id is spec.msg_id(mid))."""
        gid = spec.msg_id
        rng = Draws(mix(self.seed, 61, spec.raw_id, mid))
        peer = self.peer(spec.peer_id)
        date = spec.date_of(mid)
        broadcast = spec.kind == "channel"
        sender = None if broadcast else spec.members[rng.randrange(len(spec.members))]
        out = sender == SELF_USER_ID
        from_id = None if sender is None else self.peer(sender)
        if sender is not None:
            users.add(sender)

        # Service messages: chat creation at id 1, forum topics at their ids, an occasional pin or join.
        action = None
        reply_to = None
        if mid == 1 and spec.kind != "private":
            if spec.kind == "group":
                action = types.MessageActionChatCreate(spec.title, list(spec.members))
                users.update(spec.members)
            else:
                action = types.MessageActionChannelCreate(spec.title)
        elif spec.kind == "forum" and any(t.id == mid for t in spec.topics):
            t = next(t for t in spec.topics if t.id == mid)
            action = types.MessageActionTopicCreate(t.title, t.icon_color)
        elif mid > 2 and rng.random() < 0.012:
            if spec.kind in ("group", "supergroup") and rng.random() < 0.5:
                added = spec.members[rng.randrange(len(spec.members))]
                users.add(added)
                action = types.MessageActionChatAddUser([added])
            else:
                action = types.MessageActionPinMessage()
                reply_to = types.MessageReplyHeader(reply_to_msg_id=gid(mid - 1 - rng.randrange(min(mid - 1, 20))))
        topic = self.topic_of(spec, mid) if spec.kind == "forum" else 1
        if action is not None:
            if topic != 1 and topic != mid:
                # Inside a topic a pin points at the topic's own message, and every service message is threaded
                # into it (the topic in reply_to_msg_id, as for a plain message there).
                reply_to = types.MessageReplyHeader(forum_topic=True, reply_to_msg_id=topic)
            return types.MessageService(
                gid(mid), peer, as_datetime(date), action=action, out=out or None, from_id=from_id, reply_to=reply_to,
                post=broadcast or None)

        target = self._reply_target(spec, mid)
        if topic != 1:
            # As Telegram threads a topic: a plain message names the topic in reply_to_msg_id alone; a reply
            # names the message it answers there and the topic in reply_to_top_id.
            reply_to = types.MessageReplyHeader(
                forum_topic=True, reply_to_msg_id=target or topic, reply_to_top_id=topic if target else None)
        elif target is not None:
            reply_to = types.MessageReplyHeader(reply_to_msg_id=gid(target))

        text, entities = self._text(rng.randrange(_TEXT_VARIANTS))
        if entities and any(isinstance(e, types.MessageEntityMentionName) for e in entities):
            users.add(SELF_USER_ID)
        media = None
        if spec.hostile:
            media = self._document(spec, mid, DOCUMENT, rng, date,
                                   name=HOSTILE_FILE_NAMES[(mid - 1) % len(HOSTILE_FILE_NAMES)])
        elif mid == 3 and spec.media > 0:
            media = self._shared_document(date)
        else:
            r = rng.random()
            if r < spec.media:
                media = self._media(spec, mid, rng, date)
            elif r < spec.media + 0.01:
                media = self._poll(spec, mid)
            elif r < spec.media + 0.02:
                media = types.MessageMediaGeo(types.GeoPoint(
                    rng.uniform(-180, 180), rng.uniform(-85, 85), self.access_hash(mid)))
            elif r < spec.media + 0.03 and len(spec.members) > 1:
                uid = spec.members[1 + rng.randrange(len(spec.members) - 1)]
                u = self.users[uid]
                users.add(uid)
                media = types.MessageMediaContact(f"+1555{uid:07d}", u.first_name, u.last_name, "", uid)
        if media is not None and rng.random() < 0.5:
            text, entities = "", None  # many media messages carry no caption

        fwd_from = None
        fr = rng.random()
        fwd_date = as_datetime(date - 86400 * rng.randint(1, 400))
        if fr < 0.03:
            origin = spec.members[rng.randrange(len(spec.members))]
            users.add(origin)
            fwd_from = types.MessageFwdHeader(fwd_date, from_id=self.peer(origin))
        elif fr < 0.05:
            fwd_from = types.MessageFwdHeader(fwd_date, from_name="Hidden Sender")

        edit_date = as_datetime(date + rng.randint(30, 86400)) if rng.random() < 0.08 else None
        reactions = None
        if rng.random() < 0.15:
            picks = rng.sample(_REACTIONS, rng.randint(1, 3))
            reactions = types.MessageReactions(
                [types.ReactionCount(types.ReactionEmoji(e), rng.randint(1, 40)) for e in picks])
        return types.Message(
            gid(mid), peer, as_datetime(date), text, out=out or None, post=broadcast or None, from_id=from_id,
            fwd_from=fwd_from, reply_to=reply_to, media=media, entities=entities, edit_date=edit_date,
            post_author=(_FIRST_NAMES[mid % len(_FIRST_NAMES)] if broadcast and spec.signatures else None),
            views=(rng.randint(100, 90_000) if broadcast else None),
            forwards=(rng.randint(0, 500) if broadcast else None), reactions=reactions)

    def _text(self, variant: int) -> tuple[str, list[Any] | None]:
        """One of the world's text variants; built once each, since texts are the costliest part of a message.

        The entity objects are shared between messages: they are only ever serialised, never changed.
        """
        cached = self._texts.get(variant)
        if cached is None:
            cached = self._texts[variant] = self._build_text(random.Random(mix(self.seed, 63, variant)))
        return cached

    def _build_text(self, rng: random.Random) -> tuple[str, list[Any] | None]:
        parts: list[str] = []
        entities: list[Any] = []
        offset = 0
        for n in range(rng.randint(1, 4)):
            if n:
                sep = "\n" if rng.random() < 0.25 else " "
                parts.append(sep)
                offset += 1
            if rng.random() < 0.45:
                piece = rng.choice(_PLAIN)
                parts.append(piece)
                offset += utf16_len(piece)
                continue
            piece, kind = rng.choice(_STYLED)
            length = utf16_len(piece)
            if kind == "bold":
                e = types.MessageEntityBold(offset, length)
            elif kind == "italic":
                e = types.MessageEntityItalic(offset, length)
            elif kind == "underline":
                e = types.MessageEntityUnderline(offset, length)
            elif kind == "strike":
                e = types.MessageEntityStrike(offset, length)
            elif kind == "code":
                e = types.MessageEntityCode(offset, length)
            elif kind == "pre":
                e = types.MessageEntityPre(offset, length, "python")
            elif kind == "text_url":
                e = types.MessageEntityTextUrl(offset, length, "https://docs.example.org/guide#start")
            elif kind == "url":
                e = types.MessageEntityUrl(offset, length)
            elif kind == "mention":
                e = types.MessageEntityMention(offset, length)
            elif kind == "mention_name":
                e = types.MessageEntityMentionName(offset, length, SELF_USER_ID)
            elif kind == "spoiler":
                e = types.MessageEntitySpoiler(offset, length)
            elif kind == "blockquote":
                e = types.MessageEntityBlockquote(offset, length)
            else:
                e = types.MessageEntityCustomEmoji(offset, length, 5_368_324_170_671_202_286)
            parts.append(piece)
            entities.append(e)
            offset += length
        return "".join(parts), entities or None

    def _poll(self, spec: ChatSpec, mid: int) -> types.MessageMediaPoll:
        question, answers = _POLL
        poll = types.Poll(
            mix(self.seed, 71, spec.raw_id, mid), types.TextWithEntities(question, []),
            [types.PollAnswer(types.TextWithEntities(a, []), bytes([i])) for i, a in enumerate(answers)], 0)
        votes = [mix(spec.raw_id, mid, i) % 20 for i in range(len(answers))]
        results = types.PollResults(
            results=[types.PollAnswerVoters(bytes([i]), voters=v, recent_voters=[]) for i, v in enumerate(votes)],
            total_voters=sum(votes))
        return types.MessageMediaPoll(poll, results)

    def _media_id(self, spec: ChatSpec, mid: int, kind: int) -> int:
        return (mix(self.seed, 81, spec.raw_id, mid) & ~0xF) | kind

    def _media(self, spec: ChatSpec, mid: int, rng: Draws, date: int) -> Any:
        x = rng.randrange(_MEDIA_CUM[-1])
        kind = _MEDIA_KINDS[bisect_left(_MEDIA_CUM, x + 1)]
        if kind == 0:
            return self._shared_document(date)
        if kind == PHOTO:
            return types.MessageMediaPhoto(photo=self.tl_photo(self._media_id(spec, mid, PHOTO), date))
        return self._document(spec, mid, kind, rng, date)

    def tl_photo(self, media_id: int, date: int) -> types.Photo:
        sizes: list[Any] = [types.PhotoStrippedSize("i", b"\x01\x28\x1e" + bytes(16))]
        for t, edge, _ in _PHOTO_SIZES:
            sizes.append(types.PhotoSize(t, edge, edge * 3 // 4, self.media_file(media_id, t).size))
        return types.Photo(media_id, self.access_hash(media_id), self.file_reference(media_id), as_datetime(date),
                           sizes, DC_ID)

    def _shared_document(self, date: int) -> types.MessageMediaDocument:
        media_id = self.shared_document_id
        f = self.media_file(media_id)
        doc = types.Document(
            media_id, self.access_hash(media_id), self.file_reference(media_id), as_datetime(WORLD_NOW - 400 * 86400),
            "application/pdf", f.size, DC_ID, [types.DocumentAttributeFilename("Team Handbook.pdf")])
        return types.MessageMediaDocument(document=doc)

    def _document(self, spec: ChatSpec, mid: int, kind: int, rng: Draws, date: int,
                  name: str | None = None) -> types.MessageMediaDocument:
        media_id = self._media_id(spec, mid, kind)
        f = self.media_file(media_id)
        duration = rng.randint(2, 600)
        flags: dict[str, bool] = {}
        if kind == DOCUMENT:
            template, _ = _DOC_NAMES[mix(media_id, 1) % len(_DOC_NAMES)]
            attrs: list[Any] = [types.DocumentAttributeFilename(name if name is not None else template.format(n=mid))]
        elif kind == VIDEO:
            attrs = [types.DocumentAttributeVideo(duration, 1280, 720, supports_streaming=True),
                     types.DocumentAttributeFilename(f"video_{mid}.mp4")]
            flags["video"] = True
        elif kind == ROUND:
            attrs = [types.DocumentAttributeVideo(min(duration, 60), 384, 384, round_message=True)]
            flags["round"] = True
        elif kind == VOICE:
            attrs = [types.DocumentAttributeAudio(min(duration, 120), voice=True, waveform=bytes(range(0, 63)))]
            flags["voice"] = True
        elif kind == AUDIO:
            attrs = [types.DocumentAttributeAudio(duration, title=f"Track {mid}", performer="The Emulators"),
                     types.DocumentAttributeFilename(f"track-{mid}.mp3")]
        elif kind == STICKER:
            attrs = [types.DocumentAttributeImageSize(512, 512),
                     types.DocumentAttributeSticker("😀", types.InputStickerSetEmpty()),
                     types.DocumentAttributeFilename("sticker.webp")]
        else:  # ANIMATION
            attrs = [types.DocumentAttributeVideo(min(duration, 20), 480, 360, nosound=True),
                     types.DocumentAttributeAnimated(), types.DocumentAttributeFilename(f"animation_{mid}.mp4")]
        doc = types.Document(media_id, self.access_hash(media_id), self.file_reference(media_id), as_datetime(date),
                             f.mime_type, f.size, DC_ID, attrs)
        return types.MessageMediaDocument(document=doc, **flags)


def _synthetic_data(seed: int, scale: str) -> dict[str, Any]:
    """The world-file dict behind World.synthetic, so synthetic worlds and files share one code path."""
    if scale == "test":
        sizes = {"max_file_size": 3 * 1024 * 1024, "generated_users": 24}
        chats: list[dict[str, Any]] = [
            {"kind": "private", "messages": 120, "media": 0.3},
            {"kind": "group", "title": "Family 🏡", "messages": 300, "media": 0.3},
            {"kind": "supergroup", "title": "Ten Thousand", "messages": 10_000, "media": 0.05,
             "username": "ten_thousand"},
            {"kind": "forum", "title": "Forum HQ", "messages": 400, "media": 0.2, "username": "forum_hq"},
            {"kind": "channel", "title": "News Channel", "messages": 250, "media": 0.3, "username": "news_channel"},
            {"kind": "supergroup", "title": HOSTILE_TITLE, "messages": 50, "hostile": True},
            {"kind": "private", "user": 1005, "messages": 40, "media": 0.1},  # a deleted account
            {"kind": "private", "user": 1007, "messages": 30, "media": 0.0},  # a bot
            {"kind": "private", "messages": 80, "media": 0.2},
            {"kind": "group", "title": "Book club 📚", "messages": 150, "media": 0.1},
            {"kind": "private", "messages": 500, "media": 0.25},
            {"kind": "channel", "title": "Quiet channel", "messages": 60, "media": 0.5, "signatures": False},
        ]
    else:
        # Files stay small and sparse so exporting every demo chat with media fits in a few GB of disk.
        sizes = {"max_file_size": 2 * 1024 * 1024, "generated_users": 60}
        chats = [
            {"kind": "supergroup", "title": "Engineering", "messages": 50_000, "media": 0.01,
             "username": "engineering"},
            {"kind": "forum", "title": "Community Forum", "messages": 20_000, "media": 0.03,
             "topics": list(_TOPIC_TITLES), "username": "community_forum"},
            {"kind": "channel", "title": "Tech News", "messages": 12_000, "media": 0.05, "username": "tech_news"},
            {"kind": "supergroup", "title": HOSTILE_TITLE, "messages": 200, "hostile": True},
            {"kind": "group", "title": "Family 🏡", "messages": 6_000, "media": 0.08},
            {"kind": "channel", "title": "Photo Stream 📷", "messages": 600, "media": 0.9},
        ]
        chats.append({"kind": "private", "user": 1005, "messages": 300, "media": 0.1})  # a deleted account
        chats.append({"kind": "private", "user": 1007, "messages": 200, "media": 0.0})  # a bot
        for i in range(20):
            chats.append({"kind": "private", "messages": 1_000 + (mix(seed, 91, i) % 9_000), "media": 0.01})
        for i in range(8):
            chats.append({"kind": ("supergroup", "group")[i % 2], "title": f"Project {chr(65 + i)}",
                          "messages": 2_000 + (mix(seed, 92, i) % 20_000), "media": 0.01})
        for i in range(4):
            chats.append({"kind": "channel", "title": f"Broadcast {i + 1}",
                          "messages": 2_500 + (mix(seed, 93, i) % 10_000), "media": 0.04, "signatures": i % 2 == 0})
        if scale == "big":
            chats.insert(1, {"kind": "supergroup", "title": "The Million", "messages": 1_000_000, "media": 0.1,
                             "username": "the_million"})
    return {"seed": seed, **sizes, "chats": chats}

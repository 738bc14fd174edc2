"""The emulator's synthetic Telegram world: users, chats, topics and messages generated on demand from a seed.

Nothing per message is stored: a message is a pure function of (seed, chat, id), so a chat of a million
messages costs no memory. Only small things (users, chat headers, topic id lists, TL peers) are cached.
"""

from __future__ import annotations

import random
import struct
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from telethon.tl import types

from tobs_tui.emulator.credentials import DEMO_CODE, DEMO_PHONE, TWOFA_PASSWORD, TWOFA_PHONE

from .content import (
    DOC_NAMES,
    DOCUMENT,
    FIRST_NAMES,
    KIND_MIME,
    KIND_SIZES,
    LAST_NAMES,
    PHOTO,
    PHOTO_SIZES,
    TOPIC_TITLES,
    MessageContent,
)
from .media import MediaFile, media_key
from .specs import (
    CHANNEL_MARK,
    KINDS,
    SELF_USER_ID,
    WORLD_NOW,
    ChatSpec,
    TopicSpec,
    UserSpec,
    as_datetime,
    mix,
    timestamp_of,
)
from .worldfile import WorldFileError, check_sections, read_world_file, synthetic_data

# The kinds of chat that can have each key _check_kind_keys refuses elsewhere.
_SEE_KINDS = {
    "username": "supergroup, channel or forum",
    "user": "private",
    "members": "group, supergroup, channel or forum",
    "topics": "forum",
}


class World(MessageContent):
    """A deterministic Telegram world; see docs/WORLD.md for the file format and the demo credentials."""

    demo_phone = DEMO_PHONE
    demo_code = DEMO_CODE
    twofa_phone = TWOFA_PHONE
    twofa_password = TWOFA_PASSWORD

    def __init__(self, data: dict[str, Any]):
        check_sections(data)  # first: everything below trusts the types and ranges it checks
        self.seed = int(data.get("seed", 1))
        self.max_file_size = int(data.get("max_file_size", 40 * 1024 * 1024))
        self.self_user_id = SELF_USER_ID
        self._file_reference_epoch = 0
        self._own_expiries: dict[int, int] = {}  # media id -> times its own reference expired
        self.users: dict[int, UserSpec] = {}
        self.chats: dict[int, ChatSpec] = {}
        self._by_username: dict[str, int] = {}
        self._tl_users: dict[int, types.User] = {}
        self._tl_chats: dict[int, Any] = {}
        self._peers: dict[int, Any] = {}
        self._topic_ids: dict[tuple[int, int, int, int], list[int]] = {}
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
        return cls(synthetic_data(seed, scale))

    @classmethod
    def load(cls, path: str | Path) -> World:
        """Load a world file (.toml or .json), documented in docs/WORLD.md."""
        data = read_world_file(path)
        return cls(data)

    def _build(self, data: dict[str, Any]) -> None:
        try:
            self._build_checked(data)
        except WorldFileError:
            raise
        except (TypeError, ValueError, AttributeError) as exc:
            raise WorldFileError(f"The world file has a value of the wrong type ({exc}); see docs/WORLD.md.") from exc

    def _build_checked(self, data: dict[str, Any]) -> None:
        me = dict(data.get("self", {}))
        self.users[SELF_USER_ID] = UserSpec(
            SELF_USER_ID,
            me.get("first_name", "Demo"),
            me.get("last_name", "User"),
            me.get("username", "tobs_demo"),
            DEMO_PHONE.lstrip("+"),
        )
        next_id = 1000
        for i in range(int(data.get("generated_users", 0))):
            rng = random.Random(mix(self.seed, 11, i))
            first = FIRST_NAMES[i % len(FIRST_NAMES)]
            last = rng.choice(LAST_NAMES)
            username = f"{first.lower()}_{i}".encode("ascii", "ignore").decode() if i % 3 != 1 else None
            spec = UserSpec(next_id, first, last, username, deleted=(i % 17 == 5), bot=(i % 13 == 7))
            if spec.deleted:
                spec.first_name, spec.last_name, spec.username = "", "", None
            if spec.bot:
                spec.username = f"{first.lower()}_{i}_bot".encode("ascii", "ignore").decode()
            self.users[next_id] = spec
            next_id += 1
        generated = next_id - 1000
        owners: dict[int, str] = {}  # user id -> which user of the file has it, for a message about a clash
        for n, raw in enumerate(data.get("users", []), 1):
            uid = int(raw.get("id", next_id))
            next_id = max(next_id, uid) + 1
            if uid == SELF_USER_ID:
                raise WorldFileError(
                    f"In the world file, user {n} has id {uid}, the id of the logged-in account (its names go "
                    f"under [self]); give user {n} another id."
                )
            if uid in owners:
                raise WorldFileError(
                    f"In the world file, user {n} has id {uid}, which {owners[uid]} has already; give each user its "
                    "own id."
                )
            if uid in self.users:
                raise WorldFileError(
                    f"In the world file, user {n} has id {uid}, which generated_users gives to a generated user "
                    f"(ids 1000 to {1000 + generated - 1}); give user {n} an id of {1000 + generated} or more."
                )
            owners[uid] = f"user {n}" if "id" in raw else f"user {n} (it has no 'id', so it got the next free one)"
            self.users[uid] = UserSpec(
                uid,
                raw.get("first_name", ""),
                raw.get("last_name", ""),
                raw.get("username"),
                raw.get("phone"),
                bool(raw.get("deleted", False)),
                bool(raw.get("bot", False)),
            )
        others = [u for u in self.users if u != SELF_USER_ID]
        named: dict[str, str] = {}  # lowercased username -> what has it, for a message about a clash
        for u in self.users.values():
            if u.username:
                what = "[self]" if u.id == SELF_USER_ID else f"user {u.id}"
                self._claim_username(u.username, what, named)
                self._by_username[u.username.lower()] = u.id
        with_private: set[int] = set()
        next_group, next_channel = 2000, 1_100_000_000
        rank = 0
        for n, raw in enumerate(data.get("chats", []), 1):
            repeat = int(raw.get("repeat", 1))
            kind = raw.get("kind", "supergroup")
            if kind not in KINDS:
                raise WorldFileError(f"Unknown chat kind {kind!r} in the world file; use one of {', '.join(KINDS)}.")
            self._check_kind_keys(raw, kind, n)
            for copy in range(repeat):
                count = max(1, int(raw.get("messages", 100)))
                title = raw.get("title", f"{kind.title()} {rank}")
                if repeat > 1:
                    title = f"{title} #{copy + 1}"
                if kind == "private":
                    uid = raw.get("user")
                    if uid is None:
                        if not others:
                            raise WorldFileError("A private chat needs a user; add [[users]] or generated_users.")
                        # The next user in turn; one that has a private chat already is passed over.
                        start = (rank + copy) % len(others)
                        free = [u for u in others[start:] + others[:start] if u not in with_private]
                        if not free:
                            raise WorldFileError(
                                f"In the world file, chat {n} needs a user without a private chat, but every user "
                                "has one (Telegram has one private chat per user); add users or lower 'repeat'."
                            )
                        uid = free[0]
                    uid = int(uid)
                    if uid not in self.users:
                        raise WorldFileError(f"Private chat with unknown user {uid}; list that user under [[users]].")
                    if uid in with_private:
                        raise WorldFileError(
                            f"In the world file, chat {n} is a second private chat with user {uid}; Telegram has one "
                            "private chat per user, so remove one or give it another user."
                        )
                    with_private.add(uid)
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
                                f"Chat {title!r} lists unknown members {unknown}; add them to [[users]]."
                            )
                    else:
                        rng = random.Random(mix(self.seed, 12, raw_id))
                        pool = others  # deleted accounts keep their old messages, as on Telegram
                        members = tuple(rng.sample(pool, min(len(pool), rng.randint(3, 12))))
                    members = (SELF_USER_ID,) + tuple(m for m in members if m != SELF_USER_ID)
                if peer_id in self.chats:
                    raise WorldFileError(
                        f"Chat id {raw_id} appears twice in the world file; give each chat its own id."
                    )
                span_days = float(raw.get("span_days", min(3 * 365, max(60, count * 600 / 86400))))
                last_date = WORLD_NOW - rank * 7 * 3600 - (raw_id % 3600)
                step = span_days * 86400 / max(count - 1, 1)
                spec = ChatSpec(
                    peer_id=peer_id,
                    raw_id=raw_id,
                    kind=kind,
                    title=title,
                    count=count,
                    media=float(raw.get("media", 0.2)),
                    members=members,
                    first_date=int(last_date - step * (count - 1)),
                    step=step,
                    username=raw.get("username") if repeat == 1 else None,
                    signatures=bool(raw.get("signatures", kind == "channel")),
                    hostile=bool(raw.get("hostile", False)),
                )
                if kind == "forum":
                    titles = raw.get("topics", list(TOPIC_TITLES[:4]))
                    gap = max(1, count // (2 * (len(titles) + 1)))
                    for k, topic_title in enumerate(titles):
                        tid = 2 + k * gap
                        if tid > count:
                            raise WorldFileError(
                                f"Forum {title!r} has too few messages for {len(titles)} topics; raise 'messages'."
                            )
                        spec.topics.append(TopicSpec(tid, topic_title, (0x6FB9F0, 0xFFD67E, 0xCB86DB, 0x8EEE98)[k % 4]))
                if spec.username:
                    self._claim_username(spec.username, f"chat {n}", named)
                    self._by_username[spec.username.lower()] = peer_id
                self.chats[peer_id] = spec
                rank += 1
        private = [c for c in self.chats.values() if not c.is_channel]
        for slot, spec in enumerate(private):
            spec.stride, spec.slot = max(len(private), 1), slot
            if spec.msg_id(spec.count) >= 2**31 // 2:
                raise WorldFileError(
                    f"Private chats and basic groups share one id space; {len(private)} of them with "
                    f"{spec.count} messages in {spec.title!r} do not fit. Use fewer chats or messages."
                )
        self.chat_by_slot = private
        shared = mix(self.seed, 13) & ~0xF
        self.shared_document_id = shared | DOCUMENT
        self._check_servable()

    @staticmethod
    def _claim_username(username: str, what: str, named: dict[str, str]) -> None:
        """Telegram usernames are unique, whatever their case, among users and chats alike."""
        key = username.lower()
        if key in named:
            raise WorldFileError(
                f"In the world file, {what} has the username {username!r}, which {named[key]} has already; "
                "Telegram usernames are unique, so give each its own."
            )
        named[key] = what

    @staticmethod
    def _check_kind_keys(raw: dict[str, Any], kind: str, n: int) -> None:
        """A key that this kind of chat cannot have on Telegram would be silently ignored: it is refused instead."""
        cannot = {
            "username": ("private", "group"),  # a private chat's name is its user's; basic groups are never public
            "user": ("group", "supergroup", "channel", "forum"),
            "members": ("private",),
            "topics": ("private", "group", "supergroup", "channel"),
        }
        for key, kinds in cannot.items():
            if key in raw and kind in kinds:
                raise WorldFileError(
                    f"In the world file, chat {n} is a {kind} chat, which cannot have {key!r} on Telegram; remove "
                    f"it, or make the chat a kind that has it ({_SEE_KINDS[key]})."
                )

    def _check_servable(self) -> None:
        """Every user, chat and topic as the server will send them: what cannot be written in TL is refused
        here, in one sentence, instead of failing every reply that mentions it."""
        for spec in self.chats.values():
            if spec.first_date < 0:
                raise WorldFileError(
                    f"In the world file, chat {spec.title!r} would start before 1970; "
                    "use fewer chats or a shorter span_days."
                )
        try:
            for uid in self.users:
                bytes(self.tl_user(uid))
            for peer_id, spec in self.chats.items():
                if spec.kind != "private":
                    bytes(self.tl_chat(peer_id))
                for topic in spec.topics:
                    bytes(types.MessageActionTopicCreate(topic.title, topic.icon_color))
        except (struct.error, TypeError, ValueError, OverflowError, UnicodeError) as exc:
            raise WorldFileError(
                f"The world file holds a value Telegram cannot send ({exc}); see docs/WORLD.md."
            ) from exc

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
        return order[bisect_right(negated, (-key[0], -key[1], -key[2])) :]

    def message_count(self, peer_id: int) -> int:
        return self.chat(peer_id).count

    def add_messages(self, peer_id: int, n: int) -> None:
        """Append ``n`` new messages (later dates, higher ids) to a chat; the dialog moves up accordingly."""
        spec = self.chat(peer_id)
        spec.count += n
        self._order = None

    def delete_messages(self, peer_id: int, ids: Sequence[int]) -> None:
        """Delete messages from a chat's history, as its members can on Telegram: they are no longer served."""
        spec = self.chat(peer_id)
        spec.gone.update(ids)
        self._order = None

    def withhold_messages(self, peer_id: int, ids: Sequence[int]) -> None:
        """Withhold messages from this account (see ChatSpec.withheld): history pages holding them come back short."""
        self.chat(peer_id).withheld.update(ids)

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
        if kind not in KIND_SIZES:
            raise KeyError(f"{media_id} is not a media id of this world")
        lo, hi = KIND_SIZES[kind]
        hi = max(lo, min(hi, self.max_file_size))
        rng = random.Random(mix(self.seed, 21, media_id))
        full = int(lo * (hi / lo) ** rng.random())
        if kind == PHOTO:
            share = {t: s for t, _, s in PHOTO_SIZES}.get(variant or "y")
            if share is None:
                raise KeyError(f"Photo {media_id} has no size {variant!r}")
            size = max(600, int(full * share)) if share < 1 else full
            return MediaFile(media_key(self.seed, media_id, variant or "y"), size, "image/jpeg")
        if variant:
            raise KeyError(f"Document {media_id} has no thumbnail {variant!r}")
        mime = KIND_MIME.get(kind) or DOC_NAMES[mix(media_id, 1) % len(DOC_NAMES)][1]
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
                    user_id,
                    is_self=user_id == SELF_USER_ID,
                    bot=s.bot or None,
                    access_hash=self.access_hash(user_id),
                    first_name=s.first_name,
                    last_name=s.last_name or None,
                    username=s.username,
                    phone=s.phone,
                    status=None if s.bot else types.UserStatusRecently(),
                    bot_info_version=1 if s.bot else None,
                )
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
                    s.raw_id,
                    s.title,
                    types.ChatPhotoEmpty(),
                    date,
                    broadcast=s.kind == "channel" or None,
                    megagroup=s.kind != "channel" or None,
                    forum=s.kind == "forum" or None,
                    signatures=s.signatures or None,
                    access_hash=self.access_hash(s.raw_id),
                    username=s.username,
                    participants_count=len(s.members),
                )
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
        key = (spec.peer_id, topic_id, spec.count, len(spec.gone))
        ids = self._topic_ids.get(key)
        if ids is None:
            ids = [m for m in range(1, spec.count + 1) if self.topic_of(spec, m) == topic_id and m not in spec.gone]
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
        return [
            spec.msg_id(m)
            for m in range(k + 1, end + 1)
            if self._reply_target(spec, m) == k and spec.msg_id(m) not in spec.gone
        ]

    @staticmethod
    def window(
        asc: Sequence[int],
        date_of,
        *,
        offset_id: int,
        offset_date: Any,
        add_offset: int,
        limit: int,
        max_id: int,
        min_id: int,
    ) -> list[int]:
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

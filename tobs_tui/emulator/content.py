"""What the world's messages say and carry: text with entities, replies, polls, reactions, service
messages and media (photos and documents of every kind), each a pure function of (seed, chat, message id)."""

from __future__ import annotations

import random
from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

from telethon.tl import types

from .specs import DC_ID, SELF_USER_ID, WORLD_NOW, ChatSpec, Draws, as_datetime, mix, utf16_len

PHOTO, DOCUMENT, VIDEO, ROUND, VOICE, AUDIO, STICKER, ANIMATION = range(1, 9)
KIND_SIZES = {  # (min, max) bytes, drawn log-uniformly
    PHOTO: (60_000, 3_000_000),
    DOCUMENT: (2_000, 30_000_000),
    VIDEO: (1_000_000, 40_000_000),
    ROUND: (200_000, 3_000_000),
    VOICE: (5_000, 400_000),
    AUDIO: (1_000_000, 9_000_000),
    STICKER: (10_000, 60_000),
    ANIMATION: (100_000, 3_000_000),
}
KIND_MIME = {
    PHOTO: "image/jpeg",
    VIDEO: "video/mp4",
    ROUND: "video/mp4",
    VOICE: "audio/ogg",
    AUDIO: "audio/mpeg",
    STICKER: "image/webp",
    ANIMATION: "video/mp4",
}
# Photo sizes: type, edge in px, share of the full size (the full size 'y' comes last, as Telegram sends it).
PHOTO_SIZES = (("s", 90, 0.01), ("m", 320, 0.06), ("x", 800, 0.3), ("y", 1280, 1.0))
_MEDIA_WEIGHTS = (
    (PHOTO, 34),
    (DOCUMENT, 14),
    (VIDEO, 10),
    (ROUND, 4),
    (VOICE, 8),
    (AUDIO, 6),
    (STICKER, 9),
    (ANIMATION, 7),
    (0, 8),  # 0: the world's shared document (the same file in many messages and chats)
)
_MEDIA_KINDS = [k for k, _ in _MEDIA_WEIGHTS]
_MEDIA_CUM = []
_acc = 0
for _, _w in _MEDIA_WEIGHTS:
    _acc += _w
    _MEDIA_CUM.append(_acc)
del _acc, _w

DOC_NAMES = (
    ("report-{n}.pdf", "application/pdf"),
    ("archive-{n}.zip", "application/zip"),
    ("notes {n}.txt", "text/plain"),
    ("Quarterly Plan {n}.pdf", "application/pdf"),
    ("data_{n}.csv", "text/csv"),
    ("schéma-{n}.pdf", "application/pdf"),
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
    "a.md",  # names Obsidian would open as notes
    "Notes.MD",
    "board.canvas",
    "view.base",
    "Hostile _ names .. ___ chat (-1001100000005).md",
)
HOSTILE_TITLE = "Hostile / names .. ../ chat"

# Text building blocks: (text, entity kind or None). Offsets are computed in UTF-16 code units.
_PLAIN = (
    "Hello there",
    "ok 👍",
    "café crème",
    "e\u0301 combining",
    "שלום עולם",
    "مرحبا بالعالم",
    "# not a heading",
    "> not a quote",
    "- not a list",
    "1. not a list either",
    "[[not a wikilink]]",
    "a | b | c",
    "<b>not html</b>",
    "*stars* _under_ `tick`",
    "C:\\path\\file",
    "👨‍👩‍👧 family",
    "🇺🇦🇯🇵 flags",
    "see you at 10:30",
    "price: $5 & 10%",
    "line one\nline two",
    "#hashtag",
    "~~tilde~~",
)
_STYLED = (
    ("bold text", "bold"),
    ("italic ✨ words", "italic"),
    ("underlined", "underline"),
    ("struck out", "strike"),
    ("print('hi')", "code"),
    ("def f(x):\n    return x * 2", "pre"),
    ("the docs", "text_url"),
    ("https://example.org/page?q=1", "url"),
    ("@tobs_demo", "mention"),
    ("Alice", "mention_name"),
    ("hidden 🤫 spoiler", "spoiler"),
    ("a quoted line\nand another", "blockquote"),
    ("🔥", "custom_emoji"),
    ("𝔘𝔫𝔦𝔠𝔬𝔡𝔢 bold", "bold"),
)
FIRST_NAMES = (
    "Alice",
    "Bob",
    "Chloé",
    "Dmitri",
    "Eitan",
    "Fatima",
    "György",
    "Hana",
    "Iñigo",
    "Jun",
    "Kwame",
    "Léa",
    "Mohammed",
    "Nadia",
    "Olek",
    "Priya",
    "Quinn",
    "Rafael",
    "Saanvi",
    "Tomás",
    "Uma",
    "Viktor",
)
LAST_NAMES = ("Smith", "Müller", "Nakamura", "O'Brien", "Ivanova", "García", "", "Kowalski", "Dubois")
TOPIC_TITLES = ("Announcements", "Off-topic 🎲", "Help & Support", "Releases", "Design", "Random")
_TEXT_VARIANTS = 2048
_REACTIONS = ("👍", "❤", "🔥", "😁", "🎉", "🤔")
_POLL = ("Where do we meet?", ("Office", "Café", "Online"))


class MessageContent:
    """The message half of `World`: builds messages on demand from the specs the world holds."""

    # The DCs files are stored on, the account's own first (the emulator sets more with --dcs).
    file_dcs: tuple[int, ...] = (DC_ID,)

    # ----------------------------------------------------------------- where files live
    def file_dc(self, media_id: int) -> int:
        """The DC that stores this file: with several, a fixed half of the files live off the first one."""
        dcs = self.file_dcs
        return dcs[mix(self.seed, 61, media_id) % len(dcs)]

    def named_dc(self, media_id: int) -> int:
        """The DC a message names for its file. A quarter of the files off the first DC moved there after their
        message was sent: it still names the first DC, which answers FILE_MIGRATE_X (as Telegram's do)."""
        stored = self.file_dc(media_id)
        moved = stored != self.file_dcs[0] and mix(self.seed, 62, media_id) % 4 == 0
        return self.file_dcs[0] if moved else stored

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
                pinned = mid - 1 - rng.randrange(min(mid - 1, 20))
                if spec.kind == "forum" and self.topic_of(spec, mid) == 1:
                    # Telegram pins per topic: a pin in General pins one of General's messages.
                    while pinned > 1 and self.topic_of(spec, pinned) != 1:
                        pinned -= 1
                reply_to = types.MessageReplyHeader(reply_to_msg_id=gid(pinned))
        topic = self.topic_of(spec, mid) if spec.kind == "forum" else 1
        if action is not None:
            if topic != 1 and topic != mid:
                # Inside a topic a pin points at the topic's own message, and every service message is threaded
                # into it (the topic in reply_to_msg_id, as for a plain message there).
                reply_to = types.MessageReplyHeader(forum_topic=True, reply_to_msg_id=topic)
            return types.MessageService(
                gid(mid),
                peer,
                as_datetime(date),
                action=action,
                out=out or None,
                from_id=from_id,
                reply_to=reply_to,
                post=broadcast or None,
            )

        target = self._reply_target(spec, mid)
        if topic != 1:
            # As Telegram threads a topic: a plain message names the topic in reply_to_msg_id alone; a reply
            # names the message it answers there and the topic in reply_to_top_id.
            reply_to = types.MessageReplyHeader(
                forum_topic=True, reply_to_msg_id=target or topic, reply_to_top_id=topic if target else None
            )
        elif target is not None:
            reply_to = types.MessageReplyHeader(reply_to_msg_id=gid(target))

        text, entities = self._text(rng.randrange(_TEXT_VARIANTS))
        if entities and any(isinstance(e, types.MessageEntityMentionName) for e in entities):
            users.add(SELF_USER_ID)
        media = None
        if spec.hostile:
            media = self._document(
                spec, mid, DOCUMENT, rng, date, name=HOSTILE_FILE_NAMES[(mid - 1) % len(HOSTILE_FILE_NAMES)]
            )
        elif mid == 3 and spec.media > 0:
            media = self._shared_document(date)
        else:
            r = rng.random()
            if r < spec.media:
                media = self._media(spec, mid, rng, date)
            elif r < spec.media + 0.01:
                media = self._poll(spec, mid)
            elif r < spec.media + 0.02:
                media = types.MessageMediaGeo(
                    types.GeoPoint(rng.uniform(-180, 180), rng.uniform(-85, 85), self.access_hash(mid))
                )
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
                [types.ReactionCount(types.ReactionEmoji(e), rng.randint(1, 40)) for e in picks]
            )
        return types.Message(
            gid(mid),
            peer,
            as_datetime(date),
            text,
            out=out or None,
            post=broadcast or None,
            from_id=from_id,
            fwd_from=fwd_from,
            reply_to=reply_to,
            media=media,
            entities=entities,
            edit_date=edit_date,
            post_author=(FIRST_NAMES[mid % len(FIRST_NAMES)] if broadcast and spec.signatures else None),
            views=(rng.randint(100, 90_000) if broadcast else None),
            forwards=(rng.randint(0, 500) if broadcast else None),
            reactions=reactions,
        )

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
            mix(self.seed, 71, spec.raw_id, mid),
            types.TextWithEntities(question, []),
            [types.PollAnswer(types.TextWithEntities(a, []), bytes([i])) for i, a in enumerate(answers)],
            0,
        )
        votes = [mix(spec.raw_id, mid, i) % 20 for i in range(len(answers))]
        results = types.PollResults(
            results=[types.PollAnswerVoters(bytes([i]), voters=v, recent_voters=[]) for i, v in enumerate(votes)],
            total_voters=sum(votes),
        )
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
        for t, edge, _ in PHOTO_SIZES:
            sizes.append(types.PhotoSize(t, edge, edge * 3 // 4, self.media_file(media_id, t).size))
        return types.Photo(
            media_id,
            self.access_hash(media_id),
            self.file_reference(media_id),
            as_datetime(date),
            sizes,
            self.named_dc(media_id),
        )

    def _shared_document(self, date: int) -> types.MessageMediaDocument:
        media_id = self.shared_document_id
        f = self.media_file(media_id)
        doc = types.Document(
            media_id,
            self.access_hash(media_id),
            self.file_reference(media_id),
            as_datetime(WORLD_NOW - 400 * 86400),
            "application/pdf",
            f.size,
            self.named_dc(media_id),
            [types.DocumentAttributeFilename("Team Handbook.pdf")],
        )
        return types.MessageMediaDocument(document=doc)

    def _document(
        self, spec: ChatSpec, mid: int, kind: int, rng: Draws, date: int, name: str | None = None
    ) -> types.MessageMediaDocument:
        media_id = self._media_id(spec, mid, kind)
        f = self.media_file(media_id)
        duration = rng.randint(2, 600)
        flags: dict[str, bool] = {}
        if kind == DOCUMENT:
            template, _ = DOC_NAMES[mix(media_id, 1) % len(DOC_NAMES)]
            attrs: list[Any] = [types.DocumentAttributeFilename(name if name is not None else template.format(n=mid))]
        elif kind == VIDEO:
            attrs = [
                types.DocumentAttributeVideo(duration, 1280, 720, supports_streaming=True),
                types.DocumentAttributeFilename(f"video_{mid}.mp4"),
            ]
            flags["video"] = True
        elif kind == ROUND:
            attrs = [types.DocumentAttributeVideo(min(duration, 60), 384, 384, round_message=True)]
            flags["round"] = True
        elif kind == VOICE:
            attrs = [types.DocumentAttributeAudio(min(duration, 120), voice=True, waveform=bytes(range(63)))]
            flags["voice"] = True
        elif kind == AUDIO:
            attrs = [
                types.DocumentAttributeAudio(duration, title=f"Track {mid}", performer="The Emulators"),
                types.DocumentAttributeFilename(f"track-{mid}.mp3"),
            ]
        elif kind == STICKER:
            attrs = [
                types.DocumentAttributeImageSize(512, 512),
                types.DocumentAttributeSticker("😀", types.InputStickerSetEmpty()),
                types.DocumentAttributeFilename("sticker.webp"),
            ]
        else:  # ANIMATION
            attrs = [
                types.DocumentAttributeVideo(min(duration, 20), 480, 360, nosound=True),
                types.DocumentAttributeAnimated(),
                types.DocumentAttributeFilename(f"animation_{mid}.mp4"),
            ]
        doc = types.Document(
            media_id,
            self.access_hash(media_id),
            self.file_reference(media_id),
            as_datetime(date),
            f.mime_type,
            f.size,
            self.named_dc(media_id),
            attrs,
        )
        return types.MessageMediaDocument(document=doc, **flags)

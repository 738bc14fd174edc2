"""FastReader's own decoding of `message`: every optional field and flag, against Telethon's generated code."""

from __future__ import annotations

import random
import struct
from datetime import UTC, datetime

import pytest
from telethon.extensions import BinaryReader
from telethon.tl import types
from telethon.tl.alltlobjects import tlobjects

from tobs_tui.engine.telegram import tlreader
from tobs_tui.engine.telegram.tlreader import MESSAGE_CONSTRUCTOR, FastReader, LeanReader

DATE = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
PEERS = (types.PeerUser(7), types.PeerChat(12), types.PeerChannel(1300000001), types.PeerUser(10**12 + 5))
BOOLS = [
    "out",
    "mentioned",
    "media_unread",
    "silent",
    "post",
    "from_scheduled",
    "legacy",
    "edit_hide",
    "pinned",
    "noforwards",
    "invert_media",
    "offline",
    "video_processing_pending",
    "paid_suggested_post_stars",
    "paid_suggested_post_ton",
]
OPTIONAL = {
    "from_id": lambda r: r.choice(PEERS),
    "from_boosts_applied": lambda r: r.randint(1, 9),
    "from_rank": lambda r: r.choice(["admin", "", "modérateur ✓"]),
    "saved_peer_id": lambda r: r.choice(PEERS),
    "fwd_from": lambda r: types.MessageFwdHeader(date=DATE, from_id=r.choice(PEERS), from_name="Ann"),
    "via_bot_id": lambda r: r.randint(1, 2**40),
    "via_business_bot_id": lambda r: r.randint(1, 2**40),
    "guestchat_via_from": lambda r: r.choice(PEERS),
    "reply_to": lambda r: types.MessageReplyHeader(reply_to_msg_id=r.randint(1, 999), forum_topic=r.random() < 0.5),
    "media": lambda r: r.choice([types.MessageMediaEmpty(), types.MessageMediaGeo(types.GeoPointEmpty())]),
    "reply_markup": lambda r: types.ReplyKeyboardHide(),
    "entities": lambda r: [_entity(r) for _ in range(r.randint(0, 4))],
    "views": lambda r: r.randint(0, 10**6),
    "replies": lambda r: types.MessageReplies(replies=r.randint(0, 9), replies_pts=3),
    "edit_date": lambda r: datetime(2025, 1, 2, tzinfo=UTC),
    "post_author": lambda r: "Bé" * r.randint(0, 200),  # past 253 bytes: the long length form
    "grouped_id": lambda r: r.randint(-(2**63), 2**63 - 1),
    "reactions": lambda r: _reactions(r),
    "restriction_reason": lambda r: [types.RestrictionReason("ios", "porn", "no")],
    "ttl_period": lambda r: r.randint(1, 86400),
    "quick_reply_shortcut_id": lambda r: r.randint(1, 99),
    "effect": lambda r: r.randint(1, 2**62),
    "report_delivery_until_date": lambda r: DATE,
    "paid_message_stars": lambda r: r.randint(1, 2**40),
    "schedule_repeat_period": lambda r: r.randint(1, 99),
    "summary_from_language": lambda r: "en",
}


def _entity(r: random.Random) -> types.TypeMessageEntity:
    """Any entity: the span-only kinds and TextUrl that FastReader decodes itself, and others it hands on."""
    offset, length = r.randint(0, 2**31 - 1), r.randint(-5, 2**31 - 1)
    kind = r.choice([*(tlobjects[cid] for cid in tlreader._SPAN_ENTITIES), types.MessageEntityTextUrl, None])
    if kind is types.MessageEntityTextUrl:
        return kind(offset, length, r.choice(["", "https://e.org/ü", "x" * 300]))
    if kind is None:
        return r.choice([types.MessageEntityMentionName(offset, length, 7), types.MessageEntityPre(0, 1, "py")])
    return kind(offset, length)


def _reaction(r: random.Random) -> types.TypeReaction:
    return r.choice([types.ReactionEmoji(r.choice(["👍", "❤", ""])), types.ReactionCustomEmoji(2**40)])


def _reactions(r: random.Random) -> types.MessageReactions:
    counts = [
        types.ReactionCount(_reaction(r), r.randint(0, 999), r.choice([None, r.randint(0, 9)]))
        for _ in range(r.randint(0, 3))
    ]
    recent = [types.MessagePeerReaction(r.choice(PEERS), DATE, _reaction(r), big=r.random() < 0.5)]
    top = [types.MessageReactor(count=3, top=True, peer_id=r.choice(PEERS))]
    return types.MessageReactions(
        results=counts,
        min=r.random() < 0.5,
        can_see_list=r.random() < 0.5,
        reactions_as_tags=r.random() < 0.5,
        recent_reactions=recent if r.random() < 0.5 else None,
        top_reactors=top if r.random() < 0.5 else None,
    )


def _message(rng: random.Random) -> types.Message:
    fields = {name: make(rng) for name, make in OPTIONAL.items() if rng.random() < 0.5}
    if "views" in fields:
        fields["forwards"] = rng.randint(0, 99)  # both travel under one flag
    fields.update({name: True for name in BOOLS if rng.random() < 0.3})
    text = rng.choice(["", "hi", "x" * 300, "line\nnext 🎉"])
    return types.Message(id=rng.randint(1, 2**31 - 1), peer_id=rng.choice(PEERS), date=DATE, message=text, **fields)


def test_this_telethon_has_every_constructor_the_fast_decoder_reads():
    """If a Telethon upgrade changes one of them, its generated code decodes it and this test says so."""
    assert MESSAGE_CONSTRUCTOR in tlobjects, "message's layout changed: update tlreader.read_message"
    for cid, name in tlreader._SPAN_ENTITIES.items():
        assert tlobjects.get(cid).__name__ == name, f"{name}'s layout changed: update tlreader"
    ours = {tlreader._TEXT_URL, tlreader._REACTIONS, tlreader._REACTION_COUNT, tlreader._REACTION_EMOJI}
    assert ours | set(tlreader._SPAN_ENTITIES) | {MESSAGE_CONSTRUCTOR} == set(tlreader._READERS)


@pytest.mark.parametrize("seed", range(300))
def test_a_message_decodes_to_the_object_telethon_builds(seed):
    data = bytes(_message(random.Random(seed)))
    expected = BinaryReader(data).tgread_object()  # Telethon's generated from_reader and Message.__init__
    reader = FastReader(data)
    got = reader.tgread_object()
    assert type(got) is type(expected)
    assert vars(got) == vars(expected)  # the private attributes Message.__init__ sets too
    assert reader.tell_position() == len(data)
    assert bytes(got) == data


def test_a_cut_message_raises_instead_of_inventing_fields():
    data = bytes(_message(random.Random(1)))
    for cut in (3, 11, len(data) // 2, len(data) - 1):
        with pytest.raises((BufferError, IndexError, struct.error)):
            FastReader(data[:cut]).tgread_object()


LEAN_FIELDS = [f for f in tlreader.LeanMessage.__slots__ if f not in ("sender_id", "chat_id")]


@pytest.mark.parametrize("seed", range(300))
def test_a_lean_message_holds_what_the_whole_one_does_and_ends_where_it_does(seed):
    message = _message(random.Random(seed))
    data = bytes(message)
    whole = BinaryReader(data).tgread_object()
    reader = LeanReader(data + b"\x01\x02\x03\x04")  # a next object follows it in a reply
    lean = reader.tgread_object()
    assert type(lean) is tlreader.LeanMessage
    assert reader.tell_position() == len(data)
    assert {f: getattr(lean, f) for f in LEAN_FIELDS} == {f: getattr(whole, f) for f in LEAN_FIELDS}
    assert (lean.sender_id, lean.chat_id, lean.action) == (whole.sender_id, whole.chat_id, None)


def test_a_reply_of_lean_messages_keeps_its_users_and_service_messages_whole():
    rng = random.Random(5)
    messages = [_message(rng) for _ in range(20)]
    service = types.MessageService(id=9, peer_id=PEERS[0], date=DATE, action=types.MessageActionPinMessage())
    user = types.User(id=7, first_name="Ann", access_hash=3)
    reply = types.messages.MessagesSlice(count=21, messages=[*messages, service], topics=[], chats=[], users=[user])
    data = bytes(reply)
    got = LeanReader(data).tgread_object()
    assert [m.id for m in got.messages] == [m.id for m in messages] + [9]
    assert vars(got.messages[-1]) == vars(BinaryReader(bytes(service)).tgread_object())
    assert got.users[0].first_name == "Ann"


def test_a_cut_lean_message_raises_instead_of_inventing_fields():
    for seed in range(40):
        data = bytes(_message(random.Random(seed)))
        for cut in (3, 11, len(data) // 2, len(data) - 1):
            with pytest.raises((BufferError, IndexError, struct.error, ValueError)):
                LeanReader(data[:cut]).tgread_object()

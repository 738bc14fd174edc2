"""The synthetic world: determinism, content, media bytes, world files and live changes."""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from pathlib import Path

import pytest
from telethon.tl import types

import tobs_tui.emulator as emulator_pkg
from tobs_tui.emulator.content import HOSTILE_FILE_NAMES, PHOTO
from tobs_tui.emulator.media import BLOCK_SIZE
from tobs_tui.emulator.specs import utf16_len
from tobs_tui.emulator.world import World
from tobs_tui.emulator.worldfile import WorldFileError

EXAMPLE = Path(emulator_pkg.__file__).parent / "example_world.toml"


@pytest.fixture(scope="module")
def world() -> World:
    return World.synthetic(1, scale="test")


def chat(world: World, title: str):
    return next(world.chats[p] for p in world.chat_ids() if world.chats[p].title == title)


def all_messages(world: World, spec):
    return world.messages(spec, list(spec.ids()))[0]


def test_same_seed_same_world_other_seed_other_world():
    a, b, c = (World.synthetic(s, scale="test") for s in (1, 1, 2))
    assert a.chat_ids() == b.chat_ids()
    for pid in a.chat_ids()[:4]:
        ids = list(a.chats[pid].ids())[:60]
        assert [bytes(m) for m in a.messages(a.chats[pid], ids)[0]] == [
            bytes(m) for m in b.messages(b.chats[pid], ids)[0]
        ]
    spec = chat(a, "Ten Thousand")
    assert [bytes(m) for m in a.messages(spec, range(1, 50))[0]] != [
        bytes(m) for m in c.messages(chat(c, "Ten Thousand"), range(1, 50))[0]
    ]


def test_test_scale_has_every_kind_of_peer(world):
    kinds = [world.chats[p].kind for p in world.chat_ids()]
    assert {"private", "group", "supergroup", "channel", "forum"} <= set(kinds)
    assert chat(world, "Ten Thousand").count == 10_000
    assert len(chat(world, "Forum HQ").topics) == 4
    users = list(world.users.values())
    assert any(u.username for u in users) and any(not u.username and not u.deleted for u in users)
    assert any(u.deleted for u in users) and any(u.bot for u in users)
    deleted = next(u for u in users if u.deleted)
    assert deleted.id in world.chats and world.tl_user(deleted.id).deleted
    news = chat(world, "News Channel")
    posts = [m for m in all_messages(world, news) if isinstance(m, types.Message)]
    assert all(m.post and m.from_id is None and m.post_author for m in posts)
    assert all(m.views is not None for m in posts)


def test_dates_increase_with_id_and_span_months(world):
    for pid in world.chat_ids():
        spec = world.chats[pid]
        dates = [m.date for m in all_messages(world, spec)]
        assert dates == sorted(dates)
    spec = chat(world, "Ten Thousand")
    first, last = world.messages(spec, [1, spec.count])[0]
    assert (last.date - first.date).days >= 60


def test_entities_are_utf16_exact_and_texts_are_hostile_to_markdown(world):
    seen_kinds, starts = set(), set()
    texts = []
    for pid in world.chat_ids():
        for m in all_messages(world, world.chats[pid]):
            if not isinstance(m, types.Message):
                continue
            texts.append(m.message)
            encoded = m.message.encode("utf-16-le")
            for e in m.entities or []:
                seen_kinds.add(type(e).__name__)
                assert e.offset >= 0 and e.length > 0
                assert (e.offset + e.length) * 2 <= len(encoded)
                piece = encoded[e.offset * 2 : (e.offset + e.length) * 2].decode("utf-16-le")  # must not split a pair
                assert piece.strip() == piece and piece
            if m.message:
                starts.add(m.message[0])
    assert seen_kinds >= {
        "MessageEntityBold",
        "MessageEntityItalic",
        "MessageEntityUnderline",
        "MessageEntityStrike",
        "MessageEntityCode",
        "MessageEntityPre",
        "MessageEntityTextUrl",
        "MessageEntityUrl",
        "MessageEntityMention",
        "MessageEntityMentionName",
        "MessageEntitySpoiler",
        "MessageEntityBlockquote",
        "MessageEntityCustomEmoji",
    }
    joined = "\n".join(texts)
    for needle in ("👨‍👩‍👧", "e\u0301", "שלום", "[[", "<b>", " | "):
        assert needle in joined
    assert {"#", ">", "-", "1"} <= starts
    assert utf16_len("🎉a") == 3


def test_message_variety(world):
    found = set()
    for pid in world.chat_ids():
        for m in all_messages(world, world.chats[pid]):
            if isinstance(m, types.MessageService):
                found.add(type(m.action).__name__)
                continue
            if m.fwd_from and m.fwd_from.from_id:
                found.add("fwd_user")
            if m.fwd_from and m.fwd_from.from_name:
                found.add("fwd_hidden")
            if m.edit_date:
                assert m.edit_date > m.date
                found.add("edited")
            if m.reply_to and m.reply_to.reply_to_msg_id:
                found.add("reply")
            if m.reactions:
                found.add("reactions")
            media = m.media
            if isinstance(media, types.MessageMediaDocument):
                doc = media.document
                attrs = {type(a).__name__: a for a in doc.attributes}
                if media.round:
                    assert attrs["DocumentAttributeVideo"].round_message
                    found.add("round")
                elif media.voice:
                    assert attrs["DocumentAttributeAudio"].voice
                    found.add("voice")
                elif "DocumentAttributeSticker" in attrs:
                    found.add("sticker")
                elif "DocumentAttributeAnimated" in attrs:
                    found.add("animation")
                elif "DocumentAttributeAudio" in attrs:
                    found.add("audio")
                elif media.video:
                    found.add("video")
                else:
                    assert "DocumentAttributeFilename" in attrs and doc.mime_type
                    found.add("document")
            elif media is not None:
                found.add(type(media).__name__)
    assert found >= {
        "MessageActionPinMessage",
        "MessageActionChatAddUser",
        "MessageActionTopicCreate",
        "MessageActionChatCreate",
        "MessageActionChannelCreate",
        "fwd_user",
        "fwd_hidden",
        "edited",
        "reply",
        "reactions",
        "round",
        "voice",
        "sticker",
        "animation",
        "audio",
        "video",
        "document",
        "MessageMediaPhoto",
        "MessageMediaPoll",
        "MessageMediaGeo",
        "MessageMediaContact",
    }


def test_forum_headers(world):
    forum = chat(world, "Forum HQ")
    topic_ids = {t.id for t in forum.topics}
    for m in all_messages(world, forum):
        topic = world.topic_of(forum, m.id)
        if m.id in topic_ids:
            assert isinstance(m.action, types.MessageActionTopicCreate) and m.reply_to is None
        elif topic == 1:
            assert m.reply_to is None or (not m.reply_to.forum_topic and m.reply_to.reply_to_top_id is None)
        else:
            # Telegram's threading: a message directly in a topic names it in reply_to_msg_id alone; a reply
            # there names the message it answers (in the same topic) and the topic in reply_to_top_id.
            head = m.reply_to
            assert head.forum_topic
            if head.reply_to_top_id is None:
                assert head.reply_to_msg_id == topic
            else:
                assert head.reply_to_top_id == topic and world.topic_of(forum, head.reply_to_msg_id) == topic


def test_million_message_chat_costs_no_memory():
    tracemalloc.start()
    try:
        big = World.synthetic(1, scale="big")
        spec = chat(big, "The Million")
        msgs, _ = big.messages(spec, range(spec.count, spec.count - 100, -1))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert spec.count == 1_000_000 and msgs[0].id == 1_000_000 and msgs[-1].id == 999_901
    assert peak < 5 * 1024 * 1024, f"peak {peak} bytes"


def test_media_bytes_are_exact_and_range_addressable(world):
    spec = chat(world, "Family 🏡")
    docs = [
        m.media.document
        for m in all_messages(world, spec)
        if isinstance(getattr(m, "media", None), types.MessageMediaDocument)
    ]
    doc = max(docs, key=lambda d: d.size)
    f = world.media_file(doc.id)
    assert f.size == doc.size == world.file_size(doc.id) > 3 * BLOCK_SIZE
    whole = f.read(0, f.size)
    assert len(whole) == f.size and hashlib.sha256(whole).hexdigest() == world.sha256_of_media(doc.id)
    for offset, limit in [(1, 10), (BLOCK_SIZE - 3, 7), (5000, 20_000), (f.size - 5, 100)]:
        assert f.read(offset, limit) == whole[offset : offset + limit]
    assert f.read(f.size, 10) == b""
    sizes = {d.size for d in docs}
    assert min(sizes) < 100_000 and max(sizes) > 1_000_000  # kilobytes to megabytes


def test_photo_sizes_largest_last(world):
    spec = chat(world, "Family 🏡")
    photo = next(
        m.media.photo
        for m in all_messages(world, spec)
        if isinstance(getattr(m, "media", None), types.MessageMediaPhoto)
    )
    sized = [s for s in photo.sizes if isinstance(s, types.PhotoSize)]
    assert len(sized) >= 3 and sized[-1].size == max(s.size for s in sized)
    assert world.file_size(photo.id) == sized[-1].size and photo.id & 0xF == PHOTO
    assert world.media_file(photo.id).read(0, 3) == b"\xff\xd8\xff"


def test_the_same_document_in_several_chats(world):
    holders = []
    for pid in world.chat_ids():
        spec = world.chats[pid]
        if spec.count >= 3 and spec.media > 0 and not spec.hostile:
            m = world.messages(spec, [spec.msg_id(3)])[0][0]
            if isinstance(getattr(m, "media", None), types.MessageMediaDocument):
                holders.append((pid, m.media.document.id))
    assert len(holders) >= 2 and len({d for _, d in holders}) == 1


def test_hostile_names_chat(world):
    spec = next(world.chats[p] for p in world.chat_ids() if world.chats[p].hostile)
    assert "/" in spec.title and ".." in spec.title
    names = set()
    for m in all_messages(world, spec):
        if isinstance(getattr(m, "media", None), types.MessageMediaDocument):
            names |= {
                a.file_name for a in m.media.document.attributes if isinstance(a, types.DocumentAttributeFilename)
            }
    assert set(HOSTILE_FILE_NAMES) <= names
    assert {"../../etc/passwd", "CON.txt", "a/b\\c.txt"} <= names
    assert any("\x00" in n for n in names) and any("\u202e" in n for n in names)
    assert any(len(n) >= 300 for n in names) and any("\x1b" in n for n in names)


def test_add_messages_and_delete_chat():
    w = World.synthetic(1, scale="test")
    last = w.chat_ids()[-1]
    before = w.message_count(last)
    w.add_messages(last, 5000)
    assert w.message_count(last) == before + 5000
    assert w.chat_ids()[0] == last  # its newest message is now the newest of all
    old_top, new_top = w.messages(w.chats[last], [w.chats[last].msg_id(before), w.chats[last].top_id])[0]
    assert new_top.date > old_top.date and new_top.id > old_top.id
    w.delete_chat(last)
    assert last not in w.chat_ids()


def test_file_references_expire():
    w = World.synthetic(1, scale="test")
    ref = w.file_reference(w.shared_document_id)
    w.expire_file_references()
    assert w.file_reference(w.shared_document_id) != ref


def test_example_world_file_loads(tmp_path):
    w = World.load(EXAMPLE)
    titles = [w.chats[p].title for p in w.chat_ids()]
    assert "Grace Hopper" in titles and "Tiny group #3" in titles
    assert w.tl_user(w.self_user_id).username == "ada_archives"
    forum = next(w.chats[p] for p in w.chat_ids() if w.chats[p].kind == "forum")
    assert [t.title for t in forum.topics] == ["Announcements", "Help & Support", "Off-topic 🎲"]


def test_json_world_with_ten_thousand_dialogs(tmp_path):
    path = tmp_path / "w.json"
    path.write_text(
        json.dumps(
            {
                "seed": 3,
                "chats": [
                    {"kind": "supergroup", "title": "Busy", "messages": 3, "repeat": 10_000},
                    {"kind": "supergroup", "title": "Long", "messages": 2_500},
                ],
            }
        )
    )
    w = World.load(path)
    assert len(w.chat_ids()) == 10_001
    assert w.message_count(next(p for p in w.chat_ids() if w.chats[p].title == "Long")) == 2_500


@pytest.mark.parametrize(
    "text, needle",
    [
        ("[[chats]]\nkind = 'secret'\n", "Unknown chat kind 'secret'"),
        ("[[chats]]\nkind = 'group'\nmesages = 5\n", "Unknown key 'mesages'"),
        ("[[chats]]\nkind = 'group'\nmessages = 'many'\n", "'messages' of chat 1 must be a whole number"),
        ("[[chats]]\nkind = 'private'\nuser = 4242\n", "unknown user 4242"),
        ("seed = \n", "not valid TOML"),
    ],
)
def test_bad_world_files_say_what_is_wrong(tmp_path, text, needle):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(WorldFileError, match=needle):
        World.load(path)


def test_missing_world_file_and_bad_scale(tmp_path):
    with pytest.raises(WorldFileError, match="Cannot read the world file"):
        World.load(tmp_path / "nope.toml")
    with pytest.raises(ValueError, match="Unknown world scale"):
        World.synthetic(1, scale="huge")

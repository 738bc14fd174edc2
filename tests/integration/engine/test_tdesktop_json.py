"""result.json against Telegram Desktop's JSON export, field by field.

The reference below is written from Telegram Desktop's writer (Telegram/SourceFiles/export/output/
export_output_json.cpp, SerializeMessage, and export_data_types.cpp for what it reads from each TL object), not
from our renderer: it takes the emulator's own TL messages and says what Telegram Desktop would write for each,
key by key and in its order. The differences docs/FORMAT.md lists as deliberate are spelled out where they apply.
"""

from __future__ import annotations

import datetime
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from telethon.tl import types as t

from tests.support.settings import WAIT
from tests.support.vaults import chat_dir
from tobs_tui.engine import ChatSelection, ExportRequest
from tobs_tui.engine.snapshot import RunState

CAP_MB = 1  # files above it are skipped as too large: both file values appear
TOO_LARGE = "(File exceeds maximum size. Change data exporting settings to download.)"
CHANNEL_MARK = 1_000_000_000_000

# Telegram Desktop's name for each entity type (SerializeText's switch).
ENTITY_TYPES = {
    t.MessageEntityUnknown: "unknown",
    t.MessageEntityMention: "mention",
    t.MessageEntityHashtag: "hashtag",
    t.MessageEntityBotCommand: "bot_command",
    t.MessageEntityUrl: "link",
    t.MessageEntityEmail: "email",
    t.MessageEntityBold: "bold",
    t.MessageEntityItalic: "italic",
    t.MessageEntityCode: "code",
    t.MessageEntityPre: "pre",
    t.MessageEntityTextUrl: "text_link",
    t.MessageEntityMentionName: "mention_name",
    t.MessageEntityPhone: "phone",
    t.MessageEntityCashtag: "cashtag",
    t.MessageEntityUnderline: "underline",
    t.MessageEntityStrike: "strikethrough",
    t.MessageEntityBlockquote: "blockquote",
    t.MessageEntityBankCard: "bank_card",
    t.MessageEntitySpoiler: "spoiler",
    t.MessageEntityCustomEmoji: "custom_emoji",
}


class Reference:
    """What Telegram Desktop writes for one of the world's messages."""

    def __init__(self, world, spec, folder: Path) -> None:
        self.world = world
        self.spec = spec
        self.folder = folder  # the folder of the result.json the paths are read from

    # -- peers ---------------------------------------------------------------------------------------
    def marked(self, peer) -> int:
        if isinstance(peer, t.PeerUser):
            return peer.user_id
        if isinstance(peer, t.PeerChat):
            return -peer.chat_id
        return -(CHANNEL_MARK + peer.channel_id)

    def peer_id(self, peer) -> str:  # wrapPeerId
        if isinstance(peer, t.PeerUser):
            return f"user{peer.user_id}"
        if isinstance(peer, t.PeerChat):
            return f"chat{peer.chat_id}"
        return f"channel{peer.channel_id}"

    def name(self, marked: int) -> str:
        """Peer::name(): "first last" or the title. A deleted account has no name, which Telegram Desktop writes
        as null; we write "Deleted Account" (a deliberate difference, FORMAT.md)."""
        if marked > 0:
            user = self.world.users[marked]
            full = " ".join(p for p in (user.first_name, user.last_name) if p)
            return full or "Deleted Account"
        return self.world.chats[marked].title

    # -- text ----------------------------------------------------------------------------------------
    def parts(self, text: str, entities) -> list[dict]:
        """ParseText: entities in Telegram's order, UTF-16 offsets, one starting inside an earlier one skipped."""
        units = text.encode("utf-16-le")

        def mid(start: int, length: int) -> str:
            return units[2 * start : 2 * (start + length)].decode("utf-16-le")

        size = len(text.encode("utf-8"))
        out, offset = [], 0
        for e in entities or ():
            if e.offset < offset or e.length <= 0 or e.offset + e.length > size:
                continue
            if e.offset > offset:
                out.append({"type": "plain", "text": mid(offset, e.offset - offset)})
            part = {"type": ENTITY_TYPES[type(e)], "text": mid(e.offset, e.length)}
            if isinstance(e, t.MessageEntityMentionName):
                part["user_id"] = e.user_id
            elif isinstance(e, t.MessageEntityCustomEmoji):
                part["document_id"] = str(e.document_id)
            elif isinstance(e, t.MessageEntityPre):
                part["language"] = e.language
            elif isinstance(e, t.MessageEntityTextUrl):
                part["href"] = e.url
            elif isinstance(e, t.MessageEntityBlockquote):
                part["collapsed"] = bool(e.collapsed)
            out.append(part)
            offset = e.offset + e.length
        if len(units) // 2 > offset:
            out.append({"type": "plain", "text": mid(offset, len(units) // 2 - offset)})
        return out

    @staticmethod
    def text(parts: list[dict]):
        if not parts:
            return ""
        if len(parts) == 1 and parts[0]["type"] == "plain":
            return parts[0]["text"]
        return [p["text"] if p["type"] == "plain" else p for p in parts]

    # -- one message ---------------------------------------------------------------------------------
    def item(self, m, written: dict) -> dict:
        """`written` is our item: only its file paths are taken from it, once they are shown to resolve."""
        date = int(m.date.timestamp())
        item: dict = {
            "id": m.id,
            "type": "service" if isinstance(m, t.MessageService) else "message",
            "date": datetime.datetime.fromtimestamp(date, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "date_unixtime": str(date),
        }
        if getattr(m, "edit_date", None):
            edited = int(m.edit_date.timestamp())
            item["edited"] = datetime.datetime.fromtimestamp(edited, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
            item["edited_unixtime"] = str(edited)
        sender = m.from_id or m.peer_id  # fromId falls back to the chat (channel posts)
        if isinstance(m, t.MessageService):
            self.action(item, m, sender)
            item["text"], item["text_entities"] = "", []
            return item
        item["from"] = self.name(self.marked(sender))
        item["from_id"] = self.peer_id(sender)
        if m.post_author:
            item["author"] = m.post_author
        if m.fwd_from is not None:
            if m.fwd_from.from_id is not None:
                item["forwarded_from"] = self.name(self.marked(m.fwd_from.from_id))
            elif m.fwd_from.from_name:
                item["forwarded_from"] = m.fwd_from.from_name
        if m.reply_to is not None and m.reply_to.reply_to_msg_id:
            # Inside a forum topic this is the topic's first message, or the message answered there.
            item["reply_to_message_id"] = m.reply_to.reply_to_msg_id
            if m.reply_to.reply_to_peer_id is not None:  # pushReplyToMsgId: whenever the header names a chat
                item["reply_to_peer_id"] = self.peer_id(m.reply_to.reply_to_peer_id)
        if m.media is not None:
            self.media(item, m.media, written)
        parts = self.parts(m.message, m.entities)
        item["text"] = self.text(parts)
        item["text_entities"] = parts
        if m.reactions is not None:
            item["reactions"] = [
                {"type": "emoji", "count": r.count, "emoji": r.reaction.emoticon} for r in m.reactions.results
            ]
        return item

    def action(self, item: dict, m, sender) -> None:
        item["actor"] = self.name(self.marked(sender))
        item["actor_id"] = self.peer_id(sender)
        a = m.action
        if isinstance(a, t.MessageActionChatCreate):
            item.update(action="create_group", title=a.title, members=[self.name(u) for u in a.users])
        elif isinstance(a, t.MessageActionChannelCreate):
            item.update(action="create_channel", title=a.title)
        elif isinstance(a, t.MessageActionTopicCreate):
            item.update(action="topic_created", title=a.title)
        elif isinstance(a, t.MessageActionTopicEdit):
            item["action"] = "topic_edit"
            if a.title:
                item["new_title"] = a.title
            # An optional that always holds a value (export_data_types.h): 0 when the icon did not change.
            item["new_icon_emoji_id"] = a.icon_emoji_id or 0
        elif isinstance(a, t.MessageActionChatAddUser):
            item.update(action="invite_members", members=[self.name(u) for u in a.users])
        elif isinstance(a, t.MessageActionPinMessage):
            item["action"] = "pin_message"
            if m.reply_to is not None and m.reply_to.reply_to_msg_id:
                item["message_id"] = m.reply_to.reply_to_msg_id
                if m.reply_to.reply_to_peer_id is not None:
                    item["reply_to_peer_id"] = self.peer_id(m.reply_to.reply_to_peer_id)
        else:
            raise AssertionError(f"the emulator has a service message this reference does not know: {a!r}")

    def file(self, key: str, size: int, written: dict) -> str:
        value = written.get(key)
        if size > CAP_MB * 1024 * 1024:
            return TOO_LARGE
        assert isinstance(value, str) and not value.startswith("("), (key, value)
        target = self.folder / value
        assert target.is_file(), f"{value} does not resolve from {self.folder}"
        assert target.stat().st_size == size
        return value

    def media(self, item: dict, media, written: dict) -> None:
        if isinstance(media, t.MessageMediaPhoto):
            sizes = [s for s in media.photo.sizes if isinstance(s, t.PhotoSize)]
            largest = max(sizes, key=lambda s: s.w * s.h)
            item["photo"] = self.file("photo", largest.size, written)
            item["photo_file_size"] = largest.size
            item["width"], item["height"] = largest.w, largest.h
        elif isinstance(media, t.MessageMediaDocument):
            self.document(item, media.document, written)
        elif isinstance(media, t.MessageMediaPoll):
            votes = {r.option: r for r in media.results.results}
            item["poll"] = {
                "question": media.poll.question.text,
                "closed": bool(media.poll.closed),
                "total_voters": media.results.total_voters,
                "answers": [
                    {"text": a.text.text, "voters": votes[a.option].voters, "chosen": bool(votes[a.option].chosen)}
                    for a in media.poll.answers
                ],
            }
        elif isinstance(media, t.MessageMediaGeo):
            # std::to_string prints six decimals.
            item["location_information"] = {
                "latitude": float(f"{media.geo.lat:f}"),
                "longitude": float(f"{media.geo.long:f}"),
            }
        elif isinstance(media, t.MessageMediaContact):
            item["contact_information"] = {
                "first_name": media.first_name,
                "last_name": media.last_name,
                # Telegram Desktop regroups the digits by country ("+1 555 …"); we keep Telegram's (FORMAT.md).
                "phone_number": media.phone_number,
            }
        else:
            raise AssertionError(f"the emulator has media this reference does not know: {media!r}")

    def document(self, item: dict, doc, written: dict) -> None:
        item["file"] = self.file("file", doc.size, written)
        attrs = {type(a): a for a in doc.attributes}
        if t.DocumentAttributeFilename in attrs:
            item["file_name"] = attrs[t.DocumentAttributeFilename].file_name
        item["file_size"] = doc.size
        video, audio = attrs.get(t.DocumentAttributeVideo), attrs.get(t.DocumentAttributeAudio)
        if t.DocumentAttributeSticker in attrs:
            item["media_type"] = "sticker"
            item["sticker_emoji"] = attrs[t.DocumentAttributeSticker].alt
        elif video is not None and video.round_message:
            item["media_type"] = "video_message"
        elif audio is not None and audio.voice:
            item["media_type"] = "voice_message"
        elif t.DocumentAttributeAnimated in attrs:
            item["media_type"] = "animation"
        elif video is not None:
            item["media_type"] = "video_file"
        elif audio is not None:
            item["media_type"] = "audio_file"
            item["performer"], item["title"] = audio.performer, audio.title
        item["mime_type"] = doc.mime_type
        if video is not None or audio is not None:
            item["duration_seconds"] = int((video or audio).duration)
        width = height = 0
        for a in doc.attributes:  # the last attribute with a size wins
            if isinstance(a, (t.DocumentAttributeImageSize, t.DocumentAttributeVideo)):
                width, height = a.w, a.h
        if width and height:
            item["width"], item["height"] = width, height


CHATS = {  # one chat of each kind the world has, between them every message kind of the emulator
    1000: "personal_chat",
    -2000: "private_group",
    -1001100000001: "public_supergroup",  # a forum
    -1001100000002: "public_channel",  # signed posts
    1005: "personal_chat",  # a deleted account
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from tests.support.runners import runner_factory, running_emulator
    from tobs_tui.emulator.world import World

    vault = tmp_path_factory.mktemp("tdesktop") / "vault"
    with (
        running_emulator(world=World.synthetic(1, scale="test")) as emu,
        runner_factory(emu, vault) as make,
    ):
        runner = make(media=True, max_file_size_mb=CAP_MB)
        assert runner.connect().result(WAIT) is True
        runner.list_dialogs().result(WAIT)
        request = ExportRequest(chats=tuple(ChatSelection(c) for c in CHATS))
        final = runner.start_export(request).result(WAIT)
        assert final.state is RunState.DONE, final.errors
        yield vault, emu.world


def read(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def header_name(world, chat_id: int) -> str | None:
    """writeDialogStart's "name": a user's first name (ParseDialogsInfo), null when empty (StringAllowNull), as a
    deleted account's is; a group's or channel's title."""
    if chat_id > 0:
        user = world.users[chat_id]
        return None if user.deleted else (user.first_name or None)
    return world.chats[chat_id].title


@pytest.mark.parametrize("chat_id", list(CHATS))
def test_every_message_is_what_telegram_desktop_writes(exported, chat_id):
    vault, world = exported
    spec = world.chats[chat_id]
    folder = chat_dir(vault, chat_id)
    result = read(folder / "result.json")
    bare = chat_id if chat_id > 0 else (-chat_id - CHANNEL_MARK if chat_id < -CHANNEL_MARK else -chat_id)
    assert [result[k] for k in ("name", "type", "id")] == [header_name(world, chat_id), CHATS[chat_id], bare]
    assert list(result) == ["name", "type", "id", "messages"]
    messages, _ = world.messages(spec, list(spec.ids()))
    reference = Reference(world, spec, folder)
    assert [m["id"] for m in result["messages"]] == [m.id for m in messages]
    for tl, written in zip(messages, result["messages"], strict=True):
        expected = reference.item(tl, written)
        assert written == expected, f"message {tl.id}"
        assert list(written) == list(expected), f"message {tl.id}: Telegram Desktop's key order"


def test_the_export_holds_every_message_kind_of_the_emulator(exported):
    vault, _ = exported
    seen = set()
    for chat_id in CHATS:
        for m in read(chat_dir(vault, chat_id) / "result.json")["messages"]:
            seen.update(k for k in ("photo", "poll", "location_information", "contact_information") if k in m)
            seen.update(v for k in ("media_type", "action") if (v := m.get(k)))
            seen.update(k for k in ("forwarded_from", "reply_to_message_id", "edited", "reactions", "author") if k in m)
            if m.get("file") and "media_type" not in m:
                seen.add("document")
    assert seen >= {
        "photo",
        "document",
        "video_file",
        "video_message",
        "voice_message",
        "audio_file",
        "sticker",
        "animation",
        "poll",
        "location_information",
        "contact_information",
        "create_group",
        "create_channel",
        "topic_created",
        "invite_members",
        "pin_message",
        "forwarded_from",
        "reply_to_message_id",
        "edited",
        "reactions",
        "author",
    }, seen


def test_forum_topics_can_be_rebuilt_from_result_json(exported):
    """A reader splits a forum as Telegram Desktop's export lets it: a topic starts at its topic_created
    service message, and each message in it names that message, or the message it answers there."""
    vault, world = exported
    forum = -1001100000001
    spec = world.chats[forum]
    folder = chat_dir(vault, forum)
    result = read(folder / "result.json")
    roots = {m["id"] for m in result["messages"] if m.get("action") == "topic_created"}
    assert roots == {topic.id for topic in spec.topics}
    topic_of: dict[int, int] = {}
    for m in result["messages"]:
        parent = m.get("reply_to_message_id")
        topic_of[m["id"]] = m["id"] if m["id"] in roots else topic_of.get(parent, 1)
    # Telegram Desktop writes no reply id for service messages (but pins): a reader cannot place a member added
    # inside a topic, which the notes do. Every other message lands in the topic its note is in.
    placed = [m["id"] for m in result["messages"] if m["type"] == "message" or m["id"] in roots]
    assert len(placed) > len(result["messages"]) * 0.9
    assert {mid: topic_of[mid] for mid in placed} == {mid: world.topic_of(spec, mid) for mid in placed}
    in_notes = {int(p.name.rsplit("(", 1)[1].rstrip(")")) for p in (folder / "topics").iterdir()}
    assert set(topic_of.values()) == in_notes


def test_media_paths_resolve_from_each_result_json(exported):
    """Per-chat files name paths from their chat's folder, the vault's file from the vault root; both list the
    same messages."""
    vault, _ = exported
    account = read(vault / "result.json")
    assert list(account) == ["about", "chats"] and list(account["chats"]) == ["about", "list"]
    listed = {chat["id"]: chat for chat in account["chats"]["list"]}
    assert len(listed) == len(CHATS)
    for chat_id in CHATS:
        folder = chat_dir(vault, chat_id)
        own = read(folder / "result.json")
        theirs = listed[own["id"]]
        assert {k: theirs[k] for k in ("name", "type", "id")} == {k: own[k] for k in ("name", "type", "id")}
        assert len(theirs["messages"]) == len(own["messages"])
        resolved = 0
        for mine, whole in zip(own["messages"], theirs["messages"], strict=True):
            for key in ("photo", "file"):
                value = mine.get(key)
                if value and not value.startswith("("):
                    assert (folder / value).is_file(), value
                    assert whole[key] == f"{folder.name}/{value}"
                    assert (vault / whole[key]).is_file()
                    resolved += 1
            assert whole == {**mine, **{k: whole[k] for k in ("photo", "file") if k in mine}}
        assert resolved or chat_id == 1005, f"chat {chat_id} has files"


def export_chats(runner, chat_ids):
    assert runner.connect().result(WAIT) is True
    runner.list_dialogs().result(WAIT)
    final = runner.start_export(ExportRequest(chats=tuple(ChatSelection(c) for c in chat_ids))).result(WAIT)
    assert final.state is RunState.DONE, final.errors


def test_the_account_file_follows_incremental_runs_and_older_vaults_are_corrected(make_runner, emulator, tmp_path):
    vault, world = tmp_path / "vault", emulator.world
    first, second = 1007, 1008

    def account() -> dict[int, list[dict]]:
        return {chat["id"]: chat["messages"] for chat in read(vault / "result.json")["chats"]["list"]}

    export_chats(make_runner(media=True, max_file_size_mb=CAP_MB), [first])
    assert list(account()) == [first]
    export_chats(make_runner(media=True, max_file_size_mb=CAP_MB), [second])
    assert sorted(account()) == [first, second], "a chat exported in an earlier run stays listed"
    world.add_messages(first, 5)
    export_chats(make_runner(media=True, max_file_size_mb=CAP_MB), [first])
    listed = account()
    assert len(listed[first]) == world.chats[first].count == 35
    assert listed[first] == read(chat_dir(vault, first) / "result.json")["messages"]

    # A vault an older version wrote: the second chat's result.json names its files from the vault root.
    folder = chat_dir(vault, second)
    current = (folder / "result.json").read_bytes()
    old = current.replace(b'"file":"', b'"file":"' + folder.name.encode() + b"/").replace(
        b'"photo":"', b'"photo":"' + folder.name.encode() + b"/"
    )
    old = old.replace(folder.name.encode() + b"/(", b"(")  # the sentences for files not there had no folder
    assert old != current
    (folder / "result.json").write_bytes(old)
    db = sqlite3.connect(vault / ".tobs" / "state.sqlite")
    try:
        db.execute("DELETE FROM result_json")
        db.commit()
    finally:
        db.close()
    export_chats(make_runner(media=True, max_file_size_mb=CAP_MB), [first])  # the next run, of another chat
    assert (folder / "result.json").read_bytes() == current


def test_public_readers_count_what_the_vault_holds(exported, tmp_path):
    """Two readers of Telegram Desktop exports from the package index, each in a venv of its own: tg-parser on the
    per-chat files (every message, a forum's topics) and telegramstats on the account-level file. Both are pure
    Python, so they install on every interpreter the tests run on (chatpack ships wheels for some versions only:
    scripts/tdesktop_readers.py runs it, and the heavier readers, by hand)."""
    vault, _ = exported
    script = Path(__file__).parents[3] / "scripts" / "tdesktop_readers.py"
    done = subprocess.run(
        [sys.executable, str(script), str(vault), "--readers", "tg-parser,telegramstats", "--venvs", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert sum(line.startswith("tg-parser: ") for line in lines) == len(CHATS)
    assert sum(line.startswith("telegramstats: ") for line in lines) == len(CHATS)


def test_saved_messages_and_private_chats_are_headed_as_telegram_desktop_heads_them(tmp_path):
    """writeDialogStart: Saved Messages has type "saved_messages" and no "name"; a private chat is named by the
    user's first name. The vault's own result.json lists them the same way, also after a state DB from before
    first names were kept, once the chat is exported again."""
    from tests.support.runners import runner_factory, running_emulator
    from tobs_tui.emulator.world import SELF_USER_ID, World

    world_file = tmp_path / "world.toml"
    world_file.write_text(
        'seed = 3\n[[users]]\nid = 5001\nfirst_name = "Grace"\nlast_name = "Hopper"\n'
        f'[[chats]]\nkind = "private"\nuser = {SELF_USER_ID}\nmessages = 5\n'
        '[[chats]]\nkind = "private"\nuser = 5001\nmessages = 5\n',
        encoding="utf-8",
    )
    vault = tmp_path / "vault"
    with running_emulator(world=World.load(world_file)) as emu, runner_factory(emu, vault) as make:
        export_chats(make(), [SELF_USER_ID, 5001])
        saved = read(chat_dir(vault, SELF_USER_ID) / "result.json")
        assert [list(saved)[:3], saved["type"], saved["id"]] == [["type", "id", "messages"], "saved_messages", 100]
        assert read(chat_dir(vault, 5001) / "result.json")["name"] == "Grace"
        listed = {c["id"]: c for c in read(vault / "result.json")["chats"]["list"]}
        assert "name" not in listed[SELF_USER_ID] and listed[SELF_USER_ID]["type"] == "saved_messages"
        assert listed[5001]["name"] == "Grace"

        # A state DB made before first names were kept: the columns are added, the title stands in for the
        # name until the chat is exported again.
        db = sqlite3.connect(vault / ".tobs" / "state.sqlite")
        try:
            columns = "chat_id, title, kind, username, dir_name, first_id, last_id, message_count, last_export"
            db.executescript(
                "CREATE TABLE old (chat_id INTEGER PRIMARY KEY, title TEXT NOT NULL, kind TEXT NOT NULL,"
                " username TEXT, dir_name TEXT NOT NULL, first_id INTEGER, last_id INTEGER NOT NULL DEFAULT 0,"
                " message_count INTEGER NOT NULL DEFAULT 0, last_export REAL);"
                f" INSERT INTO old SELECT {columns} FROM chats; DROP TABLE chats; ALTER TABLE old RENAME TO chats;"
            )
        finally:
            db.close()
        emu.world.add_messages(5001, 2)
        export_chats(make(), [SELF_USER_ID])
        listed = {c["id"]: c for c in read(vault / "result.json")["chats"]["list"]}
        assert listed[5001]["name"] == "Grace Hopper" and listed[SELF_USER_ID]["type"] == "saved_messages"
        export_chats(make(), [5001])
        listed = {c["id"]: c for c in read(vault / "result.json")["chats"]["list"]}
        assert listed[5001]["name"] == "Grace" and len(listed[5001]["messages"]) == 7

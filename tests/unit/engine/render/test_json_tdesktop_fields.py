"""Fields of result.json that Telegram Desktop's writer writes in every case (export_output_json.cpp): a reply's
chat whenever the reply header names one, file sizes even when unknown, and the heading of its two service
accounts' chats."""

from __future__ import annotations

import datetime

import pytest
from telethon.tl import types as t

from tobs_tui.engine.render.json_export import chat_header, message_to_json
from tobs_tui.engine.snapshot import ChatKind

WHEN = datetime.datetime(2024, 3, 5, 14, 3, tzinfo=datetime.UTC)


def message(**kw) -> t.Message:
    return t.Message(id=7, peer_id=t.PeerChannel(5), date=WHEN, message="hi", from_id=t.PeerUser(1), **kw)


@pytest.mark.parametrize("peer", [t.PeerChannel(5), t.PeerChannel(6), t.PeerUser(2)])
def test_a_reply_names_the_chat_its_header_names_its_own_included(peer, make_ctx):
    item = message_to_json(message(reply_to=t.MessageReplyHeader(reply_to_msg_id=3, reply_to_peer_id=peer)), make_ctx())
    ref = {t.PeerChannel: "channel", t.PeerUser: "user"}[type(peer)] + str(next(iter(vars(peer).values())))
    assert (item["reply_to_message_id"], item["reply_to_peer_id"]) == (3, ref)
    keys = list(item)
    assert keys.index("reply_to_peer_id") == keys.index("reply_to_message_id") + 1


def test_a_reply_in_the_same_chat_without_a_peer_names_none(make_ctx):
    item = message_to_json(message(reply_to=t.MessageReplyHeader(reply_to_msg_id=3)), make_ctx())
    assert item["reply_to_message_id"] == 3 and "reply_to_peer_id" not in item


def test_sizes_telegram_did_not_send_are_zero(make_ctx):
    photo = t.Photo(id=1, access_hash=1, file_reference=b"", date=WHEN, sizes=[], dc_id=2)
    item = message_to_json(message(media=t.MessageMediaPhoto(photo=photo)), make_ctx())
    assert item["photo_file_size"] == 0
    doc = t.Document(
        id=2, access_hash=1, file_reference=b"", date=WHEN, mime_type="application/pdf", size=0, dc_id=2,
        attributes=[t.DocumentAttributeFilename("a.pdf")],
    )  # fmt: skip
    item = message_to_json(message(media=t.MessageMediaDocument(document=doc)), make_ctx())
    assert item["file_size"] == 0


@pytest.mark.parametrize(("user", "kind"), [(1271266957, "replies"), (489000, "verification_codes")])
def test_telegrams_service_accounts_are_headed_by_their_type_alone(user, kind):
    header = chat_header("Replies", ChatKind.USER, user, first_name="Replies")
    assert header == {"type": kind, "id": user}


def test_other_private_chats_keep_their_name():
    assert chat_header("Ann", ChatKind.USER, 42, first_name="Ann") == {"name": "Ann", "type": "personal_chat", "id": 42}

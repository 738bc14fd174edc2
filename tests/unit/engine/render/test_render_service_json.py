"""Service messages in result.json as Telegram Desktop's writer has them (export_output_json.cpp,
SerializeMessage's action handlers, and export_data_types.cpp for what it reads of each action)."""

from __future__ import annotations

import datetime

import pytest
from telethon.tl import types as t

from tobs_tui.engine.render.json_export import message_to_json

WHEN = datetime.datetime(2024, 3, 5, 14, 3, tzinfo=datetime.UTC)
ACTOR = {"actor": "Bob", "actor_id": "user1"}


def service(action, **kw) -> t.MessageService:
    base = dict(id=7, peer_id=t.PeerUser(1), date=WHEN, from_id=t.PeerUser(1), action=action)
    base.update(kw)
    return t.MessageService(**base)


def fields(message, make_ctx) -> dict:
    """The item without what every item has (id, type, dates) and what a service item always ends with."""
    item = message_to_json(message, make_ctx())
    assert (item.pop("text"), item.pop("text_entities")) == ("", [])
    return {k: v for k, v in item.items() if k not in ("id", "type", "date", "date_unixtime")}


def app(app_id: int, title: str) -> t.BotApp:
    return t.BotApp(app_id, 1, "game", title, "", t.PhotoEmpty(0), 1)


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        # No actor: the handler pushes none. Which of the four names, and an empty string value is left out.
        (t.MessageActionBotAllowed(attach_menu=True), {"action": "attach_menu_bot_allowed"}),
        (t.MessageActionBotAllowed(from_request=True, domain="x.org"), {"action": "web_app_bot_allowed"}),
        (
            t.MessageActionBotAllowed(app=app(77, "Mini App")),
            {"action": "allow_sending_messages", "reason_app_id": 77, "reason_app_name": "Mini App"},
        ),
        (t.MessageActionBotAllowed(app=app(77, "")), {"action": "allow_sending_messages", "reason_app_id": 77}),
        (
            t.MessageActionBotAllowed(domain="login.example.org"),
            {"action": "allow_sending_messages", "reason_domain": "login.example.org"},
        ),
        (t.MessageActionBotAllowed(), {"action": "allow_sending_messages"}),
        # An optional that always holds a value: 0 when the icon did not change.
        (t.MessageActionTopicEdit(closed=True), {**ACTOR, "action": "topic_edit", "new_icon_emoji_id": 0}),
        (
            t.MessageActionTopicEdit(title="Plans", icon_emoji_id=5),
            {**ACTOR, "action": "topic_edit", "new_title": "Plans", "new_icon_emoji_id": 5},
        ),
        (
            t.MessageActionRequestedPeer(button_id=3, peers=[t.PeerUser(9)]),
            {**ACTOR, "action": "requested_peer", "button_id": 3},
        ),
        (
            t.MessageActionPhoneCall(call_id=1, reason=t.PhoneCallDiscardReasonMigrateConferenceCall("slug")),
            {**ACTOR, "action": "phone_call", "discard_reason": "migrate_conference_all"},
        ),
    ],
)
def test_an_action_has_the_fields_telegram_desktop_writes(make_ctx, action, expected):
    got = fields(service(action), make_ctx)
    assert got == expected
    assert list(got) == list(expected)


def test_a_service_message_has_no_reactions(make_ctx):
    """Telegram Desktop reads reactions of ordinary messages only."""
    reactions = t.MessageReactions(results=[t.ReactionCount(t.ReactionEmoji("👍"), 2)])
    message = service(t.MessageActionPinMessage(), reactions=reactions)
    assert "reactions" not in message_to_json(message, make_ctx())
    plain = t.Message(id=8, peer_id=t.PeerUser(1), date=WHEN, message="hi", reactions=reactions)
    assert message_to_json(plain, make_ctx())["reactions"] == [{"type": "emoji", "count": 2, "emoji": "👍"}]

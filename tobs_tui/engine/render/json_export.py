"""One Telegram message to an item of Telegram Desktop's `result.json` "messages" array.

Field names, value types and the order of keys follow Telegram Desktop's JSON export writer, so
tools that read its exports read ours.
"""

from __future__ import annotations

import re
from typing import Any

from telethon import utils as tl_utils
from telethon.tl import types as tl

from ..snapshot import ChatKind
from .entities import entity_spans
from .markdown import RenderContext, as_utc, peer_id
from .media import FILE_KINDS, media_facts, media_kind
from .text import writable

# Telegram Desktop's own wording where a file is not in the export.
FILE_UNAVAILABLE = "(File unavailable, please try again later)"
FILE_TOO_LARGE = "(File exceeds maximum size. Change data exporting settings to download.)"
FILE_NOT_INCLUDED = "(File not included. Change data exporting settings to download.)"
_MEDIA_TYPES = {
    "sticker": "sticker",
    "round": "video_message",
    "voice": "voice_message",
    "animation": "animation",
    "video": "video_file",
    "audio": "audio_file",
}
_DISCARD_REASONS = {
    "PhoneCallDiscardReasonMissed": "missed",
    "PhoneCallDiscardReasonBusy": "busy",
    "PhoneCallDiscardReasonDisconnect": "disconnect",
    "PhoneCallDiscardReasonHangup": "hangup",
}


def peer_ref(marked_id: int) -> str:
    """ "user123" / "chat123" / "channel123" from a marked peer id, as Telegram Desktop writes it."""
    bare, kind = tl_utils.resolve_id(marked_id)
    prefix = {tl.PeerUser: "user", tl.PeerChat: "chat", tl.PeerChannel: "channel"}[kind]
    return f"{prefix}{bare}"


def chat_type(kind: ChatKind, username: str | None, *, is_self: bool = False) -> str:
    """The chat's "type" at the top of result.json."""
    if is_self:
        return "saved_messages"
    if kind is ChatKind.USER:
        return "personal_chat"
    if kind is ChatKind.BOT:
        return "bot_chat"
    if kind is ChatKind.GROUP:
        return "private_group"
    if kind is ChatKind.CHANNEL:
        return "public_channel" if username else "private_channel"
    return "public_supergroup" if username else "private_supergroup"


def chat_header(title: str, kind: ChatKind, marked_id: int, username: str | None = None) -> dict:
    """The top of a result.json, to which the writer adds "messages"."""
    bare, _ = tl_utils.resolve_id(marked_id)
    return {"name": writable(title), "type": chat_type(kind, username), "id": bare}


def _date(moment, ctx: RenderContext) -> tuple[str, str]:
    # The instant in UTC, as to_local reads it: its timestamp is the local time's, without a zone lookup.
    moment = as_utc(moment)
    local = moment.astimezone(ctx.tz)
    unixtime = str(int(moment.timestamp()))
    if local.year < 1000:
        return local.strftime("%Y-%m-%dT%H:%M:%S"), unixtime
    # As markdown._stamp: no C-library strftime per message, and one %-format rather than one per field.
    return (
        "%d-%02d-%02dT%02d:%02d:%02d" % (local.year, local.month, local.day, local.hour, local.minute, local.second),
        unixtime,
    )


def _sender_id(message) -> int | None:
    sender: Any = getattr(message, "sender_id", None)
    if isinstance(sender, int):
        return sender
    return peer_id(getattr(message, "from_id", None))


def _span_order(span) -> tuple[int, int]:
    return span.start, -span.end


def text_parts(text: str | None, entities: list | None) -> list[dict]:
    """Telegram Desktop's flat text parts: an entity nested in or overlapping an earlier one is
    dropped (its text stays in the enclosing part), so the parts always add up to the text."""
    text = writable(text or "")
    parts: list[dict] = []
    pos = 0
    spans = entity_spans(text, entities)  # a list of its own: sorting it in place is safe
    if len(spans) > 1:
        spans.sort(key=_span_order)
    for span in spans:
        if span.start < pos:
            continue
        if span.start > pos:
            parts.append({"type": "plain", "text": text[pos : span.start]})
        part: dict[str, object] = {"type": span.kind, "text": text[span.start : span.end]}
        if span.kind == "pre":
            part["language"] = span.language
        elif span.kind == "text_link":
            part["href"] = writable(span.url)
        elif span.kind == "mention_name" and span.user_id is not None:
            part["user_id"] = span.user_id
        elif span.kind == "custom_emoji" and span.document_id is not None:
            part["document_id"] = str(span.document_id)
        elif span.kind == "blockquote" and span.collapsed:
            part["collapsed"] = True
        parts.append(part)
        pos = span.end
    if pos < len(text):
        parts.append({"type": "plain", "text": text[pos:]})
    return parts


def serialize_text(parts: list[dict]) -> str | list:
    """The "text" field: a plain string when nothing is formatted, else strings and part objects."""
    if not parts:
        return ""
    if len(parts) == 1 and parts[0]["type"] == "plain":
        return parts[0]["text"]
    return [part["text"] if part["type"] == "plain" else part for part in parts]


def message_to_json(message, ctx: RenderContext) -> dict:
    """One `messages[]` item of Telegram Desktop's result.json."""
    msg_id = int(getattr(message, "id", 0))
    media: Any = getattr(message, "media", None)
    kind = media_kind(media)
    if kind == "unsupported":
        return {"id": msg_id, "type": "unsupported"}
    service = type(message).__name__ == "MessageService"
    date, unixtime = _date(getattr(message, "date", None), ctx)
    item: dict = {"id": msg_id, "type": "service" if service else "message", "date": date, "date_unixtime": unixtime}
    if getattr(message, "edit_date", None) is not None:
        item["edited"], item["edited_unixtime"] = _date(message.edit_date, ctx)
    sender = _sender_id(message)
    if service:
        if sender is not None:
            item["actor"] = writable(ctx.sender_name(message))
            item["actor_id"] = peer_ref(sender)
        _action_fields(item, message, ctx)
    else:
        if sender is not None:
            item["from"] = writable(ctx.sender_name(message))
            item["from_id"] = peer_ref(sender)
        if getattr(message, "post_author", None):
            item["author"] = writable(message.post_author)
        fwd: Any = getattr(message, "fwd_from", None)
        if fwd is not None:
            source = peer_id(fwd.from_id)
            item["forwarded_from"] = (
                writable(fwd.from_name)
                if fwd.from_name
                else (writable(ctx.peer_name(source)) if source is not None else None)
            )
            saved = peer_id(fwd.saved_from_peer)
            if saved is not None:
                item["saved_from"] = writable(ctx.peer_name(saved))
        _reply_fields(item, message)
        if isinstance(getattr(message, "via_bot_id", None), int):
            item["via_bot"] = writable(ctx.peer_name(message.via_bot_id))
    if kind is not None:
        _media_fields(item, kind, message, ctx)
    if service:
        item["text"], item["text_entities"] = "", []
    else:
        parts = text_parts(getattr(message, "message", None), getattr(message, "entities", None))
        item["text"] = serialize_text(parts)
        item["text_entities"] = parts
    reactions = _reactions(message)
    if reactions:
        item["reactions"] = reactions
    return item


def _reply_fields(item: dict, message, key: str = "reply_to_message_id") -> None:
    reply: Any = getattr(message, "reply_to", None)
    if type(reply).__name__ != "MessageReplyHeader" or not isinstance(reply.reply_to_msg_id, int):
        return
    if reply.forum_topic and reply.reply_to_top_id is None:
        return  # the id names the topic the message sits in, not a message it answers
    item[key] = reply.reply_to_msg_id
    peer = peer_id(reply.reply_to_peer_id)
    if peer is not None and peer != peer_id(getattr(message, "peer_id", None)):
        item["reply_to_peer_id"] = peer_ref(peer)


def file_value(ref) -> str:
    if ref is None or ref.status == "failed":
        return FILE_UNAVAILABLE
    if ref.status in ("ok", "pending") and ref.path:
        return writable(ref.path)
    reason = (ref.reason or "").lower()
    return FILE_TOO_LARGE if ("size" in reason or "large" in reason) else FILE_NOT_INCLUDED


def _media_fields(item: dict, kind: str, message, ctx: RenderContext) -> None:
    media = message.media
    if kind in FILE_KINDS:
        ref = ctx.media(message)
        facts = media_facts(media)
        if kind == "photo":
            item["photo"] = file_value(ref)
            if facts.size is not None:
                item["photo_file_size"] = facts.size
            if facts.width and facts.height:
                item["width"], item["height"] = facts.width, facts.height
        else:
            item["file"] = file_value(ref)
            name = (ref.file_name if ref is not None else None) or facts.file_name
            if name:
                item["file_name"] = writable(name)
            size = (ref.size if ref is not None else None) or facts.size
            if size is not None:
                item["file_size"] = size
            if kind in _MEDIA_TYPES:
                item["media_type"] = _MEDIA_TYPES[kind]
            if kind == "sticker" and facts.sticker_emoji:
                item["sticker_emoji"] = writable(facts.sticker_emoji)
            if kind == "audio":
                if facts.performer:
                    item["performer"] = writable(facts.performer)
                if facts.title:
                    item["title"] = writable(facts.title)
            if kind != "sticker" and facts.mime_type:
                item["mime_type"] = facts.mime_type
            if facts.duration:
                item["duration_seconds"] = int(facts.duration)
            if facts.width and facts.height:
                item["width"], item["height"] = facts.width, facts.height
        ttl: Any = getattr(media, "ttl_seconds", None)
        if ttl:
            item["self_destruct_period_seconds"] = ttl
    elif kind == "contact":
        item["contact_information"] = {
            "first_name": writable(media.first_name or ""),
            "last_name": writable(media.last_name or ""),
            "phone_number": writable(media.phone_number or ""),
        }
    elif kind in ("location", "live_location"):
        item["location_information"] = _geo(media.geo)
        if kind == "live_location":
            item["live_location_period_seconds"] = media.period
    elif kind == "venue":
        item["place_name"] = writable(media.title or "")
        item["address"] = writable(media.address or "")
        geo = _geo(media.geo)
        if geo is not None:
            item["location_information"] = geo
    elif kind == "poll":
        item["poll"] = _poll(media)
    elif kind == "game":
        item["game_title"] = writable(media.game.title or "")
        item["game_description"] = writable(media.game.description or "")


def _geo(geo) -> dict | None:
    if type(geo).__name__ != "GeoPoint":
        return None
    return {"latitude": geo.lat, "longitude": geo.long}


def _poll(media) -> dict:
    poll = media.poll
    results = {r.option: r for r in (getattr(media.results, "results", None) or [])}
    answers = []
    for answer in poll.answers:
        result = results.get(answer.option)
        answers.append(
            {
                "text": writable(str(getattr(answer.text, "text", answer.text))),
                "voters": (result.voters or 0) if result is not None else 0,
                "chosen": bool(result is not None and result.chosen),
            }
        )
    return {
        "question": writable(str(getattr(poll.question, "text", poll.question))),
        "closed": bool(poll.closed),
        "total_voters": getattr(media.results, "total_voters", None) or 0,
        "answers": answers,
    }


def _reactions(message) -> list[dict]:
    results = getattr(getattr(message, "reactions", None), "results", None) or []
    out = []
    for count in results:
        reaction = count.reaction
        name = type(reaction).__name__
        if name == "ReactionEmoji":
            out.append({"type": "emoji", "count": count.count, "emoji": writable(reaction.emoticon)})
        elif name == "ReactionCustomEmoji":
            out.append({"type": "custom_emoji", "count": count.count, "document_id": str(reaction.document_id)})
        elif name == "ReactionPaid":
            out.append({"type": "paid", "count": count.count})
    return out


def _names(ids, ctx: RenderContext) -> list[str]:
    return [writable(ctx.peer_name(user_id)) for user_id in ids or []]


def _action_fields(item: dict, message, ctx: RenderContext) -> None:
    action: Any = getattr(message, "action", None)
    name = type(action).__name__
    simple = {
        "MessageActionChatDeletePhoto": "delete_group_photo",
        "MessageActionChatEditPhoto": "edit_group_photo",
        "MessageActionChatMigrateTo": "migrate_to_supergroup",
        "MessageActionHistoryClear": "clear_history",
        "MessageActionScreenshotTaken": "take_screenshot",
        "MessageActionContactSignUp": "joined_telegram",
        "MessageActionChatJoinedByRequest": "join_group_by_request",
        "MessageActionBotAllowed": "allow_sending_messages",
        "MessageActionSetChatWallPaper": "set_chat_wallpaper",
    }
    if name in simple:
        item["action"] = simple[name]
    elif name == "MessageActionChatCreate":
        item.update(action="create_group", title=writable(action.title), members=_names(action.users, ctx))
    elif name == "MessageActionChannelCreate":
        item.update(action="create_channel", title=writable(action.title))
    elif name == "MessageActionChatEditTitle":
        item.update(action="edit_group_title", title=writable(action.title))
    elif name == "MessageActionChatAddUser":
        item.update(action="invite_members", members=_names(action.users, ctx))
    elif name == "MessageActionChatDeleteUser":
        item.update(action="remove_members", members=_names([action.user_id], ctx))
    elif name == "MessageActionChatJoinedByLink":
        item.update(action="join_group_by_link", inviter=writable(ctx.peer_name(action.inviter_id)))
    elif name == "MessageActionChannelMigrateFrom":
        item.update(action="migrate_from_group", title=writable(action.title))
    elif name == "MessageActionPinMessage":
        item["action"] = "pin_message"
        _reply_fields(item, message, key="message_id")
    elif name == "MessageActionGameScore":
        item["action"] = "score_in_game"
        _reply_fields(item, message, key="game_message_id")
        item["score"] = action.score
    elif name == "MessageActionPhoneCall":
        item["action"] = "phone_call"
        if action.duration:
            item["duration_seconds"] = action.duration
        reason = _DISCARD_REASONS.get(type(action.reason).__name__)
        if reason:
            item["discard_reason"] = reason
    elif name == "MessageActionCustomAction":
        item["information_text"] = writable(action.message)
    elif name == "MessageActionGroupCall":
        item["action"] = "group_call"
        if action.duration:
            item["duration"] = action.duration
    elif name == "MessageActionInviteToGroupCall":
        item.update(action="invite_to_group_call", members=_names(action.users, ctx))
    elif name == "MessageActionSetMessagesTTL":
        item.update(action="set_messages_ttl", period=action.period)
    elif name == "MessageActionSetChatTheme":
        item["action"] = "edit_chat_theme"
        emoticon: Any = getattr(action, "emoticon", None)
        if emoticon:
            item["emoticon"] = writable(emoticon)
    elif name == "MessageActionTopicCreate":
        item.update(action="topic_created", title=writable(action.title))
    elif name == "MessageActionTopicEdit":
        item["action"] = "topic_edit"
        if action.title:
            item["new_title"] = writable(action.title)
        if action.icon_emoji_id:
            item["new_icon_emoji_id"] = action.icon_emoji_id
    else:
        # Actions Telegram Desktop has no name for keep a readable one in the same style.
        base = name.removeprefix("MessageAction") or "unknown"
        item["action"] = re.sub(r"(?<!^)(?=[A-Z])", "_", base).lower()

"""One Telegram message to an item of Telegram Desktop's `result.json` "messages" array.

Field names, value types and the order of keys follow Telegram Desktop's JSON export writer
(export_output_json.cpp), so tools that read its exports read ours; docs/FORMAT.md lists where we differ.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable
from typing import Any

from telethon import utils as tl_utils
from telethon.tl import types as tl

from ..snapshot import ChatKind
from .entities import ENTITY_KINDS
from .markdown import RenderContext, as_utc, peer_id
from .media import FILE_KINDS, media_facts, media_kind
from .text import Utf16Index, writable

# Telegram Desktop's own wording where a file is not in the export.
FILE_UNAVAILABLE = "(File unavailable, please try again later)"
FILE_TOO_LARGE = "(File exceeds maximum size. Change data exporting settings to download.)"
FILE_NOT_INCLUDED = "(File not included. Change data exporting settings to download.)"
# Telegram Desktop's "media_type" when a document has several of these attributes: the first one wins.
_MEDIA_TYPE_ORDER = ("sticker", "video_message", "voice_message", "animation", "video_file", "audio_file")
_DISCARD_REASONS = {
    "PhoneCallDiscardReasonMissed": "missed",
    "PhoneCallDiscardReasonBusy": "busy",
    "PhoneCallDiscardReasonDisconnect": "disconnect",
    "PhoneCallDiscardReasonHangup": "hangup",
    "PhoneCallDiscardReasonMigrateConferenceCall": "migrate_conference_all",  # Telegram Desktop's spelling
}


def peer_ref(marked_id: int) -> str:
    """ "user123" / "chat123" / "channel123" from a marked peer id, as Telegram Desktop writes it."""
    bare, kind = tl_utils.resolve_id(marked_id)
    prefix = {tl.PeerUser: "user", tl.PeerChat: "chat", tl.PeerChannel: "channel"}[kind]
    return f"{prefix}{bare}"


# Two of Telegram's service accounts, which Telegram Desktop knows by their user ids: their chats get a type of
# their own and no "name", as Saved Messages does.
_SERVICE_CHAT_TYPES = {1271266957: "replies", 489000: "verification_codes"}


def chat_type(kind: ChatKind, username: str | None, *, is_self: bool = False, marked_id: int | None = None) -> str:
    """The chat's "type" at the top of result.json."""
    if is_self:
        return "saved_messages"
    if kind in (ChatKind.USER, ChatKind.BOT) and marked_id in _SERVICE_CHAT_TYPES:
        return _SERVICE_CHAT_TYPES[marked_id]
    if kind is ChatKind.USER:
        return "personal_chat"
    if kind is ChatKind.BOT:
        return "bot_chat"
    if kind is ChatKind.GROUP:
        return "private_group"
    if kind is ChatKind.CHANNEL:
        return "public_channel" if username else "private_channel"
    return "public_supergroup" if username else "private_supergroup"


def chat_header(
    title: str,
    kind: ChatKind,
    marked_id: int,
    username: str | None = None,
    *,
    first_name: str | None = None,
    is_self: bool = False,
) -> dict:
    """The top of a result.json, to which the writer adds "messages". As Telegram Desktop writes it: a private
    or bot chat is named by the user's first name (null when there is none, as for a deleted account), Saved
    Messages by no name at all. `first_name` None for a user means it is not known (a state DB from before it
    was kept): the chat's title stands in until the chat is exported again."""
    bare, _ = tl_utils.resolve_id(marked_id)
    header: dict = {}
    kind_name = chat_type(kind, username, is_self=is_self, marked_id=marked_id)
    if kind_name not in ("saved_messages", *_SERVICE_CHAT_TYPES.values()):
        if kind in (ChatKind.USER, ChatKind.BOT) and first_name is not None:
            header["name"] = writable(first_name) or None
        else:
            header["name"] = writable(title)
    header.update(type=kind_name, id=bare)
    return header


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


def text_parts(text: str | None, entities: list | None) -> list[dict]:
    """Telegram Desktop's flat text parts: entities taken in Telegram's order, one that starts inside an
    earlier one dropped (its text stays in the enclosing part), so the parts always add up to the text."""
    text = writable(text or "")
    parts: list[dict] = []
    pos = 0
    index = Utf16Index(text) if entities else None
    for entity in entities or ():
        offset, length = getattr(entity, "offset", 0), getattr(entity, "length", 0)
        if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length <= 0:
            continue
        assert index is not None
        start, end = index.span(offset, length)
        if start < pos or end <= start:
            continue
        if start > pos:
            parts.append({"type": "plain", "text": text[pos:start]})
        kind = ENTITY_KINDS.get(type(entity).__name__, "unknown")
        part: dict[str, object] = {"type": kind, "text": text[start:end]}
        if kind == "pre":
            part["language"] = writable(getattr(entity, "language", None) or "")
        elif kind == "text_link":
            part["href"] = writable(getattr(entity, "url", None) or "")
        elif kind == "mention_name" and isinstance(getattr(entity, "user_id", None), int):
            part["user_id"] = entity.user_id
        elif kind == "custom_emoji":
            part["document_id"] = str(getattr(entity, "document_id", 0))
        elif kind == "blockquote":
            part["collapsed"] = bool(getattr(entity, "collapsed", False))
        parts.append(part)
        pos = end
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


Usernames = Callable[[int], "str | None"]


def _no_username(peer: int) -> str | None:
    return None


def message_to_json(message, ctx: RenderContext, username: Usernames = _no_username) -> dict:
    """One `messages[]` item of Telegram Desktop's result.json. `username(peer id)` names bots for
    "via_bot" as Telegram Desktop does ("@name")."""
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
        # Telegram Desktop names no actor of a bot's permission to write (the user gave it, in a mini app).
        if sender is not None and type(getattr(message, "action", None)).__name__ != "MessageActionBotAllowed":
            item["actor"] = _sender_name(message, sender, ctx)
            item["actor_id"] = peer_ref(sender)
        _action_fields(item, message, ctx)
    else:
        if sender is not None:
            item["from"] = _sender_name(message, sender, ctx)
            item["from_id"] = peer_ref(sender)
        if getattr(message, "post_author", None):
            item["author"] = writable(message.post_author)
        fwd: Any = getattr(message, "fwd_from", None)
        if fwd is not None:
            # Telegram Desktop names the original sender's peer when there is one, else the name the
            # forward carries (a user who hides their account).
            source = peer_id(fwd.from_id)
            if source is not None:
                item["forwarded_from"] = writable(ctx.peer_name(source))
            elif fwd.from_name:
                item["forwarded_from"] = writable(fwd.from_name)
            saved = peer_id(fwd.saved_from_peer)
            if saved is not None:
                item["saved_from"] = writable(ctx.peer_name(saved))
        _reply_fields(item, message)
        bot = getattr(message, "via_bot_id", None)
        if isinstance(bot, int) and (name := username(bot)):
            item["via_bot"] = "@" + writable(name)
    if kind is not None:
        _media_fields(item, kind, message, ctx)
    if service:
        item["text"], item["text_entities"] = "", []
    else:
        parts = text_parts(getattr(message, "message", None), getattr(message, "entities", None))
        item["text"] = serialize_text(parts)
        item["text_entities"] = parts
        rows = _button_rows(getattr(message, "reply_markup", None))
        if rows:
            item["inline_bot_buttons"] = rows
    # Telegram Desktop reads reactions of messages only, never of service messages.
    reactions = None if service else _reactions(message, ctx)
    if reactions:
        item["reactions"] = reactions
    return item


def _sender_name(message, sender: int, ctx: RenderContext) -> str:
    # A signed channel post is from the channel; the signature is its "author" (the note shows the signature).
    if getattr(message, "post", False) and getattr(message, "post_author", None):
        return writable(ctx.peer_name(sender))
    return writable(ctx.sender_name(message))


def _reply_fields(item: dict, message, key: str = "reply_to_message_id") -> None:
    """The message a reply header names. In a forum topic that is the topic's first message when the message
    answers nothing in particular: Telegram Desktop's export writes it, and readers split topics by it."""
    reply: Any = getattr(message, "reply_to", None)
    if type(reply).__name__ != "MessageReplyHeader" or not isinstance(reply.reply_to_msg_id, int):
        return
    item[key] = reply.reply_to_msg_id
    # Whenever the header names a chat, its own included: Telegram Desktop writes what Telegram sent.
    peer = peer_id(reply.reply_to_peer_id)
    if peer is not None:
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
    if kind == "photo":
        ref = ctx.media(message)
        facts = media_facts(media)
        item["photo"] = file_value(ref)
        width, height, size = _largest_photo_size(getattr(media, "photo", None))
        size = size if size is not None else facts.size
        item["photo_file_size"] = size or 0  # Telegram Desktop writes 0 for a size it does not know
        if width and height:
            item["width"], item["height"] = width, height
        _spoiler_and_ttl(item, media)
    elif kind in FILE_KINDS:
        _document_fields(item, message, ctx)
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
        _put_text(item, "place_name", media.title)
        _put_text(item, "address", media.address)
        geo = _geo(media.geo)
        if geo is not None:
            item["location_information"] = geo
    elif kind == "poll":
        item["poll"] = _poll(media)
    elif kind == "game":
        _put_text(item, "game_title", media.game.title)
        _put_text(item, "game_description", media.game.description)
    elif kind == "invoice":
        invoice: dict[str, object] = {
            "title": writable(media.title or ""),
            "description": writable(media.description or ""),
            "amount": media.total_amount,
            "currency": writable(media.currency or ""),
        }
        if media.receipt_msg_id:
            invoice["receipt_message_id"] = media.receipt_msg_id
        item["invoice_information"] = invoice
    elif kind == "todo":
        todo = media.todo
        item["todo_list"] = {
            "title": serialize_text(_text_with_entities(todo.title)),
            "others_can_append": bool(todo.others_can_append),
            "others_can_complete": bool(todo.others_can_complete),
            "answers": [{"text": serialize_text(_text_with_entities(t.title)), "id": t.id} for t in todo.list],
        }
    elif kind == "paid_media":
        item["paid_stars_amount"] = media.stars_amount


def _put_text(item: dict, key: str, value: str | None) -> None:
    # Telegram Desktop leaves an empty string out.
    if value:
        item[key] = writable(value)


def _spoiler_and_ttl(item: dict, media) -> None:
    if getattr(media, "spoiler", None):
        item["media_spoiler"] = True
    ttl: Any = getattr(media, "ttl_seconds", None)
    if ttl:
        item["self_destruct_period_seconds"] = ttl


def _largest_photo_size(photo) -> tuple[int | None, int | None, int | None]:
    """The largest real size, the first of equal ones, as Telegram Desktop picks it (no stripped or path size)."""
    width = height = size = None
    area = 0
    for photo_size in getattr(photo, "sizes", None) or ():
        name = type(photo_size).__name__
        if name in ("PhotoStrippedSize", "PhotoPathSize", "PhotoSizeEmpty"):
            continue
        w, h = getattr(photo_size, "w", 0), getattr(photo_size, "h", 0)
        if not isinstance(w, int) or not isinstance(h, int) or w * h <= area:
            continue
        if name == "PhotoSizeProgressive":
            if not photo_size.sizes:
                continue
            size = photo_size.sizes[-1]
        elif name == "PhotoCachedSize":
            size = len(photo_size.bytes)
        else:
            size = getattr(photo_size, "size", None)
        width, height, area = w, h, w * h
    return width, height, size


def _document_fields(item: dict, message, ctx: RenderContext) -> None:
    """A document's keys in Telegram Desktop's order; its type flags read from the attributes as it does."""
    media = message.media
    document: Any = getattr(media, "document", None)
    ref = ctx.media(message)
    facts = media_facts(media)
    item["file"] = file_value(ref)
    name = (ref.file_name if ref is not None else None) or facts.file_name
    if name:
        item["file_name"] = writable(name)
    size = (ref.size if ref is not None else None) or facts.size
    item["file_size"] = size or 0  # as Telegram Desktop writes a size it does not know
    kinds: set[str] = set()
    width = height = duration = None
    emoji = performer = title = None
    for attr in getattr(document, "attributes", None) or ():
        attr_name = type(attr).__name__
        if attr_name == "DocumentAttributeImageSize":
            width, height = attr.w, attr.h
        elif attr_name == "DocumentAttributeAnimated":
            kinds.add("animation")
        elif attr_name in ("DocumentAttributeSticker", "DocumentAttributeCustomEmoji"):
            kinds.add("sticker")
            emoji = attr.alt
        elif attr_name == "DocumentAttributeVideo":
            kinds.add("video_message" if attr.round_message else "video_file")
            width, height, duration = attr.w, attr.h, int(attr.duration)
        elif attr_name == "DocumentAttributeAudio":
            kinds.add("voice_message" if attr.voice else "audio_file")
            performer, title, duration = attr.performer, attr.title, int(attr.duration)
    media_type = next((k for k in _MEDIA_TYPE_ORDER if k in kinds), None)
    if media_type is not None:
        item["media_type"] = media_type
    if media_type == "sticker":
        _put_text(item, "sticker_emoji", emoji)
    elif media_type == "audio_file":
        _put_text(item, "performer", performer)
        _put_text(item, "title", title)
    mime = getattr(document, "mime_type", None)
    if mime:
        item["mime_type"] = writable(mime)
    if duration:
        item["duration_seconds"] = duration
    if width and height:
        item["width"], item["height"] = width, height
    _spoiler_and_ttl(item, media)


def _geo(geo) -> dict | None:
    if type(geo).__name__ != "GeoPoint":
        return None
    # Telegram Desktop prints coordinates with six decimals. A coordinate that is no number (NaN, an infinity:
    # a malformed point) is null, which every JSON reader reads.
    return {"latitude": _coordinate(geo.lat), "longitude": _coordinate(geo.long)}


def _coordinate(value: float) -> float | None:
    return round(value, 6) if isinstance(value, float | int) and math.isfinite(value) else None


def _text_with_entities(value) -> list[dict]:
    """A TextWithEntities (newer layers) or a plain string (older ones) as text parts."""
    return text_parts(str(getattr(value, "text", value)), getattr(value, "entities", None))


def _poll(media) -> dict:
    poll = media.poll
    results = {r.option: r for r in (getattr(media.results, "results", None) or [])}
    answers = []
    for answer in poll.answers:
        result = results.get(answer.option)
        answers.append(
            {
                "text": serialize_text(_text_with_entities(answer.text)),
                "voters": (result.voters or 0) if result is not None else 0,
                "chosen": bool(result is not None and result.chosen),
            }
        )
    return {
        "question": serialize_text(_text_with_entities(poll.question)),
        "closed": bool(poll.closed),
        "total_voters": getattr(media.results, "total_voters", None) or 0,
        "answers": answers,
    }


# A button's kind (its class in older layers, its `type` in newer ones, without the prefix) -> Telegram Desktop's
# name for it.
_BUTTON_TYPES = {
    "": "default",
    "Default": "default",
    "Url": "url",
    "Callback": "callback",
    "RequestPhone": "request_phone",
    "RequestGeoLocation": "request_location",
    "RequestPoll": "request_poll",
    "RequestPeer": "request_peer",
    "SwitchInline": "switch_inline",
    "Game": "game",
    "Buy": "buy",
    "UrlAuth": "auth",
    "UserProfile": "user_profile",
    "WebView": "web_view",
    "SimpleWebView": "simple_web_view",
    "Copy": "copy_text",
}
_BUTTON_PREFIX = re.compile(r"^(?:KeyboardButton|InlineButtonType|ButtonType)")


def _button_rows(markup) -> list[list[dict]]:
    """An inline keyboard as Telegram Desktop writes it: rows of {type, text, data, forward_text, button_id}."""
    if type(markup).__name__ != "ReplyInlineMarkup":
        return []
    rows = []
    for row in markup.rows:
        buttons = [entry for button in row.buttons if (entry := _button(button)) is not None]
        if buttons:
            rows.append(buttons)
    return rows


def _button(button) -> dict | None:
    spec: Any = getattr(button, "type", None) or button
    name = _BUTTON_PREFIX.sub("", type(spec).__name__)
    kind = _BUTTON_TYPES.get(name)
    if kind is None:
        return None
    data: Any = getattr(spec, "url", None) or getattr(spec, "query", None) or getattr(spec, "copy_text", None) or ""
    if name == "Callback":
        kind = "callback_with_password" if spec.requires_password else kind
        data = spec.data or b""
    elif name == "SwitchInline" and spec.same_peer:
        kind = "switch_inline_same"
    elif name == "RequestPeer":
        data = "unsupported"
    elif name == "RequestPoll":
        data = b"" if spec.quiz is None else bytes([1 if spec.quiz else 0])
    elif name == "UserProfile":
        data = str(spec.user_id)
    entry: dict[str, object] = {"type": kind}
    if button.text:
        entry["text"] = writable(button.text)
    if data and kind.startswith("callback"):
        entry["dataBase64"] = base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")
        entry["data"] = ""
    elif data:
        entry["data"] = writable(data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data))
    if name == "UrlAuth" and spec.fwd_text:
        entry["forward_text"] = writable(spec.fwd_text)
    button_id = getattr(spec, "button_id", None)
    if name in ("UrlAuth", "RequestPeer") and button_id:
        entry["button_id"] = button_id
    return entry


def _reaction_key(reaction) -> tuple[str, dict] | None:
    name = type(reaction).__name__
    if name == "ReactionEmoji":
        return "emoji" + reaction.emoticon, {"type": "emoji", "emoji": writable(reaction.emoticon)}
    if name == "ReactionCustomEmoji":
        return f"custom_emoji{reaction.document_id}", {"type": "custom_emoji", "document_id": str(reaction.document_id)}
    if name == "ReactionPaid":
        return "paid", {"type": "paid"}
    if name == "ReactionEmpty":
        return "empty", {"type": "empty"}
    return None


def _reactions(message, ctx: RenderContext) -> list[dict]:
    """Counts in Telegram's order, then the recent reactors under each (a recent one not counted gets 0)."""
    reactions: Any = getattr(message, "reactions", None)
    out: dict[str, dict] = {}
    for count in getattr(reactions, "results", None) or ():
        found = _reaction_key(count.reaction)
        if found is not None and found[0] not in out:
            key, head = found
            out[key] = {"type": head.pop("type"), "count": count.count, **head}
    for recent in getattr(reactions, "recent_reactions", None) or ():
        found = _reaction_key(recent.reaction)
        if found is None:
            continue
        key, head = found
        entry = out.get(key)
        if entry is None:
            entry = out[key] = {"type": head.pop("type"), "count": 0, **head}
        reactor = peer_id(recent.peer_id)
        if reactor is None:
            continue
        entry.setdefault("recent", []).append(
            {"from": writable(ctx.peer_name(reactor)), "from_id": peer_ref(reactor), "date": _date(recent.date, ctx)[0]}
        )
    return list(out.values())


def _names(ids, ctx: RenderContext) -> list[str]:
    return [writable(ctx.peer_name(user_id)) for user_id in ids or []]


def _bot_allowed(item: dict, action: Any) -> None:
    """A bot allowed to write: Telegram Desktop's name for how (an attachment menu, a mini app's request, an app
    or a website's login) and the app or domain it names; an empty name is left out, as it leaves it out."""
    app: Any = getattr(action, "app", None)
    if action.attach_menu:
        item["action"] = "attach_menu_bot_allowed"
    elif action.from_request:
        item["action"] = "web_app_bot_allowed"
    elif isinstance(app, tl.BotApp) and app.id:
        item.update(action="allow_sending_messages", reason_app_id=app.id)
        if app.title:
            item["reason_app_name"] = writable(app.title)
    else:
        item["action"] = "allow_sending_messages"
        if action.domain:
            item["reason_domain"] = writable(action.domain)


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
    elif name == "MessageActionBotAllowed":
        _bot_allowed(item, action)
    elif name == "MessageActionRequestedPeer":
        # Telegram Desktop also writes "peers", as a string of its own internal peer numbers: left out.
        item.update(action="requested_peer", button_id=action.button_id)
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
    elif name == "MessageActionSetChatWallPaper":
        item["action"] = "set_same_chat_wallpaper" if action.same else "set_chat_wallpaper"
        _reply_fields(item, message, key="message_id")
    elif name == "MessageActionGroupCallScheduled":
        item.update(action="group_call_scheduled", schedule_date=int(as_utc(action.schedule_date).timestamp()))
    elif name == "MessageActionTopicCreate":
        item.update(action="topic_created", title=writable(action.title))
    elif name == "MessageActionTopicEdit":
        item["action"] = "topic_edit"
        if action.title:
            item["new_title"] = writable(action.title)
        # Always there, as Telegram Desktop writes it: 0 when the icon did not change (or was removed).
        item["new_icon_emoji_id"] = action.icon_emoji_id or 0
    else:
        # Actions Telegram Desktop has no name for keep a readable one in the same style.
        base = name.removeprefix("MessageAction") or "unknown"
        item["action"] = re.sub(r"(?<!^)(?=[A-Z])", "_", base).lower()

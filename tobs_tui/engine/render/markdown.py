"""One Telegram message (Telethon `Message` / `MessageService`) to its Markdown block in a month note.

Pure: everything the renderer cannot read from the message itself (names, reply targets, media
files) comes through `RenderContext`, which the export pipeline builds.
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from telethon import utils as tl_utils

from .entities import render_blocks, render_text
from .media import FILE_KINDS, media_facts, media_kind
from .text import clean, escape_plain, normalize_newlines, plain_snippet

__all__ = [
    "MediaRef",
    "MonthKeys",
    "RenderContext",
    "ReplyTarget",
    "month_key",
    "plain_snippet",
    "render_message",
    "render_text",
]


@dataclass(frozen=True)
class ReplyTarget:
    """What a reply links to; the pipeline looks it up, the renderer only formats it."""

    note: str  # vault-relative note path without ".md", e.g. "Chat Title (123)/2024/2024-03"
    sender: str
    snippet: str  # the target's plain text; shortened and made link-safe here


@dataclass(frozen=True)
class MediaRef:
    """The media pipeline's record of a message's file."""

    kind: str
    path: str | None  # vault-relative path of the file, downloaded or to be downloaded
    status: str  # "ok" | "pending" | "skipped" | "failed"
    file_name: str | None = None
    mime_type: str | None = None
    size: int | None = None
    reason: str | None = None


def default_peer_name(peer_id: int) -> str:
    return f"id {peer_id}"


@dataclass(frozen=True)
class RenderContext:
    tz: datetime.tzinfo
    sender_name: Callable[[Any], str]
    reply_target: Callable[[int], ReplyTarget | None]
    media: Callable[[Any], MediaRef | None]
    peer_name: Callable[[int], str] = field(default=default_peer_name)


# Characters that end or redirect an Obsidian wikilink target, or open a code span or math that
# could reach past it; a path holding one (or a `%%`) gets a percent-encoded Markdown link instead.
# A label that could mean something to Obsidian or to a CommonMark reader (HTML, entities, emphasis, code, math,
# tags, block ids, link brackets, a `%%` comment, a `==` highlight). `_` between two letters or digits
# ("data_94.csv") cannot open or close emphasis, so it alone keeps a wikilink.
_LABEL_NEEDS_ESCAPE_RE = re.compile(r"[\\`*~\[\]<>|^#&$]|(?<![^\W_])_|_(?![^\W_])|==|%%")
WIKILINK_UNSAFE = frozenset("[]|#^`$\n\r\x0b\x0c\x85\u2028\u2029")  # line breaks of every form
EMBED_KINDS = frozenset({"photo", "video", "round", "voice", "audio", "sticker", "animation"})
# A right-to-left override in a file name shows "evil\u202etxt.exe" as "evilexe.txt".
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
_NOT_EMBEDDABLE = (".tgs",)  # animated stickers are Lottie JSON: Obsidian cannot show them
_KIND_WORDS = {
    "photo": "photo",
    "video": "video",
    "round": "video message",
    "voice": "voice message",
    "audio": "audio",
    "sticker": "sticker",
    "animation": "GIF",
    "document": "file",
}


_EPOCH = datetime.datetime.fromtimestamp(0, datetime.UTC)


def as_utc(moment: datetime.datetime | None) -> datetime.datetime:
    """A Telegram date as an aware instant: a missing one is the epoch, a naive one is UTC."""
    if moment is None:
        return _EPOCH
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.UTC)
    return moment


def to_local(moment: datetime.datetime | None, tz: datetime.tzinfo) -> datetime.datetime:
    return as_utc(moment).astimezone(tz)


def month_key(message: Any, tz: datetime.tzinfo) -> str:
    """ "YYYY-MM" of the message in the configured timezone: the month note it belongs to."""
    local = to_local(getattr(message, "date", None), tz)
    return f"{local.year}-{local.month:02d}" if local.year >= 1000 else local.strftime("%Y-%m")


class MonthKeys:
    """month_key with one timezone conversion per month instead of one per message: a batch's messages
    mostly share a month, and each key is checked against that month's bounds as UTC instants."""

    def __init__(self, tz: datetime.tzinfo) -> None:
        self.tz = tz
        self._month: tuple[datetime.datetime, datetime.datetime, str] | None = None

    def __call__(self, message: Any) -> str:
        date: Any = getattr(message, "date", None)
        month = self._month
        if (
            month is not None
            and isinstance(date, datetime.datetime)
            and date.tzinfo is not None
            and month[0] <= date < month[1]
        ):
            return month[2]
        key = month_key(message, self.tz)
        if isinstance(date, datetime.datetime) and 1000 <= date.year < 9999:
            local = to_local(date, self.tz)
            first = datetime.datetime(local.year, local.month, 1, tzinfo=self.tz)
            after = datetime.datetime(local.year + local.month // 12, local.month % 12 + 1, 1, tzinfo=self.tz)
            utc = datetime.UTC
            self._month = (first.astimezone(utc), after.astimezone(utc), key)
        return key


def _stamp(moment: datetime.datetime) -> str:
    if moment.year < 1000:
        return moment.strftime("%Y-%m-%d %H:%M")
    # strftime goes through the C library for every call; this runs for every message (same text from year 1000).
    # %-formatting, not an f-string: one call instead of a format per field.
    return "%d-%02d-%02d %02d:%02d" % (moment.year, moment.month, moment.day, moment.hour, moment.minute)


@functools.lru_cache(maxsize=4096)
def _bold(name: str) -> str:
    # Cached: a chat has few senders, and every message's header names one.
    name = " ".join(clean(name).split()) or "Unknown"
    return "**" + escape_plain(name, line_start=False, prev="*", next_char="*") + "**"


def _inline(text: str, *, line_start: bool = False) -> str:
    return escape_plain(" ".join(clean(text).split()), line_start=line_start, prev=" ", next_char=" ")


def _wikilink(path: str, *, anchor: str = "", label: str = "", embed: bool = False, note: bool = False) -> str:
    """An Obsidian link to a vault-relative path (a note's without `.md`: `note`), shown as `label`.

    A wikilink when both are plain. Obsidian shows a wikilink's alias as typed (no escapes), and other Markdown
    readers parse it as text, so a label that needs escaping (HTML, `**`, `#tag`, `|`, `]]`) or a path that cannot
    be a wikilink makes a Markdown link instead: its text escaped like message text, its path percent-encoded
    (with a note's `.md`, which Markdown links name).
    """
    path = clean(path)
    label = " ".join(normalize_newlines(clean(label)).split())
    if not _LABEL_NEEDS_ESCAPE_RE.search(label) and not (set(path) & WIKILINK_UNSAFE) and "%%" not in path:
        target = path + (f"#{anchor}" if anchor else "")
        alias = f"|{label}" if label else ""
        return f"{'!' if embed else ''}[[{target}{alias}]]"
    target = quote(path + (".md" if note else ""), safe="/-_.~!*',;:@&=+") + (f"#{anchor}" if anchor else "")
    text = escape_plain(label, line_start=False, prev="[", next_char="]") if label else ""
    return f"{'!' if embed else ''}[{text}]({target})"


def peer_id(peer: Any) -> int | None:
    """The marked id (-100... for channels) of a Peer, or None when there is none."""
    if peer is None:
        return None
    try:
        return tl_utils.get_peer_id(peer)
    except (TypeError, ValueError):
        return None


def _peer_name(peer: Any, ctx: RenderContext) -> str:
    marked = peer_id(peer)
    return ctx.peer_name(marked) if marked is not None else "Unknown"


def format_size(size: int | None) -> str:
    if not isinstance(size, int) or size < 0:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""


def render_message(message: Any, ctx: RenderContext) -> str:
    """The message's Markdown block: header, reply, forward, text, media, reactions, block id.

    Ends with a blank line, so blocks can be concatenated as they are into a note.
    """
    block_id = f"^m{int(getattr(message, 'id', 0))}"
    if type(message).__name__ == "MessageService":
        return f"{_service_line(message, ctx)} {block_id}\n\n"
    # Lines of one paragraph join with a line break, anything next to a quote or code block with a blank line.
    out = _header(message, ctx)
    for line in (_reply_line(message, ctx), _forward_line(message, ctx)):
        if line:
            out += "\n" + line
    in_paragraph = True
    for block in render_blocks(getattr(message, "message", None), getattr(message, "entities", None)):
        para = block.kind == "para"
        out += ("\n" if in_paragraph and para else "\n\n") + block.text
        in_paragraph = para
    tail = _media_lines(message, ctx)
    reactions = _reactions_line(message)
    if reactions:
        tail.append(reactions)
    if tail:
        out += ("\n" if in_paragraph else "\n\n") + "\n".join(tail)
        in_paragraph = True
    # Obsidian names a quote or code block by an id on its own line after it.
    return f"{out} {block_id}\n\n" if in_paragraph else f"{out}\n\n{block_id}\n\n"


def _header(message: Any, ctx: RenderContext) -> str:
    local = to_local(getattr(message, "date", None), ctx.tz)
    sender = ctx.sender_name(message)
    header = _bold(sender)
    author: Any = getattr(message, "post_author", None)
    if author and author.strip() != (sender or "").strip():
        header += f" ({_inline(author)})"
    header += f" · {_stamp(local)}"
    via: Any = getattr(message, "via_bot_id", None)
    if isinstance(via, int):
        header += f" · via {_inline(ctx.peer_name(via))}"
    edited: Any = getattr(message, "edit_date", None)
    if edited is not None and not getattr(message, "edit_hide", False):
        edited_local = to_local(edited, ctx.tz)
        when = edited_local.strftime("%H:%M") if edited_local.date() == local.date() else _stamp(edited_local)
        header += f" · edited {when}"
    return header


def _reply_line(message: Any, ctx: RenderContext) -> str | None:
    reply: Any = getattr(message, "reply_to", None)
    if type(reply).__name__ != "MessageReplyHeader":
        return None
    target_id = reply.reply_to_msg_id
    if reply.forum_topic and reply.reply_to_top_id is None:
        return None  # the message only sits in a topic; the id is the topic's, not a reply
    if reply.reply_to_peer_id is not None and peer_id(reply.reply_to_peer_id) != peer_id(
        getattr(message, "peer_id", None)
    ):
        return f"↩ reply to a message in {_inline(_peer_name(reply.reply_to_peer_id, ctx))}"
    if not isinstance(target_id, int):
        return None
    target = ctx.reply_target(target_id)
    if target is None:
        return f"↩ reply to message {target_id} (not in this export)"
    words = plain_snippet(reply.quote_text or target.snippet)
    label = f"↩ {target.sender}: {words}" if words else f"↩ {target.sender}"
    return _wikilink(target.note, anchor=f"^m{target_id}", label=label, note=True)


def _forward_line(message: Any, ctx: RenderContext) -> str | None:
    fwd: Any = getattr(message, "fwd_from", None)
    if fwd is None:
        return None
    source = fwd.from_name or (_peer_name(fwd.from_id, ctx) if fwd.from_id is not None else "Unknown")
    line = f"↪ Forwarded from {_bold(source)}"
    if fwd.post_author:
        line += f" ({_inline(fwd.post_author)})"
    if fwd.date is not None:
        line += f" · {_stamp(to_local(fwd.date, ctx.tz))}"
    return line


def _media_lines(message: Any, ctx: RenderContext) -> list[str]:
    media: Any = getattr(message, "media", None)
    kind = media_kind(media)
    if kind is None:
        return []
    if kind in FILE_KINDS:
        return [file_line(kind, media, ctx.media(message))]
    if kind == "poll":
        return _poll_lines(media)
    if kind in ("location", "live_location", "venue"):
        return [_location_line(kind, media)]
    if kind == "contact":
        name = " ".join(part for part in (media.first_name, media.last_name) if part)
        phone = f", {_inline(media.phone_number)}" if media.phone_number else ""
        return [f"👤 Contact: {_bold(name or 'Unknown')}{phone}"]
    if kind == "dice":
        return [f"{_inline(media.emoticon, line_start=True)} Dice: {int(media.value)}"]
    if kind == "webpage":
        return []  # the link is in the text already
    if kind == "unsupported":
        return ["(media this Telegram layer cannot describe)"]
    return [f"(unsupported media: {kind.replace('_', ' ')})"]


def file_line(kind: str, media: Any, ref: MediaRef | None) -> str:
    word = _KIND_WORDS.get(kind, kind)
    facts = media_facts(media)
    if ref is None:
        return f"({word} not downloaded)"
    if ref.status == "failed":
        return f"({word} failed: {_inline(ref.reason or 'unknown error')})"
    if ref.status not in ("ok", "pending") or not ref.path:
        reason = f": {_inline(ref.reason)}" if ref.reason else ""
        return f"({word} not downloaded{reason})"
    name = _BIDI_CONTROLS.sub("", ref.file_name or facts.file_name or ref.path.rsplit("/", 1)[-1])
    if kind in EMBED_KINDS and not ref.path.lower().endswith(_NOT_EMBEDDABLE):
        return _wikilink(ref.path, embed=True)
    if kind == "sticker":
        label = " ".join(part for part in (facts.sticker_emoji, "sticker") if part)
        return f"📎 {_wikilink(ref.path, label=label)}"
    size = format_size(ref.size if ref.size is not None else facts.size)
    return f"📎 {_wikilink(ref.path, label=name)}" + (f" ({size})" if size else "")


def _poll_lines(media: Any) -> list[str]:
    poll = media.poll
    question = getattr(poll.question, "text", poll.question)
    lines = [f"📊 {'Quiz' if poll.quiz else 'Poll'}: {_bold(str(question))}"]
    results = {r.option: r for r in (getattr(media.results, "results", None) or [])}
    total: Any = getattr(media.results, "total_voters", None)
    for answer in poll.answers:
        text = getattr(answer.text, "text", answer.text)
        line = f"◦ {_inline(str(text))}"
        result = results.get(answer.option)
        if result is not None and result.voters is not None:
            share = f" ({round(100 * result.voters / total)}%)" if total else ""
            line += f" — {result.voters} vote{'s' if result.voters != 1 else ''}{share}"
        if result is not None and result.correct:
            line += " ✓ correct"
        if result is not None and result.chosen:
            line += " ← chosen"
        lines.append(line)
    footer = []
    if total is not None:
        footer.append(f"{total} voter{'s' if total != 1 else ''}")
    if poll.closed:
        footer.append("closed")
    if footer:
        lines.append(" · ".join(footer))
    return lines


def map_link(lat: float, lon: float) -> str:
    return f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=16/{lat:.6f}/{lon:.6f}"


def _location_line(kind: str, media: Any) -> str:
    geo = media.geo
    if type(geo).__name__ != "GeoPoint":
        return "📍 Location (not available)"
    where = f"{geo.lat:.6f}, {geo.long:.6f} ([map]({map_link(geo.lat, geo.long)}))"
    if kind == "venue":
        address = f", {_inline(media.address)}" if media.address else ""
        return f"📍 {_bold(media.title or 'Venue')}{address} — {where}"
    if kind == "live_location":
        minutes = int(media.period) // 60
        return f"📍 Live location: {where} · shared for {minutes} min"
    return f"📍 Location: {where}"


def reaction_label(reaction: Any) -> str:
    name = type(reaction).__name__
    if name == "ReactionEmoji":
        return clean(reaction.emoticon) or "(reaction)"
    if name == "ReactionPaid":
        return "⭐"
    return "(custom emoji)"


def _reactions_line(message: Any) -> str | None:
    reactions: Any = getattr(message, "reactions", None)
    if reactions is None:
        return None  # most messages: no list to build
    results = getattr(reactions, "results", None) or []
    counted = [result for result in results if result.count]
    parts = [f"{_inline(reaction_label(r.reaction), line_start=not i)} × {int(r.count)}" for i, r in enumerate(counted)]
    return " · ".join(parts) if parts else None


# --- service messages -------------------------------------------------------------------------


def _names(ids: list[int] | None, ctx: RenderContext) -> str:
    names = [_bold(ctx.peer_name(user_id)) for user_id in ids or []]
    if len(names) <= 1:
        return "".join(names) or "someone"
    return ", ".join(names[:-1]) + " and " + names[-1]


def _quoted(text: str | None) -> str:
    return f"“{_inline(text or '')}”"


def _duration(seconds: int | float | None) -> str:
    if not seconds:
        return ""
    seconds = int(seconds)
    minutes, secs = divmod(seconds, 60)
    return f" ({minutes} min {secs} s)" if minutes else f" ({secs} s)"


def _service_line(message: Any, ctx: RenderContext) -> str:
    local = to_local(getattr(message, "date", None), ctx.tz)
    actor = _bold(ctx.sender_name(message))
    return f"⚙ {_service_sentence(message, actor, ctx)} · {_stamp(local)}"


def _service_sentence(message: Any, actor: str, ctx: RenderContext) -> str:
    action: Any = getattr(message, "action", None)
    name = type(action).__name__
    sender = peer_id(getattr(message, "from_id", None))
    if name == "MessageActionChatCreate":
        return f"{actor} created the group {_quoted(action.title)}"
    if name == "MessageActionChannelCreate":
        return f"Channel {_quoted(action.title)} created"
    if name == "MessageActionChatEditTitle":
        return f"{actor} changed the title to {_quoted(action.title)}"
    if name == "MessageActionChatEditPhoto":
        return f"{actor} changed the group photo"
    if name == "MessageActionChatDeletePhoto":
        return f"{actor} removed the group photo"
    if name == "MessageActionChatAddUser":
        if list(action.users) == [sender]:
            return f"{actor} joined the group"
        return f"{actor} added {_names(action.users, ctx)}"
    if name == "MessageActionChatDeleteUser":
        if action.user_id == sender:
            return f"{actor} left the group"
        return f"{actor} removed {_names([action.user_id], ctx)}"
    if name == "MessageActionChatJoinedByLink":
        return f"{actor} joined the group via an invite link"
    if name == "MessageActionChatJoinedByRequest":
        return f"{actor} was accepted into the group"
    if name == "MessageActionPinMessage":
        return f"{actor} pinned {_pinned_link(message, ctx)}"
    if name == "MessageActionTopicCreate":
        return f"{actor} created the topic {_quoted(action.title)}"
    if name == "MessageActionTopicEdit":
        changes = []
        if action.title is not None:
            changes.append(f"renamed the topic to {_quoted(action.title)}")
        if action.closed is not None:
            changes.append("closed the topic" if action.closed else "reopened the topic")
        if action.hidden is not None:
            changes.append("hid the topic" if action.hidden else "unhid the topic")
        if action.icon_emoji_id is not None and not changes:
            changes.append("changed the topic icon")
        return f"{actor} " + (" and ".join(changes) or "edited the topic")
    if name == "MessageActionChatMigrateTo":
        return "The group was upgraded to a supergroup"
    if name == "MessageActionChannelMigrateFrom":
        return f"Supergroup created from the group {_quoted(action.title)}"
    if name == "MessageActionHistoryClear":
        return "History was cleared"
    if name == "MessageActionPhoneCall":
        reason = type(action.reason).__name__
        kind = "Video call" if action.video else "Call"
        if reason == "PhoneCallDiscardReasonMissed":
            return f"Missed {kind.lower()} from {actor}"
        if reason == "PhoneCallDiscardReasonBusy":
            return f"{kind} from {actor} declined (busy)"
        return f"{kind} from {actor}{_duration(action.duration)}"
    if name == "MessageActionGroupCall":
        if action.duration:
            return f"Voice chat ended{_duration(action.duration)}"
        return f"{actor} started a voice chat"
    if name == "MessageActionInviteToGroupCall":
        return f"{actor} invited {_names(action.users, ctx)} to the voice chat"
    if name == "MessageActionScreenshotTaken":
        return f"{actor} took a screenshot"
    if name == "MessageActionCustomAction":
        return _inline(action.message)
    if name == "MessageActionContactSignUp":
        return f"{actor} joined Telegram"
    if name == "MessageActionSetMessagesTTL":
        if action.period:
            return f"{actor} set messages to auto-delete after {_period(action.period)}"
        return f"{actor} turned off auto-delete"
    if name == "MessageActionGameScore":
        return f"{actor} scored {int(action.score)} in a game"
    if name == "MessageActionBotAllowed":
        return "You allowed this bot to message you"
    if name == "MessageActionSetChatTheme":
        return f"{actor} changed the chat theme"
    label = re.sub(r"(?<!^)(?=[A-Z])", " ", name.removeprefix("MessageAction")).lower() or "event"
    return f"{actor}: {label}"


def _period(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def _pinned_link(message: Any, ctx: RenderContext) -> str:
    reply: Any = getattr(message, "reply_to", None)
    target_id: Any = getattr(reply, "reply_to_msg_id", None)
    if not isinstance(target_id, int):
        return "a message"
    target = ctx.reply_target(target_id)
    if target is None:
        return f"message {target_id} (not in this export)"
    words = plain_snippet(target.snippet)
    label = f"“{words}”" if words else "a message"
    return _wikilink(target.note, anchor=f"^m{target_id}", label=label, note=True)

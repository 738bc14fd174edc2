"""What kind of media a Telegram message carries, and the facts about it both renderers show."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .memo import JobMemo


@dataclass(frozen=True)
class MediaFacts:
    """Facts read from the TL media object itself (no download needed)."""

    kind: str
    file_name: str | None = None
    mime_type: str | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    performer: str | None = None
    title: str | None = None
    sticker_emoji: str | None = None


_SIMPLE_KINDS = {
    "MessageMediaGeo": "location",
    "MessageMediaGeoLive": "live_location",
    "MessageMediaVenue": "venue",
    "MessageMediaContact": "contact",
    "MessageMediaPoll": "poll",
    "MessageMediaDice": "dice",
    "MessageMediaWebPage": "webpage",
    "MessageMediaGame": "game",
    "MessageMediaInvoice": "invoice",
    "MessageMediaStory": "story",
    "MessageMediaGiveaway": "giveaway",
    "MessageMediaGiveawayResults": "giveaway_results",
    "MessageMediaPaidMedia": "paid_media",
    "MessageMediaToDo": "todo",
    "MessageMediaVideoStream": "video_stream",
    "MessageMediaUnsupported": "unsupported",
}
# Kinds whose file is a real download (the media pipeline's business).
FILE_KINDS = frozenset({"photo", "video", "round", "voice", "audio", "sticker", "animation", "document"})


def media_kind(media: Any) -> str | None:
    """photo, video, round, voice, audio, sticker, animation, document, poll, location, ... or None."""
    if media is None:
        return None
    name = type(media).__name__
    if name == "MessageMediaEmpty":
        return None
    if name == "MessageMediaPhoto":
        return "photo"
    if name == "MessageMediaDocument":
        return media_facts(media).kind
    return _SIMPLE_KINDS.get(name, "other")


# Media -> its facts: media_kind and both renderers each ask for a message's facts.
_facts_seen = JobMemo()


def media_facts(media: Any) -> MediaFacts:
    """Name, type, size, dimensions and duration as Telegram describes the media."""
    facts = _facts_seen.get(media)
    if facts is None:
        facts = _media_facts(media)
        _facts_seen.put(media, facts)
    return facts


def _media_facts(media: Any) -> MediaFacts:
    name = type(media).__name__
    if name == "MessageMediaPhoto":
        photo: Any = getattr(media, "photo", None)
        width = height = size = None
        for photo_size in getattr(photo, "sizes", None) or []:
            w, h = getattr(photo_size, "w", None), getattr(photo_size, "h", None)
            if (
                isinstance(w, int)
                and isinstance(h, int)
                and (width is None or height is None or w * h >= width * height)
            ):
                width, height = w, h
                sizes: Any = getattr(photo_size, "sizes", None)
                size = getattr(photo_size, "size", None) or (max(sizes) if sizes else None)
        return MediaFacts("photo", mime_type="image/jpeg", size=size, width=width, height=height)
    if name != "MessageMediaDocument":
        return MediaFacts(media_kind(media) or "other")
    document: Any = getattr(media, "document", None)
    facts: dict = {
        "mime_type": getattr(document, "mime_type", None),
        "size": getattr(document, "size", None),
    }
    kind = "document"
    animated = sticker = False
    for attr in getattr(document, "attributes", None) or []:
        attr_name = type(attr).__name__
        if attr_name == "DocumentAttributeFilename":
            facts["file_name"] = attr.file_name
        elif attr_name == "DocumentAttributeVideo":
            facts.update(width=attr.w, height=attr.h, duration=attr.duration)
            kind = "round" if attr.round_message else "video"
        elif attr_name == "DocumentAttributeAudio":
            facts.update(duration=attr.duration, performer=attr.performer, title=attr.title)
            kind = "voice" if attr.voice else "audio"
        elif attr_name == "DocumentAttributeImageSize":
            facts.setdefault("width", attr.w)
            facts.setdefault("height", attr.h)
        elif attr_name == "DocumentAttributeSticker":
            sticker = True
            facts["sticker_emoji"] = attr.alt
        elif attr_name == "DocumentAttributeAnimated":
            animated = True
    if sticker:
        kind = "sticker"
    elif animated:
        kind = "animation"
    elif getattr(media, "round", None):
        kind = "round"
    elif getattr(media, "voice", None):
        kind = "voice"
    return MediaFacts(kind, **facts)

"""What an export is asked to do: the chats chosen and the options fixed for one run."""

from __future__ import annotations

import datetime
from dataclasses import dataclass


@dataclass(frozen=True)
class ChatSelection:
    chat_id: int
    topic_ids: tuple[int, ...] | None = None
    download_media: bool = True
    since: datetime.date | None = None  # a first export starts at this date
    backfill: bool = False  # exported before: also fetch the messages older than the first exported one (from since)


@dataclass(frozen=True)
class ExportOptions:
    """What the pipeline needs from the settings, fixed for one export run."""

    tz: datetime.tzinfo
    formats: tuple[str, ...] = ("markdown", "json")
    media_kinds: tuple[str, ...] = ("photo", "video", "document", "audio", "voice", "round", "sticker", "animation")
    max_file_size: int = 0  # bytes; 0 = no limit
    chats_at_once: int = 3

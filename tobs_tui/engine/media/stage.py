"""The media stage contract: what the pipeline asks of the files of each batch before it is committed, the
files a message carries, where they land, and which are skipped."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Protocol

from tobs_tui.engine.options import ExportOptions
from tobs_tui.engine.render import MediaRef, media_facts, media_kind, month_key
from tobs_tui.engine.render.corrections import Retried
from tobs_tui.engine.render.media import FILE_KINDS
from tobs_tui.engine.vault.filenames import media_file_name


@dataclass(frozen=True)
class MediaItem:
    """A message's downloadable file as Telegram describes it."""

    msg_id: int
    media_id: int
    kind: str
    file_name: str | None
    mime_type: str | None
    size: int | None
    month: str
    media: object = field(default=None, compare=False, repr=False)  # the TL media: where to download it


@dataclass(frozen=True)
class ChatContext:
    chat_id: int
    title: str
    dir_name: str
    download_media: bool


class MediaStage(Protocol):
    """Decides (and, with downloads, fetches) each batch's files BEFORE the batch is rendered and committed,
    so a note never embeds a file that failed. Returns the MediaRef per message id. A stage records the files
    it fetches; the rows of files it skips go in the batch's commit."""

    # True when the stage itself records the files it fetches; False when the batch's commit must record every
    # file row (a stage that fetches nothing).
    records_files: bool

    async def process(self, chat: ChatContext, items: list[MediaItem]) -> dict[int, MediaRef]: ...

    async def retry_failed(self, chat: ChatContext) -> list[Retried]:
        """Files of committed messages that earlier runs could not fetch, fetched now: what each note should say."""
        ...

    def set_workers(self, n: int) -> None:
        """Files in flight from now on."""
        ...


def media_item(message, tz: datetime.tzinfo) -> MediaItem | None:
    """The message's downloadable file (kind and facts as the renderers see them), or None."""
    media = getattr(message, "media", None)
    kind = media_kind(media)
    if kind not in FILE_KINDS:
        return None
    holder = getattr(media, "photo", None) if kind == "photo" else getattr(media, "document", None)
    media_id = getattr(holder, "id", None)
    if media_id is None:
        return None  # an empty/expired photo or document: nothing to download
    facts = media_facts(media)
    return MediaItem(
        message.id, media_id, kind, facts.file_name, facts.mime_type, facts.size, month_key(message, tz), media=media
    )


def media_rel_path(dir_name: str, item: MediaItem) -> str:
    name = media_file_name(item.msg_id, item.file_name, item.kind, item.mime_type)
    return f"{dir_name}/media/{item.kind}/{item.month}/{name}"


class PendingMedia:
    """Without the download workers: every wanted file is recorded as "pending" where it will land."""

    records_files = False

    def __init__(self, options: ExportOptions) -> None:
        self._options = options

    async def process(self, chat: ChatContext, items: list[MediaItem]) -> dict[int, MediaRef]:
        refs: dict[int, MediaRef] = {}
        for item in items:
            reason = skip_reason(item, chat, self._options)
            path = None if reason else media_rel_path(chat.dir_name, item)
            refs[item.msg_id] = MediaRef(
                kind=item.kind,
                path=path,
                status="skipped" if reason else "pending",
                file_name=item.file_name,
                mime_type=item.mime_type,
                size=item.size,
                reason=reason,
            )
        return refs

    async def retry_failed(self, chat: ChatContext) -> list[Retried]:
        return []  # nothing is fetched, so nothing is retried

    def set_workers(self, n: int) -> None:
        pass  # no download workers to size


def skip_reason(item: MediaItem, chat: ChatContext, options: ExportOptions) -> str | None:
    if not chat.download_media:
        return "media downloads are off for this export"
    if item.kind not in options.media_kinds:
        return f"{item.kind} files are not selected"
    if options.max_file_size and item.size is not None and item.size > options.max_file_size:
        return "too large"
    return None

"""What one fetched batch becomes before it is rendered: its forum topic routing, reply snippets and the
prepared batch (render job, month headers, index rows, media rows) a commit takes."""

from __future__ import annotations

from dataclasses import dataclass

from telethon.tl import types

from tobs_tui.engine.render.workers import RenderJob
from tobs_tui.engine.vault.store import SNIPPET_CHARS, MediaRecord

GENERAL_TOPIC = 1


def topic_of(message) -> int:
    """The forum topic a message belongs to: its reply header's top id, or General (1) without one."""
    if isinstance(getattr(message, "action", None), types.MessageActionTopicCreate):
        return message.id
    reply = getattr(message, "reply_to", None)
    if isinstance(reply, types.MessageReplyHeader) and reply.forum_topic:
        return reply.reply_to_top_id or reply.reply_to_msg_id or GENERAL_TOPIC
    return GENERAL_TOPIC


def snippet_of(message) -> str:
    """The start of a message's text for reply previews; the renderer shortens it to words for display."""
    return (getattr(message, "message", "") or "")[:SNIPPET_CHARS]


@dataclass(frozen=True)
class PreparedBatch:
    """One fetched batch, ready to render and commit."""

    job: RenderJob
    headers: dict[str, str]  # note file -> its month header (a new note starts with it)
    rows: list[tuple[int, str, str, str]]  # message index rows for the state DB
    topic_last: dict[int, int]
    media_records: list[MediaRecord]
    last_id: int  # the batch's newest id: the resume point once committed
    fetched: int  # messages in the batch (progress counts these)
    staged: bool = False  # a back-fill's batch: its notes and JSON lines go to the staged copies

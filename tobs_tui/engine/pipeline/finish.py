"""The end of one chat's run: files earlier runs could not fetch are tried again and the notes and JSON lines
that said so corrected, then the chat's index note and result.json are written."""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING

from tobs_tui.engine.media.stage import ChatContext
from tobs_tui.engine.render.corrections import (
    Retried,
    correct_json_lines,
    correct_note_stream,
)
from tobs_tui.engine.render.json_export import chat_header
from tobs_tui.engine.render.notes import index_note
from tobs_tui.engine.runtime.threads import pool_side

if TYPE_CHECKING:
    from tobs_tui.engine.pipeline.chat import ChatExport


async def retry_files(chat: ChatExport) -> None:
    """Files that earlier runs could not fetch are tried again once the chat's new messages are in, and the
    notes and JSON lines that said so are corrected before finish() writes result.json from those lines."""
    if not chat.run.selection.download_media:
        return
    retried = await chat.x.media_stage.retry_failed(ChatContext(chat.chat_id, chat.info.title, chat.dir_name, True))
    if retried:
        await chat.x.in_pool(correct, chat, retried)


@pool_side
def correct(chat: ChatExport, retried: list[Retried]) -> None:
    notes = chat.store.lookup_messages(chat.chat_id, [r.msg_id for r in retried])
    by_note: dict[str, list[Retried]] = {}
    for r in retried:
        if r.msg_id in notes:
            by_note.setdefault(f"{notes[r.msg_id][0]}.md", []).append(r)
    for rel, items in by_note.items():
        chat.writer.rewrite(rel, functools.partial(correct_note_stream, retried=items))
    chat.writer.rewrite(chat.writer.json_rel, functools.partial(correct_json_lines, retried=retried))
    # Corrected, or found otherwise than as written (edited by hand): either way nothing is left to do.
    chat.store.forget_stale_media(chat.chat_id, [r.msg_id for r in retried])


@pool_side
def write_summary(chat: ChatExport) -> None:
    record = chat.store.chat_progress(chat.chat_id)
    if record is None or record.last_id == 0:
        return
    notes = sorted(p for p in chat.store.note_lengths(chat.chat_id) if p.endswith(".md") and not p.startswith("."))
    text = index_note(
        chat_id=chat.chat_id,
        kind=chat.info.kind.value,
        title=chat.info.title,
        username=chat.info.username,
        first_id=record.first_id or 0,
        last_id=record.last_id,
        message_count=record.message_count,
        last_export=record.last_export or time.time(),
        dir_name=chat.dir_name,
        notes=notes,
    )
    chat.writer.write_index_note(f"{chat.dir_name}/{chat.dir_name}.md", text)
    if "json" in chat.x.options.formats:
        header = chat_header(chat.info.title, chat.info.kind, chat.chat_id, chat.info.username)
        chat.writer.write_result_json(f"{chat.dir_name}/result.json", header)

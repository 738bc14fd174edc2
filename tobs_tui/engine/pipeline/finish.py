"""The end of one chat's run: files earlier runs could not fetch are tried again and the notes and JSON lines
that said so corrected, then the chat's index note and result.json are written. The end of an export: the
vault's account-level result.json, every chat's messages in Telegram Desktop's whole-export shape."""

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
from tobs_tui.engine.snapshot import ChatKind
from tobs_tui.engine.vault.filenames import safe_path
from tobs_tui.engine.vault.jsonl import stream_account_json, stream_result_json
from tobs_tui.engine.vault.vault import Vault, jsonl_rel

if TYPE_CHECKING:
    from tobs_tui.engine.pipeline.chat import ChatExport

# How a chat's result.json is laid out; a vault whose chat was written with an older layout gets that chat's file
# written again at the end of the next export. 2: file paths relative to the result.json's own folder.
RESULT_JSON_LAYOUT = 2
ACCOUNT_JSON = "result.json"
ABOUT = (
    "Telegram chats exported by tobs-tui in Telegram Desktop's JSON export format. Each chat's folder holds its"
    " notes, its media and its own result.json; file paths in this file are relative to this file's folder."
)
CHATS_ABOUT = "Every chat exported to this vault, with every message exported so far."


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
        chat.store.set_result_json_layout(chat.chat_id, RESULT_JSON_LAYOUT)


@pool_side
def write_account_json(vault: Vault) -> int:
    """The vault root's result.json: every chat with committed JSON lines, its messages as in its own
    result.json (streamed from the same lines, so memory stays flat). A chat's own result.json written with an
    older layout is written again first. Call once no chat is being written. Returns the message count."""
    store = vault.store
    layouts = store.result_json_layouts()
    chats = []
    for record in store.all_chats():
        rel = jsonl_rel(record.chat_id)
        length = store.note_lengths(record.chat_id).get(rel)
        if not length or record.last_id == 0:
            continue
        header = chat_header(record.title, ChatKind(record.kind), record.chat_id, record.username)
        jsonl = safe_path(vault.root, rel)
        if layouts.get(record.chat_id, 0) < RESULT_JSON_LAYOUT:
            fill = functools.partial(
                stream_result_json, header=header, jsonl_path=jsonl, length=length, folder=record.dir_name
            )
            vault.write_stream_atomic(f"{record.dir_name}/result.json", fill)
            store.set_result_json_layout(record.chat_id, RESULT_JSON_LAYOUT)
        chats.append((header, jsonl, length))
    count = 0

    def fill_account(out) -> None:
        nonlocal count
        count = stream_account_json(out, ABOUT, CHATS_ABOUT, chats)

    vault.write_stream_atomic(ACCOUNT_JSON, fill_account)
    return count

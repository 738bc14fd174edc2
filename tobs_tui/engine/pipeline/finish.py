"""The end of one chat's run: files earlier runs could not fetch are tried again and the notes and JSON lines
that said so corrected, then the chat's index note and result.json are written. The end of an export: the
vault's account-level result.json, every chat's messages in Telegram Desktop's whole-export shape."""

from __future__ import annotations

import errno
import functools
import json
import logging
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from telethon import utils as tl_utils

from tobs_tui.engine.media.stage import ChatContext
from tobs_tui.engine.render.corrections import (
    Retried,
    correct_json_lines,
    correct_note_stream,
)
from tobs_tui.engine.render.json_export import chat_header
from tobs_tui.engine.render.notes import index_note
from tobs_tui.engine.runtime.threads import pool_side
from tobs_tui.engine.snapshot import ChatKind, EventKind
from tobs_tui.engine.vault.filenames import UnsafePathError, is_plain_file, safe_path, symlink_refused
from tobs_tui.engine.vault.jsonl import stream_account_json, stream_result_json
from tobs_tui.engine.vault.vault import (
    ReadOnlyFileError,
    Vault,
    VaultWriteError,
    fsync_dir,
    jsonl_rel,
    read_only,
    write_error,
)

if TYPE_CHECKING:
    from tobs_tui.engine.pipeline.chat import ChatExport

log = logging.getLogger(__name__)

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
    left: set[int] = set()  # in a file made read-only by hand: the next export corrects them
    for rel, items in by_note.items():
        if not _rewrite(chat, rel, functools.partial(correct_note_stream, retried=items)):
            left.update(r.msg_id for r in items)
    if not _rewrite(chat, chat.writer.json_rel, functools.partial(correct_json_lines, retried=retried)):
        left.update(r.msg_id for r in retried)
    # Corrected, or found otherwise than as written (edited by hand): either way nothing is left to do.
    chat.store.forget_stale_media(chat.chat_id, [r.msg_id for r in retried if r.msg_id not in left])


def _rewrite(chat: ChatExport, rel: str, transform: Callable) -> bool:
    """chat.writer.rewrite; False when the file is read-only (left as it is, as the index note is: one sentence)."""
    try:
        chat.writer.rewrite(rel, transform)
    except ReadOnlyFileError:
        left = "it still says that a file could not be downloaded, though it has been downloaded since"
        chat.x.emit(EventKind.VAULT, read_only(rel, left, "correct it"), chat_id=chat.chat_id)
        return False
    return True


@pool_side
def write_summary(chat: ChatExport) -> None:
    record = chat.store.chat_progress(chat.chat_id)
    if record is None or record.last_id == 0:
        return
    vault = chat.writer.vault
    own = {p for p in chat.store.note_lengths(chat.chat_id) if p.endswith(".md") and not p.startswith(".")}
    # Then the month notes a person moved or renamed (vault/moved.py), where they are now: the index keeps
    # listing them, as Obsidian's own link update to them would have it.
    moved = {f"{n}.md" for n in chat.store.message_notes(chat.chat_id)} - own
    notes = sorted(own) + sorted(p for p in moved if is_plain_file(vault.root, p))
    rel = f"{chat.dir_name}/{chat.dir_name}.md"
    try:
        notice = write_index_note(
            vault,
            rel,
            functools.partial(
                index_note,
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
            ),
        )
    except VaultWriteError as e:
        # Said once result.json had its turn: one file in the way does not keep the other stale.
        failed: VaultWriteError | None = whole_file_error(e, vault.root / rel, "its index note")
    else:
        failed = None
        if notice is not None:
            # Emitted from the pool thread: the runner's emit only appends to a deque and hands the event on.
            chat.x.emit(EventKind.VAULT, notice, chat_id=chat.chat_id)
    if "json" in chat.x.options.formats:
        info = chat.info
        header = chat_header(
            info.title, info.kind, chat.chat_id, info.username, first_name=info.first_name, is_self=info.is_self
        )
        rel_json = f"{chat.dir_name}/result.json"
        try:
            write_chat_result_json(
                vault,
                chat.chat_id,
                chat.dir_name,
                lambda: chat.writer.write_result_json(rel_json, header),
                lambda notice: chat.x.emit(EventKind.VAULT, notice, chat_id=chat.chat_id),
            )
        except VaultWriteError as e:
            raise whole_file_error(e, vault.root / rel_json, "its result.json") from e
    if failed is not None:
        raise failed


@pool_side
def write_index_note(vault: Vault, rel: str, render: Callable[..., str]) -> str | None:
    """Write a chat's index note, `render(old=<the note as it is now, or None>)`, atomically: the engine's front
    matter keys and marked part change, everything else a person wrote in it stays (render/notes.py). The old
    note is read without following a link; a note the user made read-only (no write permission for its owner)
    or that cannot be read is left as it is: returns the sentence that says so, else None. A note that is
    written keeps its permissions."""
    path = safe_path(vault.root, rel)  # refuses a symlink on the way or as the note itself
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        fd = None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise symlink_refused(path) from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            return (
                f"Could not read {rel}, so its message counts and links to month notes were not updated; give"
                " yourself read and write permission on it to have the next export update them."
            )
        raise write_error(exc, path) from exc
    old: str | None = None
    mode = None
    if fd is not None:
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise VaultWriteError(f"A folder is in the way at {path}", errno_code=errno.EISDIR)
            if not stat.S_ISREG(st.st_mode):
                raise VaultWriteError(f"Something else is in the way at {path}", errno_code=errno.EEXIST)
            if not st.st_mode & stat.S_IWUSR:
                return read_only(rel, "its message counts and links to month notes were not updated", "update them")
            mode = stat.S_IMODE(st.st_mode)
            with os.fdopen(os.dup(fd), "rb") as f:
                old = f.read().decode("utf-8", "surrogateescape")
        except OSError as exc:
            raise write_error(exc, path) from exc
        finally:
            os.close(fd)
    data = render(old=old).encode("utf-8", "surrogateescape")
    vault.write_file_atomic(rel, data, mode=0o644 if mode is None else mode)
    return None


def whole_file_error(error: VaultWriteError | UnsafePathError, path: Path, what: str) -> VaultWriteError:
    """One sentence for a whole file of the vault (an index note, a result.json) that could not be written:
    which file, why, what to do, and that nothing exported is lost (it is written from the export state)."""
    code = getattr(error, "errno", None)
    if isinstance(error, UnsafePathError):
        return VaultWriteError(str(error))
    again = f"and run the export again, which writes {what} from the messages already exported"
    if code == errno.EISDIR:
        return VaultWriteError(f"a folder is in the way at {path}; move or rename it {again}.", errno_code=code)
    if code == errno.ENOTDIR:
        return VaultWriteError(f"a file is in the way of {path}; move or rename it {again}.", errno_code=code)
    if code == errno.EEXIST:
        return VaultWriteError(f"something else is in the way at {path}; move or rename it {again}.", errno_code=code)
    if code in (errno.EACCES, errno.EPERM):
        return VaultWriteError(
            f"you do not have permission to write {path} (or its folder); fix the permissions {again}.",
            errno_code=code,
        )
    text = str(error)
    return VaultWriteError(text[:1].lower() + text[1:], errno_code=code)


def _set_aside_someone_elses(vault: Vault) -> str | None:
    """A result.json at the vault root that this engine did not write (Telegram Desktop's own export is a
    result.json too, and --out may be its folder) is renamed to a free name beside it, never written over.
    Returns the sentence that says so. The engine's own file starts with its own "about"."""
    return set_aside_result_json(vault, "", ours=lambda head: json.dumps(ABOUT).encode() in head)


@pool_side
def set_aside_result_json(vault: Vault, folder: str, ours: Callable[[bytes], bool]) -> str | None:
    """A result.json in the vault-relative `folder` that `ours` (given its first 4 KiB) does not take for the
    engine's own is renamed to "result (not written by tobs-tui).json" beside it (or the first free numbered
    name); so is a pipe, socket or device there, which is never the engine's. Returns the sentence that says
    so, None when nothing was moved. Raises VaultWriteError when it cannot be moved (nothing is written then)."""
    return _set_aside(vault, folder, lambda fd, size: ours(os.pread(fd, 4096, 0)))


@pool_side
def keep_chat_result_json(vault: Vault, chat_id: int, folder: str) -> str | None:
    """set_aside_result_json for a chat's result.json about to be written again: what is there is the engine's
    only if it has the size and last bytes the state recorded when the engine last wrote it. Without a record
    (a state from before they were kept, one rebuilt from the notes, a run stopped while writing the file) it is
    the engine's if it is headed as the engine heads this chat, as at the vault root: no file the engine wrote
    is set aside on the upgrade, and a person's own file is not taken for its."""
    end = vault.store.result_json_end(chat_id)
    if end is None:
        # The id line as stream_result_json writes it: Telegram Desktop's bare id, not the marked one.
        id_line = b'\n "id": %d,\n' % tl_utils.resolve_id(chat_id)[0]

        def headed(fd: int, size: int) -> bool:
            head = os.pread(fd, 4096, 0)
            return head.startswith(b"{\n") and id_line in head

        return _set_aside(vault, folder, headed)
    return _set_aside(vault, folder, lambda fd, size: _end_of(fd, size) == end)


def _set_aside(vault: Vault, folder: str, ours: Callable[[int, int], bool]) -> str | None:
    """set_aside_result_json with `ours(fd, size)` asked of a regular file open for reading."""
    try:
        where = safe_path(vault.root, folder) if folder else vault.root
    except UnsafePathError:
        return None  # a link on the way: the write refuses it with its own sentence
    path = where / ACCOUNT_JSON
    try:
        st = os.lstat(path)
    except OSError:
        return None  # nothing there, or a file in the way of the folder: the write says so
    if stat.S_ISLNK(st.st_mode) or stat.S_ISDIR(st.st_mode):
        return None  # the write refuses a link and cannot replace a folder, each with its own sentence
    # Anything but a regular file is moved by its name without being opened: opening a pipe can block.
    if stat.S_ISREG(st.st_mode) and _opened_and_ours(path, ours):
        return None
    for n in range(1, 1000):
        name = "result (not written by tobs-tui).json" if n == 1 else f"result (not written by tobs-tui) ({n}).json"
        aside = where / name
        if os.path.lexists(aside):
            continue
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return None  # gone meanwhile: nothing left to keep
        except OSError as exc:
            raise write_error(exc, path) from exc
        fsync_dir(where)
        whose = "the chat's" if folder else "the vault's"
        return (
            f"A result.json this export did not write was in {where}; it was kept as \"{name}\" and"
            f" {whose} own result.json written in its place."
        )
    # Never written over for want of a name: the caller's sentence asks to move it.
    raise VaultWriteError(f"Something else is in the way at {path}", errno_code=errno.EEXIST)


def _opened_and_ours(path: Path, ours: Callable[[int, int], bool]) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False  # unreadable, or changed since it was looked at: not known for the engine's, so kept
    try:
        st = os.fstat(fd)
        return stat.S_ISREG(st.st_mode) and ours(fd, st.st_size)
    except OSError:
        return False
    finally:
        os.close(fd)


# How much of a chat's result.json's end the state keeps, with its size, to know the file the engine wrote: more
# than a note's 32 bytes, which end every result.json alike ("}\n ]\n}"); 4 KiB hold its last message or more.
RESULT_TAIL = 4096
NONE_OF_OURS = (-1, b"")  # store.result_json_end: no file of the engine's is there


def _end_of(fd: int, size: int) -> tuple[int, bytes]:
    return size, os.pread(fd, RESULT_TAIL, max(0, size - RESULT_TAIL))


def _end_at(vault: Vault, folder: str) -> tuple[int, bytes]:
    """The size and last bytes of the regular file at `folder`/result.json, NONE_OF_OURS when there is none."""
    try:
        path = safe_path(vault.root, folder, ACCOUNT_JSON)
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return NONE_OF_OURS
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, UnsafePathError):
        return NONE_OF_OURS
    try:
        st = os.fstat(fd)
        return _end_of(fd, st.st_size) if stat.S_ISREG(st.st_mode) else NONE_OF_OURS
    except OSError:
        return NONE_OF_OURS
    finally:
        os.close(fd)


@pool_side
def write_chat_result_json(
    vault: Vault, chat_id: int, folder: str, write: Callable[[], object], say: Callable[[str], None] | None
) -> None:
    """Write a chat's result.json with write() over nothing but the engine's own: a file that is not the one
    the engine last wrote is set aside first and `say` hears the sentence. Then the state records the new
    file's size and last bytes, with the layout it was written in."""
    store = vault.store
    before = store.result_json_end(chat_id)
    notice = keep_chat_result_json(vault, chat_id, folder)
    if notice is not None and say is not None:
        say(notice)
    if before is not None:
        # Not known while it is being replaced: a run stopped in between finds the engine's file there, old or
        # new, and takes it for its own rather than setting it aside as a stranger's.
        store.set_result_json_end(chat_id, None)
    try:
        write()
    except BaseException:
        # The old file, found the engine's above (or the new one, if only the rename's sync failed); none when it
        # was just moved aside. Out of reach (a link on the way), the record stands as it was.
        end = _end_at(vault, folder)
        store.set_result_json_end(chat_id, before if end == NONE_OF_OURS and notice is None else end)
        raise
    # Read back at once: a file put in its place in the instant since would be taken for the engine's.
    store.set_result_json_layout(chat_id, RESULT_JSON_LAYOUT, _end_at(vault, folder))


@pool_side
def write_account_json(vault: Vault, say: Callable[[str], None] | None = None) -> int:
    """The vault root's result.json: every chat with committed JSON lines, its messages as in its own
    result.json (streamed from the same lines, so memory stays flat). A chat's own result.json written with an
    older layout is written again first. Call once no chat is being written. Returns the message count.
    `say` hears what became of a result.json found there that this engine did not write."""
    store = vault.store
    layouts = store.result_json_layouts()
    chats = []
    for record in store.all_chats():
        rel = jsonl_rel(record.chat_id)
        length = store.note_lengths(record.chat_id).get(rel)
        if not length or record.last_id == 0:
            continue
        header = chat_header(
            record.title,
            ChatKind(record.kind),
            record.chat_id,
            record.username,
            first_name=record.first_name,
            is_self=record.is_self,
        )
        jsonl = safe_path(vault.root, rel)
        if layouts.get(record.chat_id, 0) < RESULT_JSON_LAYOUT:
            fill = functools.partial(
                stream_result_json, header=header, jsonl_path=jsonl, length=length, folder=record.dir_name
            )
            try:
                write_chat_result_json(
                    vault,
                    record.chat_id,
                    record.dir_name,
                    functools.partial(vault.write_stream_atomic, f"{record.dir_name}/result.json", fill),
                    say,
                )
            except (VaultWriteError, UnsafePathError) as e:
                # The old file stays (the same messages, paths from the vault root) and its layout unrecorded, so
                # the next export tries again; the vault's own file below does not depend on it.
                log.warning("%s/result.json was not rewritten in the current layout: %s", record.dir_name, e)
        chats.append((header, jsonl, length))
    count = 0

    def fill_account(out) -> None:
        nonlocal count
        count = stream_account_json(out, ABOUT, CHATS_ABOUT, chats)

    try:
        notice = _set_aside_someone_elses(vault)
        if notice is not None and say is not None:
            say(notice)
        vault.write_stream_atomic(ACCOUNT_JSON, fill_account)
    except OSError as e:
        raise whole_file_error(write_error(e, vault.root / ACCOUNT_JSON), vault.root / ACCOUNT_JSON, "it") from e
    except (VaultWriteError, UnsafePathError) as e:
        # One sentence; the exporter says it as a run error ("The vault's result.json was not updated: …").
        raise whole_file_error(e, vault.root / ACCOUNT_JSON, "it") from e
    return count

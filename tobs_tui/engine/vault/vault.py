"""The vault on disk: exclusive lock, crash recovery, committed-length appends and atomic whole-file writes.

The commit protocol (why a kill -9 at any instant loses nothing and duplicates nothing) is in docs/STATE.md.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import sqlite3
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

from tobs_tui.engine.vault.blocks import (
    after_last_block,
    blocks_following,
    header_end,
    month_header_length,
    only_blank_end_cut,
    opens_like_a_block,
    separator,
    starts_with_front_matter,
    whole_blocks,
)
from tobs_tui.engine.vault.filenames import UnsafePathError, open_for_writing, safe_path
from tobs_tui.engine.vault.intents import engine_bytes, intent_path, read_intents, write_intent
from tobs_tui.engine.vault.jsonl import max_line_id, stream_result_json
from tobs_tui.engine.vault.moved import find_moved_notes
from tobs_tui.engine.vault.rebuild import RebuiltChat, block_row, named_chat, read_front_matter, rebuild_state
from tobs_tui.engine.vault.store import TAIL_BYTES, FileRecord, MediaRecord, StateStore

log = logging.getLogger(__name__)

STATE_DIR = ".tobs"
_LINE_ID = re.compile(rb'\{"id":(-?\d+)[,}]')
BACKFILL_DIR = f"{STATE_DIR}/backfill"  # staged back-fill files: <BACKFILL_DIR>/<chat id>/<the file's own path>


def staging_prefix(chat_id: int) -> str:
    """Where a chat's back-fill stages its files until they are spliced in front of the chat's own."""
    return f"{BACKFILL_DIR}/{chat_id}/"


def jsonl_rel(chat_id: int) -> str:
    """The chat's committed JSON lines (one result.json item each), vault-relative."""
    return f"{STATE_DIR}/json/{chat_id}.jsonl"


class VaultLockedError(Exception):
    """Another process holds the vault's lock."""


class VaultWriteError(Exception):
    """The disk refused a write (full, read-only, no permission); the state stays at the last commit."""

    def __init__(self, message: str, *, errno_code: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno_code


class ReadOnlyFileError(VaultWriteError):
    """A committed file a person made read-only (no write permission for its owner), which a whole-file rewrite
    left as it is. `rel` is the file, vault-relative; the caller says what that kept from happening (read_only)."""

    def __init__(self, rel: str, message: str | None = None) -> None:
        super().__init__(message or read_only(rel, "it was left as it is", "write it"), errno_code=errno.EACCES)
        self.rel = rel


def read_only(rel: str, left: str, then: str) -> str:
    """The one sentence for a file of the vault a person made read-only, which the export left as it is: what that
    kept from happening (`left`), and what the next export does once the file is writable (`then`)."""
    return f"{rel} is read-only, so {left}; make it writable (chmod u+w) to have the next export {then}."


def _gone_while_writing(path: Path, size: int) -> VaultWriteError:
    """A committed file deleted or cut short during the run, where a commit was to write after its committed
    bytes: writing there would leave a hole of zero bytes in their place, so the commit stops; the next run's
    recovery finds the file deleted or cut short and fetches what it held again."""
    what = "deleted" if size < 0 else "cut short"
    return VaultWriteError(
        f"{path} was {what} while the export was writing to it; run the export again to restore it.",
        errno_code=errno.ENOENT,
    )


@dataclass(frozen=True)
class RecoveryReport:
    truncated: tuple[tuple[str, int, int], ...] = ()  # (vault-relative path, size found, committed length)
    removed: tuple[str, ...] = ()  # files an unfinished commit had created
    missing: tuple[str, ...] = ()  # committed files someone deleted: they start afresh
    modified: tuple[str, ...] = ()  # committed files someone edited: kept as they are, appends go after
    temp_files_deleted: int = 0
    rebuilt: tuple[RebuiltChat, ...] = ()  # chats whose state was read back from the vault
    state_damaged: str | None = None  # the sentence saying a damaged state DB was moved aside
    cut_short: tuple[str, ...] = ()  # committed files cut short by hand: what they lost is fetched again
    lost_media: tuple[str, ...] = ()  # downloaded files deleted, cut short or changed by hand: fetched again
    moved: tuple[tuple[str, str], ...] = ()  # (old, new) notes a person moved or renamed: theirs now
    # Notes holding messages an export wrote that the state did not remember (it is older than the notes):
    # taken as exported, not written again.
    taken: tuple[str, ...] = ()

    @property
    def rolled_back_bytes(self) -> int:
        return sum(size - length for _, size, length in self.truncated)

    @property
    def clean(self) -> bool:
        return not (
            self.truncated
            or self.removed
            or self.missing
            or self.modified
            or self.temp_files_deleted
            or self.rebuilt
            or self.state_damaged
            or self.cut_short
            or self.lost_media
            or self.moved
            or self.taken
        )

    def notices(self) -> list[str]:
        """What a person should hear about changes found in the vault, one sentence each."""
        out = [self.state_damaged] if self.state_damaged else []
        if self.rebuilt:
            chats = tuple(f"{c.dir_name}: {c.messages} messages" for c in self.rebuilt)
            out.append(
                f"Rebuilt the export state from the notes of {_count(chats, 'chat')} ({_some(chats)}); the"
                " notes were kept as they are and the export continues after their newest message."
            )
        if self.taken:
            one = len(self.taken) == 1
            out.append(
                f"The export state is older than {_count(self.taken, 'note')} ({_some(self.taken)}), restored from a"
                f" backup or synced without it: the messages {'it holds' if one else 'they hold'} after the ones it"
                " knew are taken as exported, and not written again."
            )
        if self.modified:
            out.append(
                f"Kept your edits to {_count(self.modified, 'note')} ({_some(self.modified)}); new messages go"
                " after them."
            )
        if self.moved:
            shown = tuple(f"{old} to {new}" for old, new in self.moved)
            one = len(shown) == 1
            out.append(
                f"Left {_count(shown, 'note')} where you moved {'it' if one else 'them'} ({_some(shown)}):"
                f" {'it is' if one else 'they are'} yours now and not written again, and new messages of"
                f" {'its month start a new note' if one else 'their months start new notes'} at the old place."
            )
        damaged = self.missing + self.cut_short
        if damaged:
            out.append(
                f"{_count(damaged, 'file')} of the export {'was' if len(damaged) == 1 else 'were'} deleted or cut"
                f" short by hand ({_some(damaged)}); the messages {'it' if len(damaged) == 1 else 'they'} held are"
                " fetched from Telegram again when the chat is exported."
            )
        if self.lost_media:
            out.append(
                f"{_count(self.lost_media, 'media file')} {'was' if len(self.lost_media) == 1 else 'were'}"
                f" deleted, cut short or changed by hand ({_some(self.lost_media)}); the export downloads"
                f" {'it' if len(self.lost_media) == 1 else 'them'} again, and keeps a changed one beside it."
            )
        return out


def _count(items: tuple[str, ...], noun: str) -> str:
    return f"{len(items)} {noun}" + ("" if len(items) == 1 else "s")


def _some(paths: tuple[str, ...], shown: int = 3) -> str:
    names = ", ".join(paths[:shown])
    return names + (f" and {len(paths) - shown} more" if len(paths) > shown else "")


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
_NO_PERMISSION = (errno.EACCES, errno.EPERM)


def write_error(exc: OSError | sqlite3.Error, where: Path) -> VaultWriteError:
    """Turn a disk error into one sentence that says what happened and what to do."""
    code = getattr(exc, "errno", None)
    if code in _DISK_FULL or (isinstance(exc, sqlite3.Error) and "full" in str(exc)):
        return VaultWriteError(
            f"The disk at {where} is full; free some space and run the export again — nothing exported so far is lost.",
            errno_code=errno.ENOSPC,
        )
    if code == errno.EROFS:
        return VaultWriteError(
            f"The export folder {where} is on a read-only file system; choose a writable folder and run the"
            " export again.",
            errno_code=code,
        )
    named = getattr(exc, "filename", None)
    if code in _NO_PERMISSION:
        return VaultWriteError(
            f"You do not have permission to write to {named or where}; fix its permissions or choose another folder.",
            errno_code=code,
        )
    broken = _broken_link(named) if named and code in (errno.ELOOP, errno.ENOENT, errno.EEXIST, errno.ENOTDIR) else None
    if broken is not None:
        link, loop = broken
        what = "a loop of symlinks" if loop else "a symlink to something that does not exist"
        return VaultWriteError(
            f"{link} is {what}, where the export needs a folder or a file of its own; remove the link and run the"
            " export again.",
            errno_code=code,
        )
    if named and code in (errno.EISDIR, errno.EEXIST) and os.path.isdir(named):
        return VaultWriteError(
            f"{named} is a folder where the export keeps a file of its own; move the folder away and run the"
            " export again.",
            errno_code=code,
        )
    if code in (errno.ENOTDIR, errno.EEXIST):
        return VaultWriteError(
            f"A file is in the way at {in_the_way(named) if named else where}; move it or choose another export"
            " folder.",
            errno_code=code,
        )
    return VaultWriteError(
        f"Writing to {where} failed ({exc}); check the disk and run the export again.", errno_code=code
    )


def _broken_link(path: str | os.PathLike[str]) -> tuple[Path, bool] | None:
    """The first symlink on the way to `path` (or `path` itself) that leads nowhere, and whether it is a loop."""
    current = Path(path)
    for candidate in (*reversed(current.parents), current):
        if os.path.islink(candidate):
            try:
                os.stat(candidate)
            except OSError as err:
                return candidate, err.errno == errno.ELOOP
    return None


def in_the_way(path: str | os.PathLike[str]) -> Path:
    """For a path that could not be reached: its first folder that is a file instead (else the path itself)."""
    current = Path(path)
    for parent in reversed(current.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return current


def fsync_dir(path: Path) -> None:
    """Make a rename or create inside `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """pwrite may write less than asked; loop until all of `data` is at `offset`."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def _copy_fd_range(fd: int, start: int, end: int, out: BinaryIO) -> None:
    while start < end:
        chunk = os.pread(fd, min(1 << 20, end - start), start)
        if not chunk:
            return
        out.write(chunk)
        start += len(chunk)


def _copy_to_end(fd: int, start: int, out: BinaryIO) -> None:
    """Everything from `start` to the file's end, however long it has grown meanwhile."""
    while chunk := os.pread(fd, 1 << 20, start):
        out.write(chunk)
        start += len(chunk)


def _written_end(out: BinaryIO) -> tuple[int, bytes]:
    """How long the file being written is so far, and its last bytes: a commit's record of where it ends."""
    out.flush()
    end = out.tell()
    return end, _tail(out.fileno(), end)


def _writable_mode(fd: int, rel: str) -> int:
    """The permission bits of a committed file about to be replaced whole, for its new copy to keep; a file
    without write permission for its owner is a person's wish to keep it as it is (ReadOnlyFileError)."""
    mode = stat.S_IMODE(os.fstat(fd).st_mode)
    if not mode & stat.S_IWUSR:
        raise ReadOnlyFileError(rel)
    return mode


def _no_follow(path: str, flags: int) -> int:
    # O_NONBLOCK: a pipe planted at the path must not hang the run (regular files ignore the flag).
    return os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)


def _bytes_before(fd: int, end: int, tail: bytes) -> bool:
    """Whether the file's bytes just before offset `end` are `tail` (a commit's record of where it ended)."""
    return os.pread(fd, len(tail), end - len(tail)) == tail


def _open_to_check(path: Path) -> tuple[int, bool]:
    """A committed file opened for recovery: for writing when it may be written, else read-only (a note made
    read-only by hand that needs no change is no reason to stop). Returns the descriptor and whether it can
    write; a truncate goes through this very descriptor, so an editor's save by rename in between is not cut.
    A file without write permission for its owner may not be written even by a user who could (root).
    O_NONBLOCK: a FIFO planted there must not hang the run (it is then refused as not a file)."""
    try:
        fd = open_for_writing(path, os.O_RDWR | os.O_NONBLOCK)
    except PermissionError:
        return open_for_writing(path, os.O_RDONLY | os.O_NONBLOCK), False
    return fd, bool(os.fstat(fd).st_mode & stat.S_IWUSR)


def _trimmed(record: FileRecord, fd: int, size: int) -> bool:
    """A committed note that lost only the blank bytes at its end (blocks.only_blank_end_cut)."""
    if not record.path.endswith(".md"):
        return False
    now_end = os.pread(fd, len(record.tail), max(0, size - len(record.tail)))
    return only_blank_end_cut(now_end, size, record.length, record.tail)


def _tail(fd: int, size: int) -> bytes:
    """The last bytes of a file of `size` bytes: what the state keeps to know its committed end again."""
    return os.pread(fd, TAIL_BYTES, max(0, size - TAIL_BYTES))


def _truncate(fd: int, writable: bool, path: Path, length: int) -> None:
    """Cut the file back to `length` and make it durable."""
    if not writable:
        raise PermissionError(errno.EACCES, "Permission denied", str(path))
    os.ftruncate(fd, length)
    os.fsync(fd)


def _must_be_a_file(fd: int, path: Path) -> None:
    mode = os.fstat(fd).st_mode
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
    if not stat.S_ISREG(mode):
        raise VaultWriteError(
            f"{path} is not a file (a pipe, socket or device), where the export keeps a file of its own; move it"
            " away and run the export again."
        )


def _clear_staging(root: Path, rel: str, *, keep: Collection[str] | None) -> bool:
    """Below the vault-relative folder `rel` (the back-fills' staging, .tobs's own): every emptied folder is
    removed and, with `keep`, every other name the state does not list there. Returns whether the folder is there.

    A link at `rel` or on the way to it is refused (UnsafePathError) before anything is deleted: the files it
    leads to are not the engine's. Below it nothing is followed either: each folder is read and changed through
    its own descriptor (os.fwalk), so a link met there is removed as a name, never what it points to."""
    top = safe_path(root, rel)
    try:
        if not stat.S_ISDIR(os.lstat(top).st_mode):
            return False
    except FileNotFoundError:
        return False
    # Bottom-up: a folder's files go before the folder itself is tried. fwalk does not enter a folder that was
    # swapped for a link after the look above.
    for folder, dirs, files, dir_fd in os.fwalk(top, topdown=False, follow_symlinks=False):
        here = os.path.relpath(folder, root).replace(os.sep, "/")
        for name in files:  # files, and links to anything but a folder
            if keep is not None and f"{here}/{name}" not in keep:
                os.unlink(name, dir_fd=dir_fd)
        for name in dirs:  # folders, and links to folders: fwalk lists both here
            if stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                if keep is not None and f"{here}/{name}" not in keep:
                    os.unlink(name, dir_fd=dir_fd)
            else:
                with contextlib.suppress(OSError):
                    os.rmdir(name, dir_fd=dir_fd)  # only when empty
    return True


def _copy_range(src: BinaryIO, out: BinaryIO, start: int, end: int, chunk: int = 1 << 20) -> None:
    src.seek(start)
    left = end - start
    while left > 0:
        data = src.read(min(chunk, left))
        if not data:
            raise OSError(errno.EIO, f"{getattr(src, 'name', 'a file')} ended before its committed length")
        out.write(data)
        left -= len(data)


_HEADER_READ = 1 << 16  # enough for any month note's front matter, a person's keys included
_MONTH_NOTE = re.compile(r"\d{4}-\d\d\.md")
# A file's link in a block (render/markdown.py `_wikilink`): a wikilink's path, or a Markdown link's encoded one.
_MEDIA_LINK = re.compile(rb"\[\[([^\]\[|#\n]+)(?:\|[^\]\n]*)?\]\]|\]\(([^()\s]+)\)")
# A month note's header as render/notes.py month_header writes it (the vault may not import render; a test holds
# the two together): its chat's id, title, month, then the link line to the chat's index note.
_MONTH_HEADER = re.compile(
    rb'---\nchat_id: (-?\d+)\nchat: ("(?:[^"\\\n]|\\.)*")\nmonth: "([^"\n]*)"\n---\n\n'
    rb"\[\[([^\n]*)\]\] \xc2\xb7 ([^\n]*)\n\n"
)


class Vault:
    """One export dir. Holds an exclusive lock for its lifetime; call recover() once before writing."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise VaultWriteError(f"The export folder {self.root} is a file; choose a folder and run the export again.")
        self.state_dir = self.root / STATE_DIR
        self.tmp_dir = self.state_dir / "tmp"
        self.intents_dir = self.state_dir / "intents"  # what each chat's commit is appending (intents.py)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            for d in (self.state_dir, self.tmp_dir, self.state_dir / "json", self.intents_dir):
                safe_path(self.root, str(d.relative_to(self.root)))
                d.mkdir(exist_ok=True)
            self._lock_fd = open_for_writing(self.state_dir / "lock", os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            raise write_error(exc, self.root) from exc
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._lock_fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(self._lock_fd)
            raise VaultLockedError(
                f"Another export is writing to {self.root} (pid {holder}); wait for it to finish or choose"
                " another folder."
            ) from None
        try:
            os.ftruncate(self._lock_fd, 0)
            os.pwrite(self._lock_fd, f"{os.getpid()}\n".encode(), 0)
            self.store, self._state_notice = self._open_state(self.state_dir / "state.sqlite")
        except (OSError, sqlite3.Error) as exc:
            os.close(self._lock_fd)
            raise write_error(exc, self.root) from exc
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._writers: dict[int, ChatWriter] = {}
        self._writers_lock = threading.Lock()
        self._recovered = False

    @staticmethod
    def _open_state(path: Path) -> tuple[StateStore, str | None]:
        """The state DB, or, when SQLite finds it damaged, a new one after the damaged files are moved aside
        (recover() then rebuilds the state from the vault). Returns the store and what to tell the user."""
        try:
            store = StateStore(path)
        except sqlite3.OperationalError:
            raise  # locked, full, unreadable: the disk's problem, said as such
        except sqlite3.DatabaseError as exc:
            damage = str(exc)
        else:
            try:
                damage = store.check()
            except sqlite3.OperationalError:
                store.close()
                raise
            except sqlite3.DatabaseError as exc:
                damage = str(exc)
            if damage == "ok":
                return store, None
            store.close()
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        aside = path.with_name(f"{path.name}.damaged-{stamp}")
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.replace(f"{path}{suffix}", f"{aside}{suffix}")
        notice = (
            f"The export state {path} was damaged ({damage}); it was moved to {aside.name} and rebuilt from the"
            " notes, so nothing in the vault was lost."
        )
        return StateStore(path), notice

    def close(self) -> None:
        self.store.close()
        os.close(self._lock_fd)  # closing the descriptor releases the flock

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # recovery --------------------------------------------------------------------------------------

    def recover(self) -> RecoveryReport:
        """Roll every file back to its committed length and drop temp files; call once before any writer.

        Something other than a file where the export keeps one (a folder, a file where a folder goes, a file
        that may not be opened) is a VaultWriteError saying where."""
        try:
            return self._recover()
        except OSError as exc:
            raise write_error(exc, Path(exc.filename) if exc.filename else self.root) from exc

    def _recover(self) -> RecoveryReport:
        truncated: list[tuple[str, int, int]] = []
        removed: list[str] = []
        missing: list[str] = []
        modified: list[str] = []
        taken: list[str] = []
        # Chat folders the state DB does not know (it is new, was emptied or was damaged) hold notes of earlier
        # exports: their state is read back from them, never written over.
        rebuilt = rebuild_state(self.root, self.store, self.write_stream_atomic)
        damaged: list[str] = []
        repairs: list[tuple[int, str]] = []
        self._settle_rewrites()
        intents = read_intents(self.intents_dir)
        gone: list[FileRecord] = []
        for record in self.store.all_files():
            try:
                path = safe_path(self.root, record.path)
            except UnsafePathError:
                if self._left_as_linked(record):
                    continue
                raise
            if record.length == 0:
                if path.exists() and self._keep_new_note(record, path, intents.get(record.path)):
                    modified.append(record.path)
                    continue
                if path.exists():
                    path.unlink()
                    removed.append(record.path)
                    self._prune_empty_dirs(path.parent)
                self.store.forget_file(record.path)
                continue
            try:
                # Read-only until something has to change: a note made read-only by hand that needs no
                # change is no reason to stop.
                fd, writable = _open_to_check(path)
            except UnsafePathError:
                if self._left_as_linked(record):
                    continue
                raise
            except FileNotFoundError:
                gone.append(record)
                continue
            try:
                _must_be_a_file(fd, path)
                size = os.fstat(fd).st_size
                if size < record.length and _trimmed(record, fd, size):
                    # An editor trimmed the blank lines at the note's end on save: every message is there, and
                    # the next one is set apart again (blocks.separator). Nothing to fetch, nothing to say.
                    self._adopt(record.path, fd, size)
                    continue
                ours = size >= record.length and _bytes_before(fd, record.length, record.tail)
                cut = self._cut_short(record, fd, size) if size < record.length else None
                if cut is not None:
                    # Cut short by hand: the engine's own bytes up to a whole message stay, the rest is
                    # fetched again (ChatExport.repair).
                    damaged.append(record.path)
                    repairs.append((record.chat_id, record.path))
                    if cut == 0:
                        os.unlink(path)
                        self.store.forget_file(record.path)
                    else:
                        if cut < size:
                            _truncate(fd, writable, path, cut)
                        self._adopt(record.path, fd, cut)
                        if self._text_after_blocks(fd, cut):
                            # A person's text after the whole messages left stays; the rest comes after it.
                            modified.append(record.path)
                elif not ours:
                    # Someone edited a committed note: keep their bytes and append after them.
                    modified.append(record.path)
                    self._adopt(record.path, fd, size)
                elif size > record.length:
                    cut = self._uncommitted(record, fd, size, intents.get(record.path))
                    if cut == size - record.length:
                        _truncate(fd, writable, path, record.length)
                        truncated.append((record.path, size, record.length))
                    elif (
                        not cut
                        and (theirs := self._take_exported(record.chat_id, record.path, fd, record.length)) is not None
                    ):
                        # Blocks an export this state does not remember wrote after the committed ones.
                        taken.append(record.path)
                        if theirs:
                            modified.append(record.path)
                    else:
                        # A person added text after the committed bytes (maybe after what a cut-short commit
                        # left there): theirs stays, the engine's uncommitted bytes go, appends come after it.
                        modified.append(record.path)
                        if cut:
                            self._drop_uncommitted(record, fd, writable, cut)
                            truncated.append((record.path, size, size - cut))
                        else:
                            self._adopt(record.path, fd, size)
            finally:
                os.close(fd)
        moved = self._moved_notes(gone)
        for record in gone:
            if record.path not in moved:
                missing.append(record.path)
                self.store.forget_file(record.path)
                repairs.append((record.chat_id, record.path))
        taken += self._newer_notes()
        lost = self._lost_media()
        if repairs:
            self.store.add_repairs(repairs)
        temp_deleted = 0
        for leftover in self.tmp_dir.iterdir():
            if leftover.is_dir() and not leftover.is_symlink():
                continue  # the engine makes no folders there: someone else's, left alone
            leftover.unlink()
            temp_deleted += 1
        for intent in self.intents_dir.iterdir():  # every file is rolled back to its commit: nothing pending
            if not intent.is_dir() or intent.is_symlink():
                intent.unlink()
        self._drop_spliced_leftovers()
        self._recovered = True
        return RecoveryReport(
            tuple(truncated),
            tuple(removed),
            tuple(missing),
            tuple(modified),
            temp_deleted,
            rebuilt=tuple(rebuilt),
            state_damaged=self._state_notice,
            cut_short=tuple(damaged),
            lost_media=tuple(lost),
            moved=tuple(moved.items()),
            taken=tuple(taken),
        )

    def _take_exported(self, chat_id: int, rel: str, fd: int, start: int) -> bool | None:
        """Whole blocks of the chat's own that follow offset `start` of its month note `rel` (its committed length,
        or where its header ends for a note the state does not list), ids ascending above the chat's newest
        exported one: messages an export wrote that this state does not remember (restored from an older backup,
        or synced without the newest .tobs). Fetched again, they would be written a second time. They are taken
        as exported (StateStore.take_exported): the note as it is now is committed (a person's text after them
        stays theirs, and new messages go after it), their files downloaded then are recorded as the engine's.
        Returns whether text of a person's follows them; None when nothing was taken (the note stays as today)."""
        chat = self.store.chat_progress(chat_id)
        if chat is None or not chat.dir_name or chat.kind == "forum" or not rel.startswith(f"{chat.dir_name}/"):
            return None  # a forum's notes are its topics', whose progress is kept apart
        if rel.count("/") != chat.dir_name.count("/") + 2:
            return None  # not "<chat folder>/<year>/<year>-<month>.md"
        size = os.fstat(fd).st_size
        data = os.pread(fd, size, 0)
        if named_chat(read_front_matter(data)) != chat_id:
            return None
        blocks, end = blocks_following(data, start, rel, chat.last_id)
        if not blocks:
            return None
        rows = [block_row(msg_id, rel, sender, line) for msg_id, sender, line in blocks]
        media = self._embedded_media(chat_id, chat.dir_name, data[start:end], [r[0] for r in rows])
        self.store.take_exported(chat_id, rel, length=size, tail=_tail(fd, size), messages=rows, media=media)
        log.info("%s: messages %d to %d taken as exported", rel, rows[0][0], rows[-1][0])
        return bool(data[end:].strip())

    def _embedded_media(self, chat_id: int, dir_name: str, blocks: bytes, ids: list[int]) -> list[MediaRecord]:
        """The files taken blocks link, where the export downloads them (media_rel_path: "<chat folder>/media/
        <kind>/<month>/<id>_..."), that are on disk: recorded as downloaded, so they are neither fetched again nor
        taken for a person's file at the engine's name."""
        found: list[MediaRecord] = []
        wanted = set(ids)
        for match in _MEDIA_LINK.finditer(blocks):
            raw = match.group(1) or match.group(2)
            path = unquote(raw.decode("utf-8", "replace")) if match.group(2) else raw.decode("utf-8", "replace")
            parts = path.split("/")
            if not path.startswith(f"{dir_name}/media/") or len(parts) != dir_name.count("/") + 5:
                continue
            msg_id = parts[-1].split("_", 1)[0]
            if not msg_id.isdigit() or int(msg_id) not in wanted:
                continue
            try:
                st = os.lstat(safe_path(self.root, path))
            except (OSError, UnsafePathError):
                continue
            if stat.S_ISREG(st.st_mode):
                kind = parts[-3]
                found.append(MediaRecord(chat_id, int(msg_id), None, kind, path, st.st_size, 0, "done"))
        return found

    def _newer_notes(self) -> list[str]:
        """Month notes of known chats that the state does not list, newer than every note it does: written by an
        export this state does not remember. Those that begin with the chat's next messages are taken as
        exported (_take_exported); any other stays as it is, and a commit that creates its month's note appends
        after it (ChatWriter._found_in_the_way)."""
        listed: dict[int, list[str]] = {}
        for record in self.store.all_files():
            listed.setdefault(record.chat_id, []).append(record.path)
        taken: list[str] = []
        for chat in self.store.all_chats():
            if not chat.dir_name or chat.kind == "forum" or chat.chat_id not in listed:
                continue
            own = [p for p in listed[chat.chat_id] if p.startswith(f"{chat.dir_name}/") and p.endswith(".md")]
            newest = max((p.rsplit("/", 1)[-1] for p in own), default="")
            for rel in self._month_notes_after(chat.dir_name, newest):
                if rel in listed[chat.chat_id]:
                    continue
                try:
                    fd = os.open(safe_path(self.root, rel), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
                except (OSError, UnsafePathError):
                    continue  # a link, or gone: not taken, left as it is
                try:
                    if not stat.S_ISREG(os.fstat(fd).st_mode):
                        continue
                    start = header_end(os.pread(fd, _HEADER_READ, 0))
                    if start > 0 and self._take_exported(chat.chat_id, rel, fd, start) is not None:
                        taken.append(rel)
                finally:
                    os.close(fd)
        return taken

    def _month_notes_after(self, dir_name: str, newest: str) -> list[str]:
        """The month notes ("<year>/<year>-<month>.md") in a chat's folder named after `newest`, oldest first."""
        folder = self.root / dir_name
        year = newest.split("-", 1)[0]
        found: list[str] = []
        try:
            years = [e.name for e in os.scandir(folder) if e.name.isdigit() and e.is_dir(follow_symlinks=False)]
        except OSError:
            return []
        for name in years:
            if year.isdigit() and int(name) < int(year):
                continue
            try:
                notes = [e.name for e in os.scandir(folder / name) if e.is_file(follow_symlinks=False)]
            except OSError:
                continue
            found += [f"{dir_name}/{name}/{n}" for n in notes if _MONTH_NOTE.fullmatch(n) and n > newest]
        return sorted(found, key=lambda rel: rel.rsplit("/", 1)[-1])

    def _moved_notes(self, gone: list[FileRecord]) -> dict[str, str]:
        """{old: new} for the month notes among `gone` a person moved or renamed (moved.py); each is forgotten
        as a file of the export, and its messages' index rows follow it."""
        wanted = {
            r.path: self.store.note_ids(r.chat_id, r.path.removesuffix(".md"))
            for r in gone
            if r.path.endswith(".md") and not r.path.startswith(".")
        }
        if not any(wanted.values()):
            return {}
        moved = find_moved_notes(self.root, wanted, {r.path for r in self.store.all_files()})
        chats = {r.path: r.chat_id for r in gone}
        for old, new in moved.items():
            self.store.note_moved(chats[old], old.removesuffix(".md"), new.removesuffix(".md"))
        return moved

    def _left_as_linked(self, record: FileRecord) -> bool:
        """A committed file that is now a symlink, or shares its bytes with another hard link, and needs nothing
        from recovery: it is left as it is (never read or written through the link), and the chat goes on; a
        commit that must append to it refuses then, with the sentence. A symlink holds no bytes of a commit
        (commits never write through one); a hard-linked file must end where the last commit ended, or its extra
        bytes would need cutting, which would change the other name's file too. A folder of the export that is
        a link is still refused: the notes it hides can be neither checked nor repaired."""
        where = self.root / record.path
        try:
            if any(p.is_symlink() for p in where.parents if p != self.root and self.root in p.parents):
                return False  # a folder of the export is a link: what it hides cannot be checked or repaired
            st = os.lstat(where)
        except OSError:
            return False
        if stat.S_ISLNK(st.st_mode):
            log.info("%s is a symlink; left as it is", record.path)
            return True
        if not stat.S_ISREG(st.st_mode) or st.st_nlink < 2 or not record.length:
            return False
        fd = os.open(where, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            size = os.fstat(fd).st_size
            unchanged = size == record.length and _bytes_before(fd, record.length, record.tail)
        finally:
            os.close(fd)
        if unchanged:
            log.info("%s has other hard links and is as committed; left as it is", record.path)
        return unchanged

    def _keep_new_note(self, record: FileRecord, path: Path, intent: tuple[int, bytes] | None) -> bool:
        """A note an unfinished commit created, which a person then typed into (or a person's own file at that
        path): their text stays, with the note's front matter when the engine wrote it, and the note becomes a
        committed one. False when the file holds only what the engine wrote (recover() deletes it)."""
        if not record.path.endswith(".md"):
            return False
        fd = open_for_writing(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            _must_be_a_file(fd, path)
            st = os.fstat(fd)
            data = os.pread(fd, st.st_size, 0)
        finally:
            os.close(fd)
        ours = engine_bytes(data, 0, intent)
        if ours == len(data):
            return False
        mode = stat.S_IMODE(st.st_mode)
        if not mode & stat.S_IWUSR:  # made read-only by hand: refused as a truncate would be, with its sentence
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        # The note's own start (front matter, link line) as the commit was writing it. Their text goes after the
        # whole of it, even when the commit died before or inside it: a note starts with its front matter (or
        # Obsidian reads none), and no later commit writes it. (Zeros a power cut left are the engine's too.)
        written = intent[1] if intent is not None and intent[0] == 0 else b""
        head = header_end(written)
        if 0 < head < len(written):
            kept = written[:head] + data[ours:]
        else:
            start = min(header_end(data), ours)  # the front matter the commit wrote stays with their text
            kept = data[:start] + data[ours:]
        self.write_file_atomic(record.path, kept, mode=mode)
        self.store.set_file(record.path, length=len(kept), tail=kept[-TAIL_BYTES:])
        return True

    def _cut_short(self, record: FileRecord, fd: int, size: int) -> int | None:
        """A file shorter than committed whose whole messages are the first ones it held: the length to keep
        (messages after them are fetched again). That is where its last whole message ends when only blank
        lines follow; the whole file when a person wrote something after it (their text stays, the messages
        come after it). None when it is not such a file (a person's edit, kept as it is)."""
        data = os.pread(fd, size, 0)
        if not record.path.endswith(".md"):
            end = data.rfind(b"\n") + 1  # the JSONL: whole lines stay
            return end
        ids, end = whole_blocks(data)
        committed = self.store.note_ids(record.chat_id, record.path.removesuffix(".md"))
        if len(ids) >= len(committed) or ids != committed[: len(ids)]:
            return None
        if ids:
            return end if not data[end:].strip() else size
        # No whole message left: the note goes when only what the engine started it with is left, byte for byte,
        # and stays whole when a person wrote anything there too (a property, words on the link line).
        if b"^m" in data or (data and not starts_with_front_matter(data)):
            return None
        return 0 if not data or self._only_engine_header(record, data) else size

    def _only_engine_header(self, record: FileRecord, data: bytes) -> bool:
        """Whether a month note holds its header exactly as the engine wrote it (render/notes.py month_header,
        for the chat's id, title and folder as the state knows them and the note's month), then blank lines at
        most. A header written under an older title is not: kept, it does no harm (the messages follow it)."""
        chat = self.store.chat_progress(record.chat_id)
        match = _MONTH_HEADER.match(data)
        if chat is None or match is None or data[match.end() :].strip():
            return False
        chat_id, title, month, link, link_month = match.groups()
        folder = chat.dir_name.encode()
        try:
            same_title = json.loads(title) == chat.title
        except ValueError:
            return False
        note_month = record.path.rsplit("/", 1)[-1].removesuffix(".md").encode()
        return (
            same_title
            and int(chat_id) == record.chat_id
            and month == link_month == note_month
            and link == b"%s/%s|%s" % (folder, folder, folder)
        )

    @staticmethod
    def _text_after_blocks(fd: int, length: int) -> bool:
        """Whether a person wrote after a note's last whole block (the start of a block cut short is not that:
        its repair completes it, ChatWriter._partial_block)."""
        rest = after_last_block(os.pread(fd, length, 0))
        return bool(rest.strip()) and not opens_like_a_block(rest)

    def _lost_media(self) -> list[str]:
        """Downloaded files deleted or cut short by hand: recorded as lost, so the export fetches them again."""
        # Once per start over every download, so a plain lstat each (about 7 us a file on the development machine,
        # 4x less than through safe_path and records). Nothing is written here, so a planted link only misleads
        # the check; the download that follows refuses it.
        root = os.fspath(self.root)
        lost = []
        for chat_id, msg_id, path, size in self.store.done_media_sizes():
            try:
                found = os.lstat(os.path.join(root, path)).st_size
            except (FileNotFoundError, NotADirectoryError):
                found = -1
            if found < 0 or (size is not None and found != size):
                lost.append((chat_id, msg_id, path))
        if lost:
            self.store.mark_media_lost([(chat_id, msg_id) for chat_id, msg_id, _ in lost])
        return [path for _, _, path in lost]

    def _adopt(self, rel: str, fd: int, size: int) -> None:
        """The file as it is now becomes the committed one."""
        self.store.set_file(rel, length=size, tail=_tail(fd, size))

    def _uncommitted(self, record: FileRecord, fd: int, size: int, intent: tuple[int, bytes] | None) -> int:
        """How many bytes past the committed length a cut-short commit wrote: all of them for the JSONL (nobody
        edits it), for a note what its commit recorded it was appending (intents.py), the rest is a person's."""
        if not record.path.endswith(".md"):
            return size - record.length
        return engine_bytes(os.pread(fd, size - record.length, record.length), record.length, intent)

    def _drop_uncommitted(self, record: FileRecord, fd: int, writable: bool, cut: int) -> None:
        """Remove `cut` bytes of uncommitted blocks right after the committed ones, keeping what follows them.
        A whole-file replace: a crash before the rename leaves the file as found, after it leaves the person's
        text right after the committed bytes, which the next recovery adopts. The new file keeps the note's
        permissions; a read-only note is refused as a truncate would be."""
        st = os.fstat(fd)
        if not writable:
            raise PermissionError(errno.EACCES, "Permission denied", str(self.root / record.path))
        size = st.st_size

        def fill(out: BinaryIO) -> None:
            _copy_fd_range(fd, 0, record.length, out)
            _copy_fd_range(fd, record.length + cut, size, out)

        self.write_stream_atomic(record.path, fill, mode=stat.S_IMODE(st.st_mode))
        with open(safe_path(self.root, record.path), "rb", opener=_no_follow) as f:
            self._adopt(record.path, f.fileno(), size - cut)

    def _settle_rewrites(self) -> None:
        """A whole-file rewrite cut short (ChatWriter.rewrite): if its rename happened, the new file's length
        and tail become the committed ones; if not, the old file and its record stand (its temp file is
        deleted with the others)."""
        for rel, length, tail in self.store.pending_rewrites():
            splice = self.store.splice_of(rel)
            try:
                fd = os.open(safe_path(self.root, rel), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            except FileNotFoundError:
                renamed = False
            else:
                try:
                    # A note's new copy ends in the text a person typed after its committed bytes, if any
                    # (ChatWriter.rewrite, _splice); the JSONL's is exactly as long as recorded.
                    size = os.fstat(fd).st_size
                    fits = size >= length if rel.endswith(".md") else size == length
                    renamed = fits and _bytes_before(fd, length, tail)
                finally:
                    os.close(fd)
            if splice is None:
                if renamed:
                    self.store.end_rewrite(rel, length=length, tail=tail)
                else:
                    self.store.forget_rewrite(rel)
            elif renamed:  # a back-fill splice that happened: its staged file is consumed with it
                staged, chat_id = splice
                self.store.end_splice(chat_id, rel, staged, length=length, tail=tail)
            else:
                self.store.forget_splice(rel)

    def _drop_spliced_leftovers(self) -> None:
        """Staged back-fill files the state no longer names: spliced already, their deletion cut short."""
        _clear_staging(self.root, BACKFILL_DIR, keep={r.path for r in self.store.all_files()})

    def _prune_empty_dirs(self, directory: Path) -> None:
        while directory != self.root and self.root in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return  # not empty: it holds something else we must keep
            directory = directory.parent

    # writing ---------------------------------------------------------------------------------------

    def chat_writer(self, chat_id: int) -> ChatWriter:
        """The one writer for a chat; its committed offsets are only right once recover() has run."""
        if not self._recovered:
            raise RuntimeError("Vault.recover() must run before the first chat_writer()")
        with self._writers_lock:
            writer = self._writers.get(chat_id)
            if writer is None:
                writer = self._writers[chat_id] = ChatWriter(self, chat_id)
            return writer

    def make_dirs(self, directory: Path) -> list[Path]:
        """Create directory (under root) and its missing parents; returns the parents whose entries changed."""
        changed: list[Path] = []
        rel = directory.relative_to(self.root)
        current = self.root
        for part in rel.parts:
            current = current / part
            try:
                os.mkdir(current)
            except FileExistsError:
                continue
            changed.append(current.parent)
        return changed

    def write_file_atomic(self, rel_path: str, data: bytes, *, mode: int = 0o644) -> None:
        """Write a whole file: temp in .tobs/tmp, fsync, rename over the target, fsync its dir."""
        self.write_stream_atomic(rel_path, lambda out: out.write(data), mode=mode)

    def write_stream_atomic(
        self,
        rel_path: str,
        fill: Callable[[BinaryIO], object],
        *,
        before_replace: Callable[[int, bytes], None] | None = None,
        mode: int = 0o644,
    ) -> bool:
        """fill(out) writes the content; returning False keeps the target as it is. before_replace(length, tail)
        runs once the temp file is durable, just before the rename (ChatWriter.rewrite records its intent
        there). The file has `mode` from its first moment under its name. Returns whether the target was
        replaced."""
        target = safe_path(self.root, rel_path)
        tmp_name: str | None = None
        try:
            for parent in self.make_dirs(target.parent):
                fsync_dir(parent)
            fd, tmp_name = tempfile.mkstemp(dir=self.tmp_dir, suffix=".tmp")
            with os.fdopen(fd, "wb") as out:
                if fill(out) is False:
                    return False
                out.flush()
                os.fsync(out.fileno())
                if before_replace is not None:
                    length = out.tell()
                    before_replace(length, _tail(out.fileno(), length))
            os.chmod(tmp_name, mode)
            os.replace(tmp_name, target)
            tmp_name = None
            fsync_dir(target.parent)
        except OSError as exc:
            raise write_error(exc, self.root) from exc
        finally:
            if tmp_name is not None:
                with contextlib.suppress(OSError):  # recover() removes it on the next run
                    os.unlink(tmp_name)
        return True


class ChatWriter:
    """Buffered appends for one chat's notes and JSONL, made durable together by commit().

    Calls for one chat must not overlap (the pipeline writes a chat's batches in order); a lock enforces it.
    """

    def __init__(self, vault: Vault, chat_id: int) -> None:
        self.vault = vault
        self.chat_id = chat_id
        self.json_rel = jsonl_rel(chat_id)
        self._lengths = vault.store.note_lengths(chat_id)
        # Notes whose committed bytes end in a person's text without a blank line after it: the next block
        # starts a paragraph of its own.
        self._open_ends = vault.store.open_ended_notes(chat_id)
        self._pending: dict[str, list[bytes]] = {}
        self._heads: dict[str, bytes] = {}  # a new note's month header, written when the note is created
        # Files this writer created: a commit retried after a disk error finds its own bytes in them.
        self._created: set[str] = set()
        self._intent = intent_path(vault.intents_dir, chat_id)
        self._repairing = set(vault.store.repairs(chat_id))  # files recovery found cut short by hand
        # Files a failed attempt of the pending commit wrote to: bytes past their committed length are its own.
        self._attempted: set[str] = set()
        self._lock = threading.Lock()
        self._dirs_made: set[Path] = set()  # folders this writer has created or found: no mkdir per commit

    def append(self, rel_note: str, text: str, *, header: str | None = None) -> int:
        """Buffer text for a note; a note with no committed bytes starts with header (its front matter).
        Returns the bytes the text takes."""
        data = text.encode("utf-8", "replace")
        with self._lock:
            self._buffer(rel_note, data, header)
        return len(data)

    def append_json_line(self, line: bytes, *, staged: bool = False) -> None:
        """Lines already made by jsonl.encode_line (the exporter encodes in its render processes); `staged`: to
        the back-fill's copy of the JSONL."""
        with self._lock:
            self._buffer(staging_prefix(self.chat_id) + self.json_rel if staged else self.json_rel, line, None)

    def _buffer(self, rel: str, data: bytes, header: str | None) -> None:
        chunks = self._pending.get(rel)
        if chunks is None:
            chunks = self._pending[rel] = []
            if header is not None and rel not in self._lengths:
                self._heads[rel] = header.encode("utf-8", "replace")
        chunks.append(data)

    def _found_in_the_way(self, new_files: list[str]) -> dict[str, tuple[int, bytes]]:
        """Notes of a person's own at paths where this commit creates a note (the vault is theirs; they may
        write "2026-01.md" before its first message arrives): path -> (length, tail). The engine appends after
        their text instead of writing over it. A folder in the way is left to fail the commit with a sentence."""
        found: dict[str, tuple[int, bytes]] = {}
        for rel in new_files:
            if rel in self._created or not rel.endswith(".md") or rel.startswith(f"{STATE_DIR}/"):
                continue
            now = self._as_it_is(rel)
            if now is None:
                continue  # nothing there, or a folder or a link: the write fails on it with its own sentence
            if now[0]:
                found[rel] = now
            else:
                self._created.add(rel)  # an empty file holds nothing to keep: the note is written into it
        return found

    def _moved_end(self, rel: str) -> tuple[int, bytes] | None:
        """A committed note whose size is no longer its committed length though no attempt of this commit wrote
        to it: a person edited its end during the run. Its size now and last bytes; None when it is as committed
        (or gone, or not a note: the write says what is wrong)."""
        if rel not in self._lengths or rel in self._attempted or not rel.endswith(".md"):
            return None
        try:
            now = self._as_it_is(rel)
        except OSError:
            return None
        return None if now is None or now[0] == self._lengths[rel] else now

    def _as_it_is(self, rel: str) -> tuple[int, bytes] | None:
        """The size and last bytes of the file at `rel` now, opened without following a link or blocking on a
        FIFO; None when nothing, a link or anything but a file is there. Other errors are raised."""
        try:
            fd = os.open(safe_path(self.vault.root, rel), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except (FileNotFoundError, IsADirectoryError):
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return None
            raise
        try:
            st = os.fstat(fd)
            return (st.st_size, _tail(fd, st.st_size)) if stat.S_ISREG(st.st_mode) else None
        finally:
            os.close(fd)

    def _partial_block(self, rel: str) -> bytes:
        """What a committed note holds after its last whole block (see blocks.after_last_block); empty when
        that is more than the last 64 KiB."""
        length = self._lengths[rel]
        start = max(0, length - (1 << 16))
        try:
            with open(safe_path(self.vault.root, rel), "rb", opener=_no_follow) as f:
                window = os.pread(f.fileno(), length - start, start)
        except FileNotFoundError:
            return b""  # deleted during the run: the commit's write says so
        if start and not whole_blocks(window)[1]:
            return b""
        return after_last_block(window)

    def commit(
        self,
        *,
        last_id: int,
        messages: list[tuple[int, str, str, str]],
        topic_last_ids: dict[int, int] | None = None,
        media: Iterable[MediaRecord] = (),
        backfill_after: int | None = None,
    ) -> tuple[str, ...]:
        """Write the buffered appends at their committed offsets, fsync, then commit the state in one transaction.
        Returns the notes of a person's own found where this commit created notes: adopted, the messages after
        their text (to tell them).

        On a disk error raises VaultWriteError and keeps the buffer, so commit() can be retried once space is free.
        """
        with self._lock:
            store = self.vault.store
            bodies = {rel: b"".join(chunks) for rel, chunks in self._pending.items()}
            bodies = {rel: data for rel, data in bodies.items() if data}
            new_files = [rel for rel in bodies if rel not in self._lengths]
            lengths: dict[str, int] = {}
            tails: dict[str, bytes] = {}
            try:
                theirs = self._found_in_the_way(new_files)
                if theirs:
                    store.adopt_files(self.chat_id, theirs)
                    for rel, (length, tail) in theirs.items():
                        self._lengths[rel] = length
                        if not tail.endswith(b"\n\n"):
                            self._open_ends[rel] = tail
                    new_files = [rel for rel in new_files if rel not in theirs]
                if new_files:
                    store.register_new_files(self.chat_id, new_files)
                pending: dict[str, bytes] = {}
                for rel, body in bodies.items():
                    if rel in self._lengths:
                        open_end = self._open_ends.get(rel)
                        if open_end is None:
                            pending[rel] = body
                        elif (
                            rel in self._repairing
                            and (partial := self._partial_block(rel))
                            and body.startswith(partial)
                        ):
                            # A note cut short inside a block, being repaired: the block's start is there.
                            pending[rel] = body[len(partial) :]
                        else:
                            # After a person's text without a blank line after it, a block starts a paragraph.
                            pending[rel] = separator(open_end) + body
                    else:
                        pending[rel] = self._heads.get(rel, b"") + body
                offsets = {rel: self._lengths.get(rel, 0) for rel in pending}
                for rel in pending:
                    moved = self._moved_end(rel)
                    if moved is not None:
                        # A person changed the note's end during this run (Obsidian open on the vault): their
                        # bytes stay, and the messages go after them.
                        offsets[rel], their_tail = moved
                        pending[rel] = separator(their_tail) + bodies[rel]
                notes = [(rel, offsets[rel], data) for rel, data in pending.items() if rel.endswith(".md")]
                if notes:
                    write_intent(self._intent, notes)  # before the first byte: see engine/vault/intents.py
                dirs_to_sync: set[Path] = set()
                for rel, data in pending.items():
                    path = safe_path(self.vault.root, rel)
                    if path.parent not in self._dirs_made:
                        dirs_to_sync.update(self.vault.make_dirs(path.parent))
                        self._dirs_made.add(path.parent)
                    if rel in new_files:
                        dirs_to_sync.add(path.parent)
                    offset = offsets[rel]
                    end = offset + len(data)
                    committed = rel in self._lengths
                    # A note this commit creates is created, never opened: a file that appeared there since the
                    # check above is someone's, and the commit stops with a sentence (and adopts it when retried).
                    # A committed file is opened, never created: one deleted during the run would come back as
                    # zero bytes where its committed ones were.
                    flags = os.O_WRONLY | os.O_NONBLOCK  # O_NONBLOCK: a FIFO there must not hang us
                    if not committed:
                        flags |= os.O_CREAT
                    if rel in new_files and rel not in self._created and rel.endswith(".md"):
                        flags |= os.O_EXCL
                    try:
                        fd = open_for_writing(path, flags)
                    except FileNotFoundError:
                        if committed:
                            raise _gone_while_writing(path, -1) from None
                        # Its folder went away during the export: made again, as on the first commit.
                        dirs_to_sync.update(self.vault.make_dirs(path.parent))
                        fd = open_for_writing(path, flags)
                    if rel in new_files:
                        self._created.add(rel)
                    self._attempted.add(rel)
                    try:
                        _must_be_a_file(fd, path)
                        st = os.fstat(fd)
                        if committed and rel.endswith(".md") and not st.st_mode & stat.S_IWUSR:
                            # Made read-only by hand. Opening it for writing refuses any other user; root is let
                            # in, and is held to the person's wish here, as the whole-file rewrites are.
                            raise ReadOnlyFileError(
                                rel, read_only(rel, "the new messages of its month were not written", "write them")
                            )
                        size = st.st_size
                        if size < offset:  # cut short, and not a note whose end _moved_end followed
                            raise _gone_while_writing(path, size)
                        pwrite_all(fd, data, offset)
                        # Bytes past the end are a torn earlier attempt (a failed commit being retried).
                        os.ftruncate(fd, end)
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                    lengths[rel] = end
                    tails[rel] = data[-TAIL_BYTES:] if len(data) >= TAIL_BYTES else self._tail_of(path, end)
                for directory in sorted(dirs_to_sync):
                    fsync_dir(directory)
                store.commit_batch(
                    self.chat_id,
                    last_id=last_id,
                    file_lengths=lengths,
                    messages=messages,
                    topic_last_ids=topic_last_ids,
                    file_tails=tails,
                    media=media,
                    backfill_after=backfill_after,
                )
            except (OSError, sqlite3.OperationalError) as exc:
                raise write_error(exc, self.vault.root) from exc
            self._lengths.update(lengths)
            self._attempted.clear()
            for rel in lengths:
                self._open_ends.pop(rel, None)
                self._heads.pop(rel, None)
            self._pending.clear()
            return tuple(theirs)

    def rewrite(self, rel: str, transform: Callable[[BinaryIO, int, BinaryIO], bool]) -> bool:
        """Replace a committed file whole: transform(its file, committed length, out) writes the new content
        and says whether it changed anything. Crash-safe: the intent (new length and tail) is recorded, the
        new file renamed over the old one (Vault.write_stream_atomic), then committed (Vault.recover settles an
        intent left behind). Memory stays flat for a transform that streams. Nothing may be buffered for the
        file.

        What a person typed after a note's committed bytes during the run stays after the new content, theirs
        and uncommitted, as text typed at a note's end is (_moved_end). The new file keeps the old one's
        permissions; a file without write permission for its owner is left as it is (ReadOnlyFileError)."""
        with self._lock:
            length = self._lengths.get(rel)
            if length is None or rel in self._pending:
                return False
            store = self.vault.store
            intent: list[tuple[int, bytes]] = []
            ours: list[tuple[int, bytes]] = []

            def fill(src: BinaryIO, out: BinaryIO) -> bool:
                if not transform(src, length, out):
                    return False
                ours.append(_written_end(out))
                if rel.endswith(".md"):  # the JSONL's bytes after its committed ones are a failed commit's
                    _copy_to_end(src.fileno(), length, out)
                return True

            def record(_length: int, _tail: bytes) -> None:
                ((new_length, tail),) = ours
                store.begin_rewrite(rel, length=new_length, tail=tail)
                intent.append((new_length, tail))

            try:
                with open(safe_path(self.vault.root, rel), "rb", opener=_no_follow) as src:
                    if os.fstat(src.fileno()).st_size < length:
                        return False
                    mode = _writable_mode(src.fileno(), rel)
                    if not self.vault.write_stream_atomic(
                        rel, lambda out: fill(src, out), before_replace=record, mode=mode
                    ):
                        return False
                ((new_length, tail),) = intent
                store.end_rewrite(rel, length=new_length, tail=tail)
            except (OSError, sqlite3.OperationalError) as exc:
                raise write_error(exc, self.vault.root) from exc
            self._lengths[rel] = new_length
            return True

    def last_id_in(self, rel: str) -> int:
        """The newest message a committed note (its last block id) or the JSONL (its last line) holds, 0 if
        it holds none."""
        with self._lock:
            length = self._lengths.get(rel, 0)
            if not length:
                return 0
            with open(safe_path(self.vault.root, rel), "rb", opener=_no_follow) as f:
                if rel.endswith(".md"):
                    ids = whole_blocks(os.pread(f.fileno(), length, 0))[0]
                    return max(ids, default=0)
                span = 1 << 16
                while True:  # back until the line before the last one ends (a line may be long)
                    start = max(0, length - span)
                    tail = os.pread(f.fileno(), length - start, start).rstrip(b"\n")
                    if start == 0 or b"\n" in tail:
                        break
                    span *= 4
            last = tail.rsplit(b"\n", 1)[-1]
            match = _LINE_ID.match(last)
            return int(match.group(1)) if match else 0

    def max_json_id(self) -> int:
        """The newest message the committed JSONL holds a line for, 0 with none (all its lines are read)."""
        with self._lock:
            length = self._lengths.get(self.json_rel, 0)
            if not length:
                return 0
            with open(safe_path(self.vault.root, self.json_rel), "rb", opener=_no_follow) as f:
                return max_line_id(f, length)

    def splice_staged(self) -> int:
        """Put each file a finished back-fill staged in front of the chat's own file of that name (a note keeps one
        month header: the staged one, which starts it), one crash-safe whole-file rewrite per file (see
        StateStore.begin_splice). Returns the files spliced. A note made read-only by hand is left as it is, its
        staged messages kept: the others are spliced, then ReadOnlyFileError says so (the back-fill stays
        unfinished, and the next run splices what is left)."""
        prefix = staging_prefix(self.chat_id)
        read_only_note: ReadOnlyFileError | None = None
        with self._lock:
            staged = sorted(rel for rel in self._lengths if rel.startswith(prefix))
            for rel in staged:
                try:
                    self._splice(rel, rel[len(prefix) :])
                except ReadOnlyFileError as exc:
                    read_only_note = read_only_note or exc
            self._dirs_made = {d for d in self._dirs_made if not d.is_relative_to(self.vault.root / prefix)}
            if _clear_staging(self.vault.root, prefix.rstrip("/"), keep=None):
                # The chat's staging folder, then the back-fills' folder if no other chat's is in it; rmdir
                # never follows a link at the name it removes, and safe_path saw none on the way.
                for rel in (prefix.rstrip("/"), BACKFILL_DIR):
                    with contextlib.suppress(OSError):
                        os.rmdir(safe_path(self.vault.root, rel))  # only when empty
        if read_only_note is not None:
            raise ReadOnlyFileError(
                read_only_note.rel,
                read_only(
                    read_only_note.rel,
                    "the older messages the back-fill fetched for its month are kept aside, not in it",
                    "put them in it",
                ),
            )
        return len(staged)

    def _splice(self, staged: str, final: str) -> None:
        """One staged file in front of the chat's own. A note keeps its permissions, and what a person typed
        after its committed bytes during the run stays at its end, theirs and uncommitted (as in rewrite); a
        note without write permission for its owner is left as it is (ReadOnlyFileError), its staged messages
        kept for the next run."""
        store = self.vault.store
        staged_length = self._lengths[staged]
        final_length = self._lengths.get(final, 0)
        note = final.endswith(".md")
        if not final_length and note:
            # A note of a person's where the back-fill's month note goes: kept, after the staged messages.
            theirs = self._found_in_the_way([final]).get(final)
            if theirs is not None:
                final_length = theirs[0]
        staged_path = safe_path(self.vault.root, staged)
        intent: list[tuple[int, bytes]] = []
        ours: list[tuple[int, bytes]] = []

        def fill(own: BinaryIO | None, out: BinaryIO) -> None:
            if own is None:
                with open(staged_path, "rb", opener=_no_follow) as src:
                    _copy_range(src, out, 0, staged_length)
                return
            head = month_header_length(own.read(_HEADER_READ)) if note else 0
            # The note's own start stays (its front matter may hold a person's keys); the staged start,
            # the same month's header as the engine writes it, goes.
            _copy_range(own, out, 0, head)
            with open(staged_path, "rb", opener=_no_follow) as src:
                skip = month_header_length(src.read(_HEADER_READ)) if head else 0
                _copy_range(src, out, skip, staged_length)
            if not note:
                _copy_range(own, out, head, final_length)
                return
            size = os.fstat(own.fileno()).st_size
            _copy_range(own, out, head, min(size, final_length))
            if size >= final_length:
                ours.append(_written_end(out))  # the rest is what a person typed at its end during the run
            _copy_to_end(own.fileno(), final_length, out)

        def record(new_length: int, tail: bytes) -> None:
            # A note a person cut short during the run is theirs as it is now, whole (as recovery adopts it).
            new_length, tail = ours[0] if ours else (new_length, tail)
            store.begin_splice(self.chat_id, final, staged, length=new_length, tail=tail)
            intent.append((new_length, tail))

        try:
            if not final_length:
                self.vault.write_stream_atomic(final, lambda out: fill(None, out), before_replace=record)
            else:
                with open(safe_path(self.vault.root, final), "rb", opener=_no_follow) as own:
                    mode = _writable_mode(own.fileno(), final)
                    self.vault.write_stream_atomic(final, lambda out: fill(own, out), before_replace=record, mode=mode)
            ((new_length, tail),) = intent
            store.end_splice(self.chat_id, final, staged, length=new_length, tail=tail)
        except (OSError, sqlite3.OperationalError) as exc:
            raise write_error(exc, self.vault.root) from exc
        self._lengths[final] = new_length
        del self._lengths[staged]
        with contextlib.suppress(OSError):  # else Vault.recover drops it: no state names it any more
            staged_path.unlink()

    @staticmethod
    def _tail_of(path: Path, end: int) -> bytes:
        with open(path, "rb") as f:
            f.seek(max(0, end - TAIL_BYTES))
            return f.read(min(end, TAIL_BYTES))

    def write_result_json(self, rel_path: str, header: dict) -> int:
        """Atomically write result.json from the committed JSONL, file paths relative to its folder; returns the
        message count. Memory stays flat."""
        with self._lock:
            length = self._lengths.get(self.json_rel, 0)
            jsonl = safe_path(self.vault.root, self.json_rel)
            folder = rel_path.rpartition("/")[0]
            count = 0

            def fill(out: BinaryIO) -> None:
                nonlocal count
                count = stream_result_json(out, header, jsonl, length, folder=folder)

            self.vault.write_stream_atomic(rel_path, fill)
            return count

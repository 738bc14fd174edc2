"""The vault on disk: exclusive lock, crash recovery, committed-length appends and atomic whole-file writes.

The commit protocol (why a kill -9 at any instant loses nothing and duplicates nothing) is in docs/STATE.md.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tobs_tui.engine.vault.filenames import safe_path
from tobs_tui.engine.vault.jsonl import stream_result_json
from tobs_tui.engine.vault.store import TAIL_BYTES, MediaRecord, StateStore

STATE_DIR = ".tobs"


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


@dataclass(frozen=True)
class RecoveryReport:
    truncated: tuple[tuple[str, int, int], ...] = ()  # (vault-relative path, size found, committed length)
    removed: tuple[str, ...] = ()  # files an unfinished commit had created
    missing: tuple[str, ...] = ()  # committed files someone deleted: they start afresh
    modified: tuple[str, ...] = ()  # committed files someone edited: kept as they are, appends go after
    temp_files_deleted: int = 0

    @property
    def rolled_back_bytes(self) -> int:
        return sum(size - length for _, size, length in self.truncated)

    @property
    def clean(self) -> bool:
        return not (self.truncated or self.removed or self.missing or self.modified or self.temp_files_deleted)


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
    if code in _NO_PERMISSION:
        return VaultWriteError(
            f"You do not have permission to write to {where}; fix its permissions or choose another folder.",
            errno_code=code,
        )
    if code in (errno.ENOTDIR, errno.EEXIST):
        return VaultWriteError(
            f"A file is in the way at {where}; move it or choose another export folder.", errno_code=code
        )
    return VaultWriteError(
        f"Writing to {where} failed ({exc}); check the disk and run the export again.", errno_code=code
    )


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


def _bytes_before(fd: int, end: int, tail: bytes) -> bool:
    """Whether the file's bytes just before offset `end` are `tail` (a commit's record of where it ended)."""
    return os.pread(fd, len(tail), end - len(tail)) == tail


class Vault:
    """One export dir. Holds an exclusive lock for its lifetime; call recover() once before writing."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise VaultWriteError(f"The export folder {self.root} is a file; choose a folder and run the export again.")
        self.state_dir = self.root / STATE_DIR
        self.tmp_dir = self.state_dir / "tmp"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            for d in (self.state_dir, self.tmp_dir, self.state_dir / "json"):
                safe_path(self.root, str(d.relative_to(self.root)))
                d.mkdir(exist_ok=True)
            self._lock_fd = os.open(
                self.state_dir / "lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644
            )
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
            self.store = StateStore(self.state_dir / "state.sqlite")
        except (OSError, sqlite3.Error) as exc:
            os.close(self._lock_fd)
            raise write_error(exc, self.root) from exc
        self._writers: dict[int, ChatWriter] = {}
        self._writers_lock = threading.Lock()
        self._recovered = False

    def close(self) -> None:
        self.store.close()
        os.close(self._lock_fd)  # closing the descriptor releases the flock

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # recovery --------------------------------------------------------------------------------------

    def recover(self) -> RecoveryReport:
        """Roll every file back to its committed length and drop temp files; call once before any writer."""
        truncated: list[tuple[str, int, int]] = []
        removed: list[str] = []
        missing: list[str] = []
        modified: list[str] = []
        self._settle_rewrites()
        for record in self.store.all_files():
            path = safe_path(self.root, record.path)
            if record.length == 0:
                if path.exists():
                    path.unlink()
                    removed.append(record.path)
                    self._prune_empty_dirs(path.parent)
                self.store.forget_file(record.path)
                continue
            try:
                fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
            except FileNotFoundError:
                missing.append(record.path)
                self.store.forget_file(record.path)
                continue
            try:
                size = os.fstat(fd).st_size
                ours = size >= record.length and _bytes_before(fd, record.length, record.tail)
                if not ours:
                    # Someone edited a committed note: keep their bytes and append after them.
                    modified.append(record.path)
                    self.store.set_file(
                        record.path, length=size, tail=os.pread(fd, TAIL_BYTES, max(0, size - TAIL_BYTES))
                    )
                elif size > record.length:
                    os.ftruncate(fd, record.length)
                    os.fsync(fd)
                    truncated.append((record.path, size, record.length))
            finally:
                os.close(fd)
        temp_deleted = 0
        for leftover in self.tmp_dir.iterdir():
            leftover.unlink()
            temp_deleted += 1
        self._recovered = True
        return RecoveryReport(tuple(truncated), tuple(removed), tuple(missing), tuple(modified), temp_deleted)

    def _settle_rewrites(self) -> None:
        """A whole-file rewrite cut short (ChatWriter.rewrite): if its rename happened, the new file's length
        and tail become the committed ones; if not, the old file and its record stand (its temp file is
        deleted with the others)."""
        for rel, length, tail in self.store.pending_rewrites():
            try:
                fd = os.open(safe_path(self.root, rel), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except FileNotFoundError:
                self.store.forget_rewrite(rel)
                continue
            try:
                renamed = os.fstat(fd).st_size == length and _bytes_before(fd, length, tail)
            finally:
                os.close(fd)
            if renamed:
                self.store.end_rewrite(rel, length=length, tail=tail)
            else:
                self.store.forget_rewrite(rel)

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

    def write_file_atomic(self, rel_path: str, data: bytes) -> None:
        """Write a whole file: temp in .tobs/tmp, fsync, rename over the target, fsync its dir."""
        self.write_stream_atomic(rel_path, lambda out: out.write(data))

    def write_stream_atomic(
        self,
        rel_path: str,
        fill: Callable[[BinaryIO], object],
        *,
        before_replace: Callable[[int, bytes], None] | None = None,
    ) -> bool:
        """fill(out) writes the content; returning False keeps the target as it is. before_replace(length, tail)
        runs once the temp file is durable, just before the rename (ChatWriter.rewrite records its intent
        there). Returns whether the target was replaced."""
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
                    before_replace(length, os.pread(out.fileno(), TAIL_BYTES, max(0, length - TAIL_BYTES)))
            os.chmod(tmp_name, 0o644)
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
        self._pending: dict[str, list[bytes]] = {}
        self._lock = threading.Lock()
        self._dirs_made: set[Path] = set()  # folders this writer has created or found: no mkdir per commit

    def append(self, rel_note: str, text: str, *, header: str | None = None) -> int:
        """Buffer text for a note; a note with no committed bytes starts with header (its front matter).
        Returns the bytes the text takes."""
        data = text.encode("utf-8", "replace")
        with self._lock:
            self._buffer(rel_note, data, header)
        return len(data)

    def append_json_line(self, line: bytes) -> None:
        """Lines already made by jsonl.encode_line (the exporter encodes in its render processes)."""
        with self._lock:
            self._buffer(self.json_rel, line, None)

    def _buffer(self, rel: str, data: bytes, header: str | None) -> None:
        chunks = self._pending.get(rel)
        if chunks is None:
            chunks = self._pending[rel] = []
            if header is not None and rel not in self._lengths:
                chunks.append(header.encode("utf-8", "replace"))
        chunks.append(data)

    def commit(
        self,
        *,
        last_id: int,
        messages: list[tuple[int, str, str, str]],
        topic_last_ids: dict[int, int] | None = None,
        media: Iterable[MediaRecord] = (),
    ) -> None:
        """Write the buffered appends at their committed offsets, fsync, then commit the state in one transaction.

        On a disk error raises VaultWriteError and keeps the buffer, so commit() can be retried once space is free.
        """
        with self._lock:
            store = self.vault.store
            pending = {rel: b"".join(chunks) for rel, chunks in self._pending.items()}
            pending = {rel: data for rel, data in pending.items() if data}
            new_files = [rel for rel in pending if rel not in self._lengths]
            lengths: dict[str, int] = {}
            tails: dict[str, bytes] = {}
            try:
                if new_files:
                    store.register_new_files(self.chat_id, new_files)
                dirs_to_sync: set[Path] = set()
                for rel, data in pending.items():
                    path = safe_path(self.vault.root, rel)
                    if path.parent not in self._dirs_made:
                        dirs_to_sync.update(self.vault.make_dirs(path.parent))
                        self._dirs_made.add(path.parent)
                    if rel in new_files:
                        dirs_to_sync.add(path.parent)
                    offset = self._lengths.get(rel, 0)
                    end = offset + len(data)
                    try:
                        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
                    except FileNotFoundError:
                        # Its folder went away during the export: made again, as on the first commit.
                        dirs_to_sync.update(self.vault.make_dirs(path.parent))
                        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
                    try:
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
                )
            except (OSError, sqlite3.OperationalError) as exc:
                raise write_error(exc, self.vault.root) from exc
            self._lengths.update(lengths)
            self._pending.clear()

    def rewrite(self, rel: str, transform: Callable[[BinaryIO, int, BinaryIO], bool]) -> bool:
        """Replace a committed file whole: transform(its file, committed length, out) writes the new content
        and says whether it changed anything. Crash-safe: the intent (new length and tail) is recorded, the
        new file renamed over the old one (Vault.write_stream_atomic), then committed (Vault.recover settles an
        intent left behind). Memory stays flat for a transform that streams. Nothing may be buffered for the
        file."""
        with self._lock:
            length = self._lengths.get(rel)
            if length is None or rel in self._pending:
                return False
            store = self.vault.store
            intent: list[tuple[int, bytes]] = []

            def record(new_length: int, tail: bytes) -> None:
                store.begin_rewrite(rel, length=new_length, tail=tail)
                intent.append((new_length, tail))

            try:
                with open(safe_path(self.vault.root, rel), "rb") as src:
                    if os.fstat(src.fileno()).st_size < length or not self.vault.write_stream_atomic(
                        rel, lambda out: transform(src, length, out), before_replace=record
                    ):
                        return False
                ((new_length, tail),) = intent
                store.end_rewrite(rel, length=new_length, tail=tail)
            except (OSError, sqlite3.OperationalError) as exc:
                raise write_error(exc, self.vault.root) from exc
            self._lengths[rel] = new_length
            return True

    @staticmethod
    def _tail_of(path: Path, end: int) -> bytes:
        with open(path, "rb") as f:
            f.seek(max(0, end - TAIL_BYTES))
            return f.read(min(end, TAIL_BYTES))

    def write_index_note(self, rel_path: str, text: str) -> None:
        self.vault.write_file_atomic(rel_path, text.encode("utf-8", "replace"))

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

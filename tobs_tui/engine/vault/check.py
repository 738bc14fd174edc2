"""`tobs-tui verify`: a vault checked against its export state without writing a byte anywhere and without
following a link: the state DB and its log are copied, through descriptors that refuse links, into a
temporary folder of verify's own and read there (SQLite never opens the vault's files, so it creates no -wal or
-shm beside them), no lock is taken, every file is opened with O_NOFOLLOW
and O_NONBLOCK and read only when it is a regular file. It checks committed files at their lengths, downloads
at their sizes and SHA-256, no planted links (on the files or on the folders on the way to them), no chat
folder the state does not know. A Markdown file in a chat's folder holding messages one of the export's own notes
holds too (a sync's conflicted copy) is named, not counted as a problem, and never touched."""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
import stat
import tempfile
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from tobs_tui.engine.vault.blocks import block_ids, note_blocks, only_blank_end_cut
from tobs_tui.engine.vault.intents import engine_bytes, read_intents
from tobs_tui.engine.vault.moved import _read as _read_regular
from tobs_tui.engine.vault.moved import find_moved_notes
from tobs_tui.engine.vault.rebuild import chat_folders, month_notes, named_chat, read_front_matter
from tobs_tui.engine.vault.vault import Vault, in_the_way
from tobs_tui.filekinds import file_kind

STATE_DIR = ".tobs"
STATE_FILE = ".tobs/state.sqlite"
# What SQLite opens beside the state DB when an export opens it (store.StateStore checks the same names).
STATE_SIDE_FILES = ("-wal", "-shm", "-journal")
# Folders an export keeps in .tobs (vault.Vault makes them through safe_path, which refuses a link there).
STATE_FOLDERS = (".tobs/json", ".tobs/intents", ".tobs/tmp")
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass(frozen=True)
class VaultProblem:
    path: str  # vault-relative
    problem: str  # what is wrong, in words
    chat_id: int | None = None  # the chat whose export repairs it (None: every chat in the vault)
    media: bool = False  # a downloaded file: the repair records it as lost so the export fetches it again
    by_hand: bool = False  # a link or a non-file in the way: an export refuses it, so a person must move it


@dataclass(frozen=True)
class VaultCheck:
    problems: tuple[VaultProblem, ...]
    notes: tuple[str, ...]  # things found that are fine to leave (edits a person made, kept)
    chats: int
    files: int
    media: int
    folders: tuple[int, ...] = ()  # the chats the vault holds (its state's, or its folders' when that is lost)
    # Files beside the export's notes holding messages those notes hold too (a sync's conflicted copy), one
    # sentence each: nothing is lost, so verify does not fail on them, but a person picks which to keep.
    copies: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def by_hand(self) -> tuple[VaultProblem, ...]:
        """The problems an export cannot repair (it refuses to write through a link or over a non-file)."""
        return tuple(p for p in self.problems if p.by_hand)

    @property
    def chats_to_repair(self) -> tuple[int, ...]:
        if any(p.chat_id is None for p in self.problems):
            return self.folders
        return tuple(sorted({p.chat_id for p in self.problems if p.chat_id is not None}))

    @property
    def repairable_now(self) -> tuple[int, ...]:
        """The chats to repair whose export meets nothing it refuses; none while such a thing is in every chat's
        way (in .tobs, the vault's result.json, a link over several chats' folders: it names no one chat)."""
        waiting = {p.chat_id for p in self.by_hand}
        if None in waiting:
            return ()
        return tuple(c for c in self.chats_to_repair if c not in waiting)


def cannot_check(vault: Path) -> str | None:
    """Why `vault` cannot be checked now, in a sentence: it holds no export, its state is not a file, or an
    export is writing to it (its lock is held; taken shared for a moment, nothing is written). Nothing is
    followed through a link: a link at .tobs, its state or its lock is left to check_vault, which names it."""
    state_dir = vault / STATE_DIR
    state = state_dir / "state.sqlite"
    dir_mode = _lmode(state_dir)
    if dir_mode is not None and stat.S_ISLNK(dir_mode):
        return None  # check_vault names the link (an export refuses it)
    if dir_mode is not None and not stat.S_ISDIR(dir_mode):
        return f"{state_dir} is a file, where an export keeps its state folder; move it away and export again."
    state_mode = _lmode(state) if dir_mode is not None else None
    if state_mode is not None and not stat.S_ISLNK(state_mode) and not stat.S_ISREG(state_mode):
        return f"{state} is not a file, where an export keeps its state; move it away and export again."
    if state_mode is None and not any(True for _ in chat_folders(vault)):
        return (
            f"There is no vault at {vault}: it holds no export (no {state.relative_to(vault)} and no chat folders);"
            " pass --out with the folder you export to."
        )
    lock_mode = _lmode(state_dir / "lock") if dir_mode is not None else None
    if lock_mode is None or not stat.S_ISREG(lock_mode):
        return None  # no lock (no export now), or a link or a non-file there: check_vault names it
    try:
        fd = os.open(state_dir / "lock", _OPEN_FLAGS)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None  # swapped since the lstat: check_vault names it
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        return f"An export is writing to {vault} now (pid {holder}); run verify once it has finished."
    except OSError:
        return None
    finally:
        os.close(fd)  # closing releases the shared lock
    return None


def _lmode(path: Path) -> int | None:
    """The mode of what is at `path`, not following a link (None when nothing is, or it cannot be reached)."""
    try:
        return os.lstat(path).st_mode
    except OSError:
        return None


def check_vault(root: Path) -> VaultCheck:
    root = Path(root)
    problems: list[VaultProblem] = []
    notes: list[str] = []
    refused = _state_problems(root)
    if refused:  # the state is not opened through a link, nor one that shares its bytes with another file
        return VaultCheck(tuple(refused), (), 0, 0, 0, tuple(chat_id for chat_id, _ in chat_folders(root)))
    if _lmode(root / STATE_FILE) is None:
        for chat_id, folder in chat_folders(root) if root.is_dir() else ():
            if _holds_messages(folder):
                problems.append(
                    VaultProblem(
                        folder.name, "has notes but the export state is missing (rebuilt by an export)", chat_id
                    )
                )
        return VaultCheck(tuple(problems), (), 0, 0, 0)
    try:
        with tempfile.TemporaryDirectory(prefix="tobs-verify-") as private:
            db = _state_copy(root / STATE_FILE, Path(private))
            try:
                damage = db.execute("PRAGMA quick_check(1)").fetchone()[0]
                if damage != "ok":
                    raise sqlite3.DatabaseError(damage)
                chats = db.execute("SELECT chat_id, dir_name, last_id FROM chats").fetchall()
                with_json = (
                    {row[0] for row in db.execute("SELECT chat_id FROM result_json")}
                    if _has(db, "result_json")
                    else set()
                )
                files = db.execute("SELECT path, chat_id, length, tail FROM files ORDER BY path").fetchall()
                media = db.execute(
                    "SELECT chat_id, path, size, sha256 FROM media WHERE status IN ('done', 'lost') ORDER BY path"
                ).fetchall()
                lost = {row[0] for row in db.execute("SELECT path FROM media WHERE status = 'lost'")}
                repairs = db.execute("SELECT path, chat_id FROM repairs").fetchall() if _has(db, "repairs") else []
                # The messages of each note no longer at its path: found in a file elsewhere, it was moved.
                gone_notes = {
                    path: [
                        row[0]
                        for row in db.execute(
                            "SELECT msg_id FROM messages WHERE chat_id = ? AND note = ?", (chat_id, path[:-3])
                        )
                    ]
                    for path, chat_id, length, _ in files
                    if length and path.endswith(".md") and not path.startswith(".") and _lmode(root / path) is None
                }
                copies = find_copies(root, db, ((row[0], row[1]) for row in chats), {row[0] for row in files})
            finally:
                db.close()
    except _Refused as exc:  # swapped for a link or a non-file since it was looked at
        return VaultCheck((VaultProblem(exc.path, exc.problem, by_hand=True),), (), 0, 0, 0)
    except OSError as exc:  # the temporary copy could not be made (a full temporary folder)
        said = (
            f"could not be copied to be read ({exc.strerror}); free space in {tempfile.gettempdir()} and verify again"
        )
        return VaultCheck((VaultProblem(STATE_FILE, said),), (), 0, 0, 0)
    except sqlite3.DatabaseError as exc:
        said = f"the export state is damaged ({exc}); an export moves it aside and rebuilds it from the notes"
        folders = tuple(chat_id for chat_id, _ in chat_folders(root))
        return VaultCheck((VaultProblem(STATE_FILE, said),), (), 0, 0, 0, folders)
    known = {row[0] for row in chats}
    for chat_id, folder in chat_folders(root):
        if chat_id not in known and _holds_messages(folder):
            problems.append(VaultProblem(folder.name, "is not in the export state (rebuilt by an export)", chat_id))
    for path, chat_id in repairs:
        problems.append(VaultProblem(path, "lost messages that were not fetched again yet", chat_id))
    ways = _Ways(root)
    problems += ways.state_folders()
    intents = {} if ".tobs/intents" in ways.links else read_intents(root / ".tobs" / "intents")
    moved = find_moved_notes(root, gone_notes, {row[0] for row in files})
    for path, chat_id, length, tail in files:
        if ways.blocked(path, chat_id):
            continue
        if path in moved:
            notes.append(f"{path}: moved or renamed by hand to {moved[path]} (yours now; an export leaves it there)")
            continue
        problem, note = _file_problem(root, path, length, tail, intents.get(path))
        if problem:
            problems.append(VaultProblem(path, problem, chat_id, by_hand=_in_the_way(problem)))
        if note:
            notes.append(f"{path}: {note}")
    problems += _whole_files(root, chats, with_json, ways)
    for chat_id, path, size, sha256 in media:
        if ways.blocked(path, chat_id):
            continue
        problem = "was deleted or cut short by hand" if path in lost else _media_problem(root, path, size, sha256)
        if problem:
            problems.append(VaultProblem(path, problem, chat_id, media=True, by_hand=_in_the_way(problem)))
    problems += ways.problems()
    # The file a note was moved to is named as moved above, not as a copy (its old place holds nothing).
    named = tuple(sentence for rel, sentence in copies if rel not in moved.values())
    return VaultCheck(
        tuple(problems), tuple(notes), len(known), len(files), len(media), tuple(sorted(known)), copies=named
    )


def find_copies(
    root: Path, db: sqlite3.Connection, chats: Iterable[tuple[int, str]], known: Collection[str]
) -> list[tuple[str, str]]:
    """(vault-relative path, the sentence that names it) for each Markdown file in a chat's folder, not one of
    the export's own (`known`), that holds message blocks of the chat one of the export's notes holds too: a
    sync's conflicted copy (Dropbox, Syncthing, iCloud, Nextcloud, OneDrive, Obsidian Sync each name theirs
    differently, so it is found by what it holds), or a copy a person made. Obsidian then finds each message
    twice and a block reference ^m<id> may land in either, yet nothing is lost: the person picks which to keep,
    and the engine never deletes or changes either.

    `db` is the export state (its messages table says which note holds each message; `chats` gives each chat's
    folder). Only the chat folders are walked, never through a link, skipping dot-folders and dot-files; the
    export's own notes are not read unless a file outside them shares blocks with them, so a big vault costs a
    listing of its folders and a read of the few Markdown files that are not the export's."""
    found: list[tuple[str, str]] = []
    own_blocks: dict[str, set[int]] = {}  # an export note read once however many copies it has
    for chat_id, dir_name in chats:
        folder = root / dir_name if dir_name else None
        mode = _lmode(folder) if folder is not None else None
        if folder is None or mode is None or not stat.S_ISDIR(mode):
            continue  # no folder yet, or a link or a non-file there: named elsewhere, and never walked through
        for at, dirs, names in os.walk(folder):  # os.walk does not descend into a linked folder
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                rel = (Path(at) / name).relative_to(root).as_posix()
                if not name.endswith(".md") or name.startswith(".") or rel in known:
                    continue
                data = _read_regular(Path(at) / name)  # None for a link, a pipe, anything but a regular file
                if not data or b"^m" not in data:
                    continue
                held = set(block_ids(data))
                # Channels all number their messages from 1: a note naming another chat holds none of this one's.
                if not held or named_chat(read_front_matter(data)) not in (chat_id, None):
                    continue
                shared: dict[str, int] = {}
                for note, ids in _notes_holding(db, chat_id, held).items():
                    note_rel = f"{note}.md"
                    if note_rel == rel:
                        continue
                    if note_rel not in own_blocks:
                        own = _read_regular(root / note_rel) if not _passes_link(root, note_rel) else None
                        own_blocks[note_rel] = set(block_ids(own)) if own else set()
                    if both := len(ids & own_blocks[note_rel]):
                        shared[note_rel] = both
                if shared:
                    found.append((rel, _copy_sentence(rel, shared)))
    return found


def _notes_holding(db: sqlite3.Connection, chat_id: int, ids: set[int]) -> dict[str, set[int]]:
    """{note (vault-relative, without .md): the ids among `ids` the state says it holds}."""
    notes: dict[str, set[int]] = {}
    wanted = sorted(ids)
    for start in range(0, len(wanted), 500):  # under SQLite's bound on a statement's parameters
        batch = wanted[start : start + 500]
        marks = ",".join("?" * len(batch))
        for msg_id, note in db.execute(
            f"SELECT msg_id, note FROM messages WHERE chat_id = ? AND msg_id IN ({marks})", (chat_id, *batch)
        ):
            notes.setdefault(note, set()).add(msg_id)
    return notes


def _passes_link(root: Path, rel: str) -> bool:
    """Whether a folder on the way to `rel` is a link (a note is never read through one)."""
    parts = rel.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        mode = _lmode(root.joinpath(*parts[:i]))
        if mode is None or stat.S_ISLNK(mode):
            return mode is not None
    return False


def _copy_sentence(rel: str, shared: dict[str, int]) -> str:
    notes = sorted(shared)
    messages = f"{sum(shared.values())} of the chat's messages"  # "1 of the chat's messages" reads right too
    if len(notes) == 1:
        held = f"{notes[0]} holds too"
    else:
        held = f"{', '.join(notes[:-1])} and {notes[-1]} hold too"
    return (
        f"{rel} holds {messages} that {held} (a sync's conflicted copy?); keep the one you want and delete the other."
    )


class _Refused(Exception):
    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = path, problem


_SYMLINK = "is a symlink: an export refuses to write through it"
_HARD_LINK = "other hard link(s): an export refuses to write to it"
_NOT_A_FILE = "an export needs a file there"


def _in_the_way(problem: str) -> bool:
    """A problem an export does not repair but refuses (a link, a non-file): a person must move it."""
    return problem.startswith((_SYMLINK, "is a folder", "is a named pipe", "is a device", "is a socket")) or (
        _HARD_LINK in problem
    )


def _not_a_file(mode: int) -> str:
    return f"is {file_kind(mode)}: {_NOT_A_FILE} (move it away)"


def _link_problem(st: os.stat_result, *, links_allowed: bool = False) -> str | None:
    """What a file of the vault is that an export refuses (the rules of filenames.refuse_links and
    open_for_writing): a symlink, not a regular file, or a file with other hard links."""
    if stat.S_ISLNK(st.st_mode):
        return f"{_SYMLINK} (replace it with a copy of the file it points to, or move it away)"
    if not stat.S_ISREG(st.st_mode):
        return _not_a_file(st.st_mode)
    if st.st_nlink > 1 and not links_allowed:
        return (
            f"has {st.st_nlink - 1} {_HARD_LINK}, as that would change a file elsewhere too"
            " (replace it with a copy of its own)"
        )
    return None


def _state_problems(root: Path) -> list[VaultProblem]:
    """.tobs, the state DB and the files SQLite opens beside it, checked before anything of them is opened:
    a symlink, a file with other hard links or a non-file there is named (an export refuses them too)."""
    mode = _lmode(root / STATE_DIR)
    if mode is not None and stat.S_ISLNK(mode):
        said = f"{_SYMLINK} (put the folder it points to in its place, or move the link away)"
        return [VaultProblem(STATE_DIR, said, by_hand=True)]
    if mode is None or not stat.S_ISDIR(mode):
        return []  # no state folder (cannot_check said when that is not a vault), or a file cannot_check named
    found = []
    for rel in (STATE_FILE, *(STATE_FILE + side for side in STATE_SIDE_FILES), ".tobs/lock"):
        try:
            st = os.lstat(root / rel)
        except FileNotFoundError:
            continue
        if problem := _link_problem(st):
            found.append(VaultProblem(rel, problem, by_hand=True))
    return found


def _read_file(path: Path, rel: str) -> bytes:
    """A regular file's bytes, opened without following a link and without waiting on a pipe."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if os.path.islink(path):
            raise _Refused(rel, f"{_SYMLINK} (move it away)") from None
        raise sqlite3.DatabaseError(f"{rel} cannot be read: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if problem := _link_problem(st):
            raise _Refused(rel, problem)
        chunks, at = [], 0
        while chunk := os.pread(fd, 1 << 20, at):
            chunks.append(chunk)
            at += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def exported_chats(root: Path) -> list[tuple[int, str, str | None]]:
    """(id, title, username) of every chat the vault's state holds, read as check_vault reads it (nothing in the
    vault written, no link followed); [] when there is no state it can read."""
    root = Path(root)
    if _state_problems(root) or _lmode(root / STATE_FILE) is None:
        return []
    try:
        with tempfile.TemporaryDirectory(prefix="tobs-verify-") as private:
            db = _state_copy(root / STATE_FILE, Path(private))
            try:
                return [(int(i), str(t), u) for i, t, u in db.execute("SELECT chat_id, title, username FROM chats")]
            finally:
                db.close()
    except (OSError, sqlite3.Error, _Refused):
        return []


def _state_copy(db_path: Path, private: Path) -> sqlite3.Connection:
    """The state DB opened from a copy in `private` (a temporary folder of verify's own), its write-ahead log
    beside it: SQLite applies the log to the copy as it would to the vault's file, and the -shm it makes is
    made there. Opening the vault's own file, even read-only, would create and write its -shm (through a link
    or a hard link planted there) and its -wal. The files are read through descriptors that refuse links."""
    copy = private / "state.sqlite"
    copy.write_bytes(_read_file(db_path, STATE_FILE))
    wal = Path(f"{db_path}-wal")
    if _lmode(wal) is not None:
        Path(f"{copy}-wal").write_bytes(_read_file(wal, STATE_FILE + "-wal"))
    return sqlite3.connect(copy)


def _holds_messages(folder: Path) -> bool:
    """rebuild.holds_messages, its notes read without following a link or waiting on a pipe."""
    for note, _ in month_notes(folder):
        try:
            if note_blocks(_read_file(note, note.name)):
                return True
        except (_Refused, sqlite3.DatabaseError):
            continue
    return False


class _Ways:
    """The folders on the way to the vault's recorded files: a symlink among them (a chat folder, a year, topics,
    a topic, media, a media kind, .tobs/json) is named once, and the files below it are not looked at (they
    would all read as deleted, or be read through the link)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.links: dict[str, set[int | None]] = {}
        self._modes: dict[str, int | None] = {}

    def blocked(self, rel: str, chat_id: int | None) -> bool:
        parts = rel.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            folder = "/".join(parts[:i])
            if folder not in self._modes:
                self._modes[folder] = _lmode(self.root / folder)
            mode = self._modes[folder]
            if mode is None or (not stat.S_ISDIR(mode) and not stat.S_ISLNK(mode)):
                return False  # missing, or a file in the way: the file's own check says so
            if stat.S_ISLNK(mode):
                self.links.setdefault(folder, set()).add(chat_id)
                return True
        return False

    def state_folders(self) -> list[VaultProblem]:
        found = []
        for rel in STATE_FOLDERS:
            mode = _lmode(self.root / rel)
            self._modes[rel] = mode
            if mode is not None and not stat.S_ISDIR(mode) and not stat.S_ISLNK(mode):
                said = f"is {file_kind(mode)}, where an export keeps a folder (move it away)"
                found.append(VaultProblem(rel, said, by_hand=True))
            elif mode is not None and stat.S_ISLNK(mode):
                self.links.setdefault(rel, set()).add(None)
        return found

    def problems(self) -> list[VaultProblem]:
        said = f"{_SYMLINK} (put the folder it points to in its place, or move the link away)"
        found = []
        for folder, chats in sorted(self.links.items()):
            chat_id = next(iter(chats)) if len(chats) == 1 else None
            found.append(VaultProblem(folder, said, chat_id, by_hand=True))
        return found


def _has(db: sqlite3.Connection, table: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone() is not None


def _whole_files(root: Path, chats: list[tuple], with_json: set[int], ways: _Ways) -> list[VaultProblem]:
    """The files an export writes whole at its end: each chat's index note (once it has messages) and, when it
    wrote them, its result.json and the vault's."""
    found = []
    for chat_id, dir_name, last_id in chats:
        if not dir_name:
            continue  # a chat whose export never got as far as naming its folder
        wanted = [f"{dir_name}/{dir_name}.md"] if last_id else []
        if chat_id in with_json:
            wanted.append(f"{dir_name}/result.json")
        for rel in wanted:
            if not ways.blocked(rel, chat_id) and (problem := _whole_file_problem(root, rel)):
                found.append(VaultProblem(rel, problem, chat_id, by_hand=_in_the_way(problem)))
    if with_json and (problem := _whole_file_problem(root, "result.json")):
        found.append(VaultProblem("result.json", problem, by_hand=_in_the_way(problem)))
    return found


def _found_at(root: Path, rel: str, missing: str | None) -> tuple[os.stat_result | None, str | None]:
    """What is at `rel` (not following a link): its stat when it is a file, else what is wrong there (`missing`
    when nothing is)."""
    path = root / rel
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None, missing
    except NotADirectoryError:
        return None, (
            f"cannot be reached: a file is in the way at {in_the_way(path).relative_to(root).as_posix()} (move it away)"
        )
    if stat.S_ISLNK(st.st_mode):
        return None, _SYMLINK
    if stat.S_ISDIR(st.st_mode):
        return None, "is a folder: an export needs the file there (move the folder away)"
    if not stat.S_ISREG(st.st_mode):
        return None, _not_a_file(st.st_mode)
    return st, None


def _open_found(root: Path, rel: str) -> tuple[int | None, os.stat_result | None, str | None]:
    """`rel` opened for reading as it was found (a regular file): never through a link, never waiting on a pipe
    swapped in since it was looked at. (descriptor, its stat, None), or (None, None, what is there instead)."""
    try:
        fd = os.open(root / rel, _OPEN_FLAGS)
    except OSError:
        st, problem = _found_at(root, rel, "was deleted")
        return None, None, problem or "cannot be read"
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return None, None, _not_a_file(st.st_mode)
    return fd, st, None


def _whole_file_problem(root: Path, rel: str) -> str | None:
    return _found_at(root, rel, "is missing (an export writes it again)")[1]


def _file_problem(
    root: Path, rel: str, length: int, tail: bytes, intent: tuple[int, bytes] | None
) -> tuple[str | None, str | None]:
    st, problem = _found_at(root, rel, "was deleted" if length else None)
    if st is None:
        return problem, None
    if st.st_nlink > 1:
        return f"has {st.st_nlink - 1} {_HARD_LINK}", None
    fd, st, problem = _open_found(root, rel)
    if fd is None or st is None:
        return problem, None
    with os.fdopen(fd, "rb") as f:
        if length == 0:
            data = f.read()
            if rel.endswith(".md") and engine_bytes(data, 0, intent) < len(data):
                return None, "text typed into a note an interrupted run had begun (kept)"
            return "was left by an interrupted run (an export removes it)", None
        if st.st_size < length:
            f.seek(max(0, st.st_size - len(tail)))
            if rel.endswith(".md") and only_blank_end_cut(f.read(), st.st_size, length, tail):
                return None, None  # an editor trimmed its blank last lines: every message is there
            return f"is {length - st.st_size} bytes shorter than exported (cut short or edited by hand)", None
        f.seek(length - len(tail))
        if f.read(len(tail)) != tail:
            return None, "edited by hand (kept; new messages go after it)"
        if st.st_size == length:
            return None, None
        extra = f.read()
    ours = engine_bytes(extra, length, intent) if rel.endswith(".md") else len(extra)
    typed = "text added by hand at the end (kept; new messages go after it)"
    if ours == 0:
        return None, typed
    rolled = f"holds {ours} bytes an interrupted run left (an export rolls them back)"
    return rolled, (typed if ours < len(extra) else None)


def _media_problem(root: Path, rel: str, size: int | None, sha256: str | None) -> str | None:
    st, problem = _found_at(root, rel, "was deleted")
    if st is None:
        return "is a symlink" if problem == _SYMLINK else problem
    if size is not None and st.st_size != size:
        return f"is {st.st_size} bytes, {size} were downloaded"
    if sha256:
        fd, st, problem = _open_found(root, rel)
        if fd is None:
            return problem
        digest = hashlib.sha256()
        with os.fdopen(fd, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != sha256:
            return "has other bytes than were downloaded (its SHA-256 differs)"
    return None


def mark_media_lost(root: Path, paths: list[str]) -> None:
    """Downloaded files `verify` found damaged (other bytes, same size: recovery checks sizes only) are
    recorded as lost, so the next export downloads them again."""
    with Vault(root) as vault:
        vault.store.mark_paths_lost(paths)

"""`tobs-tui verify`: a vault checked against its export state without writing a byte (the state DB is opened
read-only, no lock is taken): committed files at their lengths, downloads at their sizes and SHA-256, no
planted links, no chat folder the state does not know."""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path

from tobs_tui.engine.vault.intents import engine_bytes, read_intents
from tobs_tui.engine.vault.rebuild import chat_folders, holds_messages
from tobs_tui.engine.vault.vault import Vault, in_the_way

STATE_FILE = ".tobs/state.sqlite"


@dataclass(frozen=True)
class VaultProblem:
    path: str  # vault-relative
    problem: str  # what is wrong, in words
    chat_id: int | None = None  # the chat whose export repairs it (None: every chat in the vault)
    media: bool = False  # a downloaded file: the repair records it as lost so the export fetches it again


@dataclass(frozen=True)
class VaultCheck:
    problems: tuple[VaultProblem, ...]
    notes: tuple[str, ...]  # things found that are fine to leave (edits a person made, kept)
    chats: int
    files: int
    media: int
    folders: tuple[int, ...] = ()  # the chats the vault holds (its state's, or its folders' when that is lost)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def chats_to_repair(self) -> tuple[int, ...]:
        if any(p.chat_id is None for p in self.problems):
            return self.folders
        return tuple(sorted({p.chat_id for p in self.problems if p.chat_id is not None}))


def cannot_check(vault: Path) -> str | None:
    """Why `vault` cannot be checked now, in a sentence: it holds no export, its state is not a file, or an
    export is writing to it (its lock is held; taken shared for a moment, nothing is written)."""
    state_dir = vault / ".tobs"
    state = state_dir / "state.sqlite"
    if os.path.lexists(state_dir) and not state_dir.is_dir():
        return f"{state_dir} is a file, where an export keeps its state folder; move it away and export again."
    if os.path.lexists(state) and not state.is_file():
        return f"{state} is not a file, where an export keeps its state; move it away and export again."
    if not state.is_file() and not any(True for _ in chat_folders(vault)):
        return (
            f"There is no vault at {vault}: it holds no export (no {state.relative_to(vault)} and no chat folders);"
            " pass --out with the folder you export to."
        )
    try:
        fd = os.open(state_dir / "lock", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        return f"An export is writing to {vault} now (pid {holder}); run verify once it has finished."
    except OSError:
        return None
    finally:
        os.close(fd)  # closing releases the shared lock
    return None


def check_vault(root: Path) -> VaultCheck:
    root = Path(root)
    db_path = root / STATE_FILE
    problems: list[VaultProblem] = []
    notes: list[str] = []
    if not db_path.is_file():
        for chat_id, folder in chat_folders(root) if root.is_dir() else ():
            if holds_messages(folder):
                problems.append(
                    VaultProblem(
                        folder.name, "has notes but the export state is missing (rebuilt by an export)", chat_id
                    )
                )
        return VaultCheck(tuple(problems), (), 0, 0, 0)
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            damage = db.execute("PRAGMA quick_check(1)").fetchone()[0]
            if damage != "ok":
                raise sqlite3.DatabaseError(damage)
            chats = db.execute("SELECT chat_id, dir_name, last_id FROM chats").fetchall()
            with_json = (
                {row[0] for row in db.execute("SELECT chat_id FROM result_json")} if _has(db, "result_json") else set()
            )
            files = db.execute("SELECT path, chat_id, length, tail FROM files ORDER BY path").fetchall()
            media = db.execute(
                "SELECT chat_id, path, size, sha256 FROM media WHERE status IN ('done', 'lost') ORDER BY path"
            ).fetchall()
            lost = {row[0] for row in db.execute("SELECT path FROM media WHERE status = 'lost'")}
            repairs = db.execute("SELECT path, chat_id FROM repairs").fetchall() if _has(db, "repairs") else []
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        said = f"the export state is damaged ({exc}); an export moves it aside and rebuilds it from the notes"
        folders = tuple(chat_id for chat_id, _ in chat_folders(root))
        return VaultCheck((VaultProblem(STATE_FILE, said),), (), 0, 0, 0, folders)
    known = {row[0] for row in chats}
    for chat_id, folder in chat_folders(root):
        if chat_id not in known and holds_messages(folder):
            problems.append(VaultProblem(folder.name, "is not in the export state (rebuilt by an export)", chat_id))
    for path, chat_id in repairs:
        problems.append(VaultProblem(path, "lost messages that were not fetched again yet", chat_id))
    intents = read_intents(root / ".tobs" / "intents")
    for path, chat_id, length, tail in files:
        problem, note = _file_problem(root, path, length, tail, intents.get(path))
        if problem:
            problems.append(VaultProblem(path, problem, chat_id))
        if note:
            notes.append(f"{path}: {note}")
    problems += _whole_files(root, chats, with_json)
    for chat_id, path, size, sha256 in media:
        problem = "was deleted or cut short by hand" if path in lost else _media_problem(root, path, size, sha256)
        if problem:
            problems.append(VaultProblem(path, problem, chat_id, media=True))
    return VaultCheck(tuple(problems), tuple(notes), len(known), len(files), len(media), tuple(sorted(known)))


def _has(db: sqlite3.Connection, table: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone() is not None


def _whole_files(root: Path, chats: list[tuple], with_json: set[int]) -> list[VaultProblem]:
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
            if problem := _whole_file_problem(root, rel):
                found.append(VaultProblem(rel, problem, chat_id))
    if with_json and (problem := _whole_file_problem(root, "result.json")):
        found.append(VaultProblem("result.json", problem))
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
        return None, "is a symlink: an export refuses to write through it"
    if stat.S_ISDIR(st.st_mode):
        return None, "is a folder: an export needs the file there (move the folder away)"
    return st, None


def _whole_file_problem(root: Path, rel: str) -> str | None:
    return _found_at(root, rel, "is missing (an export writes it again)")[1]


def _file_problem(
    root: Path, rel: str, length: int, tail: bytes, intent: tuple[int, bytes] | None
) -> tuple[str | None, str | None]:
    path = root / rel
    st, problem = _found_at(root, rel, "was deleted" if length else None)
    if st is None:
        return problem, None
    if st.st_nlink > 1:
        return f"has {st.st_nlink - 1} other hard link(s): an export refuses to write to it", None
    with open(path, "rb") as f:
        if length == 0:
            data = f.read()
            if rel.endswith(".md") and engine_bytes(data, 0, intent) < len(data):
                return None, "text typed into a note an interrupted run had begun (kept)"
            return "was left by an interrupted run (an export removes it)", None
        if st.st_size < length:
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
    path = root / rel
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "was deleted"
    if stat.S_ISLNK(st.st_mode):
        return "is a symlink"
    if size is not None and st.st_size != size:
        return f"is {st.st_size} bytes, {size} were downloaded"
    if sha256:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
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

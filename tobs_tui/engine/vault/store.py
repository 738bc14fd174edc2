"""Export state in SQLite at <vault>/.tobs/state.sqlite: per-chat progress, committed file lengths, message index, media.

One connection shared by the engine thread and the write pool's worker threads, serialised by a lock.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tobs_tui.engine.vault.filenames import refuse_links

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chats (
    chat_id     INTEGER PRIMARY KEY,
    title       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    username    TEXT,
    dir_name    TEXT NOT NULL,
    first_id    INTEGER,
    last_id     INTEGER NOT NULL DEFAULT 0,
    message_count INTEGER NOT NULL DEFAULT 0,
    last_export REAL,
    first_name  TEXT,
    is_self     INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS topics (
    chat_id  INTEGER NOT NULL,
    topic_id INTEGER NOT NULL,
    last_id  INTEGER NOT NULL,
    PRIMARY KEY (chat_id, topic_id)
) WITHOUT ROWID;
-- length 0 marks a file created by a commit that has not finished: recover() deletes it.
-- tail holds the last committed bytes so recover() can tell our torn write from a user's edit.
CREATE TABLE IF NOT EXISTS files (
    path    TEXT PRIMARY KEY,
    chat_id INTEGER NOT NULL,
    length  INTEGER NOT NULL,
    tail    BLOB NOT NULL DEFAULT x''
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS files_by_chat ON files (chat_id);
CREATE TABLE IF NOT EXISTS messages (
    chat_id INTEGER NOT NULL,
    msg_id  INTEGER NOT NULL,
    note    TEXT NOT NULL,
    sender  TEXT NOT NULL,
    snippet TEXT NOT NULL,
    PRIMARY KEY (chat_id, msg_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS media (
    chat_id    INTEGER NOT NULL,
    msg_id     INTEGER NOT NULL,
    media_id   INTEGER,
    kind       TEXT NOT NULL,
    path       TEXT NOT NULL,
    size       INTEGER,
    bytes_done INTEGER NOT NULL DEFAULT 0,
    status     TEXT NOT NULL,
    sha256     TEXT,
    reason     TEXT,
    PRIMARY KEY (chat_id, msg_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS media_by_id ON media (media_id, status);
-- Committed messages whose note and JSON line still say their file failed, with the reason they show: a
-- re-run that gets the file puts its link there, then forgets the row.
CREATE TABLE IF NOT EXISTS stale_media (
    chat_id INTEGER NOT NULL,
    msg_id  INTEGER NOT NULL,
    reason  TEXT NOT NULL,
    PRIMARY KEY (chat_id, msg_id)
) WITHOUT ROWID;
-- A committed file being replaced whole (temp file, then rename): the length and tail it will have. recover()
-- adopts them if the rename happened, else the old file and its record stand.
CREATE TABLE IF NOT EXISTS rewrites (
    path   TEXT PRIMARY KEY,
    length INTEGER NOT NULL,
    tail   BLOB NOT NULL
) WITHOUT ROWID;
-- A committed note or JSONL that was deleted or cut short by hand: the messages it should hold past what it
-- holds now are fetched again and appended (ChatExport.repair), then the row goes.
CREATE TABLE IF NOT EXISTS repairs (
    path    TEXT PRIMARY KEY,
    chat_id INTEGER NOT NULL
) WITHOUT ROWID;
-- A back-fill in progress: messages with after_id < id < before_id (before_id was the chat's first exported id
-- when it began) go to staged notes under .tobs/backfill/<chat id>/, after_id moving with each commit; once the
-- range is done the staged files are spliced in front of the chat's own and the row goes.
CREATE TABLE IF NOT EXISTS backfills (
    chat_id   INTEGER PRIMARY KEY,
    after_id  INTEGER NOT NULL,
    before_id INTEGER NOT NULL
);
-- A rewrite (see rewrites) that splices a staged back-fill file in front of `path`: adopting the rewrite also
-- forgets the staged file, in the same transaction, so no staged message is spliced twice.
CREATE TABLE IF NOT EXISTS splices (
    path    TEXT PRIMARY KEY,
    staged  TEXT NOT NULL,
    chat_id INTEGER NOT NULL
) WITHOUT ROWID;
-- How each chat's result.json was last written (RESULT_JSON_LAYOUT): an older one is written again from the JSONL.
-- length and tail: the size and last bytes of the file the engine last wrote there, so a file found in its place
-- that is not that one (a person's, another exporter's) is set aside, not written over; length -1: none of the
-- engine's is there; NULL (a state from before they were kept, a run stopped while writing it): whatever file is
-- there is taken for the engine's.
CREATE TABLE IF NOT EXISTS result_json (
    chat_id INTEGER PRIMARY KEY,
    layout  INTEGER NOT NULL,
    length  INTEGER,
    tail    BLOB
);
-- Messages a repair of a chat's JSONL asked Telegram for and did not get (deleted there): not asked for again.
CREATE TABLE IF NOT EXISTS json_gone (
    chat_id INTEGER NOT NULL,
    msg_id  INTEGER NOT NULL,
    PRIMARY KEY (chat_id, msg_id)
) WITHOUT ROWID;
-- Chats read back from their notes (vault/rebuild.py) whose newest block ids have not been checked against
-- Telegram yet: a block a person copied from another chat's note would otherwise stand for a message.
CREATE TABLE IF NOT EXISTS unverified (
    chat_id INTEGER PRIMARY KEY
);
-- Month notes an index note listed that were lost along with the state and every JSON line of their messages:
-- their messages are found again by date on Telegram, indexed in the note and fetched into it (ChatExport.repair).
CREATE TABLE IF NOT EXISTS lost_months (
    path    TEXT PRIMARY KEY,
    chat_id INTEGER NOT NULL
) WITHOUT ROWID;
-- 1 MiB parts of a download already on disk in "<path>.part", so a resumed download fetches only the rest.
CREATE TABLE IF NOT EXISTS media_parts (
    path TEXT NOT NULL,
    part INTEGER NOT NULL,
    PRIMARY KEY (path, part)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class ChatRecord:
    chat_id: int
    title: str
    kind: str
    username: str | None
    dir_name: str
    first_id: int | None  # lowest message id ever committed (the exported range is first_id..last_id)
    last_id: int  # highest committed message id; 0 = nothing yet
    message_count: int
    last_export: float | None  # time.time() of the last commit
    # A user's first name as Telegram has it ("" for none, as a deleted account's), for result.json's "name";
    # None for a group or channel, and for a user not exported since the state DB learnt first names.
    first_name: str | None = None
    is_self: bool = False  # the user's own chat: Saved Messages


@dataclass(frozen=True)
class FileRecord:
    path: str  # vault-relative, "/"-separated
    chat_id: int
    length: int  # committed bytes; 0 = created by an unfinished commit
    tail: bytes  # the last committed bytes (up to TAIL_BYTES)


@dataclass(frozen=True)
class MediaRecord:
    chat_id: int
    msg_id: int
    media_id: int | None  # Telegram document / photo id
    kind: str
    path: str  # vault-relative target
    size: int | None
    bytes_done: int = 0
    status: str = "pending"  # pending, partial, done, skipped, failed, lost (done, then deleted by hand)
    sha256: str | None = None
    reason: str | None = None  # why skipped or failed, one sentence


# The media table's columns in MediaRecord's field order, so a row builds a record and back.
_MEDIA_COLUMNS = "chat_id, msg_id, media_id, kind, path, size, bytes_done, status, sha256, reason"
_UPSERT_MEDIA = f"INSERT OR REPLACE INTO media ({_MEDIA_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def _media_row(r: MediaRecord) -> tuple:
    return (r.chat_id, r.msg_id, r.media_id, r.kind, r.path, r.size, r.bytes_done, r.status, r.sha256, r.reason)


# Columns added to a table after its first release: a state DB made before gets them when it is opened.
_ADDED_COLUMNS = {
    "chats": (("first_name", "TEXT"), ("is_self", "INTEGER NOT NULL DEFAULT 0")),
    # NULL in a vault made before: its chats' result.json files, written by the engine, are taken for its own.
    "result_json": (("length", "INTEGER"), ("tail", "BLOB")),
}
TAIL_BYTES = 32
_TOPIC_FOLDER = re.compile(r".* \((\d+)\)")  # a forum topic's folder, "<title> (<topic id>)"
SNIPPET_CHARS = 160  # of a message's text, stored with it for reply previews (enough for any)
_SET_FILE = "UPDATE files SET length = ?, tail = ? WHERE path = ?"


_CHAT_COLUMNS = (
    "chat_id, title, kind, username, dir_name, first_id, last_id, message_count, last_export, first_name, is_self"
)


def _chat_record(row: tuple) -> ChatRecord:
    chat_id, title, kind, username, dir_name, first_id, last_id, count, last_export, first_name, is_self = row
    return ChatRecord(
        chat_id, title, kind, username, dir_name, first_id, last_id, count, last_export, first_name, bool(is_self)
    )


class StateStore:
    """Thread-safe access to the state DB; every method is one short transaction."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        # SQLite follows links when it opens the DB and its journals: check them first.
        for suffix in ("", "-wal", "-shm", "-journal"):
            refuse_links(f"{self.path}{suffix}")
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit that returned is on disk even after power loss, which the vault's offsets rely on.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._add_columns()

    def _add_columns(self) -> None:
        for table, columns in _ADDED_COLUMNS.items():
            have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            for name, declaration in columns:
                if name not in have:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, statements: Iterable[tuple[str, tuple | list]]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    if isinstance(params, list):
                        self._db.executemany(sql, params)
                    else:
                        self._db.execute(sql, params)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # chats -----------------------------------------------------------------------------------------

    def chat_progress(self, chat_id: int) -> ChatRecord | None:
        rows = self._read(
            f"SELECT {_CHAT_COLUMNS} FROM chats WHERE chat_id = ?",
            (chat_id,),
        )
        return _chat_record(rows[0]) if rows else None

    def all_chats(self) -> list[ChatRecord]:
        rows = self._read(f"SELECT {_CHAT_COLUMNS} FROM chats ORDER BY chat_id")
        return [_chat_record(row) for row in rows]

    def upsert_chat(
        self,
        chat_id: int,
        *,
        title: str,
        kind: str,
        username: str | None,
        dir_name: str,
        first_name: str | None = None,
        is_self: bool = False,
    ) -> None:
        self._write(
            [
                (
                    "INSERT INTO chats (chat_id, title, kind, username, dir_name, first_name, is_self)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (chat_id) DO UPDATE SET title = excluded.title, kind = excluded.kind,"
                    " username = excluded.username, dir_name = excluded.dir_name, first_name = excluded.first_name,"
                    " is_self = excluded.is_self",
                    (chat_id, title, str(getattr(kind, "value", kind)), username, dir_name, first_name, int(is_self)),
                )
            ]
        )

    def check(self) -> str:
        """SQLite's quick integrity check: "ok", or what is wrong."""
        return str(self._read("PRAGMA quick_check(1)")[0][0])

    def restore_chat(
        self,
        chat_id: int,
        *,
        title: str,
        kind: str,
        username: str | None,
        dir_name: str,
        messages: list[tuple[int, str, str, str]],
        files: dict[str, tuple[int, bytes]],
        topic_last_ids: dict[int, int],
        media: Iterable[MediaRecord] = (),
        first_id: int | None = None,
    ) -> None:
        """A chat's state as read back from the vault (vault/rebuild.py), in one transaction. `first_id`: where
        the exported range started, when it is known to start before the messages found (a lost first month)."""
        ids = sorted({m[0] for m in messages})
        self._write(
            [
                (
                    "INSERT OR REPLACE INTO chats (chat_id, title, kind, username, dir_name, first_id, last_id,"
                    " message_count, last_export) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        chat_id,
                        title,
                        kind,
                        username,
                        dir_name,
                        ids[0] if first_id is None else min(ids[0], first_id),
                        ids[-1],
                        len(ids),
                        time.time(),
                    ),
                ),
                (
                    "INSERT OR REPLACE INTO files (path, chat_id, length, tail) VALUES (?, ?, ?, ?)",
                    [(path, chat_id, length, tail) for path, (length, tail) in files.items()],
                ),
                (
                    "INSERT OR REPLACE INTO messages (chat_id, msg_id, note, sender, snippet) VALUES (?, ?, ?, ?, ?)",
                    [(chat_id, *m) for m in messages],
                ),
                (
                    "INSERT OR REPLACE INTO topics (chat_id, topic_id, last_id) VALUES (?, ?, ?)",
                    [(chat_id, t, i) for t, i in topic_last_ids.items()],
                ),
                (_UPSERT_MEDIA, [_media_row(r) for r in media]),
                ("INSERT OR IGNORE INTO unverified (chat_id) VALUES (?)", (chat_id,)),
            ]
        )

    def unverified(self, chat_id: int) -> bool:
        """Whether the chat was read back from its notes and its newest block ids are not checked yet."""
        return bool(self._read("SELECT 1 FROM unverified WHERE chat_id = ?", (chat_id,)))

    def drop_claims(self, chat_id: int, chat_dir: str, ids: Iterable[int]) -> None:
        """Block ids the notes hold that are not this chat's messages on Telegram: out of the message index, and the
        chat's (and its forum topics') newest ids and count taken again from what is left. The notes keep them."""
        gone = sorted(set(ids))
        if not gone:
            return
        dropped = set(gone)
        rows = self._read("SELECT msg_id, note FROM messages WHERE chat_id = ?", (chat_id,))
        left = [(i, note) for i, note in rows if i not in dropped]
        topics = dict(self._read("SELECT topic_id, last_id FROM topics WHERE chat_id = ?", (chat_id,)))
        newest: dict[int, int] = {}
        prefix = f"{chat_dir}/topics/"
        for i, note in left:
            if note.startswith(prefix):
                match = _TOPIC_FOLDER.fullmatch(note[len(prefix) :].split("/", 1)[0])
                if match:
                    topic = int(match.group(1))
                    newest[topic] = max(newest.get(topic, 0), i)
        self._write(
            [
                ("DELETE FROM messages WHERE chat_id = ? AND msg_id = ?", [(chat_id, i) for i in gone]),
                (
                    "UPDATE chats SET last_id = ?, first_id = ?, message_count = ? WHERE chat_id = ?",
                    (
                        max((i for i, _ in left), default=0),
                        min((i for i, _ in left), default=None),
                        len({i for i, _ in left}),
                        chat_id,
                    ),
                ),
                (
                    "UPDATE topics SET last_id = ? WHERE chat_id = ? AND topic_id = ?",
                    [(newest.get(t, 0), chat_id, t) for t, last in topics.items() if last in dropped],
                ),
            ]
        )

    def verified(self, chat_id: int) -> None:
        self._write([("DELETE FROM unverified WHERE chat_id = ?", (chat_id,))])

    def topic_last_ids(self, chat_id: int) -> dict[int, int]:
        return dict(self._read("SELECT topic_id, last_id FROM topics WHERE chat_id = ?", (chat_id,)))

    def result_json_layouts(self) -> dict[int, int]:
        return dict(self._read("SELECT chat_id, layout FROM result_json"))

    def set_result_json_layout(self, chat_id: int, layout: int, end: tuple[int, bytes] | None = None) -> None:
        """The chat's result.json was written in `layout`, and ends as `end` (see result_json_end)."""
        length, tail = end if end is not None else (None, None)
        self._write(
            [
                (
                    "INSERT OR REPLACE INTO result_json (chat_id, layout, length, tail) VALUES (?, ?, ?, ?)",
                    (chat_id, layout, length, tail),
                )
            ]
        )

    def result_json_end(self, chat_id: int) -> tuple[int, bytes] | None:
        """The size and last bytes of the chat's result.json as the engine last wrote it, (-1, b"") when none of
        its own is there; None when not known (no row, or NULL): then the file there is taken for the engine's."""
        rows = self._read("SELECT length, tail FROM result_json WHERE chat_id = ?", (chat_id,))
        if not rows or rows[0][0] is None:
            return None
        return rows[0][0], bytes(rows[0][1] or b"")

    def set_result_json_end(self, chat_id: int, end: tuple[int, bytes] | None) -> None:
        """Record result_json_end for a chat whose result.json was written before (a chat with no row keeps
        none: verify expects a result.json of each chat that has one)."""
        length, tail = end if end is not None else (None, None)
        self._write([("UPDATE result_json SET length = ?, tail = ? WHERE chat_id = ?", (length, tail, chat_id))])

    # files -----------------------------------------------------------------------------------------

    def message_notes(self, chat_id: int) -> set[str]:
        """The notes (vault paths without ".md") the chat's messages are in: its own, and those a person moved."""
        return {r[0] for r in self._read("SELECT DISTINCT note FROM messages WHERE chat_id = ?", (chat_id,))}

    def note_lengths(self, chat_id: int) -> dict[str, int]:
        """Committed length per vault-relative file of this chat (files of unfinished commits excluded)."""
        return dict(self._read("SELECT path, length FROM files WHERE chat_id = ? AND length > 0", (chat_id,)))

    def open_ended_notes(self, chat_id: int) -> dict[str, bytes]:
        """Committed notes whose bytes do not end with a blank line (a person's text last), with their tails."""
        rows = self._read(
            "SELECT path, tail FROM files WHERE chat_id = ? AND length > 0 AND substr(tail, -2) != x'0a0a'"
            " AND path LIKE '%.md'",
            (chat_id,),
        )
        return dict(rows)

    def last_note_id(self, chat_id: int, note_path: str) -> int:
        """The newest message committed into a note (its vault-relative path), 0 if none."""
        rows = self._read(
            "SELECT max(msg_id) FROM messages WHERE chat_id = ? AND note = ?", (chat_id, note_path.removesuffix(".md"))
        )
        return rows[0][0] or 0

    def all_files(self) -> list[FileRecord]:
        return [FileRecord(*row) for row in self._read("SELECT path, chat_id, length, tail FROM files ORDER BY path")]

    def register_new_files(self, chat_id: int, paths: Iterable[str]) -> None:
        """Record files about to be created, before their first byte is written, so a crash leaves no orphan."""
        self._write(
            [
                (
                    "INSERT OR IGNORE INTO files (path, chat_id, length) VALUES (?, ?, 0)",
                    [(p, chat_id) for p in paths],
                )
            ]
        )

    def adopt_files(self, chat_id: int, files: dict[str, tuple[int, bytes]]) -> None:
        """Files a person put where the chat's next notes go: committed as they are (path -> length, tail), so
        the engine appends after them and a recovery never rolls them back."""
        self._write(
            [
                (
                    "INSERT INTO files (path, chat_id, length, tail) VALUES (?, ?, ?, ?) ON CONFLICT (path) DO UPDATE"
                    " SET chat_id = excluded.chat_id, length = excluded.length, tail = excluded.tail",
                    [(p, chat_id, length, tail) for p, (length, tail) in files.items()],
                )
            ]
        )

    def take_exported(
        self,
        chat_id: int,
        path: str,
        *,
        length: int,
        tail: bytes,
        messages: list[tuple[int, str, str, str]],
        media: Iterable[MediaRecord] = (),
    ) -> None:
        """Blocks an export wrote into a note that this state does not remember (it is older than the notes:
        restored from a backup, or synced without the newest .tobs): the note committed as it is, the messages
        indexed and the chat's newest id raised past them, in one transaction, so they are not fetched and
        written again. The chat's newest ids are then asked of Telegram (unverified), as for a rebuilt chat: a
        block copied from another chat's note must not make the export skip this chat's messages."""
        ids = [m[0] for m in messages]
        self._write(
            [
                (
                    "INSERT INTO files (path, chat_id, length, tail) VALUES (?, ?, ?, ?) ON CONFLICT (path) DO UPDATE"
                    " SET length = excluded.length, tail = excluded.tail",
                    (path, chat_id, length, tail),
                ),
                (
                    "INSERT OR REPLACE INTO messages (chat_id, msg_id, note, sender, snippet) VALUES (?, ?, ?, ?, ?)",
                    [(chat_id, *m) for m in messages],
                ),
                (
                    "UPDATE chats SET last_id = max(last_id, ?), message_count = message_count + ? WHERE chat_id = ?",
                    (max(ids, default=0), len(ids), chat_id),
                ),
                (_UPSERT_MEDIA, [_media_row(r) for r in media]),
                ("INSERT OR IGNORE INTO unverified (chat_id) VALUES (?)", (chat_id,)),
            ]
        )

    def set_file(self, path: str, *, length: int, tail: bytes) -> None:
        self._write([(_SET_FILE, (length, tail, path))])

    def forget_file(self, path: str) -> None:
        self._write([("DELETE FROM files WHERE path = ?", (path,))])

    def note_moved(self, chat_id: int, old: str, new: str) -> None:
        """A note a person moved from `old` to `new` (paths without ".md"): it is theirs now, no longer a file
        of the export; reply links to its messages point where it is, and nothing is repaired at `old`."""
        self._write(
            [
                ("DELETE FROM files WHERE path = ?", (f"{old}.md",)),
                ("DELETE FROM repairs WHERE path = ?", (f"{old}.md",)),
                ("UPDATE messages SET note = ? WHERE chat_id = ? AND note = ?", (new, chat_id, old)),
            ]
        )

    # the commit ------------------------------------------------------------------------------------

    def commit_batch(
        self,
        chat_id: int,
        *,
        last_id: int,
        file_lengths: dict[str, int],
        messages: list[tuple[int, str, str, str]],
        topic_last_ids: dict[int, int] | None = None,
        file_tails: dict[str, bytes] | None = None,
        media: Iterable[MediaRecord] = (),
        backfill_after: int | None = None,
    ) -> None:
        """ONE transaction: progress + committed file lengths (+ tails) + message index rows (+ media rows)
        (+ a back-fill's progress)."""
        tails = file_tails or {}
        ids = [m[0] for m in messages]
        statements: list[tuple[str, tuple | list]] = [
            (
                "INSERT INTO chats (chat_id, title, kind, dir_name) VALUES (?, '', '', '') ON CONFLICT DO NOTHING",
                (chat_id,),
            ),
            (
                "UPDATE chats SET last_id = max(last_id, ?), first_id = CASE WHEN ? IS NULL THEN first_id"
                " WHEN first_id IS NULL THEN ? ELSE min(first_id, ?) END,"
                " message_count = message_count + ?, last_export = ? WHERE chat_id = ?",
                (
                    last_id,
                    min(ids, default=None),
                    min(ids, default=None),
                    min(ids, default=None),
                    len(messages),
                    time.time(),
                    chat_id,
                ),
            ),
            (
                "INSERT INTO files (path, chat_id, length, tail) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (path) DO UPDATE SET length = excluded.length, tail = excluded.tail",
                [(p, chat_id, n, tails.get(p, b"")) for p, n in file_lengths.items()],
            ),
            (
                "INSERT OR REPLACE INTO messages (chat_id, msg_id, note, sender, snippet) VALUES (?, ?, ?, ?, ?)",
                [(chat_id, *m) for m in messages],
            ),
        ]
        if topic_last_ids:
            statements.append(
                (
                    "INSERT INTO topics (chat_id, topic_id, last_id) VALUES (?, ?, ?)"
                    " ON CONFLICT DO UPDATE SET last_id = max(last_id, excluded.last_id)",
                    [(chat_id, t, i) for t, i in topic_last_ids.items()],
                )
            )
        media_rows = [_media_row(r) for r in media]
        if media_rows:
            statements.append((_UPSERT_MEDIA, media_rows))
        if backfill_after is not None:
            statements.append(
                (
                    "UPDATE backfills SET after_id = max(after_id, ?) WHERE chat_id = ?",
                    (backfill_after, chat_id),
                )
            )
        self._write(statements)

    def lookup_messages(self, chat_id: int, ids: Iterable[int]) -> dict[int, tuple[str, str, str]]:
        """id -> (note, sender, snippet) for the ids already exported (reply links to older batches)."""
        wanted = sorted(set(ids))
        found: dict[int, tuple[str, str, str]] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._read(
                f"SELECT msg_id, note, sender, snippet FROM messages WHERE chat_id = ? AND msg_id IN ({marks})",
                (chat_id, *chunk),
            )
            found.update((row[0], (row[1], row[2], row[3])) for row in rows)
        return found

    # media -----------------------------------------------------------------------------------------

    def forget_media(self, chat_id: int, msg_id: int) -> None:
        self._write([("DELETE FROM media WHERE chat_id = ? AND msg_id = ?", (chat_id, msg_id))])

    def upsert_media(self, record: MediaRecord) -> None:
        self._write([(_UPSERT_MEDIA, _media_row(record))])

    def media_record(self, chat_id: int, msg_id: int) -> MediaRecord | None:
        rows = self._read(
            f"SELECT {_MEDIA_COLUMNS} FROM media WHERE chat_id = ? AND msg_id = ?",
            (chat_id, msg_id),
        )
        return MediaRecord(*rows[0]) if rows else None

    def done_media(self, media_id: int) -> list[MediaRecord]:
        """Finished downloads of one Telegram file (dedupe), oldest first."""
        rows = self._read(
            f"SELECT {_MEDIA_COLUMNS} FROM media WHERE media_id = ? AND status = 'done' ORDER BY chat_id, msg_id",
            (media_id,),
        )
        return [MediaRecord(*row) for row in rows]

    def media_parts(self, path: str) -> set[int]:
        return {row[0] for row in self._read("SELECT part FROM media_parts WHERE path = ?", (path,))}

    def add_media_part(self, chat_id: int, msg_id: int, path: str, part: int, part_bytes: int) -> None:
        """One part is durable in "<path>.part": remember it and count its bytes, in one transaction."""
        self._write(
            [
                ("INSERT OR IGNORE INTO media_parts (path, part) VALUES (?, ?)", (path, part)),
                (
                    "UPDATE media SET bytes_done = bytes_done + ? WHERE chat_id = ? AND msg_id = ?",
                    (part_bytes, chat_id, msg_id),
                ),
            ]
        )

    def start_media(self, record: MediaRecord, parts: Iterable[int]) -> None:
        """A download (re)starts: its record, and exactly the parts its "<path>.part" holds, in one transaction."""
        self._write(
            [
                (_UPSERT_MEDIA, _media_row(record)),
                ("DELETE FROM media_parts WHERE path = ?", (record.path,)),
                ("INSERT INTO media_parts (path, part) VALUES (?, ?)", [(record.path, p) for p in sorted(parts)]),
            ]
        )

    def failed_media(self, chat_id: int) -> list[MediaRecord]:
        """Files earlier runs gave up on or that were deleted by hand since, oldest message first, for a re-run
        to fetch again."""
        rows = self._read(
            f"SELECT {_MEDIA_COLUMNS} FROM media WHERE chat_id = ? AND status IN ('failed', 'lost') ORDER BY msg_id",
            (chat_id,),
        )
        return [MediaRecord(*row) for row in rows]

    def done_media_sizes(self) -> list[tuple[int, int, str, int | None]]:
        """(chat id, message id, path, size) of every finished download, to check that its file is still there."""
        return self._read("SELECT chat_id, msg_id, path, size FROM media WHERE status = 'done'")

    def mark_media_lost(self, messages: Iterable[tuple[int, int]]) -> None:
        """(chat id, message id) whose downloaded file was deleted or cut short by hand."""
        self._write(
            [
                (
                    "UPDATE media SET status = 'lost', bytes_done = 0, reason = ? WHERE chat_id = ? AND msg_id = ?",
                    [("The file was deleted or cut short by hand.", chat_id, msg_id) for chat_id, msg_id in messages],
                )
            ]
        )

    def mark_paths_lost(self, paths: Iterable[str]) -> None:
        self._write(
            [
                (
                    "UPDATE media SET status = 'lost', bytes_done = 0, reason = ? WHERE path = ? AND status = 'done'",
                    [("The file was changed by hand.", p) for p in paths],
                )
            ]
        )

    # files deleted or cut short by hand -------------------------------------------------------------

    def add_repairs(self, chat_paths: Iterable[tuple[int, str]]) -> None:
        self._write([("INSERT OR IGNORE INTO repairs (path, chat_id) VALUES (?, ?)", [(p, c) for c, p in chat_paths])])

    def repairs(self, chat_id: int) -> list[str]:
        return [row[0] for row in self._read("SELECT path FROM repairs WHERE chat_id = ? ORDER BY path", (chat_id,))]

    def forget_repair(self, path: str) -> None:
        self._write([("DELETE FROM repairs WHERE path = ?", (path,))])

    def add_lost_months(self, chat_id: int, paths: Iterable[str]) -> None:
        self._write(
            [("INSERT OR IGNORE INTO lost_months (path, chat_id) VALUES (?, ?)", [(p, chat_id) for p in paths])]
        )

    def lost_months(self, chat_id: int) -> list[str]:
        return [r[0] for r in self._read("SELECT path FROM lost_months WHERE chat_id = ? ORDER BY path", (chat_id,))]

    def found_lost_month(self, chat_id: int, path: str, ids: Sequence[int]) -> None:
        """A lost month note's messages, found again on Telegram: indexed in the note (which the repair then
        writes) and counted with the chat's, in one transaction; those after the chat's newest exported message
        come with the export itself."""
        note = path.removesuffix(".md")
        have = {r[0] for r in self._read("SELECT msg_id FROM messages WHERE chat_id = ?", (chat_id,))}
        # Those after the chat's newest exported message are not lost: the export goes on with them; those
        # before its first were never exported (a first export from --since in that month).
        row = self._read("SELECT first_id, last_id FROM chats WHERE chat_id = ?", (chat_id,))
        oldest, newest = (row[0][0] or 0, row[0][1]) if row else (0, 0)
        new = [i for i in ids if i not in have and oldest <= i <= newest]
        self._write(
            [
                (
                    "INSERT OR IGNORE INTO messages (chat_id, msg_id, note, sender, snippet) VALUES (?, ?, ?, '', '')",
                    [(chat_id, i, note) for i in new],
                ),
                ("UPDATE chats SET message_count = message_count + ? WHERE chat_id = ?", (len(new), chat_id)),
                ("INSERT OR IGNORE INTO repairs (path, chat_id) VALUES (?, ?)", [(path, chat_id)] if new else []),
                ("DELETE FROM lost_months WHERE path = ?", (path,)),
            ]
        )

    def json_gone(self, chat_id: int) -> set[int]:
        """Messages a repair of the chat's JSONL asked for and did not get: deleted on Telegram."""
        return {r[0] for r in self._read("SELECT msg_id FROM json_gone WHERE chat_id = ?", (chat_id,))}

    def settle_json_repair(self, chat_id: int, path: str, gone: Iterable[int]) -> None:
        """A repair of the chat's JSONL is done; `gone`: the messages it asked for that did not come back."""
        self._write(
            [
                ("DELETE FROM repairs WHERE path = ?", (path,)),
                ("INSERT OR IGNORE INTO json_gone (chat_id, msg_id) VALUES (?, ?)", [(chat_id, i) for i in gone]),
            ]
        )

    def committed_ids(self, chat_id: int, note: str | None, after: int) -> list[int]:
        """Ids of committed messages above `after`: of one note (path without ".md"), or of the chat."""
        if note is None:
            rows = self._read(
                "SELECT msg_id FROM messages WHERE chat_id = ? AND msg_id > ? ORDER BY msg_id", (chat_id, after)
            )
        else:
            rows = self._read(
                "SELECT msg_id FROM messages WHERE chat_id = ? AND note = ? AND msg_id > ? ORDER BY msg_id",
                (chat_id, note, after),
            )
        return [row[0] for row in rows]

    def topic_message_counts(self, chat_id: int, chat_dir: str, topic_ids: Iterable[int]) -> dict[int, int]:
        """Committed messages of each forum topic: rows whose note is in `chat_dir`/topics/<name> (<id>)/, whatever
        the topic was called when they were written."""
        base = chat_dir.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        counts = {}
        for topic in topic_ids:
            row = self._read(
                "SELECT count(*) FROM messages WHERE chat_id = ? AND note LIKE ? ESCAPE '\\'",
                (chat_id, f"{base}/topics/% ({topic})/%"),
            )
            counts[topic] = row[0][0]
        return counts

    def note_ids(self, chat_id: int, note: str) -> list[int]:
        return self.committed_ids(chat_id, note, -(2**63))

    def forget_media_parts(self, path: str) -> None:
        """The part list of a part file that is gone (its download ended under another name)."""
        self._write([("DELETE FROM media_parts WHERE path = ?", (path,))])

    def finish_media(self, record: MediaRecord) -> None:
        """The file is complete (or given up): its final record, and its part list dropped."""
        self._write(
            [
                (_UPSERT_MEDIA, _media_row(record)),
                ("DELETE FROM media_parts WHERE path = ?", (record.path,)),
            ]
        )

    def mark_stale_media(self, chat_id: int, reasons: dict[int, str]) -> None:
        """msg_id -> the failure its committed note shows; a row already there keeps its first reason."""
        self._write(
            [
                (
                    "INSERT OR IGNORE INTO stale_media (chat_id, msg_id, reason) VALUES (?, ?, ?)",
                    [(chat_id, msg_id, reason) for msg_id, reason in reasons.items()],
                )
            ]
        )

    def stale_media(self, chat_id: int) -> dict[int, str]:
        rows = self._read("SELECT msg_id, reason FROM stale_media WHERE chat_id = ? ORDER BY msg_id", (chat_id,))
        return dict(rows)

    def forget_stale_media(self, chat_id: int, msg_ids: Iterable[int]) -> None:
        self._write(
            [("DELETE FROM stale_media WHERE chat_id = ? AND msg_id = ?", [(chat_id, msg_id) for msg_id in msg_ids])]
        )

    # back-fills -------------------------------------------------------------------------------------

    def backfill(self, chat_id: int) -> tuple[int, int] | None:
        """(after_id, before_id) of the chat's back-fill in progress, if any."""
        rows = self._read("SELECT after_id, before_id FROM backfills WHERE chat_id = ?", (chat_id,))
        return rows[0] if rows else None

    def start_backfill(self, chat_id: int, *, after_id: int, before_id: int) -> None:
        self._write(
            [
                (
                    "INSERT OR IGNORE INTO backfills (chat_id, after_id, before_id) VALUES (?, ?, ?)",
                    (chat_id, after_id, before_id),
                )
            ]
        )

    def end_backfill(self, chat_id: int) -> None:
        self._write([("DELETE FROM backfills WHERE chat_id = ?", (chat_id,))])

    def begin_splice(self, chat_id: int, path: str, staged: str, *, length: int, tail: bytes) -> None:
        """The intent to replace `path` whole by `staged` + its old content: the rewrite and what it consumes."""
        self._write(
            [
                ("INSERT OR REPLACE INTO rewrites (path, length, tail) VALUES (?, ?, ?)", (path, length, tail)),
                ("INSERT OR REPLACE INTO splices (path, staged, chat_id) VALUES (?, ?, ?)", (path, staged, chat_id)),
            ]
        )

    def splice_of(self, path: str) -> tuple[str, int] | None:
        """(staged path, chat id) of the splice a pending rewrite of `path` belongs to, if it is one."""
        rows = self._read("SELECT staged, chat_id FROM splices WHERE path = ?", (path,))
        return rows[0] if rows else None

    def end_splice(self, chat_id: int, path: str, staged: str, *, length: int, tail: bytes) -> None:
        """The spliced file is in place: it is the committed one, the staged file is no more, in one transaction."""
        self._write(
            [
                (
                    "INSERT INTO files (path, chat_id, length, tail) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (path) DO UPDATE SET length = excluded.length, tail = excluded.tail",
                    (path, chat_id, length, tail),
                ),
                ("DELETE FROM files WHERE path = ?", (staged,)),
                ("DELETE FROM rewrites WHERE path = ?", (path,)),
                ("DELETE FROM splices WHERE path = ?", (path,)),
            ]
        )

    def forget_splice(self, path: str) -> None:
        self._write([("DELETE FROM rewrites WHERE path = ?", (path,)), ("DELETE FROM splices WHERE path = ?", (path,))])

    # whole-file rewrites of committed files --------------------------------------------------------

    def begin_rewrite(self, path: str, *, length: int, tail: bytes) -> None:
        self._write([("INSERT OR REPLACE INTO rewrites (path, length, tail) VALUES (?, ?, ?)", (path, length, tail))])

    def end_rewrite(self, path: str, *, length: int, tail: bytes) -> None:
        """The new file is in place: it becomes the committed one, in one transaction with dropping the intent."""
        self._write(
            [
                (_SET_FILE, (length, tail, path)),
                ("DELETE FROM rewrites WHERE path = ?", (path,)),
            ]
        )

    def pending_rewrites(self) -> list[tuple[str, int, bytes]]:
        return self._read("SELECT path, length, tail FROM rewrites ORDER BY path")

    def forget_rewrite(self, path: str) -> None:
        self._write([("DELETE FROM rewrites WHERE path = ?", (path,))])

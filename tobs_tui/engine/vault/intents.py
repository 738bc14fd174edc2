"""What a chat's commit was about to append to its notes, written down before its first byte reaches them.

Recovery and `verify` find bytes past a note's committed length. Only a commit cut short (a kill, a power cut,
a full disk) or a person (typing at the end of the note in Obsidian) puts them there, and a guess from their
look cannot tell the two apart: a typed "**My summary**" looks like the start of a message block. So before
a commit writes, it records each note's offset and the exact bytes it will append (`.tobs/intents/<chat id>`,
one file per chat, replaced at every commit). Bytes past the committed length are the engine's only as far as
they are those bytes (or the zeros a power cut leaves in their place); anything else is the person's and
stays. No record (a run of an older version, or a power cut that lost the record too) means nothing there is
known to be the engine's: it all stays, which can duplicate a message in a note but never loses a word.

The record is not fsynced: a kill leaves it in the page cache, which survives the process, and an fsync per
commit would cost the export more than the case it covers (a power cut in the middle of a commit) is worth.
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

from tobs_tui.engine.vault.filenames import open_for_writing

_ENTRY = struct.Struct("<IQQ")  # the path's length, the offset the bytes go to, their length


def intent_path(intents_dir: Path, chat_id: int) -> Path:
    return intents_dir / str(chat_id)


def write_intent(path: Path, entries: list[tuple[str, int, bytes]]) -> None:
    """Record (note, offset, bytes) for each note a commit appends to, replacing the chat's last record.

    Written beside it and renamed over it: a record cut short (a full disk, a kill) leaves the last whole one,
    which still names the bytes an earlier attempt of this commit may have left in a note."""
    blob = b"".join(
        _ENTRY.pack(len(name := rel.encode()), offset, len(data)) + name + data for rel, offset, data in entries
    )
    temp = path.with_name(f"{path.name}.new")
    fd = open_for_writing(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        view = memoryview(blob)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    os.replace(temp, path)


def read_intents(intents_dir: Path) -> dict[str, tuple[int, bytes]]:
    """Every chat's last record: note -> (offset, bytes). A record cut short keeps its whole entries only (the
    commit writes its notes after the whole record, so a cut entry's bytes never reached its note)."""
    found: dict[str, tuple[int, bytes]] = {}
    try:
        names = sorted(os.listdir(intents_dir))
    except (FileNotFoundError, NotADirectoryError):
        return found
    for name in names:
        if name.endswith(".new"):
            continue  # a record cut short in its writing: the one it was to replace still stands
        try:
            fd = os.open(intents_dir / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue  # a link or a folder planted there: not a record this engine wrote (a pipe: not read, no wait)
        try:
            st = os.fstat(fd)
            blob = os.pread(fd, st.st_size, 0) if stat.S_ISREG(st.st_mode) else b""
        finally:
            os.close(fd)
        pos = 0
        while pos + _ENTRY.size <= len(blob):
            name_len, offset, data_len = _ENTRY.unpack_from(blob, pos)
            start = pos + _ENTRY.size
            end = start + name_len + data_len
            if end > len(blob):
                break
            rel = blob[start : start + name_len].decode("utf-8", "replace")
            found[rel] = (offset, blob[start + name_len : end])
            pos = end
    return found


def engine_bytes(extra: bytes, at: int, intent: tuple[int, bytes] | None) -> int:
    """How many leading bytes of `extra` (a note's bytes from offset `at`, its committed length) the engine
    wrote: the recorded commit's bytes for that offset, where each byte is either what it recorded or a zero a
    power cut left. 0 without a record for that offset; len(extra) when all of it is zeros."""
    if not extra.strip(b"\0"):
        return len(extra)
    if intent is None or intent[0] != at:
        return 0
    data = intent[1]
    n = min(len(data), len(extra))
    if extra[:n] == data[:n]:
        matched = n
    else:
        matched = 0
        while matched < n and (extra[matched] == data[matched] or extra[matched] == 0):
            matched += 1
    # Zeros right after: the rest of the commit's bytes a power cut never wrote.
    rest = extra[matched:]
    return len(extra) if rest and not rest.strip(b"\0") else matched

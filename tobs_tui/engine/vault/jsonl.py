"""JSON for the vault: one committed JSONL line per message, streamed into a Telegram-Desktop result.json."""

from __future__ import annotations

import heapq
import itertools
import json
import operator
import os
import re
from array import array
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

# One encoder for every line: json.dumps with options builds a new one per call.
_LINE_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# JSONEncoder.encode builds its C encoder (and a closure) on every call; this is that same C encoder, built once.
# No circular-reference markers: a renderer's item is fresh nested dicts and lists, and a shared markers dict
# would keep stale entries after a failed call.
_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)  # absent where the C speedups are
_C_LINE_ENCODER = (
    None
    if _c_make_encoder is None
    else _c_make_encoder(
        None, _LINE_ENCODER.default, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
)


_dumps = orjson.dumps
_WITH_NEWLINE = orjson.OPT_APPEND_NEWLINE


def encode_line(item: dict) -> bytes:
    """One compact, deterministic JSONL line: the bytes the standard library's encoder writes (a resumed run
    must write the same bytes, and a line corrected later is recognised by them: render/corrections.py).

    orjson writes them in a fifth of the time, every message's line in a render worker. Where its bytes could
    differ from the standard library's, the latter writes the line: a float below 1e-4 (orjson writes 1e-6
    and 0.00006 for 1e-06 and 6e-05), a NaN or an infinity (orjson writes null, the standard library NaN and
    Infinity), and what orjson refuses (a lone surrogate, which the line carries as "?", an integer beyond 64
    bits, a key that is not a string). The marks are looked for anywhere, a string's text included: a few
    lines are encoded twice."""
    try:
        line = _dumps(item, option=_WITH_NEWLINE)
    except TypeError:  # orjson.JSONEncodeError is one
        pass
    else:
        if b"e-" not in line and b".0000" not in line and b"null" not in line:
            return line
    return _stdlib_line(item)


def _stdlib_line(item: dict) -> bytes:
    if _C_LINE_ENCODER is None:
        return _LINE_ENCODER.encode(item).encode("utf-8", "replace") + b"\n"
    return "".join(_C_LINE_ENCODER(item, 0)).encode("utf-8", "replace") + b"\n"


def iter_committed_lines(path: Path, length: int) -> Iterator[bytes]:
    """Each JSONL line (without its newline) within the first `length` bytes; bytes past it are uncommitted."""
    for block in _committed_blocks(path, length):
        yield from _lines(block)


_BLOCK = 1 << 20  # bytes read at a time when a JSONL is streamed into a result.json
# A line's message id: every line starts with it (json_export.message_to_json puts "id" first).
_LINE_START_ID = re.compile(rb'^\{"id":(-?\d+)[,}]', re.MULTILINE)
# After each newline, the next line's id, or b"" for a line without one (an empty line, a line cut short, the
# nothing after a block's last newline): one match a newline, so one search says both. It starts with a literal,
# which is searched for as one, where `^` above is tried at every byte (eight times slower over a block).
_NEXT_LINE_ID = re.compile(rb'\n(?:\{"id":(-?\d+)[,}])?')


def _block_ids(block: bytes) -> tuple[list[int], bool]:
    """The id of each line of a block of whole lines that has one, in file order, and whether every line has
    one (no line is left out of the stream then, and none moves with the line before it)."""
    found = _NEXT_LINE_ID.findall(block)
    if block.endswith(b"\n"):
        found.pop()  # no line after the block's last newline
    first = _LINE_START_ID.match(block)
    every = first is not None and b"" not in found
    if not every:
        found = [digits for digits in found if digits]
    if first is not None:
        found.insert(0, first[1])
    return list(map(int, found)), every


def max_line_id(f: BinaryIO, length: int) -> int:
    """The highest message id among the lines in the first `length` bytes of `f` (0 with none). Not the last
    line's: a forum exported topic by topic appends each topic's messages after the others'."""
    return max((max(_block_ids(block)[0], default=0) for block in _blocks(f, length)), default=0)


def _committed_blocks(path: Path, length: int) -> Iterator[bytes]:
    """The first `length` bytes of `path` in blocks of whole lines (the last block may end inside a line, where
    `length` does); a line is never split between blocks."""
    if length <= 0:
        return
    with open(path, "rb") as f:
        yield from _blocks(f, length)


def _blocks(f: BinaryIO, length: int) -> Iterator[bytes]:
    """_committed_blocks of an open file."""
    remaining = length
    while remaining > 0:
        block = f.read(min(_BLOCK, remaining))
        if not block:
            break
        remaining -= len(block)
        if remaining > 0 and not block.endswith(b"\n"):
            # The rest of the line the block ends in: one copy of the block, where cutting it at its last newline
            # and carrying the rest to the next made two (a result.json reads the JSONL twice: _in_id_order).
            rest = f.readline(remaining)
            remaining -= len(rest)
            block += rest
        yield block


def _lines(block: bytes) -> list[bytes]:
    """A block's non-empty lines, without their newlines."""
    return [line for line in block.split(b"\n") if line]


# The keys whose value is a file's path in a committed line. The lines hold vault-relative paths; a result.json
# holds them relative to its own folder, as Telegram Desktop's do. In a compact line a `"key":"` sequence is a
# key: inside a string every quote is escaped.
_PATH_KEYS = (b"photo", b"file", b"thumbnail")
_PATH_VALUE = re.compile(rb'("(?:photo|file|thumbnail)":")((?:[^"\\]|\\.){0,200})')


class PathRebase:
    """Rewrites the vault-relative paths of committed lines as paths relative to `folder` (vault-relative,
    "" for the vault root). Byte replacement on the compact line: no line is parsed."""

    def __init__(self, folder: str) -> None:
        self._prefix = _encoded(folder + "/") if folder else b""
        self._pairs = [(b'"' + key + b'":"' + self._prefix, b'"' + key + b'":"') for key in _PATH_KEYS]

    def __call__(self, line: bytes) -> bytes:
        """`line` rebased; also a block of whole lines (a path never spans a newline)."""
        if not self._prefix or self._prefix not in line:
            return line
        for old, new in self._pairs:
            line = line.replace(old, new)
        return line

    def restore(self, line: bytes) -> bytes:
        """The inverse: a line read back from a result.json, its folder-relative paths vault-relative again. A
        path already vault-relative (a result.json written before paths were rebased) and a value in
        parentheses (Telegram Desktop's "file not included" wording) stay as they are."""
        if not self._prefix:
            return line
        return _PATH_VALUE.sub(
            lambda m: m[0] if m[2].startswith((self._prefix, b"(")) else m[1] + self._prefix + m[2], line
        )


def stream_messages(out: BinaryIO, jsonl_path: Path, length: int, rebase: PathRebase, indent: bytes) -> int:
    """Write `"messages": [every committed line]` (no trailing comma or newline) to out, in ascending id order
    and each id once (_blocks_in_id_order); memory stays flat. Returns the count. A block of lines at a time:
    rebased and joined in one call each, not line by line."""
    out.write(indent + b'"messages": [')
    count = 0
    between = b",\n" + indent + b" "
    blocks, every_line_has_id = _blocks_in_id_order(jsonl_path, length)
    for block in blocks:
        block = rebase(block)
        if every_line_has_id:
            # No empty line to leave out: the same bytes as the lines joined, made in one call without a bytes
            # object a line, and written without another copy; that pays for most of the pass over the ids.
            if not block:
                continue
            body = block.replace(b"\n", between)
            found = (len(body) - len(block)) // (len(between) - 1)  # each newline grew by as much
            whole = block.endswith(b"\n")  # else the committed length ends inside its last line
            out.write(between if count else b"\n" + indent + b" ")
            out.write(memoryview(body)[: len(body) - len(between)] if whole else body)
            count += found if whole else found + 1
            continue
        lines = _lines(block)
        if lines:
            out.write((between if count else b"\n" + indent + b" ") + between.join(lines))
            count += len(lines)
    out.write(b"\n" + indent + b"]" if count else b"]")
    return count


def _blocks_in_id_order(path: Path, length: int) -> tuple[Iterator[bytes], bool]:
    """The committed lines in blocks of whole lines, in ascending message id order, each id once; and whether
    every line has an id.

    Telegram Desktop writes a chat's messages oldest first, and readers of its export take the first and last
    item for the date range or read them in order. The JSONL is not in id order after a forum is exported topic
    by topic (each run appends its topics' lines after the others'). The usual JSONL is: one pass over the ids
    alone says so, and its blocks are streamed as they are. Otherwise the lines are read again by offset, in
    an order sorted from two compact arrays, so memory stays flat whatever the order."""
    in_order, every_line_has_id = _in_id_order(path, length)
    if in_order:
        return _committed_blocks(path, length), every_line_has_id
    starts, order, every_line_has_id = _id_order(path, length)  # all the lines this time
    return _spans(path, starts, order), every_line_has_id


def _in_id_order(path: Path, length: int) -> tuple[bool, bool]:
    """Whether each committed line's id is above the one before it (a line without one does not count: it
    stays after the line before it), and whether every line has one (known only to where the order is broken).
    No line is split: the ids are found in a block in one search."""
    last: int | None = None
    every_line_has_id = True
    for block in _committed_blocks(path, length):
        ids, every = _block_ids(block)
        every_line_has_id = every_line_has_id and every
        if not ids:
            continue
        if (last is not None and ids[0] <= last) or not all(map(operator.lt, ids, itertools.islice(ids, 1, None))):
            return False, every_line_has_id  # an id twice too: the same message is written once
        last = ids[-1]
    return True, every_line_has_id


# Telegram's message ids are 32-bit (TL `int`): an id and a line's index pack into one sortable 64-bit key.
_ID_LIMIT = 1 << 31
_INDEX_BITS = 32
_INDEX_MASK = (1 << _INDEX_BITS) - 1
_SORT_RUN = 1 << 16  # keys sorted as Python ints at a time (about 36 bytes each), then merged from the array


def _id_order(path: Path, length: int) -> tuple[array, Iterator[int], bool]:
    """(starts, order, whether every line has an id) of committed lines out of id order. An entry is a line
    with an id and any lines without one after it (not lines the engine writes, but kept where they were: after
    the line before them); entry i is the bytes from starts[i] to starts[i + 1], entry 0 what comes before the
    first line with an id. order yields the other entries' indices by ascending id.

    Memory is two 8-byte integers an entry (16 MB for a million messages): the keys (id, then the entry's
    index) are sorted in runs of _SORT_RUN in place in their array and merged from there, so no list of a
    million Python ints is ever made."""
    starts = array("q", [0])  # entry 0: the lines before the first with an id (none, mostly)
    keys = array("q")
    offset = 0
    every_line_has_id = True
    for block in _committed_blocks(path, length):
        first = _LINE_START_ID.match(block)
        every_line_has_id = every_line_has_id and first is not None
        for match in itertools.chain([first] if first else [], _NEXT_LINE_ID.finditer(block)):
            if not match[1]:
                # A line without an id (it stays after the line before it), unless it is the nothing after the
                # block's last newline.
                every_line_has_id = every_line_has_id and match.end() == len(block)
                continue
            msg_id = int(match[1])
            if not -_ID_LIMIT <= msg_id < _ID_LIMIT:
                continue  # no message's id: the line stays after the line before it
            keys.append(msg_id << _INDEX_BITS | len(starts))
            starts.append(offset + match.start() + (match.re is _NEXT_LINE_ID))  # after the newline
        offset += len(block)
    starts.append(offset)
    for start in range(0, len(keys), _SORT_RUN):
        keys[start : start + _SORT_RUN] = array("q", sorted(keys[start : start + _SORT_RUN]))
    view = memoryview(keys)
    runs = [iter(view[start : start + _SORT_RUN]) for start in range(0, len(keys), _SORT_RUN)]
    return starts, _last_of_each_id(heapq.merge(*runs)), every_line_has_id


def _last_of_each_id(keys: Iterator[int]) -> Iterator[int]:
    """The entry index of each id's last key: one line a message. Each message is committed once and a repair
    appends only the lines the JSONL lacks, so an id twice should not happen; a slip of the kind
    docs/RELIABILITY.md records (a forum exported topic by topic nearly had its first topic's newest lines
    fetched again every run) would write one twice, and Telegram Desktop lists a message once. The one
    committed last is kept: the latest run's rendering of it (an edit, a file fetched since), and the one
    rebuild.py keeps when it reads the JSONL back. The lines without an id after a dropped one go with it."""
    held = None
    for key in keys:
        if held is not None and key >> _INDEX_BITS != held >> _INDEX_BITS:
            yield held & _INDEX_MASK
        held = key
    if held is not None:
        yield held & _INDEX_MASK


def _spans(path: Path, starts: array, order: Iterator[int]) -> Iterator[bytes]:
    """The bytes before the first entry, then each entry of `order`, in blocks of about _BLOCK bytes of whole
    lines. Entries next to each other in the file as in the order are read in one call."""
    with open(path, "rb") as f:
        fd = f.fileno()
        batch: list[bytes] = []
        size = 0

        def read(first: int, end: int) -> bytes:
            data = os.pread(fd, starts[end] - starts[first], starts[first])
            # Only the file's last line can end without a newline (where the committed length cuts it); moved
            # before others it must still end its own line.
            return data if data.endswith(b"\n") or not data else data + b"\n"

        first, end = 0, 1  # the entries to read next, [first, end): entry 0 first, what precedes the first id
        for entry in order:
            if entry == end and starts[entry + 1] - starts[first] <= _BLOCK:
                end += 1
                continue
            batch.append(read(first, end))
            size += len(batch[-1])
            if size >= _BLOCK:
                yield b"".join(batch)
                batch, size = [], 0
            first, end = entry, entry + 1
        batch.append(read(first, end))
        yield b"".join(batch)


def stream_result_json(out: BinaryIO, header: dict, jsonl_path: Path, length: int, *, folder: str = "") -> int:
    """Write {header fields..., "messages": [every committed line]} to out, file paths relative to `folder` (the
    vault-relative folder the result.json is in); memory stays flat. Returns the count."""
    out.write(b"{\n")
    for key, value in header.items():
        if key == "messages":
            continue
        out.write(b" " + _dump(key) + b": " + _dump(value) + b",\n")
    count = stream_messages(out, jsonl_path, length, PathRebase(folder), b" ")
    out.write(b"\n}\n")
    return count


def stream_account_json(out: BinaryIO, about: str, chats_about: str, chats: Iterable[tuple[dict, Path, int]]) -> int:
    """Telegram Desktop's whole-export shape, {"about", "chats": {"about", "list": [each chat's header and
    messages]}}, from each chat's (header, JSONL, committed length); file paths stay vault-relative (the file is at
    the vault root). Memory stays flat. Returns the message count."""
    out.write(b'{\n "about": ' + _dump(about) + b',\n "chats": {\n  "about": ' + _dump(chats_about) + b',\n  "list": [')
    listed = total = 0
    at_root = PathRebase("")
    for header, jsonl_path, length in chats:
        out.write((b",\n" if listed else b"\n") + b"   {\n")
        for key, value in header.items():
            out.write(b"    " + _dump(key) + b": " + _dump(value) + b",\n")
        total += stream_messages(out, jsonl_path, length, at_root, b"    ")
        out.write(b"\n   }")
        listed += 1
    out.write(b"\n  ]\n }\n}\n" if listed else b"]\n }\n}\n")
    return total


def _dump(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "replace")


def _encoded(text: str) -> bytes:
    """`text` as encode_line writes it inside a string."""
    return json.encoder.encode_basestring(text)[1:-1].encode("utf-8", "replace")

"""JSON for the vault: one committed JSONL line per message, streamed into a Telegram-Desktop result.json."""

from __future__ import annotations

import json
import re
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


def max_line_id(f: BinaryIO, length: int) -> int:
    """The highest message id among the lines in the first `length` bytes of `f` (0 with none). Not the last
    line's: a forum exported topic by topic appends each topic's messages after the others'."""
    return max((max(map(int, _LINE_START_ID.findall(block)), default=0) for block in _blocks(f, length)), default=0)


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
    carry = b""
    while remaining > 0:
        chunk = f.read(min(_BLOCK, remaining))
        if not chunk:
            break
        remaining -= len(chunk)
        data = carry + chunk if carry else chunk
        cut = data.rfind(b"\n") + 1
        carry = data[cut:]
        if cut:
            yield data[:cut]
    if carry:
        yield carry


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
    """Write `"messages": [every committed line]` (no trailing comma or newline) to out; memory stays flat.
    Returns the count. A block of lines at a time: rebased and joined in one call each, not line by line."""
    out.write(indent + b'"messages": [')
    count = 0
    between = b",\n" + indent + b" "
    for block in _committed_blocks(jsonl_path, length):
        lines = _lines(rebase(block))
        if lines:
            out.write((between if count else b"\n" + indent + b" ") + between.join(lines))
            count += len(lines)
    out.write(b"\n" + indent + b"]" if count else b"]")
    return count


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

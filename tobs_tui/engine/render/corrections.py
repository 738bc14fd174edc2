"""Corrections to committed notes and JSON lines: a file an earlier run could not fetch, fetched now.

Notes are append-only, so the line a failed file left, "(photo failed: …)", stays until it is replaced here by
the line an export that got the file at once writes; the JSON line's "photo"/"file" value likewise. A line
already corrected, or not found as the renderer wrote it (edited by hand, say), is left alone, so a correction
cut short by a crash is simply made again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

from tobs_tui.engine.render import MediaRef
from tobs_tui.engine.render.json_export import FILE_UNAVAILABLE, file_value
from tobs_tui.engine.render.markdown import file_line
from tobs_tui.engine.vault.jsonl import encode_line


@dataclass(frozen=True)
class Retried:
    """A committed message's file, fetched in a later run than its note: what its note and JSON line say now."""

    msg_id: int
    kind: str
    shown_reason: str  # the failure its note and JSON line show ("" when none was given)
    ref: MediaRef  # the file as it is now
    media: object = field(default=None, compare=False, repr=False)  # the message's media, fetched again


def correct_note(data: bytes, retried: Iterable[Retried]) -> bytes | None:
    """Each message's failed-file line, the last line of its block before any reactions line and the block
    id, becomes the line of the file now on disk. Lines inside fenced code blocks, where a message may hold
    any text, are never taken for it; a text line just above it may read the same, and the last one is the
    file's. Matches that end at two different block ids are left alone."""
    changed = False
    fences = _fenced_spans(data)
    for r in retried:
        old = file_line(
            r.kind, r.media, MediaRef(kind=r.kind, path=None, status="failed", reason=r.shown_reason or None)
        ).encode()
        new = file_line(r.kind, r.media, r.ref).encode()
        # Line ends as the renderer writes them, or as a sync or editor left them (CRLF): kept as they are.
        block_end = rb")(?:\r?\n[^\r\n]*)?( \^m" + str(int(r.msg_id)).encode() + rb"\r?\n\r?\n)"
        if _outside(fences, _overlapping(b"\n(" + re.escape(new) + block_end, data)):
            continue  # corrected already (a text line above may still read like the failure)
        # Overlapping: a text line and the file line below it end at the same block id.
        found = [
            (m.start(1), m.start(2)) for m in _outside(fences, _overlapping(b"\n(" + re.escape(old) + block_end, data))
        ]
        if not found or len({end for _, end in found}) != 1:
            continue
        start = found[-1][0]
        data = data[:start] + new + data[start + len(old) :]
        fences = _fenced_spans(data)  # the blocks after this line moved
        changed = True
    return data if changed else None


def _overlapping(pattern: bytes, data: bytes) -> list[re.Match]:
    compiled = re.compile(pattern)
    found, pos = [], 0
    while (m := compiled.search(data, pos)) is not None:
        found.append(m)
        pos = m.start() + 1
    return found


_FENCE = re.compile(rb"^(`{3,})[^`\n]*$", re.M)  # [^`\n]* takes a CRLF line's \r too


def _fenced_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each top-level fenced code block, as the renderer writes them: a line of three or more
    backticks (and a language) opens one, a line of the same backticks closes it; the content cannot hold
    that many in a row, and plain text escapes backticks."""
    spans: list[tuple[int, int]] = []
    pos = 0
    while (opening := _FENCE.search(data, pos)) is not None:
        closing = re.compile(rb"^" + opening.group(1) + rb"\r?$", re.M).search(data, opening.end())
        end = closing.end() if closing is not None else len(data)
        spans.append((opening.start(), end))
        pos = end
    return spans


def _outside(spans: list[tuple[int, int]], matches: list[re.Match]) -> list[re.Match]:
    return [m for m in matches if not any(start <= m.start(1) < end for start, end in spans)]


def correct_json_lines(src: BinaryIO, length: int, out: BinaryIO, retried: Iterable[Retried]) -> bool:
    """Copies the first `length` bytes of a JSONL file to out, line by line (memory stays flat), giving each
    retried message's line (one per message, starting with its id) the file's path in place of "File
    unavailable"; every other byte stays. Returns whether a line changed."""
    by_id = {r.msg_id: r for r in retried}
    changed = False
    remaining = length
    for line in src:
        if remaining <= 0:
            break
        line = line[:remaining]
        remaining -= len(line)
        if line.startswith(b'{"id":') and (fixed := _corrected_line(line, by_id)) is not None:
            line = fixed
            changed = True
        out.write(line)
    return changed


def _corrected_line(line: bytes, by_id: dict[int, Retried]) -> bytes | None:
    head = line[6 : line.find(b",", 6)]
    r = by_id.get(int(head)) if head.isdigit() else None
    if r is None:
        return None
    item = json.loads(line)
    key = "photo" if r.kind == "photo" else "file"
    if item.get(key) != FILE_UNAVAILABLE or encode_line(item) != line:
        return None  # corrected already, or not as the renderer wrote it
    item[key] = file_value(r.ref)
    return encode_line(item)


def correct_note_stream(src: BinaryIO, length: int, out: BinaryIO, retried: list[Retried]) -> bool:
    corrected = correct_note(src.read(length), retried)  # a month note: small enough to edit whole
    if corrected is None:
        return False
    out.write(corrected)
    return True

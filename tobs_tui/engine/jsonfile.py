"""JSON for the vault: one committed JSONL line per message, streamed into a Telegram-Desktop result.json."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


# One encoder for every line: json.dumps with options builds a new one per call.
_LINE_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode_line(item: dict) -> bytes:
    """One compact, deterministic JSONL line (a resumed run must write the same bytes)."""
    return _LINE_ENCODER.encode(item).encode("utf-8", "replace") + b"\n"


def iter_committed_lines(path: Path, length: int) -> Iterator[bytes]:
    """Each JSONL line (without its newline) within the first `length` bytes; bytes past it are uncommitted."""
    if length <= 0:
        return
    remaining = length
    with open(path, "rb") as f:
        for line in f:
            if len(line) > remaining:
                line = line[:remaining]
            remaining -= len(line)
            stripped = line.rstrip(b"\n")
            if stripped:
                yield stripped
            if remaining <= 0:
                return


def stream_result_json(out: BinaryIO, header: dict, jsonl_path: Path, length: int) -> int:
    """Write {header fields..., "messages": [every committed line]} to out; memory stays flat. Returns the count."""
    out.write(b"{\n")
    for key, value in header.items():
        if key == "messages":
            continue
        out.write(b" " + _dump(key) + b": " + _dump(value) + b",\n")
    out.write(b' "messages": [')
    count = 0
    for line in iter_committed_lines(jsonl_path, length):
        out.write((b",\n  " if count else b"\n  ") + line)
        count += 1
    out.write(b"\n ]\n}\n" if count else b"]\n}\n")
    return count


def _dump(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "replace")

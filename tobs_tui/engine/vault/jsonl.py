"""JSON for the vault: one committed JSONL line per message, streamed into a Telegram-Desktop result.json."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

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


def encode_line(item: dict) -> bytes:
    """One compact, deterministic JSONL line (a resumed run must write the same bytes)."""
    if _C_LINE_ENCODER is None:
        return _LINE_ENCODER.encode(item).encode("utf-8", "replace") + b"\n"
    return "".join(_C_LINE_ENCODER(item, 0)).encode("utf-8", "replace") + b"\n"


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

"""Reading a vault back: which message ids landed in which note, a chat's folder, and every file's bytes."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

BLOCK_ID = re.compile(r"\^m(\d+)\s*$", re.MULTILINE)


def notes_of(chat_dir: Path) -> dict[str, list[int]]:
    """Vault-relative month note path (under the chat dir) -> message ids in file order."""
    out: dict[str, list[int]] = {}
    for note in sorted(chat_dir.rglob("*.md")):
        if note.parent == chat_dir:
            continue  # the chat's index note
        ids = [int(m) for m in BLOCK_ID.findall(note.read_text(encoding="utf-8"))]
        out[note.relative_to(chat_dir).as_posix()] = ids
    return out


def chat_dir(vault: Path, chat_id: int) -> Path:
    hits = [p for p in vault.iterdir() if p.is_dir() and p.name.endswith(f"({chat_id})")]
    assert len(hits) == 1, f"expected one folder for chat {chat_id}, found {hits}"
    return hits[0]


def month_of(unix: int, tz: datetime.tzinfo = datetime.UTC) -> str:
    return datetime.datetime.fromtimestamp(unix, tz).strftime("%Y-%m")


def vault_bytes(vault: Path, *, skip_export_time: bool = True) -> dict[str, bytes]:
    """Every user-visible file's bytes (state dir excluded), with the export-time line blanked in index notes."""
    files: dict[str, bytes] = {}
    for path in sorted(vault.rglob("*")):
        rel = path.relative_to(vault).as_posix()
        if path.is_dir() or rel.startswith(".tobs"):
            continue
        data = path.read_bytes()
        if skip_export_time:
            data = re.sub(rb"(?m)^last_export: .*$", b"last_export: -", data)
        files[rel] = data
    return files

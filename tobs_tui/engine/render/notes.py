"""The vault's own notes around the messages: a month note's front matter and link to its chat, and a
chat's index note (front matter, heading, a link to every month note)."""

from __future__ import annotations

import datetime
import json


def yaml_str(value: str | None) -> str:
    # JSON strings are valid YAML scalars and escape everything a title may hold.
    return "null" if value is None else json.dumps(value, ensure_ascii=False)


def month_header(chat_id: int, title: str, dir_name: str, month: str) -> str:
    """The start of a new month note: front matter, then a link to the chat's index note."""
    return (
        f"---\nchat_id: {chat_id}\nchat: {yaml_str(title)}\nmonth: \"{month}\"\n---\n\n"
        f"[[{dir_name}/{dir_name}|{dir_name}]] · {month}\n\n"
    )


def index_note(
    *,
    chat_id: int,
    kind: str,
    title: str,
    username: str | None,
    first_id: int,
    last_id: int,
    message_count: int,
    last_export: float,
    dir_name: str,
    notes: list[str],
) -> str:
    """A chat's index note: what was exported, and a link to each of its month notes (vault paths)."""
    exported = datetime.datetime.fromtimestamp(last_export, datetime.UTC)
    lines = [
        "---",
        f"id: {chat_id}",
        f"type: {kind}",
        f"title: {yaml_str(title)}",
        f"username: {yaml_str(username)}",
        f"exported_range: [{first_id}, {last_id}]",
        f"messages: {message_count}",
        f"last_export: \"{exported.isoformat(timespec='seconds')}\"",
        "---",
        "",
        f"# {plain_heading(title)}",
        "",
    ]
    for note in notes:
        label = note.removesuffix(".md").removeprefix(dir_name + "/")
        lines.append(f"- [[{note.removesuffix('.md')}|{label}]]")
    lines.append("")
    return "\n".join(lines)


def plain_heading(title: str) -> str:
    return "".join(c if c.isalnum() or c in " -_.,()'&" else " " for c in title).strip() or "Chat"

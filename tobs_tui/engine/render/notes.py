"""The vault's own notes around the messages: a month note's front matter and link to its chat, and a
chat's index note (front matter, heading, a link to every month note)."""

from __future__ import annotations

import datetime
import json
import re

# Left raw by JSON but not valid, or not kept, inside a YAML double-quoted scalar under YAML 1.1 or 1.2: DEL and
# the C1 controls are not printable, \x85, U+2028 and U+2029 are line breaks YAML 1.1 folds into spaces, a BOM or
# U+FFFE/U+FFFF is not allowed, a lone surrogate cannot be written as UTF-8. Bidi controls too, so the raw file
# reads as it parses.
_YAML_ESCAPED_RE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ufffe\uffff\ud800-\udfff]")


def _unicode_escape(match: re.Match) -> str:
    return f"\\u{ord(match[0]):04x}"


def yaml_str(value: str | None) -> str:
    """A YAML double-quoted scalar that parses back to `value` under YAML 1.1 and 1.2 (and is a JSON string)."""
    if value is None:
        return "null"
    return _YAML_ESCAPED_RE.sub(_unicode_escape, json.dumps(value, ensure_ascii=False))


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

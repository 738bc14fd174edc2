"""The state DB made again from the vault itself, when it is missing, empty or was damaged: chats from their
folders and index notes, committed notes as they are now, message ids from the notes' block ids, the JSONL
from `.tobs/json` or else from each chat's `result.json`. Nothing in a note is rewritten."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

from tobs_tui.engine.vault.blocks import dated_note_blocks, note_blocks
from tobs_tui.engine.vault.filenames import chat_dir_name, is_plain_file, topic_dir_name
from tobs_tui.engine.vault.jsonl import PathRebase
from tobs_tui.engine.vault.store import SNIPPET_CHARS, TAIL_BYTES, MediaRecord, StateStore

_CHAT_DIR = re.compile(r".* \((-?\d+)\)")
_MONTH = re.compile(r"\d{1,4}-\d\d\.md")
_TOPIC_DIR = re.compile(r".* \((\d+)\)")
_LINE_ID = re.compile(rb'\{"id":(-?\d+)[,}]')
_FRONT_FIELD = re.compile(r"^(\w+): (.*)$", re.MULTILINE)
_UNESCAPE = re.compile(r"\\(.)")
_SNIPPET_CHARS = 80
FRONT_MATTER_BYTES = 16384  # how much of a note's start is read for its front matter
GENERAL_TOPIC = 1  # a forum's General topic: messages that are in no other


@dataclass(frozen=True)
class RebuiltChat:
    chat_id: int
    dir_name: str
    messages: int
    jsonl_lines: int  # lines of its JSONL now committed (from the JSONL, or result.json, or none)


def chat_folders(root: Path) -> Iterator[tuple[int, Path]]:
    """(chat id, folder) for every folder of the vault named like a chat's ("<title> (<id>)")."""
    for entry in sorted(root.iterdir()):
        chat_id = folder_chat_id(entry.name)
        if chat_id is not None and not entry.name.startswith(".") and entry.is_dir() and not entry.is_symlink():
            yield chat_id, entry


def folder_chat_id(name: str) -> int | None:
    """The chat id a folder named like a chat's ("<title> (<id>)") carries; None for any other name."""
    match = _CHAT_DIR.fullmatch(name)
    return int(match.group(1)) if match else None


def month_notes(folder: Path) -> list[tuple[Path, int | None]]:
    """A chat folder's month notes with the forum topic each belongs to (None outside a forum)."""
    found: list[tuple[Path, int | None]] = []
    for year in sorted(folder.iterdir()):
        if year.is_dir() and not year.is_symlink() and year.name.isdigit():
            found += [(n, None) for n in sorted(year.iterdir()) if _MONTH.fullmatch(n.name) and n.is_file()]
    topics = folder / "topics"
    if topics.is_dir() and not topics.is_symlink():
        for topic in sorted(topics.iterdir()):
            match = _TOPIC_DIR.fullmatch(topic.name)
            if match and topic.is_dir() and not topic.is_symlink():
                found += [(n, int(match.group(1))) for n, _ in month_notes(topic)]
    return found


def holds_messages(folder: Path) -> bool:
    """Whether a folder named like a chat's has month notes holding message blocks: a chat rebuild_state adopts.
    A person's own folder that happens to be named so ("Journal (2025)"), with notes of their own, is not one."""
    for note, _ in month_notes(folder):
        try:
            if note_blocks(note.read_bytes()):
                return True
        except OSError:
            continue
    return False


def front_matter(path: Path) -> dict[str, str]:
    """The `key: value` lines of a note's front matter (values as written)."""
    try:
        with open(path, "rb") as f:
            head = f.read(FRONT_MATTER_BYTES)
    except OSError:
        return {}
    return read_front_matter(head)


def read_front_matter(note: bytes) -> dict[str, str]:
    """The `key: value` lines of the front matter a note's bytes start with (values as written)."""
    head = note[:FRONT_MATTER_BYTES].decode("utf-8", errors="replace")
    head = head.removeprefix("\ufeff").replace("\r\n", "\n")  # saved with a BOM or CRLF line ends: read alike
    if not head.startswith("---\n"):
        return {}
    body = head[4:].split("\n---\n", 1)[0]
    return {k: v for k, v in _FRONT_FIELD.findall(body)}


def named_chat(fields: dict[str, str], key: str = "chat_id") -> int | None:
    """The chat id front matter names: a month note's `chat_id` (render/notes.py month_header), an index note's
    `id`; None when it names none."""
    value = _string(fields.get(key))
    try:
        return int(value) if value else None
    except ValueError:
        return None


_RANGE_START = re.compile(r"\[\s*(\d{1,19})\s*,")


def _range_start(value: str | None) -> int | None:
    """The first id of an index note's `exported_range: [first, last]`; None when it cannot be read."""
    match = _RANGE_START.match(value or "")
    return int(match.group(1)) if match else None


def _string(value: str | None) -> str | None:
    if value is None or value == "null":
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    return parsed if isinstance(parsed, str) else value


def rebuild_state(
    root: Path, store: StateStore, write_atomic: Callable[[str, Callable[[BinaryIO], object]], object]
) -> list[RebuiltChat]:
    """Every chat folder with month notes that the state DB does not know becomes a chat exported up to the
    newest block id its notes hold, one transaction each. write_atomic(rel, fill) writes a JSONL made from
    result.json."""
    rebuilt: list[RebuiltChat] = []
    known = {c.chat_id for c in store.all_chats()}
    named: dict[int, list[Path]] = {}
    for chat_id, folder in chat_folders(root):
        if chat_id not in known:
            named.setdefault(chat_id, []).append(folder)
    # One folder is a chat's: a second named for it is one a person renamed (the engine then made its own again)
    # or copied, and is theirs, never written into.
    chosen = {chat_id: _engine_folder(chat_id, folders) for chat_id, folders in named.items()}
    for chat_id, folder in chat_folders(root):
        if chosen.get(chat_id) != folder:
            continue
        notes = month_notes(folder)
        if not notes:
            continue
        index = front_matter(folder / f"{folder.name}.md")
        first_note = front_matter(notes[0][0])
        title = _string(index.get("title")) or _string(first_note.get("chat")) or folder.name
        kind = index.get("type") or ""
        username = _string(index.get("username"))
        # The exported range's start, as the index note recorded it: the notes may start later (their first
        # month lost with the state), and a month found again by date must not reach below it (--since).
        first = _range_start(index.get("exported_range"))
        files: dict[str, tuple[int, bytes]] = {}
        rows: list[tuple[int, str, str, str]] = []
        topics: dict[int, int] = {}
        topic_of: dict[int, int] = {}  # message id -> its forum topic, for the messages the notes hold
        topic_dirs: dict[int, str] = {}  # forum topic -> its folder (vault-relative), where notes of it are
        for note, topic in notes:
            data = note.read_bytes()
            rel = note.relative_to(root).as_posix()
            files[rel] = (len(data), data[-TAIL_BYTES:])
            year, _, month = note.name.removesuffix(".md").partition("-")
            own = (int(year), int(month))
            for msg_id, sender, snippet, dated in dated_note_blocks(data):
                if dated and own not in dated:
                    # Not where the export puts it: a copy a person pasted here (from another month's note, or
                    # another chat's); the block of its own is where its date says, or lost and fetched again.
                    continue
                rows.append(block_row(msg_id, rel, sender, snippet))
                if topic is not None:
                    topics[topic] = max(topics.get(topic, 0), msg_id)
                    topic_of[msg_id] = topic
            if topic is not None:
                topic_dirs.setdefault(topic, note.parent.parent.relative_to(root).as_posix())
        if not rows:
            continue
        last_id = max(r[0] for r in rows)
        json_rel = f".tobs/json/{chat_id}.jsonl"
        length, lines = _committed_jsonl(root / json_rel, last_id)
        if not lines and (folder / "result.json").is_file():
            length, lines = _jsonl_from_result(folder / "result.json", last_id, json_rel, write_atomic)
        lost_notes: set[str] = set()
        media: list[MediaRecord] = []
        if lines:
            with open(root / json_rel, "rb") as f:
                f.seek(max(0, length - TAIL_BYTES))
                files[json_rel] = (length, f.read(min(length, TAIL_BYTES)))
            lines_of = {line.msg_id: line for line in _jsonl_messages(root / json_rel, length)}
            # Reply previews as the export stored them (its sender and the start of the raw text), where the
            # JSONL has the message; the notes' Markdown is only a stand-in for that.
            rows = [
                (i, note, line.sender, line.text[:SNIPPET_CHARS]) if (line := lines_of.get(i)) else (i, note, who, text)
                for i, note, who, text in rows
            ]
            # Messages the JSONL holds and no note does: their month note was deleted with the state. Indexed in
            # the note they belong to, which the repair writes again; in a forum, in their topic's (forum_topics).
            in_notes = {r[0] for r in rows}
            found = forum_topics(lines_of, topic_of) if topics or kind == "forum" else None
            for line in lines_of.values():
                if line.msg_id in in_notes:
                    continue
                if found is None:
                    base = folder.name
                else:
                    topic = found[line.msg_id]
                    base = topic_dirs.get(topic) or f"{folder.name}/topics/{_topic_dir(topic, lines_of)}"
                    topics[topic] = max(topics.get(topic, 0), line.msg_id)  # exported: not fetched again
                lost = f"{base}/{line.month[:4]}/{line.month}"
                rows.append((line.msg_id, lost, line.sender, line.text[:SNIPPET_CHARS]))
                lost_notes.add(f"{lost}.md")
            # The files the notes embed, as downloaded (which Telegram file is not known: None): recovery then
            # finds the ones deleted with the state, and the export downloads them again to the same paths.
            media = [
                MediaRecord(chat_id, line.msg_id, None, line.file.split("/")[2], line.file, None, 0, "done")
                for line in lines_of.values()
                if line.file is not None and line.file.startswith(f"{folder.name}/media/") and line.file.count("/") >= 4
            ]
        store.restore_chat(
            chat_id,
            title=title,
            kind=kind,
            username=username,
            dir_name=folder.name,
            messages=rows,
            files=files,
            topic_last_ids=topics,
            media=media,
            first_id=first,
        )
        count = len({r[0] for r in rows})
        if lines < count and ((root / json_rel).exists() or (folder / "result.json").exists()):
            # The JSONL holds fewer messages than the notes: the rest are fetched again (ChatExport.repair).
            store.add_repairs([(chat_id, json_rel)])
        if lost_notes:
            store.add_repairs([(chat_id, rel) for rel in sorted(lost_notes)])
        if kind != "forum" and not topics:
            # Month notes the index note lists that are gone, with no JSON line left of their messages: found
            # again on Telegram by their month (ChatExport.repair); a forum's notes are its topics'.
            have = {note.relative_to(root).as_posix() for note, _ in notes} | lost_notes
            gone = [rel for rel in listed_months(folder) if rel not in have]
            if gone:
                store.add_lost_months(chat_id, gone)
        rebuilt.append(RebuiltChat(chat_id, folder.name, count, lines))
    return rebuilt


def _engine_folder(chat_id: int, folders: list[Path]) -> Path:
    """Of the folders named for one chat, the engine's: the one named as the engine names the chat's folder (from
    a title its index note or month notes give), else the one holding its index note, else the one holding the
    newest message."""
    if len(folders) == 1:
        return folders[0]

    def rank(folder: Path) -> tuple[bool, bool, int]:
        index = front_matter(folder / f"{folder.name}.md")
        titles = {_string(index.get("title"))}
        newest = 0
        for note, _ in month_notes(folder):
            fields = front_matter(note)
            if named_chat(fields) == chat_id:
                titles.add(_string(fields.get("chat")))
            try:
                newest = max([newest, *(msg_id for msg_id, _, _ in note_blocks(note.read_bytes()))])
            except OSError:
                continue
        own_name = any(folder.name == chat_dir_name(title, chat_id) for title in titles if title)
        return own_name, named_chat(index, "id") == chat_id, newest

    return max(folders, key=rank)


# A month note's link in the index note's own part (render/notes.py): a wikilink, or a Markdown link whose path
# is percent-encoded; either way its target ends in "/<year>/<year>-<month>" before its label or closing bracket.
_MONTH_LINK = re.compile(
    r"\[\[(?P<wiki>[^\[\]|\n]*?/(?P<y1>\d{1,4})/(?P<m1>(?P=y1)-\d\d))(?:\.md)?[|\]]"
    r"|\]\((?P<md>[^()\s]*?/(?P<y2>\d{1,4})/(?P<m2>(?P=y2)-\d\d))(?:\.md)?\)"
)


def listed_months(folder: Path) -> list[str]:
    """The vault-relative month notes (outside forum topics) the chat's index note lists in the part the export
    writes; [] when it has none or cannot be read."""
    try:
        text = (folder / f"{folder.name}.md").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    # The part's markers by their words, as render/notes.py finds them (this layer does not import it).
    start, end = text.find("tobs-tui: begin"), text.find("tobs-tui: end")
    if start < 0 or end < start:
        return []
    region = text[start:end]
    found = set()
    for link in _MONTH_LINK.finditer(region):
        wiki = link["wiki"] is not None
        target = link["wiki"] if wiki else unquote(link["md"])
        own = f"{folder.name}/{link['y1'] if wiki else link['y2']}/{link['m1'] if wiki else link['m2']}"
        # A note a person moved under its own name, which the index lists where it is now: not lost.
        if target != own and is_plain_file(folder.parent, f"{target}.md"):
            continue
        found.add(f"{own}.md")
    return sorted(found)


def forum_topics(lines: dict[int, _Line], known: dict[int, int]) -> dict[int, int]:
    """The forum topic of each JSONL message, as readers of Telegram Desktop's export tell it (docs/FORMAT.md):
    a topic's first message is its topic_created message, a message in a topic replies to that message or to
    another message of the topic, a pin is in the topic of the message it pinned, and a message whose replies
    reach none of those is in General (a service message carries no reply id in the JSONL, a reply may answer a
    message the export does not hold). `known`: the topics of messages the notes hold."""
    topics = dict(known)

    def topic(msg_id: int) -> int:
        seen: list[int] = []
        at: int | None = msg_id
        result = GENERAL_TOPIC
        while at is not None and at not in seen:
            if at in topics:
                result = topics[at]
                break
            line = lines.get(at)
            if line is None:
                break
            seen.append(at)
            if line.created_topic is not None:
                result = at
                break
            at = line.reply_to
        for i in seen:
            topics[i] = result
        return result

    return {i: topic(i) for i in lines}


def _topic_dir(topic: int, lines: dict[int, _Line]) -> str:
    """A topic folder's name when none of its notes are left: from its title when the export has its first
    message (General's is "General"), as the export names them."""
    line = lines.get(topic)
    if line is not None and line.created_topic:
        return topic_dir_name(line.created_topic, topic)
    return topic_dir_name("General" if topic == GENERAL_TOPIC else f"Topic {topic}", topic)


@dataclass(frozen=True)
class _Line:
    """What a JSONL line says of its message that the state keeps."""

    msg_id: int
    month: str  # "YYYY-MM" of its local date (result.json's "date"): the month note that holds it
    sender: str  # as the notes name it: a channel post's signature, else the sender (a service message's actor)
    text: str  # the raw text, entities' text included
    file: str | None  # its file's vault path, when it was downloaded
    # reply_to_message_id: the message it answers (in a forum, also its topic's first); a pin's pinned message
    reply_to: int | None = None
    created_topic: str | None = None  # the title of the forum topic this message created


def _jsonl_messages(path: Path, length: int) -> Iterator[_Line]:
    """The messages of a JSONL's first `length` bytes."""
    with open(path, "rb") as f:
        data = f.read(length)
    for raw in data.splitlines():
        try:
            item = json.loads(raw)
        except ValueError:
            continue
        date, msg_id = item.get("date"), item.get("id")
        if not (isinstance(msg_id, int) and isinstance(date, str) and re.fullmatch(r"\d{4}-\d\d-.*", date)):
            continue
        sender = item.get("author") or item.get("from") or item.get("actor") or ""
        text = item.get("text")
        if isinstance(text, list):
            text = "".join(part if isinstance(part, str) else str(part.get("text", "")) for part in text)
        file = item.get("photo") or item.get("file")
        service = item.get("type") == "service"
        # A pin names the message it pinned, which is in the pin's topic.
        reply_to = item.get("message_id") if service and item.get("action") == "pin_message" else None
        if "reply_to_peer_id" not in item:  # a reply to another chat's message says nothing of a topic here
            reply_to = item.get("reply_to_message_id", reply_to)
        title = item.get("title")
        created = item.get("action") == "topic_created"
        yield _Line(
            msg_id,
            date[:7],
            sender if isinstance(sender, str) else "",
            text if isinstance(text, str) else "",
            file if isinstance(file, str) else None,
            reply_to if isinstance(reply_to, int) and not isinstance(reply_to, bool) else None,
            (title if isinstance(title, str) else "") if created else None,
        )


def block_row(msg_id: int, rel: str, sender: str, snippet: str) -> tuple[int, str, str, str]:
    """A message index row for a block read from the note `rel` (note_blocks: sender and text as Markdown)."""
    return msg_id, rel.removesuffix(".md"), _plain(sender), _plain(snippet)[:_SNIPPET_CHARS]


def _plain(markdown: str) -> str:
    return _UNESCAPE.sub(r"\1", markdown).strip()


def _committed_jsonl(path: Path, last_id: int) -> tuple[int, int]:
    """(bytes, lines) of a JSONL's whole lines for messages up to last_id."""
    length = lines = 0
    try:
        with open(path, "rb") as f:
            for line in f:
                match = _LINE_ID.match(line)
                if not line.endswith(b"\n") or match is None or int(match.group(1)) > last_id:
                    break
                length += len(line)
                lines += 1
    except FileNotFoundError:
        return 0, 0
    return length, lines


def _jsonl_from_result(
    result: Path, last_id: int, json_rel: str, write_atomic: Callable[[str, Callable[[BinaryIO], object]], object]
) -> tuple[int, int]:
    """The JSONL again from result.json, which holds its lines as they were (one per line, indented)."""
    counted = [0, 0]
    rebase = PathRebase(result.parent.name)  # a chat's folder sits at the vault root

    def fill(out: BinaryIO) -> None:
        with open(result, "rb") as src:
            in_messages = False
            for raw in src:
                if not in_messages:
                    in_messages = raw.startswith(b' "messages": [')
                    continue
                line = raw.strip().removesuffix(b",")
                match = _LINE_ID.match(line)
                if match is None:
                    continue
                if int(match.group(1)) > last_id:
                    break
                line = rebase.restore(line)
                out.write(line + b"\n")
                counted[0] += len(line) + 1
                counted[1] += 1

    write_atomic(json_rel, fill)
    return counted[0], counted[1]

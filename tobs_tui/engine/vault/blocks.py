"""What the engine's own message blocks look like in a month note: where each ends (its id), so a note's whole
messages can be found among text a person typed around them. (Which bytes past a note's committed length a
cut-short commit wrote is not read from their look: see intents.py.)"""

from __future__ import annotations

import re

# A block ends with its id: after a space at the end of its last paragraph, or on a line of its own after a
# quote or code block (render/markdown.py `render_message`). `^` in message text is always escaped, so an
# unescaped id followed by a blank line only ever ends a block.
# A note saved with CRLF line ends (a sync or an editor on Windows) ends its blocks the same way.
_BLOCK_END = re.compile(rb"(?: |\r?\n\r?\n)\^m(\d+)\r?\n\r?\n")
# A message block opens with its sender in bold, a service line with the gear.
_OPENINGS = (b"**", "⚙ ".encode())
_BLOCK_ID = re.compile(rb"(?:^| )\^m(\d+)\r?\n", re.MULTILINE)


def separator(committed_end: bytes) -> bytes:
    """What goes before the next block so it starts a paragraph of its own after a note's committed bytes (a
    person's text that does not end with a blank line)."""
    if not committed_end or committed_end.endswith((b"\n\n", b"\n\r\n")):
        return b""
    return b"\n" if committed_end.endswith(b"\n") else b"\n\n"


_BLANK = b" \t\r\n"


def only_blank_end_cut(now_end: bytes, size: int, length: int, tail: bytes) -> bool:
    """Whether a note now `size` bytes long, committed at `length` bytes ending in `tail`, lost nothing but blank
    bytes at its end: an editor's "trim trailing whitespace" on save. `now_end` is the note's last bytes now (as
    many as the tail's). Every message is still there; only the committed bytes the tail shows can be checked,
    so a tail that is blank through is no proof."""
    removed = length - size
    if not 0 < removed < len(tail):
        return False
    kept = tail[: len(tail) - removed]
    return bool(kept.strip(_BLANK)) and not tail[len(kept) :].strip(_BLANK) and now_end.endswith(kept)


def block_ids(text: bytes) -> list[int]:
    """The message ids of the blocks in a note, in file order."""
    return [int(m) for m in _BLOCK_ID.findall(text)]


def note_blocks(note: bytes) -> list[tuple[int, str, str]]:
    """(id, sender, first text line) of every whole block in a note, as Markdown (escapes kept); the front
    matter and text a person added between blocks are skipped."""
    return [(msg_id, sender, line) for msg_id, sender, line, _ in dated_note_blocks(note)]


# A date as a block's header line gives its message (render/markdown.py `_header`, `_service_line`): after the
# sender (and a channel post's author) for a message, at the line's end for a service line. A sender's name or a
# service sentence may hold text of the same look, so every such date on the line is a candidate.
_HEADER_DATE = re.compile(r" · (\d{1,4})-(\d\d)-\d\d \d\d:\d\d(?= · |$)")


def dated_note_blocks(note: bytes) -> list[tuple[int, str, str, frozenset[tuple[int, int]]]]:
    """note_blocks with the (year, month) pairs each block's header line may date its message in (empty when it
    gives none): the block's own is among them."""
    found: list[tuple[int, str, str, frozenset[tuple[int, int]]]] = []
    note = note.replace(b"\r\n", b"\n")  # a note saved with CRLF line ends: its blocks read the same
    start = 0
    for end in _BLOCK_END.finditer(note):
        block = note[start : end.start()]
        start = end.end()
        opening = max(block.rfind(b"\n\n**"), block.rfind("\n\n⚙ ".encode()))
        block = block[opening + 2 :] if opening >= 0 and not block.startswith(_OPENINGS) else block
        lines = block.decode("utf-8", "replace").split("\n")
        sender = ""
        head = lines[0]
        if head.startswith("**"):
            sender = head[2:].split("** ", 1)[0].removesuffix("**")
        months = frozenset((int(y), int(m)) for y, m in _HEADER_DATE.findall(head))
        found.append((int(end.group(1)), sender, lines[1] if len(lines) > 1 else "", months))
    return found


def whole_blocks(note: bytes) -> tuple[list[int], int]:
    """The ids of a note's whole blocks in file order, and where the last of them ends (0 without one)."""
    ids: list[int] = []
    end = 0
    for match in _BLOCK_END.finditer(note):
        ids.append(int(match.group(1)))
        end = match.end()
    return ids, end


def after_last_block(note: bytes) -> bytes:
    """What follows a note's last whole message block (its front matter and link when it has none): a person's
    text, or the start of a block when the note was cut short inside one."""
    end = whole_blocks(note)[1] or header_end(note)
    return note[end:]


def opens_like_a_block(text: bytes) -> bool:
    """Whether `text` starts the way the engine's blocks do (a sender in bold, a service line's gear)."""
    return text.lstrip(b"\n").startswith(_OPENINGS)


# A note's front matter as the engine writes it (render/notes.py `month_header`), or as an editor saved it again:
# with CRLF line ends, or a byte order mark before it. The group is the opening line's end.
_FRONT_OPEN = re.compile(rb"(?:\xef\xbb\xbf)?---(\r?\n)")
_FRONT_CLOSE = re.compile(rb"\r?\n---\r?\n")
_FRONT_CLOSE_BLANK = re.compile(rb"\r?\n---\r?\n\r?\n")
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


def starts_with_front_matter(note: bytes) -> bool:
    """Whether a note opens a front matter block (its first line `---`, whatever its line ends)."""
    return _FRONT_OPEN.match(note) is not None


def header_end(note: bytes) -> int:
    """Where a month note's own start ends (front matter, then the line linking its chat, render/notes.py
    `month_header`); 0 when the note does not start with front matter, len(note) when it is cut inside it."""
    opening = _FRONT_OPEN.match(note)
    if opening is None:
        return 0
    closing = _FRONT_CLOSE_BLANK.search(note, opening.end())
    if closing is None:
        return len(note)
    link_end = _BLANK_LINE.search(note, closing.end())
    return len(note) if link_end is None else link_end.end()


def month_header_length(head: bytes) -> int:
    """How many bytes a month note's header takes (render/notes.py month_header: front matter, a blank line, the
    link to the index note and a blank line); 0 when the note does not start with one (someone rewrote it)."""
    opening = _FRONT_OPEN.match(head)
    if opening is None:
        return 0
    closing = _FRONT_CLOSE.search(head, opening.end() - len(opening.group(1)))
    if closing is None:
        return 0
    end = closing.end()
    link = end + (2 if head.startswith(b"\r\n", end) else 1)
    if not head.startswith(b"[[", link) or head[end:link] not in (b"\n", b"\r\n"):
        return end
    link_end = _BLANK_LINE.search(head, link)
    return end if link_end is None else link_end.end()


_BLANK_LINES = re.compile(rb"\n{0,2}")
_NOTE_MONTH = re.compile(r"(?:.*/)?(\d{1,4})/(\d{1,4})-(\d\d)\.md")


def blocks_following(note: bytes, start: int, rel: str, after: int) -> tuple[list[tuple[int, str, str]], int]:
    """The engine's whole blocks that follow offset `start` of a month note one right after another, ids ascending
    above `after` and each dated in the note's own month (`rel` names it): (id, sender, first text line) of each,
    as note_blocks gives them, and where the last ends (`start` without one). The run stops at anything else: a
    person's text, a block cut short, a block of another month or out of order, a note with CRLF line ends."""
    named = _NOTE_MONTH.fullmatch(rel)
    if named is None or named.group(1) != named.group(2) or b"\r" in note[start:]:
        return [], start
    own = (int(named.group(2)), int(named.group(3)))
    found: list[tuple[int, str, str]] = []
    end = start
    while True:
        # After the note's bytes the engine writes at most the separator (a blank line), between blocks nothing.
        opening = _BLANK_LINES.match(note, end)
        at = opening.end() if opening else end
        closing = _BLOCK_END.search(note, at)
        if closing is None or not note.startswith(_OPENINGS, at):
            break
        parsed = dated_note_blocks(note[at : closing.end()])
        if len(parsed) != 1:
            break
        msg_id, sender, line, months = parsed[0]
        if msg_id <= after or own not in months:
            break
        found.append((msg_id, sender, line))
        after, end = msg_id, closing.end()
    return found, end

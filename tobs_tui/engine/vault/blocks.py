"""What the engine's own message blocks look like in a month note, so recovery can tell bytes a cut-short
commit left past the committed length (only such blocks) from text a person typed there (anything else)."""

from __future__ import annotations

import re

# A block ends with its id: after a space at the end of its last paragraph, or on a line of its own after a
# quote or code block (render/markdown.py `render_message`). `^` in message text is always escaped, so an
# unescaped id followed by a blank line only ever ends a block.
_BLOCK_END = re.compile(rb"(?: |\n\n)\^m(\d+)\n\n")
# A message block opens with its sender in bold, a service line with the gear; the first line carries the date.
_OPENINGS = (b"**", "⚙ ".encode())
_STAMP = re.compile(r" · \d{1,4}-\d\d-\d\d \d\d:\d\d".encode())
_BLOCK_ID = re.compile(rb"(?:^| )\^m(\d+)\n", re.MULTILINE)


def separator(committed_end: bytes) -> bytes:
    """What goes before the next block so it starts a paragraph of its own after a note's committed bytes (a
    person's text that does not end with a blank line)."""
    if not committed_end or committed_end.endswith(b"\n\n"):
        return b""
    return b"\n" if committed_end.endswith(b"\n") else b"\n\n"


def leading_blocks(extra: bytes, after_id: int) -> tuple[int, bool]:
    """Bytes past a note's committed end: how many leading bytes are whole engine blocks (with a separator
    before them) for ids above `after_id`, in id order, and whether all of `extra` could have been written by
    the engine (those blocks, then the start of one more, or the zeros a power cut leaves)."""
    pos = 0
    while pos < 2 and extra[pos : pos + 1] == b"\n":
        pos += 1  # the separator after a person's text (separator())
    whole = 0
    last = after_id
    while pos < len(extra):
        rest = extra[pos:]
        if not rest.strip(b"\0"):
            return whole, True
        end = _BLOCK_END.search(extra, pos)
        if end is None:
            return whole, _opens_block(rest)
        block = extra[pos : end.end()]
        block_id = int(end.group(1))
        first_line = block.split(b"\n", 1)[0]
        if block_id <= last or not block.startswith(_OPENINGS) or not _STAMP.search(first_line):
            return whole, False
        last = block_id
        pos = whole = end.end()
    return whole, True


def _opens_block(partial: bytes) -> bool:
    """Whether `partial` is the start of a block cut short (it has no id yet): an opening, and a whole first
    line with the date, or a first line that could still become one."""
    if any(opening.startswith(partial) for opening in _OPENINGS):
        return True
    if not partial.startswith(_OPENINGS):
        return False
    first_line, newline, _ = partial.partition(b"\n")
    if newline:
        return _STAMP.search(first_line) is not None
    if first_line.startswith(b"**"):
        # After the sender's name comes the signature in brackets or the date, nothing else (an escaped star
        # in the name may sit right before the closing stars, so every "**" is tried).
        name = first_line[2:]
        closings = [i for i in range(len(name) - 1) if name[i : i + 2] == b"**"]
        return not closings or any(_header_goes_on(name[i + 2 :]) for i in closings)
    return True


def _header_goes_on(after: bytes) -> bool:
    return any(after.startswith(w) or w.startswith(after) for w in (" · ".encode(), b" ("))


def block_ids(text: bytes) -> list[int]:
    """The message ids of the blocks in a note, in file order."""
    return [int(m) for m in _BLOCK_ID.findall(text)]


def note_blocks(note: bytes) -> list[tuple[int, str, str]]:
    """(id, sender, first text line) of every whole block in a note, as Markdown (escapes kept); the front
    matter and text a person added between blocks are skipped."""
    found: list[tuple[int, str, str]] = []
    start = 0
    for end in _BLOCK_END.finditer(note):
        block = note[start : end.start()]
        start = end.end()
        opening = max(block.rfind(b"\n\n**"), block.rfind("\n\n⚙ ".encode()))
        block = block[opening + 2 :] if opening >= 0 and not block.startswith(_OPENINGS) else block
        lines = block.decode("utf-8", "replace").split("\n")
        sender = ""
        if lines[0].startswith("**"):
            sender = lines[0][2:].split("** ", 1)[0].removesuffix("**")
        found.append((int(end.group(1)), sender, lines[1] if len(lines) > 1 else ""))
    return found


def whole_blocks(note: bytes) -> tuple[list[int], int]:
    """The ids of a note's whole blocks in file order, and where the last of them ends (0 without one)."""
    ids: list[int] = []
    end = 0
    for match in _BLOCK_END.finditer(note):
        ids.append(int(match.group(1)))
        end = match.end()
    return ids, end


def header_end(note: bytes) -> int:
    """Where a month note's own start ends (front matter, then the line linking its chat, render/notes.py
    `month_header`); 0 when the note does not start with front matter, len(note) when it is cut inside it."""
    if not note.startswith(b"---\n"):
        return 0
    closing = note.find(b"\n---\n\n", 4)
    if closing < 0:
        return len(note)
    link_end = note.find(b"\n\n", closing + 6)
    return len(note) if link_end < 0 else link_end + 2

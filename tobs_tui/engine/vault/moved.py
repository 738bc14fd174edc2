"""Month notes a person moved or renamed (Obsidian's rename, a note dragged into a folder of their own): found
by the message blocks they hold and the chat their front matter names. Such a note is the person's now: the
engine neither writes it again at its old place (its messages would then be in two notes) nor touches it where
it is."""

from __future__ import annotations

import os
import stat
from collections.abc import Collection, Mapping
from pathlib import Path

from tobs_tui.engine.vault.blocks import block_ids
from tobs_tui.engine.vault.rebuild import folder_chat_id, named_chat, read_front_matter

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def find_moved_notes(root: Path, wanted: Mapping[str, Collection[int]], known: Collection[str]) -> dict[str, str]:
    """{old path: new path} (vault-relative) for each note of `wanted` (a note no longer at its path -> the ids of
    the messages it held) whose every message block is in one Markdown file elsewhere in the vault, a file whose
    front matter names the note's chat (the id its folder "<title> (<id>)" carries).

    Channels and groups all number their messages from 1, so by its blocks alone another chat's note the person
    moved would be taken for this one: only a note naming the chat is its own (moved, or a copy kept after the
    original was deleted). A note that lost blocks on the way, or whose front matter no longer names its chat,
    is not taken for moved: it is restored whole at its old path. Not searched: folders whose name starts with a
    dot (the engine's `.tobs`; Obsidian's `.trash`, where a note deleted in Obsidian goes, so it is restored),
    links (never followed) and the files in `known` (the export's own)."""
    left = {rel: set(ids) for rel, ids in wanted.items() if ids}
    chats = {rel: folder_chat_id(rel.split("/", 1)[0]) for rel in left}
    found: dict[str, str] = {}
    if not left:
        return found
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if not name.endswith(".md"):
                continue
            rel = (Path(folder) / name).relative_to(root).as_posix()
            if rel in known or rel in wanted:
                continue
            data = _read(Path(folder) / name)
            if not data:
                continue
            held = set(block_ids(data))
            if not held:
                continue
            named = named_chat(read_front_matter(data))
            for old, ids in list(left.items()):
                # (A path under no chat's folder is none the export writes: its note is taken by its blocks.)
                if ids <= held and chats[old] in (named, None):
                    found[old] = rel
                    del left[old]
            if not left:
                return found
    return found


def _read(path: Path) -> bytes | None:
    """A regular file's bytes, never through a link or from a pipe; None for anything else or an error."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)

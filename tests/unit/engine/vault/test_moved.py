"""Finding a month note a person moved or renamed, by the message blocks it holds."""

from __future__ import annotations

import os
import threading

from tobs_tui.engine.vault.moved import find_moved_notes

NOTE = "---\nchat: x\n---\n\n**Ann** · 2025-01-02 10:00\nhello ^m5\n\n**Bob** · 2025-01-02 10:01\n> quoted\n\n^m7\n\n"


def test_a_note_is_found_where_all_its_blocks_are_and_nowhere_else(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "January.md").write_text("My words first.\n\n" + NOTE, encoding="utf-8")
    (tmp_path / "partial.md").write_text(NOTE.split("**Bob**")[0], encoding="utf-8")  # one of its two blocks
    wanted = {"chat/2025/2025-01.md": [5, 7], "chat/chat.md": []}
    assert find_moved_notes(tmp_path, wanted, known=set()) == {"chat/2025/2025-01.md": "mine/January.md"}


def test_trash_links_pipes_and_the_exports_own_files_are_not_taken_for_it(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "copy.md").write_text(NOTE, encoding="utf-8")
    vault = tmp_path / "vault"
    for folder in (".trash", ".obsidian", "notes"):
        (vault / folder).mkdir(parents=True)
    (vault / ".trash" / "2025-01.md").write_text(NOTE, encoding="utf-8")  # deleted in Obsidian: restored
    (vault / "notes" / "link.md").symlink_to(outside / "copy.md")
    (vault / "linked").symlink_to(outside, target_is_directory=True)
    os.mkfifo(vault / "notes" / "pipe.md")
    (vault / "notes" / "ours.md").write_text(NOTE, encoding="utf-8")
    found: list = []
    search = threading.Thread(
        target=lambda: found.append(find_moved_notes(vault, {"c/2025/2025-01.md": [5, 7]}, known={"notes/ours.md"}))
    )
    search.start()
    search.join(10)
    assert not search.is_alive(), "a pipe named like a note hung the search"
    assert found == [{}]

"""A month note a person moved is found again by its blocks only when its front matter names the chat: channels and
supergroups all number their messages from 1, so another chat's note holds the same block ids."""

from __future__ import annotations

import shutil
import sqlite3

from tests.support.runners import export_chats
from tests.support.vaults import chat_dir, notes_of
from tobs_tui.engine.snapshot import RunState
from tobs_tui.engine.vault.check import check_vault


def first_note(vault, chat_id):
    folder = chat_dir(vault, chat_id)
    notes = notes_of(folder)
    first = min(notes)
    return folder / first, notes[first]


def test_another_chats_moved_note_is_not_taken_for_this_chats_deleted_one(make_runner, emulator, tmp_path):
    world = emulator.world
    channels = [c for c in world.chat_ids() if world.chats[c].kind == "channel"]
    assert len(channels) >= 2
    vault = tmp_path / "vault"
    assert export_chats(make_runner(), channels[:2]).state is RunState.DONE
    # Both number from 1: the chat whose first note holds more ids is the one whose note the person moves.
    firsts = {c: first_note(vault, c) for c in channels[:2]}
    chat_a = max(firsts, key=lambda c: len(firsts[c][1]))
    chat_b = next(c for c in firsts if c != chat_a)
    (note_a, ids_a), (note_b, ids_b) = firsts[chat_a], firsts[chat_b]
    assert set(ids_b) <= set(ids_a), (ids_a, ids_b)
    archive = vault / "Archive"
    archive.mkdir()
    moved = archive / "Their first month.md"
    note_a.rename(moved)
    kept = moved.read_bytes()
    original_b = note_b.read_bytes()
    note_b.unlink()

    seen = check_vault(vault)
    rel = lambda p: p.relative_to(vault).as_posix()  # noqa: E731
    assert rel(note_b) in [p.path for p in seen.problems], seen.problems
    assert f"{rel(note_a)}: moved or renamed by hand to {rel(moved)}" in "\n".join(seen.notes), seen.notes
    assert not any(n.startswith(f"{rel(note_b)}:") for n in seen.notes), seen.notes

    assert export_chats(make_runner(), [chat_b]).state is RunState.DONE
    assert note_b.read_bytes() == original_b, "the deleted note is restored"
    assert moved.read_bytes() == kept, "the other chat's moved note is never touched"
    folder_b = chat_dir(vault, chat_b)
    index = (folder_b / f"{folder_b.name}.md").read_text(encoding="utf-8")
    assert "Archive/" not in index, index
    with sqlite3.connect(vault / ".tobs" / "state.sqlite") as db:
        notes = {row[0] for row in db.execute("SELECT note FROM messages WHERE chat_id = ?", (chat_b,))}
    assert not any(n.startswith("Archive/") for n in notes), notes
    assert check_vault(vault).ok

    # A person's copy of the chat's own note, kept after deleting the original, is the note moved (so nothing is
    # written twice), even with another chat's note holding the same blocks earlier in the vault.
    backup = vault / "Backup" / "Copy of the first month.md"
    backup.parent.mkdir()
    shutil.copyfile(note_b, backup)
    note_b.unlink()
    seen = check_vault(vault)
    assert f"{rel(note_b)}: moved or renamed by hand to {rel(backup)}" in "\n".join(seen.notes), seen.notes
    assert seen.ok, seen.problems
    assert export_chats(make_runner(), [chat_b]).state is RunState.DONE
    assert not note_b.exists(), "the copy is the note, not written again at its old place"
    assert moved.read_bytes() == kept and backup.read_bytes() == original_b

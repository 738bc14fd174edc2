"""A sync's conflicted copy beside a month note (Dropbox, Syncthing, iCloud, Nextcloud, OneDrive, Obsidian Sync, each
naming it its own way) leaves the chat's messages in two notes: verify names each such file in one sentence, as a
notice that does not fail it (nothing is lost), and neither verify nor the next export touches the copy."""

from __future__ import annotations

import os
import shutil

from tests.support.runners import export_chats
from tests.support.vaults import chat_dir, notes_of
from tobs_tui.cli import main
from tobs_tui.engine.snapshot import RunState
from tobs_tui.engine.vault.check import check_vault

# How each sync tool names the copy it keeps beside a note ("2026-01" here stands for the note's own stem).
SYNC_NAMES = {
    "Dropbox": "{} (conflicted copy 2026-01-05).md",
    "Syncthing": "{}.sync-conflict-20260105-123456-ABCDEFG.md",
    "iCloud": "{} 2.md",
    "Nextcloud": "{} (conflicted copy 2026-01-05 123456).md",
    "OneDrive": "{}-DESKTOP-ABC.md",
    "Obsidian Sync": "{} (Conflicted copy MacBook 202601051234).md",
}


def sentence(copy: str, count: int, note: str) -> str:
    return (
        f"{copy} holds {count} of the chat's messages that {note} holds too (a sync's conflicted copy?);"
        " keep the one you want and delete the other."
    )


def test_conflicted_copies_are_named_once_each_and_never_touched(make_runner, emulator, tmp_path, capsys):
    world = emulator.world
    channels = [c for c in world.chat_ids() if world.chats[c].kind == "channel"]
    assert len(channels) >= 2
    vault = tmp_path / "vault"
    assert export_chats(make_runner(), channels[:2]).state is RunState.DONE
    chat, other = (
        max(channels[:2], key=lambda c: world.chats[c].count),
        min(channels[:2], key=lambda c: world.chats[c].count),
    )
    folder = chat_dir(vault, chat)
    notes = notes_of(folder)
    assert len(notes) >= 2, notes
    rel = lambda p: p.relative_to(vault).as_posix()  # noqa: E731

    # Each tool's copy beside one of the chat's notes, taking the notes in turn.
    expected = set()
    made = {}
    for i, name in enumerate(SYNC_NAMES.values()):
        note_rel = sorted(notes)[i % len(notes)]
        note = folder / note_rel
        copy = note.with_name(name.format(note.stem))
        shutil.copy2(note, copy)
        made[copy] = copy.read_bytes()
        expected.add(sentence(rel(copy), len(notes[note_rel]), rel(note)))

    # Not copies of this chat's notes: another chat's note (channels both number from 1, so its block ids are among
    # this chat's, but its front matter names its own chat), a copy in a dot-folder (Obsidian's .trash), a link to a
    # note (never followed), a pipe (never read, nor waited on) and a note of the person's own.
    other_folder = chat_dir(vault, other)
    other_note, other_ids = min(notes_of(other_folder).items())
    assert set(other_ids) & {i for ids in notes.values() for i in ids}, "the other chat's ids overlap this chat's"
    foreign = folder / "2025" / "Their note (conflicted copy 2026-01-05).md"
    shutil.copy2(other_folder / other_note, foreign)
    trash = folder / ".trash" / "old.md"
    trash.parent.mkdir()
    first = folder / sorted(notes)[0]
    shutil.copy2(first, trash)
    (folder / "linked.md").symlink_to(first)
    os.mkfifo(folder / "pipe.md")
    mine = folder / "My thoughts.md"
    mine.write_text("Thinking about ^m1 and [[#^m2]] later.\n", encoding="utf-8")
    left = {p: p.read_bytes() for p in (foreign, trash, mine)}

    seen = check_vault(vault)
    assert seen.ok, seen.problems
    assert set(seen.copies) == expected and len(seen.copies) == len(expected), seen.copies

    code = main(["verify", "--out", str(vault)])
    out = capsys.readouterr().out
    assert code == 0, out
    for said in expected:
        assert f"notice: {said}" in out, out
    assert out.count("notice: ") == len(expected), out
    assert f"{len(expected)} file(s) hold its messages twice" in out, out

    # The next export writes only its own notes: every copy, and everything else the person put there, stays as is.
    world.add_messages(chat, 3)
    assert export_chats(make_runner(), [chat]).state is RunState.DONE
    for path, data in {**made, **left}.items():
        assert path.read_bytes() == data, f"{path} was changed"
    assert os.path.islink(folder / "linked.md") and (folder / "pipe.md").exists()
    again = check_vault(vault)
    assert again.ok, again.problems
    assert set(again.copies) == expected, again.copies


def test_a_copy_moved_aside_for_an_older_version_counts_the_messages_both_hold(make_runner, emulator, tmp_path):
    """Syncthing keeps the other device's older version at the note's path and moves ours aside: the note is cut
    short (a problem, repaired by an export), and the copy is named with the messages both hold."""
    world = emulator.world
    chat = next(c for c in world.chat_ids() if world.chats[c].kind == "channel")
    vault = tmp_path / "vault"
    assert export_chats(make_runner(), [chat]).state is RunState.DONE
    folder = chat_dir(vault, chat)
    notes = notes_of(folder)
    last = max(notes)
    assert len(notes[last]) >= 2, notes
    note = folder / last
    ours = note.read_bytes()
    copy = note.with_name(f"{note.stem}.sync-conflict-20260105-123456-ABCDEFG.md")
    os.rename(note, copy)
    note.write_bytes(ours[: ours.rfind(b"\n\n**") + 2])  # their older version: our last message not there yet
    rel = lambda p: p.relative_to(vault).as_posix()  # noqa: E731

    seen = check_vault(vault)
    assert [p.path for p in seen.problems] == [rel(note)], seen.problems
    assert seen.copies == (sentence(rel(copy), len(notes[last]) - 1, rel(note)),), seen.copies

    assert export_chats(make_runner(), [chat]).state is RunState.DONE
    assert copy.read_bytes() == ours, "the copy is the person's to keep or delete"
    again = check_vault(vault)
    assert again.ok, again.problems
    assert again.copies == (sentence(rel(copy), len(notes[last]), rel(note)),), again.copies

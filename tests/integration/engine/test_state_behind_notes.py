"""A state older than the notes (a .tobs restored from a backup, or synced without its newest copy), in whole
exports against the emulator: the messages a run it does not remember wrote are taken as exported, never written
a second time, and their JSON lines and files are there once."""

from __future__ import annotations

import collections
import json
import shutil

import pytest

from tests.support.runners import export_in_process, running_emulator
from tests.support.vaults import chat_dir, notes_of
from tobs_tui.emulator.world import World
from tobs_tui.engine.snapshot import EventKind, RunState

WORLD = {
    "seed": 7,
    "max_file_size": 20000,
    "generated_users": 8,
    "chats": [{"kind": "channel", "title": "Chan", "messages": 120, "media": 0.3, "span_days": 70}],
}


@pytest.fixture
def emu():
    with running_emulator(world=World(WORLD)) as emulator:
        yield emulator


@pytest.fixture
def export(emu, tmp_path):
    """export(media=...): one whole export of the channel into tmp_path/vault; its VAULT notices."""
    chat = emu.world.chat_ids()[0]

    def run(*, media: bool) -> list[str]:
        final, events = export_in_process(emu, tmp_path / "vault", chat, media=media)
        assert final.state is RunState.DONE, final.errors
        return [e.message for e in events if e.kind is EventKind.VAULT]

    run.chat = chat
    return run


def _state_restored_from_backup(emu, export, vault, *, added: int, media: bool, before: int = 0) -> list[str]:
    """Export (with `before` messages of the new month), keep .tobs aside, export `added` new messages, put the
    old .tobs back, export 2 more."""
    if before:
        emu.world.add_messages(export.chat, before)
    export(media=media)
    backup = vault.parent / "backup"
    shutil.copytree(vault / ".tobs", backup)
    emu.world.add_messages(export.chat, added)
    export(media=media)
    shutil.rmtree(vault / ".tobs")
    shutil.copytree(backup, vault / ".tobs")
    emu.world.add_messages(export.chat, 2)
    return export(media=media)


def _assert_each_message_once(emu, export, vault) -> None:
    folder = chat_dir(vault, export.chat)
    ids = [i for note in notes_of(folder).values() for i in note]
    assert sorted(ids) == list(emu.world.chats[export.chat].ids()), "a message twice or missing in the notes"
    lines = [m["id"] for m in json.loads((folder / "result.json").read_text())["messages"]]
    assert sorted(lines) == sorted(set(ids)), collections.Counter(lines).most_common(3)


def test_a_new_month_note_the_state_does_not_know_is_taken_as_exported(emu, export, tmp_path):
    vault = tmp_path / "vault"
    said = _state_restored_from_backup(emu, export, vault, added=5, media=True)

    _assert_each_message_once(emu, export, vault)
    assert not any("already there, not written by this export" in s for s in said), said
    assert any("taken as exported" in s for s in said), said
    # The files the forgotten run downloaded are the engine's: not downloaded again beside them.
    media = chat_dir(vault, export.chat) / "media"
    assert not [p.name for p in media.rglob("*") if "(" in p.name]


def test_messages_appended_to_a_known_note_are_taken_as_exported(emu, export, tmp_path):
    vault = tmp_path / "vault"
    # The backup knows 2026-01.md with message 121; the run it does not remember appended 122-124 to it.
    said = _state_restored_from_backup(emu, export, vault, added=3, media=False, before=1)

    _assert_each_message_once(emu, export, vault)
    assert not any("Kept your edits" in s for s in said), said


def test_text_of_a_persons_after_the_forgotten_blocks_stays_theirs(emu, export, tmp_path):
    vault = tmp_path / "vault"
    export(media=False)
    backup = tmp_path / "backup"
    shutil.copytree(vault / ".tobs", backup)
    emu.world.add_messages(export.chat, 5)
    export(media=False)
    shutil.rmtree(vault / ".tobs")
    shutil.copytree(backup, vault / ".tobs")
    (note,) = (chat_dir(vault, export.chat) / "2026").glob("2026-01.md")
    with open(note, "ab") as f:
        f.write(b"My own words.\n")
    emu.world.add_messages(export.chat, 2)
    export(media=False)

    _assert_each_message_once(emu, export, vault)
    text = note.read_text()
    assert "My own words.\n" in text
    assert text.index("My own words.") < text.index("^m126"), "new messages go after the person's text"

"""The vault is the user's, in whole exports against the emulator: a month note deleted while the export writes
to it, made private or read-only before a correction or a back-fill rewrites it, typed into while the export runs,
or emptied of its messages with the person's words left in its front matter or on its link line."""

from __future__ import annotations

import dataclasses
import datetime
import sqlite3
import stat
from pathlib import Path

import pytest

from tests.support.runners import export_in_process, running_emulator
from tests.support.vaults import chat_dir, month_of, notes_of
from tobs_tui.emulator.world import World
from tobs_tui.engine.pipeline import finish
from tobs_tui.engine.snapshot import EventKind, RunState
from tobs_tui.engine.vault import vault as vault_module

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


@dataclasses.dataclass
class Run:
    state: RunState
    errors: tuple[str, ...]
    events: list


@pytest.fixture
def export(emu, tmp_path):
    """export(media=False, **selection): one whole export of the channel into tmp_path/vault, in this process."""
    chat = emu.world.chat_ids()[0]

    def run(*, media: bool = False, **selection) -> Run:
        final, events = export_in_process(emu, tmp_path / "vault", chat, media=media, **selection)
        return Run(final.state, tuple(final.errors), events)

    run.chat = chat
    return run


def _exported_whole(vault: Path, world: World, chat: int) -> dict[str, list[int]]:
    """Every message of the chat once, in id order, in its month's note; no note holds a zero byte."""
    folder = chat_dir(vault, chat)
    notes = notes_of(folder)
    spec = world.chats[chat]
    assert sorted(i for ids in notes.values() for i in ids) == list(spec.ids())
    for note, ids in notes.items():
        assert ids == sorted(ids), note
        assert all(month_of(spec.date_of_id(i)) == note.rsplit("/", 1)[-1].removesuffix(".md") for i in ids)
        assert b"\0" not in (folder / note).read_bytes(), note
    return notes


def _last_id(vault: Path, chat: int) -> int:
    db = sqlite3.connect(vault / ".tobs" / "state.sqlite")
    try:
        return db.execute("SELECT last_id FROM chats WHERE chat_id = ?", (chat,)).fetchone()[0]
    finally:
        db.close()


def test_a_note_deleted_while_the_export_writes_to_it_stops_the_chat_and_the_next_run_restores_it(
    export, emu, tmp_path, monkeypatch
):
    vault, chat = tmp_path / "vault", export.chat
    spec = emu.world.chats[chat]
    for _ in range(2):  # the second run starts the month the third run's new messages go to
        assert export().state is RunState.DONE
        emu.world.add_messages(chat, 3)
    new = list(spec.ids())[-3:]
    note = chat_dir(vault, chat) / month_of(spec.date_of_id(new[0]))[:4] / f"{month_of(spec.date_of_id(new[0]))}.md"
    assert note.exists(), "the new messages go to a note the first run wrote"
    committed = _last_id(vault, chat)
    recover = vault_module.Vault._recover

    def recover_then_the_person_deletes_the_note(self):
        report = recover(self)
        note.unlink()  # in Obsidian, as the run starts: after its recovery, before its first commit there
        return report

    monkeypatch.setattr(vault_module.Vault, "_recover", recover_then_the_person_deletes_the_note)
    failed = export()
    monkeypatch.undo()
    assert failed.state is RunState.FAILED
    (error,) = failed.errors
    assert error.endswith(f"{note} was deleted while the export was writing to it; run the export again to restore it.")
    assert not note.exists(), "not written back as zero bytes followed by the new messages"
    assert _last_id(vault, chat) == committed, "the state stays at the last commit"

    again = export()
    assert again.state is RunState.DONE, again.errors
    notes = _exported_whole(vault, emu.world, chat)
    held = notes[note.relative_to(chat_dir(vault, chat)).as_posix()]
    assert set(new) <= set(held) and len(held) > len(new), "its old messages are back, then the new ones"


def _failed_file_note(export, emu, vault: Path) -> tuple[Path, int]:
    """A first export whose first file fails every attempt: the note that says so, and the message's id."""
    for _ in range(3):  # MAX_FILE_ATTEMPTS
        emu.script("GetFileRequest", 1, error="FILE_ID_INVALID")
    assert export(media=True).state is RunState.DONE
    db = sqlite3.connect(vault / ".tobs" / "state.sqlite")
    try:
        ((msg_id,),) = db.execute("SELECT msg_id FROM media WHERE status = 'failed'").fetchall()
    finally:
        db.close()
    (note,) = [p for p in chat_dir(vault, export.chat).rglob("*.md") if f"^m{msg_id}\n" in p.read_text()]
    assert "failed" in note.read_text()
    return note, msg_id


def test_a_correction_keeps_a_private_notes_permissions(export, emu, tmp_path):
    note, _ = _failed_file_note(export, emu, tmp_path / "vault")
    note.chmod(0o600)
    assert export(media=True).state is RunState.DONE
    assert "failed" not in note.read_text(), "corrected"
    assert stat.S_IMODE(note.stat().st_mode) == 0o600, "not made readable by others"


def test_a_correction_leaves_a_read_only_note_as_it_is_until_it_is_writable(export, emu, tmp_path):
    note, _ = _failed_file_note(export, emu, tmp_path / "vault")
    before = note.read_bytes()
    note.chmod(0o400)
    run = export(media=True)
    assert run.state is RunState.DONE, run.errors
    assert note.read_bytes() == before and stat.S_IMODE(note.stat().st_mode) == 0o400
    rel = note.relative_to(tmp_path / "vault").as_posix()
    said = [e.message for e in run.events if e.kind is EventKind.VAULT and rel in e.message]
    assert said == [
        f"{rel} is read-only, so it still says that a file could not be downloaded, though it has been downloaded"
        " since; make it writable (chmod u+w) to have the next export correct it."
    ]
    note.chmod(0o600)
    assert export(media=True).state is RunState.DONE
    assert "failed" not in note.read_text(), "the next export corrects it"
    assert stat.S_IMODE(note.stat().st_mode) == 0o600


def test_text_typed_while_the_export_runs_survives_a_correction(export, emu, tmp_path, monkeypatch):
    note, _ = _failed_file_note(export, emu, tmp_path / "vault")
    typed = "\nMy note, typed while the export ran.\n"
    correct = finish.correct

    def typed_then_corrected(chat, retried):
        with open(note, "a", encoding="utf-8") as f:  # Obsidian open on the vault, at the end of the run
            f.write(typed)
        return correct(chat, retried)

    monkeypatch.setattr(finish, "correct", typed_then_corrected)
    assert export(media=True).state is RunState.DONE
    monkeypatch.undo()
    text = note.read_text()
    assert "failed" not in text and text.endswith(typed)
    emu.world.add_messages(export.chat, 2)
    again = export(media=True)
    assert again.state is RunState.DONE, again.errors
    assert typed in note.read_text(), "still there after the next run's recovery"
    _exported_whole(tmp_path / "vault", emu.world, export.chat)


def test_a_backfill_leaves_a_read_only_note_as_it_is_and_finishes_once_it_is_writable(export, emu, tmp_path):
    vault, chat = tmp_path / "vault", export.chat
    spec = emu.world.chats[chat]
    ids = list(spec.ids())
    since = datetime.datetime.fromtimestamp(spec.date_of_id(ids[len(ids) // 2]), datetime.UTC).date()
    assert export(since=since).state is RunState.DONE
    first = min(chat_dir(vault, chat).rglob("*/????-??.md"))
    before = first.read_bytes()
    first.chmod(0o400)
    stopped = export(backfill=True)
    assert stopped.state is RunState.FAILED
    rel = first.relative_to(vault).as_posix()
    assert stopped.errors == (
        f"{rel} is read-only, so the older messages the back-fill fetched for its month are kept aside, not in it;"
        " make it writable (chmod u+w) to have the next export put them in it.",
    )
    assert first.read_bytes() == before and stat.S_IMODE(first.stat().st_mode) == 0o400
    first.chmod(0o600)
    again = export()
    assert again.state is RunState.DONE, again.errors
    _exported_whole(vault, emu.world, chat)
    assert stat.S_IMODE(first.stat().st_mode) == 0o600


@pytest.mark.parametrize("edit", ["a property", "words on the link line"])
def test_a_note_emptied_of_its_messages_keeps_what_the_person_wrote_in_its_header(export, emu, tmp_path, edit):
    vault, chat = tmp_path / "vault", export.chat
    assert export().state is RunState.DONE
    note = min(chat_dir(vault, chat).rglob("*/????-??.md"))
    data = note.read_text(encoding="utf-8")
    head = data[: data.index("\n\n", data.index("[[")) + 2]
    if edit == "a property":
        mine = head.replace("\n---\n", "\ntags: [keep-me]\naliases: [My archive]\n---\n", 1)
    else:
        mine = head[:-2] + " — nothing worth keeping, see [[My summary]]\n\n"
    assert mine != head
    note.write_text(mine, encoding="utf-8")
    run = export()
    assert run.state is RunState.DONE, run.errors
    assert note.read_text(encoding="utf-8").startswith(mine), "their words stay, the messages come after them"
    _exported_whole(vault, emu.world, chat)


def test_a_note_emptied_to_the_engines_own_header_is_written_as_before(export, emu, tmp_path):
    vault, chat = tmp_path / "vault", export.chat
    assert export().state is RunState.DONE
    note = min(chat_dir(vault, chat).rglob("*/????-??.md"))
    whole = note.read_bytes()
    note.write_bytes(whole[: whole.index(b"\n\n", whole.index(b"[[")) + 2])
    assert export().state is RunState.DONE
    assert note.read_bytes() == whole

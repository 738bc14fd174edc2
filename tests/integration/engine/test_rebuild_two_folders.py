"""The state rebuilt (`.tobs` lost) with two folders carrying one chat's id: the engine's folder is the chat's, the
other (a person renamed the engine's folder, then the engine made its own again) is theirs and never written into."""

from __future__ import annotations

import shutil
import sqlite3

from tests.support.runners import export_chats
from tobs_tui.engine import chat_dir_name
from tobs_tui.engine.snapshot import RunState
from tobs_tui.engine.vault.rebuild import rebuild_state
from tobs_tui.engine.vault.store import StateStore


def files_in(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_renamed_copy_of_the_chats_folder_is_left_as_the_persons_when_the_state_is_rebuilt(
    make_runner, emulator, tmp_path
):
    world = emulator.world
    channel = next(c for c in world.chat_ids() if world.chats[c].kind == "channel")
    vault = tmp_path / "vault"
    assert export_chats(make_runner(), [channel]).state is RunState.DONE
    own = vault / chat_dir_name(world.chats[channel].title, channel)
    theirs = own.with_name(f"Zz old {own.name}")  # after the engine's folder in the vault's order
    own.rename(theirs)
    world.add_messages(channel, 3)
    assert export_chats(make_runner(), [channel]).state is RunState.DONE
    assert own.is_dir(), "the engine makes its folder again"
    before = files_in(theirs)

    shutil.rmtree(vault / ".tobs")  # synced without dot-folders
    world.add_messages(channel, 3)
    assert export_chats(make_runner(), [channel]).state is RunState.DONE
    assert files_in(theirs) == before, "nothing written into the person's folder"
    with sqlite3.connect(vault / ".tobs" / "state.sqlite") as db:
        chats = db.execute("SELECT dir_name, last_id FROM chats WHERE chat_id = ?", (channel,)).fetchall()
        notes = {row[0] for row in db.execute("SELECT note FROM messages WHERE chat_id = ?", (channel,))}
    assert chats == [(own.name, max(world.chats[channel].ids()))], chats
    assert not any(n.startswith(theirs.name) for n in notes), notes


NOTE = "---\nchat_id: 5\nchat: {title}\nmonth: \"2025-01\"\n---\n\n{blocks}"


def write_chat(folder, title, ids, *, index=True):
    note = folder / "2025" / "2025-01.md"
    note.parent.mkdir(parents=True)
    blocks = "".join(f"**Ann** · 2025-01-02 10:00\nhello ^m{i}\n\n" for i in ids)
    note.write_text(NOTE.format(title=title, blocks=blocks), encoding="utf-8")
    if index:
        (folder / f"{folder.name}.md").write_text(f'---\nid: 5\ntitle: "{title}"\n---\n', encoding="utf-8")


def rebuilt_folder(tmp_path):
    store = StateStore(tmp_path / "state.sqlite")
    try:
        rebuilt = rebuild_state(tmp_path / "vault", store, lambda rel, fill: None)
        assert [c.dir_name for c in store.all_chats()] == [c.dir_name for c in rebuilt]
        return [c.dir_name for c in rebuilt]
    finally:
        store.close()


def test_the_engines_folder_is_told_by_its_name_then_its_index_note_then_its_newest_message(tmp_path):
    vault = tmp_path / "vault"
    # Named as the engine names the chat (its notes' title), though the other holds newer messages.
    write_chat(vault / "Chat (5)", "Chat", [1, 2], index=False)
    write_chat(vault / "Zz mine (5)", "Chat", [1, 2, 3])
    assert rebuilt_folder(tmp_path) == ["Chat (5)"]
    # Neither is (the title changed since): the one holding the chat's index note.
    shutil.rmtree(vault)
    (tmp_path / "state.sqlite").unlink()
    write_chat(vault / "A (5)", "Chat", [1, 2], index=False)
    write_chat(vault / "B (5)", "Chat", [1])
    assert rebuilt_folder(tmp_path) == ["B (5)"]
    # Nor that: the one holding the newest message.
    shutil.rmtree(vault)
    (tmp_path / "state.sqlite").unlink()
    write_chat(vault / "A (5)", "Chat", [1, 2, 3], index=False)
    write_chat(vault / "B (5)", "Chat", [1], index=False)
    assert rebuilt_folder(tmp_path) == ["A (5)"]

"""A chat's result.json that is not the one the engine last wrote (a person's file put in its place after an
export, a pipe) is kept beside the new one with a sentence on every run, never written over, as the vault root's
is; a vault whose state predates that record takes its own files for the engine's."""

from __future__ import annotations

import datetime
import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from tests.support.runners import export_chats
from tests.support.vaults import chat_dir
from tobs_tui.engine.runtime.threads import mark_pool_thread
from tobs_tui.engine.snapshot import EventKind, RunState
from tobs_tui.engine.vault.vault import Vault, VaultWriteError

ASIDE = "result (not written by tobs-tui).json"
THEIRS = b'{"mine": "a Telegram Desktop export I put here"}\n'


def chat_of(world, title: str) -> int:
    return next(c for c in world.chat_ids() if world.chats[c].title == title)


def export(make_runner, chat: int, **selection) -> tuple[RunState, tuple[str, ...], list[str]]:
    """One export of `chat`: its end state, errors and what the vault events said of a result.json."""
    events: list = []
    final = export_chats(make_runner(on_event=events.append), [chat], **selection)
    said = [e.message for e in events if e.kind is EventKind.VAULT and "did not write" in e.message]
    return final.state, tuple(final.errors), said


def kept(folder: Path, whose: str = "the chat's") -> str:
    return (
        f'A result.json this export did not write was in {folder}; it was kept as "{ASIDE}" and {whose} own'
        " result.json written in its place."
    )


def result_ids(folder: Path) -> list[int]:
    return [m["id"] for m in json.loads((folder / "result.json").read_text(encoding="utf-8"))["messages"]]


@pytest.mark.parametrize("then", ["re-run", "back-fill"])
def test_a_file_put_in_place_of_a_chats_result_json_after_its_export_is_kept(make_runner, emulator, tmp_path, then):
    world = emulator.world
    chat = chat_of(world, "Quiet channel")
    spec = world.chats[chat]
    ids = list(spec.ids())
    vault = tmp_path / "vault"
    since = datetime.datetime.fromtimestamp(spec.date_of_id(ids[len(ids) // 2]), datetime.UTC).date()
    state, errors, said = export(make_runner, chat, **({"since": since} if then == "back-fill" else {}))
    assert (state, errors, said) == (RunState.DONE, (), [])
    folder = chat_dir(vault, chat)
    ours = (folder / "result.json").read_bytes()
    if then == "re-run":
        # Headed as the engine heads the chat (a copy of its file with the last message cut, say): only the
        # record of the file the engine wrote tells it apart.
        theirs = ours[: ours.rindex(b",\n  {")] + b"\n ]\n}\n"
        world.add_messages(chat, 3)
        selection: dict = {}
    else:
        theirs = THEIRS
        selection = {"backfill": True}
    (folder / "result.json").unlink()  # as an editor saving a new file does
    (folder / "result.json").write_bytes(theirs)

    state, errors, said = export(make_runner, chat, **selection)
    assert (state, errors) == (RunState.DONE, ())
    assert (folder / ASIDE).read_bytes() == theirs
    assert said == [kept(folder)]
    assert result_ids(folder) == list(world.chats[chat].ids())

    # The engine's own file is written over on the next run, as ever: nothing more is set aside.
    world.add_messages(chat, 2)
    state, errors, said = export(make_runner, chat)
    assert (state, errors, said) == (RunState.DONE, (), [])
    assert sorted(p.name for p in folder.glob("result*")) == [ASIDE, "result.json"]
    assert (folder / ASIDE).read_bytes() == theirs
    assert result_ids(folder) == list(world.chats[chat].ids())


def test_a_pipe_at_a_chats_or_the_vaults_result_json_is_kept_and_never_opened(make_runner, emulator, tmp_path):
    """A pipe is moved aside by its name, not opened (which would wait for a writer) nor replaced by a file."""
    world = emulator.world
    chat = chat_of(world, "Quiet channel")
    vault = tmp_path / "vault"
    assert export(make_runner, chat)[0] is RunState.DONE
    folder = chat_dir(vault, chat)
    for where in (folder, vault):
        (where / "result.json").unlink()
        os.mkfifo(where / "result.json")

    state, errors, said = export(make_runner, chat)
    assert (state, errors) == (RunState.DONE, ())
    assert sorted(said) == sorted([kept(folder), kept(vault, "the vault's")])
    for where in (folder, vault):
        assert stat.S_ISFIFO(os.lstat(where / ASIDE).st_mode)
        assert stat.S_ISREG(os.lstat(where / "result.json").st_mode)
    assert result_ids(folder) == list(world.chats[chat].ids())


def test_a_result_json_that_could_not_be_written_leaves_no_false_alarm(make_runner, emulator, tmp_path):
    """A folder in the way fails the write with a sentence; once it is gone the next run writes the chat's file
    without taking anything there for a stranger's."""
    world = emulator.world
    chat = chat_of(world, "Quiet channel")
    vault = tmp_path / "vault"
    assert export(make_runner, chat)[0] is RunState.DONE
    folder = chat_dir(vault, chat)
    (folder / "result.json").unlink()
    (folder / "result.json").mkdir()
    world.add_messages(chat, 2)
    state, errors, said = export(make_runner, chat)
    assert state is RunState.FAILED and said == []
    assert "a folder is in the way at" in " ".join(errors)
    (folder / "result.json").rmdir()
    state, errors, said = export(make_runner, chat)
    assert (state, errors, said) == (RunState.DONE, (), [])
    assert not (folder / ASIDE).exists()
    assert result_ids(folder) == list(world.chats[chat].ids())


def test_a_chats_result_json_from_before_the_record_is_taken_for_the_engines(make_runner, emulator, tmp_path):
    """A state made before the engine kept the size and end of each chat's result.json: the file there, which
    the engine wrote, is written over without a word, and recorded from then on."""
    world = emulator.world
    chat = chat_of(world, "Quiet channel")
    vault = tmp_path / "vault"
    assert export(make_runner, chat)[0] is RunState.DONE
    db = sqlite3.connect(vault / ".tobs" / "state.sqlite")
    with db:
        db.executescript(
            "CREATE TABLE old AS SELECT chat_id, layout FROM result_json; DROP TABLE result_json;"
            " CREATE TABLE result_json (chat_id INTEGER PRIMARY KEY, layout INTEGER NOT NULL);"
            " INSERT INTO result_json SELECT * FROM old; DROP TABLE old;"
        )
    db.close()
    world.add_messages(chat, 3)

    state, errors, said = export(make_runner, chat)
    assert (state, errors, said) == (RunState.DONE, (), [])
    folder = chat_dir(vault, chat)
    assert not (folder / ASIDE).exists()
    assert result_ids(folder) == list(world.chats[chat].ids())
    db = sqlite3.connect(vault / ".tobs" / "state.sqlite")
    try:
        (length,) = db.execute("SELECT length FROM result_json WHERE chat_id = ?", (chat,)).fetchone()
    finally:
        db.close()
    assert length == (folder / "result.json").stat().st_size


def test_a_file_not_the_engines_with_no_free_name_beside_it_is_not_written_over(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from tobs_tui.engine.pipeline.finish import keep_chat_result_json

    folder = tmp_path / "Seven (7)"
    folder.mkdir()
    (folder / "result.json").write_bytes(THEIRS)
    for n in range(1, 1000):
        (folder / (ASIDE if n == 1 else f"result (not written by tobs-tui) ({n}).json")).touch()
    with Vault(tmp_path) as v, ThreadPoolExecutor(1, initializer=mark_pool_thread) as pool:
        v.store.upsert_chat(7, title="Seven", kind="supergroup", username=None, dir_name="Seven (7)")
        v.store.set_result_json_layout(7, 2, (5, b"12345"))
        with pytest.raises(VaultWriteError, match="Something else is in the way"):
            pool.submit(keep_chat_result_json, v, 7, "Seven (7)").result()
    assert (folder / "result.json").read_bytes() == THEIRS

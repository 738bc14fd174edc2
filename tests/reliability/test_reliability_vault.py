"""The vault belongs to its user: text they add to a note is kept across runs and crashes, files they delete or
damage are noticed and repaired, a planted link or hard link is never written through, and a missing or broken
state DB never costs a note. Real exports (runner or `tobs-tui export`) against the emulator on real files."""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import sqlite3
import tomllib
from pathlib import Path

import pytest

from tests.reliability.crash_harness import WORLD_TOML
from tests.support.settings import WAIT
from tests.support.vaults import chat_dir, month_of, notes_of
from tobs_tui.cli import main
from tobs_tui.engine import ChatSelection, ExportRequest
from tobs_tui.engine.render.notes import INDEX_BEGIN, INDEX_END
from tobs_tui.engine.snapshot import ChatState, EventKind, RunState


def export(runner, chat_ids, **sel):
    try:
        assert runner.connect().result(WAIT) is True
        runner.list_dialogs().result(WAIT)
        request = ExportRequest(chats=tuple(ChatSelection(c, **sel) for c in chat_ids))
        return runner.start_export(request).result(WAIT)
    finally:
        runner.stop()


def chat_of(world, title: str) -> int:
    return next(c for c in world.chat_ids() if world.chats[c].title == title)


def last_note(vault: Path, chat_id: int) -> Path:
    folder = chat_dir(vault, chat_id)
    return max(p for p in folder.rglob("*.md") if p.parent != folder)


def test_text_appended_to_a_note_survives_runs_of_any_chat_and_new_messages_follow_it(make_runner, emulator, tmp_path):
    world = emulator.world
    channel, group = chat_of(world, "Crash Channel"), chat_of(world, "Crash Group")
    vault = tmp_path / "vault"
    assert export(make_runner(), [channel]).state is RunState.DONE
    note = last_note(vault, channel)
    typed = "\nMy own note: ask Bob about this.\n"
    with open(note, "a", encoding="utf-8") as f:
        f.write(typed)
    kept = note.read_text(encoding="utf-8")

    events = []
    assert export(make_runner(on_event=events.append), [group]).state is RunState.DONE
    assert note.read_text(encoding="utf-8") == kept, "a run of another chat cut the user's text"
    assert any(e.kind is EventKind.VAULT and "Kept your edits to 1 note" in e.message for e in events), events

    world.add_messages(channel, 3)
    assert export(make_runner(), [channel]).state is RunState.DONE
    text = note.read_text(encoding="utf-8")
    assert text.startswith(kept), "the user's text stays where they put it"
    ids = [i for ids in notes_of(chat_dir(vault, channel)).values() for i in ids]
    assert ids == list(world.chats[channel].ids()), "every message once, in id order"
    assert text[len(kept) :].startswith("\n**"), "the next message starts a paragraph of its own"


def test_headless_export_says_which_edits_it_kept(tmp_path, capsys):
    world = tmp_path / "world.toml"
    world.write_text(WORLD_TOML, encoding="utf-8")
    vault = tmp_path / "vault"
    argv = ["export", "--emulator", "--world", str(world), "--chat", "Crash Channel", "--out", str(vault)]
    argv += ["--no-media"]
    assert main(argv) == 0
    capsys.readouterr()
    folder = next(p for p in vault.iterdir() if p.name.startswith("Crash Channel ("))
    note = last_note(vault, int(folder.name.rsplit("(", 1)[1].rstrip(")")))
    with open(note, "a", encoding="utf-8") as f:
        f.write("my words")
    assert main([*argv, "--json-progress"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["summary"]
    rel = note.relative_to(vault).as_posix()
    assert summary["vault"] == [f"Kept your edits to 1 note ({rel}); new messages go after them."]
    assert note.read_text(encoding="utf-8").endswith("my words")


# ---------------------------------------------------------------- planted links (item 5)


def headless_argv(tmp_path: Path, vault: Path, *extra: str) -> list[str]:
    world = tmp_path / "world.toml"
    if not world.exists():
        world.write_text(WORLD_TOML, encoding="utf-8")
    return ["export", "--emulator", "--world", str(world), "--chat", "Crash Channel", "--out", str(vault), *extra]


@pytest.mark.parametrize("name", ["state.sqlite", "state.sqlite-wal", "state.sqlite-journal", "lock"])
def test_a_state_file_that_is_a_symlink_is_refused_before_anything_is_written(tmp_path, capsys, name):
    vault, outside = tmp_path / "vault", tmp_path / "outside"
    outside.mkdir()
    (vault / ".tobs").mkdir(parents=True)
    (vault / ".tobs" / name).symlink_to(outside / name)
    assert main(headless_argv(tmp_path, vault, "--no-media")) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        f"{vault / '.tobs' / name} is a symlink inside the export dir; refusing to write through it, so remove"
        " the link and run the export again."
    )
    assert list(outside.iterdir()) == [], "nothing was written outside the vault"


def test_a_hard_linked_lock_is_refused_and_the_other_file_keeps_its_bytes(tmp_path, capsys):
    vault, outside = tmp_path / "vault", tmp_path / "precious.txt"
    outside.write_text("my precious data\n")
    (vault / ".tobs").mkdir(parents=True)
    os.link(outside, vault / ".tobs" / "lock")
    assert main(headless_argv(tmp_path, vault, "--no-media")) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        f"{vault / '.tobs' / 'lock'} shares its bytes with 1 other hard link, so writing to it would change a file"
        " elsewhere too; refusing to, so replace it with a copy of its own and run the export again."
    )
    assert outside.read_text() == "my precious data\n"


@pytest.mark.parametrize("which", ["note", "jsonl", "state"])
def test_a_hard_linked_vault_file_is_never_written_through(tmp_path, capsys, which):
    vault = tmp_path / "vault"
    argv = headless_argv(tmp_path, vault, "--no-media")
    assert main(argv) == 0
    capsys.readouterr()
    if which == "note":
        inside = last_note(vault, next(int(p.name.rsplit("(", 1)[1][:-1]) for p in vault.glob("Crash Channel (*")))
        # Untouched bytes past the end: what a torn write leaves, which recovery would truncate.
        with open(inside, "a", encoding="utf-8") as f:
            f.write("**Bob** · 2024")
    elif which == "jsonl":
        inside = next((vault / ".tobs" / "json").iterdir())
        with open(inside, "a", encoding="utf-8") as f:
            f.write('{"id":99999,')
    else:
        inside = vault / ".tobs" / "state.sqlite"
    outside = tmp_path / "outside-copy"
    os.link(inside, outside)
    before = outside.read_bytes()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{inside} shares its bytes with 1 other hard link"), err
    assert outside.read_bytes() == before


@pytest.mark.parametrize("link", ["hard link", "symlink"])
def test_an_old_note_reached_through_a_link_is_left_as_it_is_and_the_chat_goes_on(
    make_runner, emulator, tmp_path, link
):
    """A link where an earlier month's note is (a backup made with hard links, a note moved and linked back):
    nothing needs writing there, so it is left alone and new messages are exported; nothing is written
    through the link."""
    world = emulator.world
    channel = chat_of(world, "Crash Channel")
    vault = tmp_path / "vault"
    assert export(make_runner(), [channel]).state is RunState.DONE
    folder = chat_dir(vault, channel)
    first = min(p for p in folder.rglob("*.md") if p.parent.name.isdigit())
    outside = tmp_path / "outside.md"
    if link == "hard link":
        os.link(first, outside)
    else:
        first.rename(outside)
        first.symlink_to(outside)
    before = outside.read_bytes()
    world.add_messages(channel, 5)
    final = export(make_runner(), [channel])
    assert final.state is RunState.DONE, final.errors
    assert outside.read_bytes() == before
    assert first.is_symlink() == (link == "symlink")
    assert result_ids(folder) == list(world.chats[channel].ids())


def test_a_link_where_one_chat_writes_stops_that_chat_only(make_runner, emulator, tmp_path):
    """The note a chat appends to next is a link: that chat fails with the sentence, nothing is written through
    the link, and the other chats of the run get their new messages."""
    world = emulator.world
    channel, group = chat_of(world, "Crash Channel"), chat_of(world, "Crash Supergroup")
    vault = tmp_path / "vault"
    assert export(make_runner(), [channel, group]).state is RunState.DONE
    note = last_note(vault, channel)
    outside = tmp_path / "outside.md"
    note.rename(outside)
    note.symlink_to(outside)
    before = outside.read_bytes()
    for chat in (channel, group):
        world.add_messages(chat, 5)
    final = export(make_runner(), [group, channel])
    assert outside.read_bytes() == before and note.is_symlink()
    states = {c.chat_id: c.state for c in final.chats}
    assert states == {channel: ChatState.FAILED, group: ChatState.DONE}, final.errors
    assert any("is a symlink inside the export dir; refusing to write through it" in e for e in final.errors)
    assert result_ids(chat_dir(vault, group)) == list(world.chats[group].ids())


# ---------------------------------------------------------------- a lost or damaged state DB (items 2 and 4)


def result_ids(folder: Path) -> list[int]:
    return [m["id"] for m in json.loads((folder / "result.json").read_text(encoding="utf-8"))["messages"]]


@pytest.mark.parametrize("loss", ["no .tobs folder", "empty state.sqlite", "no state.sqlite"])
def test_a_lost_state_is_rebuilt_from_the_vault_and_no_note_is_written_over(make_runner, emulator, tmp_path, loss):
    world = emulator.world
    chats = [chat_of(world, "Crash Channel"), chat_of(world, "Crash Forum")]
    vault = tmp_path / "vault"
    assert export(make_runner(), chats).state is RunState.DONE
    before = {p: p.read_bytes() for p in vault.rglob("*.md") if ".tobs" not in p.parts}
    if loss == "no .tobs folder":
        shutil.rmtree(vault / ".tobs")
    else:
        for f in (vault / ".tobs").glob("state.sqlite*"):
            f.unlink()
        if loss == "empty state.sqlite":
            (vault / ".tobs" / "state.sqlite").write_bytes(b"")
    for chat in chats:
        world.add_messages(chat, 4)
    events = []
    final = export(make_runner(on_event=events.append), chats, since=datetime.date(2100, 1, 1))
    assert final.state is RunState.DONE, final.errors
    for note, data in before.items():
        if note.parent.name.isdigit():  # month notes (an index note's own part is rewritten, by design)
            assert note.read_bytes().startswith(data), f"{note} was written over"
    for chat in chats:
        ids = [i for ids in notes_of(chat_dir(vault, chat)).values() for i in ids]
        assert sorted(ids) == list(world.chats[chat].ids()), "every message exactly once"
        assert result_ids(chat_dir(vault, chat)) == list(world.chats[chat].ids()), "result.json keeps them all"
    notices = [e.message for e in events if e.kind is EventKind.VAULT]
    assert any(n.startswith("Rebuilt the export state from the notes of 2 chats") for n in notices), notices


@pytest.mark.parametrize(
    ("title", "media"),
    [("Crash Channel", False), ("Crash Channel", True), ("Crash Group", False), ("Crash Forum", False)],
)
def test_month_notes_deleted_along_with_the_state_come_back(make_runner, emulator, tmp_path, title, media):
    """A sync that drops dot-folders, and month notes and media files deleted too: the JSONL (from result.json)
    still knows their messages and files, so they are fetched again; what is left is not touched."""
    world = emulator.world
    channel = chat_of(world, title)
    vault = tmp_path / "vault"
    assert export(make_runner(media=media), [channel]).state is RunState.DONE
    notes = sorted(p for p in chat_dir(vault, channel).rglob("*.md") if p.parent.name.isdigit())
    assert len(notes) >= 2
    gone = [notes[0]] + ([notes[len(notes) // 2]] if len(notes) >= 3 else [])
    before = {p: p.read_bytes() for p in notes}
    media_before = {p: p.read_bytes() for p in (chat_dir(vault, channel) / "media").rglob("*") if p.is_file()}
    shutil.rmtree(vault / ".tobs")
    for note in gone:
        note.unlink()
    for file in sorted(p for p in media_before if not p.name.endswith(".thumb.jpg"))[:3]:
        file.unlink()  # with the state gone, nothing but the notes and result.json says they were there
    events = []
    final = export(make_runner(media=media, on_event=events.append), [channel])
    assert final.state is RunState.DONE, final.errors
    for note, data in before.items():
        assert note.read_bytes() == data, f"{note} differs after the repair"
    assert {p: p.read_bytes() for p in (chat_dir(vault, channel) / "media").rglob("*") if p.is_file()} == media_before
    assert result_ids(chat_dir(vault, channel)) == list(world.chats[channel].ids())
    notices = [e.message for e in events if e.kind is EventKind.VAULT]
    assert any(n.startswith(f'Repaired "{title}"') for n in notices), notices


def test_a_block_pasted_into_another_months_note_is_not_taken_for_the_export_once_the_state_is_lost(
    make_runner, emulator, tmp_path
):
    """A person copied a message block into an earlier month's note; then the state and the message's own note
    were lost. The copy is theirs (its date is not that note's month): the lost note comes back whole, the
    message in it included, and the copy stays where they put it."""
    world = emulator.world
    channel = chat_of(world, "Crash Channel")
    vault = tmp_path / "vault"
    assert export(make_runner(), [channel]).state is RunState.DONE
    notes = sorted(p for p in chat_dir(vault, channel).rglob("*.md") if p.parent.name.isdigit())
    first, last = notes[0], notes[-1]
    lost = last.read_bytes()
    copy = b"**" + lost.rsplit(b"\n\n**", 1)[1]
    assert b" ^m" in copy
    with open(first, "ab") as f:
        f.write(b"\nA message I keep here:\n\n" + copy)
    kept = first.read_bytes()
    shutil.rmtree(vault / ".tobs")
    last.unlink()
    final = export(make_runner(), [channel])
    assert final.state is RunState.DONE, final.errors
    assert last.read_bytes() == lost, "the lost note came back whole"
    assert first.read_bytes() == kept
    assert result_ids(chat_dir(vault, channel)) == list(world.chats[channel].ids())


@pytest.mark.parametrize("into", ["Crash Channel", "private"])
def test_a_block_copied_from_another_chat_does_not_hold_back_the_chats_new_messages(
    make_runner, emulator, tmp_path, into
):
    """A block of another chat pasted into a note of this chat's, in its month, then the state lost: its id is
    above this chat's newest. It is asked of Telegram before the export goes on, found not to be this chat's,
    and the chat's new messages below that id are exported; the pasted text stays."""
    world = emulator.world
    private = next(c for c in world.chats.values() if c.kind == "private").peer_id
    chat = private if into == "private" else chat_of(world, into)
    group = chat_of(world, "Crash Group")
    vault = tmp_path / "vault"
    assert export(make_runner(), [chat, group]).state is RunState.DONE
    # Another chat's message: a channel has ids of its own (one it does not have); private chats and basic groups
    # share the account's id space, where the group's newest message is above the private chat's.
    foreign = 987654 if into != "private" else world.chats[group].top_id
    assert foreign > world.chats[chat].top_id
    note = last_note(vault, chat)
    block = b"**" + note.read_bytes().rsplit(b"\n\n**", 1)[1]
    copy = block[: block.rindex(b" ^m")] + b" ^m" + str(foreign).encode() + b"\n\n"
    with open(note, "ab") as f:
        f.write(copy)
    kept = note.read_bytes()
    shutil.rmtree(vault / ".tobs")
    world.add_messages(chat, 5)
    events: list = []
    final = export(make_runner(on_event=events.append), [chat])
    assert final.state is RunState.DONE, final.errors
    assert note.read_bytes().startswith(kept)
    ids = [i for ids in notes_of(chat_dir(vault, chat)).values() for i in ids]
    assert sorted(i for i in ids if i != foreign) == list(world.chats[chat].ids()), "the new ones, each once"
    said = [e.message for e in events if e.kind is EventKind.VAULT and "not this chat's on Telegram" in e.message]
    assert len(said) == 1 and f"^m{foreign}" in said[0], [e.message for e in events]
    events.clear()
    assert export(make_runner(on_event=events.append), [chat]).state is RunState.DONE
    assert not [e for e in events if "not this chat's" in e.message], "checked once"


@pytest.mark.parametrize("title", ["Crash Channel", "Crash Group"])
def test_a_month_note_lost_with_the_state_and_every_result_json_comes_back_from_its_month(
    make_runner, emulator, tmp_path, title
):
    """The state, both result.json files and a month note gone: no JSON line is left of that month's messages,
    but the index note still lists the month. Its messages are found again on Telegram by their dates, and the
    note comes back byte for byte; result.json holds every message again."""
    world = emulator.world
    chat = chat_of(world, title)
    vault = tmp_path / "vault"
    assert export(make_runner(), [chat]).state is RunState.DONE
    folder = chat_dir(vault, chat)
    notes = sorted(p for p in folder.rglob("*.md") if p.parent.name.isdigit())
    assert len(notes) >= 2
    lost = notes[len(notes) // 2] if len(notes) >= 3 else notes[0]
    before = {p: p.read_bytes() for p in notes}
    shutil.rmtree(vault / ".tobs")
    (vault / "result.json").unlink()
    (folder / "result.json").unlink()
    lost.unlink()
    world.add_messages(chat, 3)
    final = export(make_runner(), [chat])
    assert final.state is RunState.DONE, final.errors
    for note, data in before.items():
        assert note.read_bytes().startswith(data) if note == notes[-1] else note.read_bytes() == data, note
    ids = [i for ids in notes_of(folder).values() for i in ids]
    assert sorted(ids) == list(world.chats[chat].ids()), "every message once"
    assert result_ids(folder) == list(world.chats[chat].ids())
    index = (folder / f"{folder.name}.md").read_text(encoding="utf-8")
    assert f"messages: {len(ids)}" in index and lost.stem in index


def test_a_first_month_lost_with_the_state_comes_back_from_where_since_started_it(make_runner, emulator, tmp_path):
    """A first export from --since in the middle of a month, then the state, both result.json files and that
    month's note lost: the note comes back as it was, from --since's day, not from the month's first."""
    world = emulator.world
    chat = chat_of(world, "Crash Channel")
    spec = world.chats[chat]
    day = lambda i: datetime.datetime.fromtimestamp(spec.date_of_id(i), datetime.UTC).date()  # noqa: E731
    ids = list(spec.ids())
    month = day(ids[len(ids) // 2]).replace(day=1)  # the first export's first month: it starts mid-month
    in_month = [i for i in ids if day(i).replace(day=1) == month]
    since = day(in_month[len(in_month) // 2])
    assert day(in_month[0]) < since
    vault = tmp_path / "vault"
    assert export(make_runner(), [chat], since=since).state is RunState.DONE
    folder = chat_dir(vault, chat)
    notes = sorted(p for p in folder.rglob("*.md") if p.parent.name.isdigit())
    before = notes[0].read_bytes()
    assert f"^m{in_month[0]} ".encode() not in before, "the export started at --since"
    shutil.rmtree(vault / ".tobs")
    (vault / "result.json").unlink()
    (folder / "result.json").unlink()
    notes[0].unlink()
    assert export(make_runner(), [chat]).state is RunState.DONE
    assert notes[0].read_bytes() == before
    assert result_ids(folder) == [i for i in ids if day(i) >= since]


def test_a_jsonl_rebuilt_from_result_json_keeps_its_media_paths_vault_relative(make_runner, emulator, tmp_path):
    """result.json names files from its chat's folder, the JSONL from the vault root: a state rebuilt from a
    result.json (the .tobs folder gone, JSONL with it) gets its lines back byte for byte, media paths included."""
    world = emulator.world
    chats = [chat_of(world, "Crash Channel"), chat_of(world, "Crash Forum")]
    vault = tmp_path / "vault"
    assert export(make_runner(media=True), chats).state is RunState.DONE
    jsonl = {p.name: p.read_bytes() for p in (vault / ".tobs" / "json").glob("*.jsonl")}
    results = {c: (chat_dir(vault, c) / "result.json").read_bytes() for c in chats}
    assert len(jsonl) == len(chats) and all(b'"photo":"' in data or b'"file":"' in data for data in jsonl.values())
    shutil.rmtree(vault / ".tobs")
    final = export(make_runner(media=True), chats)
    assert final.state is RunState.DONE, final.errors
    assert {p.name: p.read_bytes() for p in (vault / ".tobs" / "json").glob("*.jsonl")} == jsonl
    assert {c: (chat_dir(vault, c) / "result.json").read_bytes() for c in chats} == results


def test_a_damaged_state_db_is_moved_aside_with_a_sentence_and_rebuilt(tmp_path, capsys):
    vault = tmp_path / "vault"
    argv = headless_argv(tmp_path, vault, "--no-media")
    assert main(argv) == 0
    capsys.readouterr()
    folder = next(vault.glob("Crash Channel (*"))
    notes = {p: p.read_bytes() for p in folder.rglob("*.md") if p.parent.name.isdigit()}
    db = vault / ".tobs" / "state.sqlite"
    with open(db, "r+b") as f:
        f.seek(0)
        f.write(b"this is not a database" * 50)
    assert main([*argv, "--json-progress"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    summary = json.loads(out.strip().splitlines()[-1])["summary"]
    aside = next(p.name for p in db.parent.iterdir() if p.name.startswith("state.sqlite.damaged-"))
    assert summary["vault"][0] == (
        f"The export state {db} was damaged (file is not a database); it was moved to {aside} and rebuilt from"
        " the notes, so nothing in the vault was lost."
    )
    assert summary["vault"][1].startswith("Rebuilt the export state from the notes of 1 chat")
    assert {p: p.read_bytes() for p in notes} == notes
    assert len(result_ids(folder)) == 200


# ---------------------------------------------------------------- files deleted or cut short by hand (item 3)


def snapshot_of(vault: Path) -> dict[str, bytes]:
    return {
        p.relative_to(vault).as_posix(): p.read_bytes()
        for p in vault.rglob("*")
        if p.is_file() and ".tobs" not in p.parts and p.parent.name != p.name and not p.name.endswith(").md")
    }


@pytest.mark.parametrize("damage", ["note deleted", "note cut short", "jsonl deleted", "jsonl cut short", "media"])
def test_a_file_deleted_or_cut_short_by_hand_is_restored_and_the_run_says_so(make_runner, emulator, tmp_path, damage):
    world = emulator.world
    chats = [chat_of(world, "Crash Supergroup"), chat_of(world, "Crash Forum")]
    vault = tmp_path / "vault"
    assert export(make_runner(media=True), chats).state is RunState.DONE
    before = snapshot_of(vault)
    folder = chat_dir(vault, chats[0])
    notes = sorted(p for p in vault.rglob("*.md") if p.parent.name.isdigit())
    jsonl = vault / ".tobs" / "json" / f"{chats[0]}.jsonl"
    media = sorted(p for p in (folder / "media").rglob("*") if p.is_file())
    if damage == "note deleted":
        notes[0].unlink()
        notes[-1].unlink()
    elif damage == "note cut short":
        for note in (notes[0], notes[len(notes) // 2]):
            note.write_bytes(note.read_bytes()[: note.stat().st_size // 3])
    elif damage == "jsonl deleted":
        jsonl.unlink()
    elif damage == "jsonl cut short":
        jsonl.write_bytes(jsonl.read_bytes()[:12345])
    else:
        media[0].unlink()
        media[5].write_bytes(media[5].read_bytes()[:100])
    for chat in chats:
        world.add_messages(chat, 5)
    events: list = []
    assert export(make_runner(media=True, on_event=events.append), chats).state is RunState.DONE
    notices = [e.message for e in events if e.kind is EventKind.VAULT]
    after = snapshot_of(vault)
    for rel, data in before.items():
        if rel.endswith("result.json"):
            continue
        got = after.get(rel)
        assert got is not None and got.startswith(data), f"{rel} was not restored ({damage})"
    for chat in chats:
        ids = [i for ids in notes_of(chat_dir(vault, chat)).values() for i in ids]
        assert sorted(ids) == list(world.chats[chat].ids())
        assert result_ids(chat_dir(vault, chat)) == list(world.chats[chat].ids())
    assert any("by hand" in n for n in notices), notices
    assert any(n.startswith("Repaired ") for n in notices), notices


def test_a_media_file_changed_by_hand_is_kept_beside_the_one_downloaded_again(make_runner, emulator, tmp_path):
    """A downloaded file replaced or edited by hand is the person's: the download that puts the engine's file back
    at its path (the notes link it) keeps theirs under "(changed by hand)" and says so. A file cut short is the
    engine's own and is just completed."""
    from tobs_tui.engine.vault.check import mark_media_lost

    world = emulator.world
    chat = chat_of(world, "Crash Channel")
    vault = tmp_path / "vault"
    assert export(make_runner(media=True), [chat]).state is RunState.DONE
    media = sorted(p for p in (chat_dir(vault, chat) / "media").rglob("*") if p.is_file())
    replaced, edited, cut = media[0], media[3], media[5]
    originals = {p: p.read_bytes() for p in (replaced, edited, cut)}
    replaced.write_bytes(b"MINE")
    edited.write_bytes(b"X" * 10 + originals[edited][10:])  # same size: `verify` tells it by its SHA-256
    cut.write_bytes(originals[cut][:100])
    mark_media_lost(vault, [str(edited.relative_to(vault))])
    events: list = []
    assert export(make_runner(media=True, on_event=events.append), [chat]).state is RunState.DONE
    for path, data in originals.items():
        assert path.read_bytes() == data, f"{path.name} was not downloaded again"
    kept = {p.name: p.read_bytes() for p in (chat_dir(vault, chat) / "media").rglob("*(changed by hand)*")}
    stem = {p: p.name.rsplit(".", 1) for p in (replaced, edited)}
    assert kept == {
        f"{stem[replaced][0]} (changed by hand).{stem[replaced][1]}": b"MINE",
        f"{stem[edited][0]} (changed by hand).{stem[edited][1]}": b"X" * 10 + originals[edited][10:],
    }
    said = [
        e.message for e in events if e.kind is EventKind.VAULT and "changed by hand: your file is kept" in e.message
    ]
    assert len(said) == 2, [e.message for e in events]
    assert not list(vault.rglob("*.part"))


def test_a_result_json_in_a_chats_folder_before_its_first_export_is_kept(make_runner, emulator, tmp_path):
    """A chat's folder that already holds a result.json when nothing of the chat was exported (a person's file,
    another exporter's): it is kept under another name, with a sentence, and never written over."""
    from tobs_tui.engine.vault.filenames import chat_dir_name

    world = emulator.world
    chat = chat_of(world, "Crash Channel")
    vault = tmp_path / "vault"
    folder = vault / chat_dir_name(world.chats[chat].title, chat)
    folder.mkdir(parents=True)
    (folder / "result.json").write_bytes(b"MINE")
    events: list = []
    assert export(make_runner(on_event=events.append), [chat]).state is RunState.DONE
    assert (folder / "result (not written by tobs-tui).json").read_bytes() == b"MINE"
    assert result_ids(folder) == list(world.chats[chat].ids())
    said = [e.message for e in events if "did not write" in e.message]
    assert said == [
        f"A result.json this export did not write was in {folder}; it was kept as \"result (not written by"
        " tobs-tui).json\" and the chat's own result.json written in its place."
    ]
    world.add_messages(chat, 3)
    events.clear()
    assert export(make_runner(on_event=events.append), [chat]).state is RunState.DONE
    assert not [e for e in events if "did not write" in e.message]
    assert sorted(p.name for p in folder.glob("result*")) == ["result (not written by tobs-tui).json", "result.json"]


def test_a_file_stored_once_and_changed_by_hand_is_kept_beside_the_link_put_back(tmp_path):
    """A file stored once (hard links for each message that sends it) that a person replaced by an editor's save
    (a new file at the name): the link put back at its name leaves theirs under "(changed by hand)"."""
    import sqlite3

    from tests.integration.engine.test_media import MEDIA_WORLD
    from tests.support.runners import runner_factory, running_emulator
    from tobs_tui.emulator.world import World

    world = World(MEDIA_WORLD)
    vault = tmp_path / "vault"
    with running_emulator(world=world) as emu, runner_factory(emu, vault) as make:
        chat = chat_of(world, "Media Channel")
        assert export(make(media=True), [chat]).state is RunState.DONE
        db = sqlite3.connect(vault / ".tobs" / "state.sqlite")
        rows = db.execute(
            "SELECT path FROM media WHERE media_id = ? AND status = 'done' ORDER BY msg_id", (world.shared_document_id,)
        ).fetchall()
        db.close()
        copy = vault / rows[-1][0]
        assert len(rows) >= 2 and os.stat(copy).st_nlink >= 2
        original = copy.read_bytes()
        saved = copy.with_name("editor-save.tmp")
        saved.write_bytes(b"MY EDITED VERSION")
        os.replace(saved, copy)
        events: list = []
        assert export(make(media=True, on_event=events.append), [chat]).state is RunState.DONE
    stem, ext = copy.name.rsplit(".", 1)
    assert (copy.parent / f"{stem} (changed by hand).{ext}").read_bytes() == b"MY EDITED VERSION"
    assert copy.read_bytes() == original
    assert any("changed by hand: your file is kept" in e.message for e in events), [e.message for e in events]


@pytest.mark.parametrize("title", ["Crash Channel", "Crash Forum"])
def test_json_lines_lost_before_any_result_json_are_fetched_again(make_runner, emulator, tmp_path, title):
    """A first export stopped before it wrote result.json, then its state lost (`.tobs/` holds the JSONL): the
    notes say which messages were exported, and their JSON lines are fetched again, in order, before new ones."""
    world = emulator.world
    chat = chat_of(world, title)
    vault = tmp_path / "vault"
    assert export(make_runner(), [chat]).state is RunState.DONE
    folder = chat_dir(vault, chat)
    shutil.rmtree(vault / ".tobs")
    (folder / "result.json").unlink()
    (vault / "result.json").unlink()
    world.add_messages(chat, 5)
    final = export(make_runner(), [chat])
    assert final.state is RunState.DONE, final.errors
    assert result_ids(folder) == list(world.chats[chat].ids())
    account = json.loads((vault / "result.json").read_text(encoding="utf-8"))["chats"]["list"]
    assert [m["id"] for m in account[0]["messages"]] == list(world.chats[chat].ids())


@pytest.mark.parametrize("title", ["Crash Channel", "Crash Forum"])
def test_messages_exported_while_json_was_off_get_their_json_lines_when_it_is_on_again(
    make_runner, emulator, tmp_path, title
):
    """JSON on, then a run with Markdown only, then JSON on again: the messages of the Markdown-only run are in
    the notes, and their JSON lines are fetched again, in order, before the new ones; result.json misses none."""
    world = emulator.world
    chat = chat_of(world, title)
    vault = tmp_path / "vault"
    assert export(make_runner(), [chat]).state is RunState.DONE
    world.add_messages(chat, 7)
    assert export(make_runner(formats=("markdown",)), [chat]).state is RunState.DONE
    world.add_messages(chat, 5)
    events = []
    final = export(make_runner(on_event=events.append), [chat])
    assert final.state is RunState.DONE, final.errors
    folder = chat_dir(vault, chat)
    assert result_ids(folder) == list(world.chats[chat].ids())
    assert any("7 messages fetched again into its JSON lines" in e.message for e in events), events
    events.clear()
    assert export(make_runner(on_event=events.append), [chat]).state is RunState.DONE
    assert not [e for e in events if e.kind is EventKind.VAULT and "JSON lines" in e.message], "repaired once"


@pytest.mark.parametrize("deleted", [2, 7])
def test_json_lines_of_messages_deleted_on_telegram_are_asked_for_once(make_runner, emulator, tmp_path, deleted):
    """Messages exported while JSON was off, then deleted on Telegram before JSON is on again: the run fetches
    the others again into the JSON lines, says which could not be, and later runs do not ask again."""
    world = emulator.world
    chat = chat_of(world, "Crash Channel")
    vault = tmp_path / "vault"
    assert export(make_runner(), [chat]).state is RunState.DONE
    world.add_messages(chat, 7)
    assert export(make_runner(formats=("markdown",)), [chat]).state is RunState.DONE
    newest = list(world.chats[chat].ids())[-7:]
    world.delete_messages(chat, newest[-deleted:])
    events: list = []
    final = export(make_runner(on_event=events.append), [chat])
    assert final.state is RunState.DONE, final.errors
    said = [e.message for e in events if e.kind is EventKind.VAULT and "JSON lines" in e.message]
    if deleted == 7:
        assert said == [
            '"Crash Channel": the 7 messages missing from its JSON lines could not be fetched again;'
            " they were deleted on Telegram."
        ]
    else:
        assert said == [
            'Repaired "Crash Channel": 5 messages fetched again into its JSON lines.'
            " The other 2 could not be fetched again; they were deleted on Telegram."
        ]
    folder = chat_dir(vault, chat)
    assert result_ids(folder) == list(world.chats[chat].ids())
    ids = [i for ids in notes_of(folder).values() for i in ids]
    assert ids[-7:] == newest, "the notes keep what Telegram deleted"
    for _ in range(2):
        events.clear()
        assert export(make_runner(on_event=events.append), [chat]).state is RunState.DONE
        assert not [e for e in events if e.kind is EventKind.VAULT], "asked for once"
    world.add_messages(chat, 3)
    assert export(make_runner(), [chat]).state is RunState.DONE
    assert result_ids(folder) == list(world.chats[chat].ids())


@pytest.mark.parametrize("second", ["deleted", "cut short"])
def test_a_jsonl_lost_again_after_a_repair_is_repaired_whole(make_runner, emulator, tmp_path, second):
    """A JSONL cut short and repaired, new messages, then the JSONL lost or cut short again: the second repair
    fetches everything it lost again (what the first one fetched included), so result.json misses nothing."""
    world = emulator.world
    chat = chat_of(world, "Crash Channel")
    vault = tmp_path / "vault"
    assert export(make_runner(), [chat]).state is RunState.DONE
    jsonl = vault / ".tobs" / "json" / f"{chat}.jsonl"
    jsonl.write_bytes(jsonl.read_bytes()[: jsonl.stat().st_size // 2])
    assert export(make_runner(), [chat]).state is RunState.DONE
    world.add_messages(chat, 3)
    assert export(make_runner(), [chat]).state is RunState.DONE
    if second == "deleted":
        jsonl.unlink()
    else:
        jsonl.write_bytes(jsonl.read_bytes()[: jsonl.stat().st_size // 3])
    assert export(make_runner(), [chat]).state is RunState.DONE
    assert result_ids(chat_dir(vault, chat)) == list(world.chats[chat].ids())


def test_a_forum_exported_topic_by_topic_gets_no_json_line_twice(make_runner, emulator, tmp_path):
    """One topic, then it and another whose messages are older: the JSONL holds the second topic's lines after
    the first's, out of id order. Nothing is missing from it, so later runs fetch nothing into it again."""
    world = emulator.world
    forum = chat_of(world, "Crash Forum")
    spec = world.chats[forum]
    newest = {}
    for i in spec.ids():
        newest[world.topic_of(spec, i)] = i
    first, older = sorted((t for t in newest if t != 1), key=newest.get, reverse=True)[:2]
    vault = tmp_path / "vault"
    assert export(make_runner(), [forum], topic_ids=(first,)).state is RunState.DONE
    assert export(make_runner(), [forum], topic_ids=(first, older)).state is RunState.DONE
    for _ in range(2):
        events = []
        final = export(make_runner(on_event=events.append), [forum], topic_ids=(first, older))
        assert final.state is RunState.DONE, final.errors
        assert not [e for e in events if "JSON lines" in e.message], events
    ids = result_ids(chat_dir(vault, forum))
    assert len(ids) == len(set(ids)), "a message twice in result.json"
    assert set(ids) == {i for i in spec.ids() if world.topic_of(spec, i) in (first, older)}


@pytest.mark.parametrize("title", ["Crash Channel", "Crash Forum"])
def test_notes_saved_with_crlf_line_ends_are_read_back_after_the_state_is_lost(make_runner, emulator, tmp_path, title):
    """A sync or an editor on Windows turns the notes' line ends to CRLF, and the state is lost: their blocks
    are read back as they are, so no message is written a second time, and the notes keep their bytes."""
    world = emulator.world
    chat = chat_of(world, title)
    vault = tmp_path / "vault"
    assert export(make_runner(), [chat]).state is RunState.DONE
    folder = chat_dir(vault, chat)
    for note in (p for p in folder.rglob("*.md") if p.parent.name.isdigit()):
        note.write_bytes(note.read_bytes().replace(b"\n", b"\r\n"))
    before = {p: p.read_bytes() for p in folder.rglob("*.md") if p.parent.name.isdigit()}
    shutil.rmtree(vault / ".tobs")
    world.add_messages(chat, 5)
    final = export(make_runner(), [chat])
    assert final.state is RunState.DONE, final.errors
    for note, data in before.items():
        assert note.read_bytes().startswith(data), f"{note} was changed"
    ids = [i for ids in notes_of(folder).values() for i in ids]
    assert sorted(ids) == list(world.chats[chat].ids()), "every message exactly once"


def test_a_forums_general_notes_deleted_with_the_state_come_back_with_their_pins(tmp_path):
    """General holds the chat's first message, pins and replies to them: none of them carries its topic in the
    JSONL, yet each comes back into General's notes, byte for byte, and no other note changes."""
    from tests.support.runners import runner_factory, running_emulator
    from tobs_tui.emulator.world import World

    world = World(tomllib.loads('seed = 5\n[[chats]]\nkind = "forum"\ntitle = "Pins"\nmessages = 1500\n'))
    forum = chat_of(world, "Pins")
    vault = tmp_path / "vault"
    with running_emulator(world=world) as emu, runner_factory(emu, vault) as make:
        assert export(make(), [forum]).state is RunState.DONE
        folder = chat_dir(vault, forum)
        before = {p: p.read_bytes() for p in folder.rglob("*.md") if p.parent.name.isdigit()}
        general = [p for p in before if p.parts[-3].endswith(" (1)")]
        assert general and sum(before[p].count(b"pinned") for p in general) >= 3
        shutil.rmtree(vault / ".tobs")
        for note in general:
            note.unlink()
        final = export(make(), [forum])
    assert final.state is RunState.DONE, final.errors
    assert {p: p.read_bytes() for p in before} == before
    ids = [i for ids in notes_of(folder).values() for i in ids]
    assert sorted(ids) == list(world.chats[forum].ids()), "every message exactly once"


@pytest.mark.parametrize("state", ["kept", "lost"])
def test_a_renamed_topics_deleted_note_comes_back_where_it_was(make_runner, emulator, tmp_path, state):
    """A topic renamed on Telegram after its notes were written: its deleted note comes back at the path it had,
    whether the state knows it (the repair writes where the state says) or is rebuilt (from the JSONL)."""
    world = emulator.world
    forum = chat_of(world, "Crash Forum")
    vault = tmp_path / "vault"
    assert export(make_runner(), [forum]).state is RunState.DONE
    folder = chat_dir(vault, forum)
    topic = next(t for t in world.chats[forum].topics if t.id != 1)
    notes = sorted((folder / "topics").glob(f"* ({topic.id})/*/*.md"))
    before = {p: p.read_bytes() for p in folder.rglob("*.md") if p.parent.name.isdigit()}
    if state == "lost":
        shutil.rmtree(vault / ".tobs")
    notes[-1].unlink()
    topic.title = "Renamed on Telegram"
    events: list = []
    final = export(make_runner(on_event=events.append), [forum])
    assert final.state is RunState.DONE, final.errors
    for note, data in before.items():
        assert note.read_bytes() == data, f"{note} differs after the repair"
    ids = [i for ids in notes_of(folder).values() for i in ids]
    assert sorted(ids) == list(world.chats[forum].ids()), "every message exactly once"
    assert any(e.message.startswith('Repaired "Crash Forum"') for e in events if e.kind is EventKind.VAULT)


# ---------------------------------------------------------------- tobs-tui verify


def test_verify_names_what_is_wrong_and_repair_restores_it(tmp_path, capsys):
    vault = tmp_path / "vault"
    export_argv = headless_argv(tmp_path, vault)
    assert main(export_argv) == 0
    world_args = export_argv[1:4]  # --emulator --world FILE
    verify = ["verify", "--out", str(vault), *world_args]
    # A folder of the person's named like a chat's, with a note named like a month's: theirs, not a problem.
    (vault / "Journal (2025)" / "2025").mkdir(parents=True)
    (vault / "Journal (2025)" / "2025" / "2025-11.md").write_text("hi\n", encoding="utf-8")
    capsys.readouterr()
    assert main(verify) == 0
    assert "matches its export state: 1 chats" in capsys.readouterr().out

    before = snapshot_of(vault)
    folder = next(vault.glob("Crash Channel (*"))
    note = sorted(p for p in folder.rglob("*.md") if p.parent.name.isdigit())[0]
    media = sorted(p for p in (folder / "media").rglob("*") if p.is_file() and not p.name.endswith(".thumb.jpg"))
    jsonl = next((vault / ".tobs" / "json").iterdir())
    note.unlink()
    jsonl.write_bytes(jsonl.read_bytes()[:5000])
    media[0].unlink()
    media[1].write_bytes(bytes(len(media[1].read_bytes())))  # same size, other bytes
    with open(last_note(vault, int(folder.name.rsplit("(", 1)[1][:-1])), "a", encoding="utf-8") as f:
        f.write("\nmy comment\n")
    index = folder / f"{folder.name}.md"
    index.unlink()
    (vault / "result.json").unlink()
    damaged = snapshot_of(vault)

    assert main(verify) == 1
    out = capsys.readouterr().out
    rel = note.relative_to(vault).as_posix()
    assert f"{rel}: was deleted" in out
    assert f"{jsonl.relative_to(vault).as_posix()}: is " in out and "shorter than exported" in out
    assert f"{media[0].relative_to(vault).as_posix()}: was deleted" in out
    assert f"{media[1].relative_to(vault).as_posix()}: has other bytes than were downloaded" in out
    assert "kept: " in out and "text added by hand at the end" in out
    assert f"{index.relative_to(vault).as_posix()}: is missing (an export writes it again)" in out
    assert "\nresult.json: is missing (an export writes it again)" in out
    assert "6 problem(s) in the vault" in out and "tobs-tui verify --repair" in out
    assert snapshot_of(vault) == damaged, "verify alone changes nothing"

    assert main([*verify, "--repair"]) == 0
    out = capsys.readouterr().out
    assert "matches its export state" in out.splitlines()[-1]
    after = snapshot_of(vault)
    for path, data in before.items():
        if not path.endswith("result.json"):
            assert after[path].startswith(data), f"{path} was not restored"
    assert result_ids(folder) == list(range(1, 201))
    assert index.is_file() and (vault / "result.json").is_file()


def test_a_note_restored_by_a_run_without_media_still_embeds_its_files(make_runner, emulator, tmp_path):
    world = emulator.world
    chat = chat_of(world, "Crash Channel")
    vault = tmp_path / "vault"
    assert export(make_runner(media=True), [chat]).state is RunState.DONE
    note = next(p for p in chat_dir(vault, chat).rglob("*.md") if b"![[" in p.read_bytes())
    before = note.read_bytes()
    note.unlink()
    assert export(make_runner(media=False), [chat]).state is RunState.DONE
    assert note.read_bytes() == before


# ---------------------------------------------------------------- the index note is shared with its user


def index_of(vault: Path, chat_id: int) -> Path:
    folder = chat_dir(vault, chat_id)
    return folder / f"{folder.name}.md"


def exported_with_index(make_runner, emulator, tmp_path: Path):
    """The world, "Crash Channel" exported once, its vault and its index note."""
    world = emulator.world
    channel = chat_of(world, "Crash Channel")
    vault = tmp_path / "vault"
    assert export(make_runner(), [channel]).state is RunState.DONE
    return world, channel, vault, index_of(vault, channel)


def month_links(vault: Path, chat_id: int) -> list[str]:
    folder = chat_dir(vault, chat_id)
    return sorted(f"- [[{p.relative_to(vault).with_suffix('').as_posix()}|" for p in folder.glob("[0-9]*/*.md"))


def test_text_added_to_the_index_note_survives_later_runs_while_its_counts_and_links_follow(
    make_runner, emulator, tmp_path
):
    world, channel, vault, index = exported_with_index(make_runner, emulator, tmp_path)
    text = index.read_text(encoding="utf-8")
    # A key of their own in the front matter, a paragraph above the engine's part and a section below it.
    text = text.replace("\nlast_export:", "\ntags:\n  - travel\nlast_export:", 1)
    text = text.replace(f"\n{INDEX_BEGIN}", f"\nMY-INTRO: the chat of the 2024 trip.\n\n{INDEX_BEGIN}", 1)
    text += "\n## My summary\nINDEX-MARK: this chat is where we planned the trip.\n"
    index.write_text(text, encoding="utf-8")

    world.add_messages(channel, 30)
    assert export(make_runner(), [channel]).state is RunState.DONE
    after = index.read_text(encoding="utf-8")
    assert "\ntags:\n  - travel\nlast_export:" in after
    assert f"\nMY-INTRO: the chat of the 2024 trip.\n\n{INDEX_BEGIN}\n" in after
    assert after.endswith(f"{INDEX_END}\n\n## My summary\nINDEX-MARK: this chat is where we planned the trip.\n")
    count = len(world.chats[channel].ids())
    assert f"\nmessages: {count}\n" in after, "the engine's counts follow the export"
    assert [line for line in after.splitlines() if line.startswith("- [[")] == [
        line for link in month_links(vault, channel) for line in after.splitlines() if line.startswith(link)
    ], "one link to each month note, the new ones included, and no other"
    assert after.count(INDEX_BEGIN) == 1 and after.count("INDEX-MARK") == 1


def test_an_index_note_from_before_the_markers_keeps_the_users_text_when_it_is_rewritten(
    make_runner, emulator, tmp_path
):
    world, channel, vault, index = exported_with_index(make_runner, emulator, tmp_path)
    new_style = index.read_text(encoding="utf-8")
    # What the version without markers wrote, then a paragraph the user typed after it.
    old_style = new_style.replace(f"{INDEX_BEGIN}\n", "").replace(f"\n{INDEX_END}\n", "")
    assert INDEX_BEGIN not in old_style and old_style.endswith("]]\n")
    index.write_text(old_style + "\nINDEX-MARK: my words.\n", encoding="utf-8")

    world.add_messages(channel, 3)
    assert export(make_runner(), [channel]).state is RunState.DONE
    after = index.read_text(encoding="utf-8")
    assert after.endswith(f"{INDEX_END}\n\nINDEX-MARK: my words.\n"), after
    assert after.count("# Crash Channel") == 1, "the old heading and list were the engine's: replaced, not repeated"
    assert len([line for line in after.splitlines() if line.startswith("- [[")]) == len(month_links(vault, channel))


def test_a_read_only_index_note_is_left_as_it_is_and_the_run_says_so(make_runner, emulator, tmp_path):
    world, channel, vault, index = exported_with_index(make_runner, emulator, tmp_path)
    with open(index, "a", encoding="utf-8") as f:
        f.write("\nDo not touch.\n")
    index.chmod(0o444)
    before = index.read_bytes()
    world.add_messages(channel, 3)
    events = []
    final = export(make_runner(on_event=events.append), [channel])
    assert final.state is RunState.DONE, final.errors
    assert index.read_bytes() == before and oct(index.stat().st_mode & 0o777) == "0o444"
    rel = index.relative_to(vault).as_posix()
    assert [e.message for e in events if e.kind is EventKind.VAULT] == [
        f"{rel} is read-only, so its message counts and links to month notes were not updated; make it writable"
        " (chmod u+w) to have the next export update them."
    ]
    index.chmod(0o600)  # writable again: updated, their text kept, their permissions too
    assert export(make_runner(), [channel]).state is RunState.DONE
    assert index.read_text(encoding="utf-8").endswith(f"{INDEX_END}\n\nDo not touch.\n")
    assert f"messages: {len(world.chats[channel].ids())}\n" in index.read_text(encoding="utf-8")
    assert oct(index.stat().st_mode & 0o777) == "0o600"


# ---------------------------------------------------------------- the vault's result.json cannot be written


def test_a_vault_result_json_that_cannot_be_written_is_a_run_error_in_the_snapshot(make_runner, emulator, tmp_path):
    world = emulator.world
    channel = chat_of(world, "Crash Channel")
    vault = tmp_path / "vault"
    (vault / "result.json").mkdir(parents=True)  # a folder in its way
    events = []
    final = export(make_runner(on_event=events.append), [channel])
    sentence = (
        f"The vault's result.json was not updated: a folder is in the way at {vault / 'result.json'}; move or"
        " rename it and run the export again, which writes it from the messages already exported."
    )
    assert final.state is RunState.FAILED and list(final.errors) == [sentence]
    assert [e.message for e in events if e.kind is EventKind.ERROR] == [sentence], "the event log says it"
    assert [c.state.value for c in final.chats] == ["done"], "the chat itself was exported"
    assert result_ids(chat_dir(vault, channel)) == list(world.chats[channel].ids())
    (vault / "result.json").rmdir()
    assert export(make_runner(), [channel]).state is RunState.DONE
    account = json.loads((vault / "result.json").read_text(encoding="utf-8"))
    assert [len(c["messages"]) for c in account["chats"]["list"]] == [len(world.chats[channel].ids())]


def test_headless_export_says_the_vault_result_json_was_not_written_and_exits_1(tmp_path, capsys):
    vault = tmp_path / "vault"
    (vault / "result.json").mkdir(parents=True)
    sentence = (
        f"The vault's result.json was not updated: a folder is in the way at {vault / 'result.json'}; move or"
        " rename it and run the export again, which writes it from the messages already exported."
    )
    assert main(headless_argv(tmp_path, vault, "--no-media", "--json-progress")) == 1
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["summary"]
    assert summary["errors"] == [sentence] and summary["state"] == "failed"
    assert [c["state"] for c in summary["chats"]] == ["done"]
    assert main(headless_argv(tmp_path, vault, "--no-media")) == 1
    out = capsys.readouterr().out
    assert f"  error: {sentence}\n" in out, out
    (vault / "result.json").rmdir()
    assert main(headless_argv(tmp_path, vault, "--no-media")) == 0
    assert (vault / "result.json").is_file()


def test_a_note_written_where_the_next_month_note_goes_is_kept_and_the_run_says_so(make_runner, emulator, tmp_path):
    world = emulator.world
    channel = chat_of(world, "Crash Channel")
    vault = tmp_path / "vault"
    assert export(make_runner(), [channel]).state is RunState.DONE
    spec = world.chat(channel)
    last_month = month_of(spec.date_of(spec.count))
    while month_of(spec.date_of(spec.count)) == last_month:
        world.add_messages(channel, 1)
    month = month_of(spec.date_of(spec.count))
    note = chat_dir(vault, channel) / month[:4] / f"{month}.md"
    note.parent.mkdir(exist_ok=True)
    mine = "# Plans for the month\n\nBook the venue"
    note.write_text(mine, encoding="utf-8")
    events = []
    assert export(make_runner(on_event=events.append), [channel]).state is RunState.DONE
    text = note.read_text(encoding="utf-8")
    assert text.startswith(mine + "\n\n**"), text[:200]
    assert "^m" in text and "---\nchat_id" not in text, "the messages follow their text; no front matter after it"
    rel = note.relative_to(vault).as_posix()
    said = [e.message for e in events if e.kind is EventKind.VAULT and e.message.startswith(rel)]
    assert said == [
        f"{rel} was already there, not written by this export; your text in it was kept and \"Crash Channel\"'s"
        " messages of that month were added after it."
    ]
    ids = [i for ids in notes_of(chat_dir(vault, channel)).values() for i in ids]
    assert ids == list(world.chats[channel].ids()), "every message once, in id order"


def test_verify_says_why_it_cannot_check_a_folder(tmp_path, capsys):
    from tobs_tui.engine.vault.vault import Vault

    cases = {
        "empty": ("There is no vault at", None),
        "dot file": ("is a file, where an export keeps its state folder", lambda p: (p / ".tobs").write_text("x")),
        "state folder": (
            "is not a file, where an export keeps its state",
            lambda p: (p / ".tobs/state.sqlite").mkdir(parents=True),
        ),
    }
    for name, (said, make) in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        if make:
            make(folder)
        assert main(["verify", "--out", str(folder)]) == 2
        err = capsys.readouterr().err
        assert said in err and err.count("\n") == 1, (name, err)
    busy = tmp_path / "busy"
    with Vault(busy):  # an export holds the vault's lock while it writes
        assert main(["verify", "--out", str(busy)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"An export is writing to {busy} now (pid ") and "once it has finished" in err


def test_a_month_note_moved_or_renamed_by_hand_stays_where_it_was_put_and_is_not_written_again(
    make_runner, emulator, tmp_path
):
    from tobs_tui.engine.vault.check import check_vault

    world = emulator.world
    channel = chat_of(world, "Crash Channel")
    vault = tmp_path / "vault"
    assert export(make_runner(), [channel]).state is RunState.DONE
    folder = chat_dir(vault, channel)
    notes = sorted(p for p in folder.rglob("*.md") if p.parent.name.isdigit())
    assert len(notes) == 3, notes
    before = {p: p.read_bytes() for p in notes}
    top = max(world.chats[channel].ids())
    # Renamed in its folder (Obsidian's rename), the newest dragged into a folder of the person's own, and one
    # moved with a message cut out of it on the way. (One deleted in Obsidian, into its .trash: test_moved.py.)
    renamed = notes[0].with_name("Trip planning.md")
    notes[0].rename(renamed)
    archived = vault / "Archive" / "Latest month.md"
    archived.parent.mkdir()
    notes[-1].rename(archived)
    cut = vault / "Archive" / "Cut.md"
    text = notes[1].read_text(encoding="utf-8")
    first_block_end = text.index("^m") + text[text.index("^m") :].index("\n\n") + 2
    cut.write_text(text[: text.index("\n\n**") + 2] + text[first_block_end:], encoding="utf-8")
    notes[1].unlink()

    seen = check_vault(vault)
    rel = lambda p: p.relative_to(vault).as_posix()  # noqa: E731
    assert f"{rel(notes[0])}: moved or renamed by hand to {rel(renamed)}" in "\n".join(seen.notes), seen.notes
    assert f"{rel(notes[-1])}: moved or renamed by hand to {rel(archived)}" in "\n".join(seen.notes), seen.notes
    assert [p.path for p in seen.problems] == [rel(notes[1])], seen.problems

    world.add_messages(channel, 5)
    events: list = []
    assert export(make_runner(on_event=events.append), [channel]).state is RunState.DONE
    said = [e.message for e in events if e.kind is EventKind.VAULT]
    assert any(m.startswith("Left 2 notes where you moved them") for m in said), said
    assert renamed.read_bytes() == before[notes[0]] and archived.read_bytes() == before[notes[-1]], "never touched"
    assert not notes[0].exists(), "a renamed note is not written again at its old name"
    assert notes[1].read_bytes() == before[notes[1]], "a note moved without all its messages is restored"
    # Every message once across the chat's notes and the moved ones (not the cut copy).
    ids = [i for got in notes_of(folder).values() for i in got]
    ids += [int(m) for m in re.findall(r"\^m(\d+)\s*$", archived.read_text(encoding="utf-8"), re.MULTILINE)]
    assert sorted(ids) == list(world.chats[channel].ids()), "no message lost, none twice"
    held = notes_of(folder).get(notes[-1].relative_to(folder).as_posix())
    assert held is None or min(held) > top, "the moved month's place holds only its new messages, if any"
    # Reply links to its messages point where the note is now.
    moved_ids = [int(m) for m in re.findall(r"\^m(\d+)\s*$", renamed.read_text(encoding="utf-8"), re.MULTILINE)]
    with sqlite3.connect(vault / ".tobs" / "state.sqlite") as db:
        marks = ",".join("?" * len(moved_ids))
        where = db.execute(f"SELECT DISTINCT note FROM messages WHERE msg_id IN ({marks})", moved_ids).fetchall()
    assert where == [(rel(renamed).removesuffix(".md"),)], where
    # The index note lists them where they are now (as Obsidian's own link update on a rename would).
    index = (folder / f"{folder.name}.md").read_text(encoding="utf-8")
    for moved in (renamed, archived):
        assert f"[[{rel(moved).removesuffix('.md')}|" in index, index
    assert f"[[{rel(notes[0]).removesuffix('.md')}|" not in index
    assert check_vault(vault).ok
    again: list = []
    assert export(make_runner(on_event=again.append), [channel]).state is RunState.DONE
    assert not [e.message for e in again if e.kind is EventKind.VAULT], "said once"

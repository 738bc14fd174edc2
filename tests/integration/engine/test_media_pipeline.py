"""Media in the whole export: the runner downloads each batch's files before its notes are committed, the notes
and result.json point at files that exist, failures show as failed and a re-run fetches them."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.support.settings import WAIT
from tobs_tui.config import Settings
from tobs_tui.emulator.content import HOSTILE_TITLE
from tobs_tui.emulator.credentials import DEMO_API_HASH, DEMO_API_ID
from tobs_tui.engine import ChatSelection, EngineRunner, ExportRequest
from tobs_tui.engine.render.json_export import FILE_NOT_INCLUDED, FILE_TOO_LARGE, FILE_UNAVAILABLE
from tobs_tui.engine.snapshot import EventKind, RunState


@pytest.fixture
def media_runner(emulator, tmp_path):
    runners: list[EngineRunner] = []

    def make(on_snapshot=None, out: Path | None = None, **workers) -> EngineRunner:
        base = Settings()
        settings = dataclasses.replace(
            base,
            export=dataclasses.replace(base.export, output_dir=out or tmp_path / "vault", download_media=True),
            workers=dataclasses.replace(base.workers, max_threads=4, **workers),
            ui=dataclasses.replace(base.ui, refresh_hz=20.0),
        )
        events: list = []
        runner = EngineRunner(
            settings,
            session=emulator.session_string(),
            api_id=DEMO_API_ID,
            api_hash=DEMO_API_HASH,
            on_event=events.append,
            on_snapshot=on_snapshot,
        )
        runner.events = events
        runner.start()
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.stop()


def export(runner, chat_ids):
    assert runner.connect().result(WAIT) is True
    runner.list_dialogs().result(WAIT)
    return runner.start_export(ExportRequest(chats=tuple(ChatSelection(c) for c in chat_ids))).result(WAIT)


def media_rows(vault: Path, chat_id: int) -> dict[int, tuple]:
    db = sqlite3.connect(vault / ".tobs" / "state.sqlite")
    try:
        return {
            r[0]: r[1:]
            for r in db.execute(
                "SELECT msg_id, status, path, sha256, media_id, reason FROM media WHERE chat_id = ?", (chat_id,)
            )
        }
    finally:
        db.close()


def chat_by_title(world, title: str) -> int:
    return next(c for c in world.chat_ids() if world.chats[c].title == title)


def test_notes_and_json_point_at_downloaded_files(media_runner, emulator, tmp_path):
    world = emulator.world
    chats = [chat_by_title(world, t) for t in ("News Channel", "Quiet channel", HOSTILE_TITLE)]
    runner = media_runner()
    final = export(runner, chats)
    assert final.state is RunState.DONE, final.errors
    vault = tmp_path / "vault"
    for chat in chats:
        rows = media_rows(vault, chat)
        assert rows and all(r[0] == "done" for r in rows.values()), rows
        chat_dir = next(p for p in vault.iterdir() if p.name.endswith(f"({chat})"))
        notes = "".join(p.read_text(encoding="utf-8") for p in chat_dir.rglob("*.md"))
        for _status, path, digest, media_id, _ in rows.values():
            assert hashlib.sha256((vault / path).read_bytes()).hexdigest() == digest == world.sha256_of_media(media_id)
            # A wikilink names the path as it is; a Markdown link (a label that needs escaping) percent-encoded.
            assert path in notes or quote(path, safe="/-_.~!*',;:@&=+") in notes, f"the note links {path}"
        result = json.loads((chat_dir / "result.json").read_text(encoding="utf-8"))
        linked = [m.get("photo") or m.get("file") for m in result["messages"] if "photo" in m or "file" in m]
        assert len(linked) == len(rows)
        assert all((chat_dir / p).is_file() for p in linked), "result.json names real files, from its own folder"
    media = final.media
    assert media.files_done == sum(len(media_rows(vault, c)) for c in chats) and media.files_failed == 0
    assert media.bytes_done == media.bytes_expected > 0
    assert all(c.bytes_done >= c.bytes_expected > 0 for c in final.chats)
    assert final.media_workers_auto in (3, 6, 8) and final.disk_type in ("ssd", "hdd", "unknown")
    assert not list(vault.rglob("*.part"))


def test_skipped_kinds_show_as_not_included(media_runner, emulator, tmp_path):
    world = emulator.world
    chat = chat_by_title(world, "Quiet channel")
    runner = media_runner()
    settings = runner._settings
    runner.update_settings(
        dataclasses.replace(settings, export=dataclasses.replace(settings.export, media_kinds=("photo",)))
    )
    final = export(runner, [chat])
    assert final.state is RunState.DONE, final.errors
    vault = tmp_path / "vault"
    rows = media_rows(vault, chat)
    assert {r[0] for r in rows.values()} == {"done", "skipped"}
    chat_dir = next(p for p in vault.iterdir() if p.name.endswith(f"({chat})"))
    result = json.loads((chat_dir / "result.json").read_text(encoding="utf-8"))
    for m in result["messages"]:
        if "file" in m:
            assert m["file"] in (FILE_NOT_INCLUDED, FILE_TOO_LARGE)
    assert not [
        p for p in vault.rglob("*") if p.is_file() and "/media/" in p.as_posix() and "/media/photo/" not in p.as_posix()
    ]


def test_a_failed_file_shows_as_failed_and_a_rerun_fetches_it(media_runner, emulator, tmp_path):
    world = emulator.world
    chat = chat_by_title(world, "Quiet channel")
    for _ in range(3):  # the first file's every attempt (MAX_FILE_ATTEMPTS) is refused
        emulator.script("GetFileRequest", 1, error="FILE_ID_INVALID")
    runner = media_runner(media_download_workers=1)
    final = export(runner, [chat])
    assert final.state is RunState.DONE, final.errors
    vault = tmp_path / "vault"
    failed = {m: r for m, r in media_rows(vault, chat).items() if r[0] == "failed"}
    assert len(failed) == 1 and final.media.files_failed == 1
    assert any(e.kind is EventKind.ERROR and "re-run" in e.message for e in runner.events)
    chat_dir = next(p for p in vault.iterdir() if p.name.endswith(f"({chat})"))
    notes = "".join(p.read_text(encoding="utf-8") for p in chat_dir.rglob("*.md"))
    ((msg_id, (_, path, *_)),) = failed.items()
    assert "failed: " in notes and f"[[{path}" not in notes, "no embed of a file that is not there"
    result = json.loads((chat_dir / "result.json").read_text(encoding="utf-8"))
    entry = next(m for m in result["messages"] if m["id"] == msg_id)
    assert FILE_UNAVAILABLE in (entry.get("photo"), entry.get("file"))
    runner.stop()

    again = media_runner()
    final = export(again, [chat])
    assert final.state is RunState.DONE, final.errors
    status, path, digest, media_id, _ = media_rows(vault, chat)[msg_id]
    assert status == "done" and digest == world.sha256_of_media(media_id)
    assert hashlib.sha256((vault / path).read_bytes()).hexdigest() == digest
    # The note and result.json now say what an export that got the file at once says, byte for byte.
    clean = tmp_path / "clean"
    assert export(media_runner(out=clean), [chat]).state is RunState.DONE
    assert vault_files(vault) == vault_files(clean)
    assert "failed: " not in "".join(p.read_text(encoding="utf-8") for p in chat_dir.rglob("*.md"))
    db = sqlite3.connect(vault / ".tobs" / "state.sqlite")
    try:
        assert db.execute("SELECT COUNT(*) FROM stale_media").fetchone() == (0,)
    finally:
        db.close()


def vault_files(root: Path) -> dict[str, bytes]:
    """Notes, result.json and media files, without the index note's export time."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not rel.startswith(".tobs/"):
            data = p.read_bytes()
            if p.name == f"{p.parent.name}.md":
                data = b"\n".join(line for line in data.split(b"\n") if not line.startswith(b"last_export:"))
            out[rel] = data
    return out


def test_media_workers_change_while_the_export_runs(media_runner, emulator, tmp_path):
    emulator.set_profile("lan", {"media_bandwidth": 4 * 1024 * 1024, "media_streams": 4})
    chat = chat_by_title(emulator.world, "Quiet channel")
    changed = threading.Event()
    after: list[tuple[int, int]] = []  # (files in flight, files done) in each snapshot after the change
    holder: list[EngineRunner] = []

    def on_snapshot(s):
        if changed.is_set():
            after.append((s.media.files_in_flight, s.media.files_done))
        elif s.media.files_in_flight > 1:
            holder[0].set_limits(media_workers=1)
            changed.set()

    runner = media_runner(on_snapshot=on_snapshot, media_download_workers=4)
    holder.append(runner)
    final = export(runner, [chat])
    assert final.state is RunState.DONE, final.errors
    assert changed.is_set(), "the export never had two files in flight"
    assert final.media.workers == 1
    drained = next(i for i, (flying, _) in enumerate(after) if flying <= 1)
    assert max(flying for flying, _ in after[drained:]) <= 1, "one file at a time once the files in flight drained"
    assert final.media.files_done - after[drained][1] >= 3, "several files were fetched after the change"
    runner.set_limits(media_workers=0)  # 0 = auto: back to what the disk type suggests
    deadline = time.monotonic() + 10
    while runner.snapshot().media.workers != final.media_workers_auto:
        assert time.monotonic() < deadline, "auto was not restored"
        time.sleep(0.05)


def test_media_workers_env_overrides_the_disk_type(media_runner, emulator, monkeypatch):
    monkeypatch.setenv("MEDIA_WORKERS", "2")
    final = export(media_runner(), [chat_by_title(emulator.world, "Quiet channel")])
    assert final.state is RunState.DONE, final.errors
    assert final.media.workers == 2 and final.media.files_done > 0


def test_files_of_topics_left_out_are_not_fetched(media_runner, emulator, tmp_path):
    world = emulator.world
    forum = next(c for c in world.chat_ids() if world.chats[c].kind == "forum")
    spec = world.chats[forum]
    runner = media_runner()
    assert runner.connect().result(WAIT) is True
    runner.list_dialogs().result(WAIT)
    chosen = next(t.topic_id for t in runner.list_topics(forum).result(WAIT) if t.topic_id != 1)
    final = runner.start_export(ExportRequest(chats=(ChatSelection(forum, topic_ids=(chosen,)),))).result(WAIT)
    assert final.state is RunState.DONE, final.errors
    rows = media_rows(tmp_path / "vault", forum)
    assert rows, "the chosen topic has files"
    assert all(world.topic_of(spec, msg_id) == chosen for msg_id in rows), "no file of a topic left out"
    on_disk = {
        p.relative_to(tmp_path / "vault").as_posix()
        for p in (tmp_path / "vault").rglob("*")
        if p.is_file() and "/media/" in p.as_posix()
    }
    assert on_disk == {path for _, path, *_ in rows.values()}

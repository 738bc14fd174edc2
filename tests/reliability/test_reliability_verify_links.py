"""`tobs-tui verify` writes nothing anywhere and follows no link: not through SQLite's side files of the state DB,
not through a symlinked state folder or state DB, not through a symlinked folder on the way to the vault's files;
and a pipe where a file belongs is named, never waited on. Real exports against the emulator, on real files;
verify runs in a process of its own with a timeout, so a hang fails the test instead of stopping the suite."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.test_reliability_vault import headless_argv
from tobs_tui.cli import main

VERIFY_TIMEOUT = 60
_EXPORTED: dict[str, Path] = {}


@pytest.fixture
def vault(tmp_path, tmp_path_factory, capsys) -> Path:
    """A vault of Crash Channel and Crash Forum with their media, exported once per session and copied."""
    if "vault" not in _EXPORTED:
        base = tmp_path_factory.mktemp("verify_links")
        argv = headless_argv(base, base / "vault", "--chat", "Crash Forum")
        assert main(argv) == 0
        capsys.readouterr()
        _EXPORTED["vault"] = base / "vault"
    copy = tmp_path / "vault"
    shutil.copytree(_EXPORTED["vault"], copy, symlinks=True)
    return copy


@pytest.fixture
def outside(tmp_path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "victim.txt").write_bytes(b"VICTIM: my precious data\n")
    return folder


def contents(folder: Path) -> dict[str, bytes | None]:
    """Every name below `folder` (links not followed) with its bytes (None for a folder or a link)."""
    found: dict[str, bytes | None] = {}
    for path in sorted(folder.rglob("*")):
        found[path.relative_to(folder).as_posix()] = (
            path.read_bytes() if path.is_file() and not path.is_symlink() else None
        )
    return found


def verify(vault: Path) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "tobs_tui", "verify", "--out", str(vault)],
        capture_output=True,
        text=True,
        timeout=VERIFY_TIMEOUT,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def problem_lines(out: str) -> list[str]:
    return [
        line
        for line in out.splitlines()
        if not line.startswith(("kept: ", "The vault at ")) and " problem(s) " not in line
    ]


def chat_folder(vault: Path, title: str) -> Path:
    return next(vault.glob(f"{title} (*"))


def test_a_hard_linked_shm_beside_the_state_is_named_and_the_file_it_shares_keeps_its_bytes(vault, outside):
    os.link(outside / "victim.txt", vault / ".tobs" / "state.sqlite-shm")
    before = contents(outside)
    code, out = verify(vault)
    assert contents(outside) == before, "verify wrote through the -shm"
    assert code == 1, out
    assert problem_lines(out) == [
        ".tobs/state.sqlite-shm: has 1 other hard link(s): an export refuses to write to it, as that would change"
        " a file elsewhere too (replace it with a copy of its own)"
    ]
    assert "--repair" not in out


@pytest.mark.parametrize("where", [".tobs", ".tobs/state.sqlite"])
def test_a_symlinked_state_is_named_and_nothing_is_created_where_it_points(vault, outside, where):
    target = outside / Path(where).name
    shutil.move(vault / where, target)
    (vault / where).symlink_to(target)
    before = contents(outside)
    code, out = verify(vault)
    assert contents(outside) == before, "verify created or changed files outside the vault"
    assert code == 1, out
    lines = problem_lines(out)
    assert len(lines) == 1 and lines[0].startswith(f"{where}: is a symlink: an export refuses to write through it")


def test_a_state_with_transactions_in_its_wal_is_read_whole_and_nothing_is_created_beside_it(vault, tmp_path):
    """What a killed export leaves: its last transactions in state.sqlite-wal only, no -shm. verify reads them
    (a download marked lost is reported) and creates no -shm or -wal."""
    work = tmp_path / "db"
    work.mkdir()
    shutil.copy(vault / ".tobs" / "state.sqlite", work / "state.sqlite")
    db = sqlite3.connect(work / "state.sqlite", isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA wal_autocheckpoint=0")
        path = db.execute("SELECT path FROM media WHERE status = 'done' ORDER BY path LIMIT 1").fetchone()[0]
        db.execute("UPDATE media SET status = 'lost' WHERE path = ?", (path,))
        shutil.copy(work / "state.sqlite", vault / ".tobs" / "state.sqlite")
        shutil.copy(work / "state.sqlite-wal", vault / ".tobs" / "state.sqlite-wal")
    finally:
        db.close()
    state_files = sorted(p.name for p in (vault / ".tobs").iterdir())
    wal = (vault / ".tobs" / "state.sqlite-wal").read_bytes()
    assert wal, "the transaction is in the log only"
    code, out = verify(vault)
    assert code == 1, out
    assert problem_lines(out) == [f"{path}: was deleted or cut short by hand"]
    assert sorted(p.name for p in (vault / ".tobs").iterdir()) == state_files, "verify created a file in .tobs"
    assert (vault / ".tobs" / "state.sqlite-wal").read_bytes() == wal


def _month_note(vault: Path) -> str:
    folder = chat_folder(vault, "Crash Channel")
    return min(p for p in folder.rglob("*.md") if p.parent.name.isdigit()).relative_to(vault).as_posix()


def _jsonl(vault: Path) -> str:
    return min((vault / ".tobs" / "json").iterdir()).relative_to(vault).as_posix()


@pytest.mark.parametrize("which", ["lock", "month note", "jsonl"])
def test_a_pipe_where_a_file_belongs_is_named_and_never_waited_on(vault, which):
    rel = {"lock": lambda: ".tobs/lock", "month note": lambda: _month_note(vault), "jsonl": lambda: _jsonl(vault)}[
        which
    ]()
    (vault / rel).unlink()
    os.mkfifo(vault / rel)
    code, out = verify(vault)  # a read of the pipe would wait for a writer forever: the timeout fails the test
    assert code == 1, out
    assert problem_lines(out) == [f"{rel}: is a named pipe: an export needs a file there (move it away)"]


def _media_kind(vault: Path) -> str:
    return min((chat_folder(vault, "Crash Channel") / "media").iterdir()).relative_to(vault).as_posix()


def _year(vault: Path) -> str:
    folder = chat_folder(vault, "Crash Channel")
    return min(p for p in folder.iterdir() if p.name.isdigit()).relative_to(vault).as_posix()


def _topic(vault: Path) -> str:
    return min((chat_folder(vault, "Crash Forum") / "topics").iterdir()).relative_to(vault).as_posix()


FOLDERS = {
    "media": lambda v: (chat_folder(v, "Crash Channel") / "media").relative_to(v).as_posix(),
    "media kind": _media_kind,
    "year": _year,
    "topics": lambda v: (chat_folder(v, "Crash Forum") / "topics").relative_to(v).as_posix(),
    "topic": _topic,
    ".tobs/json": lambda v: ".tobs/json",
    ".tobs/intents": lambda v: ".tobs/intents",
    ".tobs/tmp": lambda v: ".tobs/tmp",
}


@pytest.mark.parametrize("which", list(FOLDERS))
def test_a_symlinked_folder_on_the_way_is_named_once_and_not_read_through(vault, outside, which):
    rel = FOLDERS[which](vault)
    target = outside / "moved"
    shutil.move(vault / rel, target)
    (vault / rel).symlink_to(target, target_is_directory=True)
    before = contents(outside)
    code, out = verify(vault)
    assert contents(outside) == before
    assert code == 1, out
    assert problem_lines(out) == [
        f"{rel}: is a symlink: an export refuses to write through it (put the folder it points to in its place,"
        " or move the link away)"
    ], "one line for the link, not one per file below it"
    assert "verify --repair" not in out, "an export refuses the link: --repair cannot help"
    assert "1 of them an export refuses to write through" in out


def test_verify_refuses_to_repair_what_an_export_would_refuse(vault, outside, tmp_path, capsys):
    world_args = headless_argv(tmp_path, vault)[1:4]  # --emulator --world FILE, should an export run
    media = chat_folder(vault, "Crash Channel") / "media"
    shutil.move(media, outside / "media")
    media.symlink_to(outside / "media", target_is_directory=True)
    before = contents(outside)
    capsys.readouterr()
    assert main(["verify", "--out", str(vault), "--repair", *world_args]) == 1
    out = capsys.readouterr().out
    assert "Repairing" not in out and "move or replace what they name" in out
    assert contents(outside) == before


def test_verify_repairs_the_chats_a_link_is_not_in_the_way_of(vault, outside, tmp_path, capsys):
    """A link in one chat's way waits for its person; another chat's lost note is restored meanwhile."""
    world_args = headless_argv(tmp_path, vault)[1:4]
    media = chat_folder(vault, "Crash Channel") / "media"
    shutil.move(media, outside / "media")
    media.symlink_to(outside / "media", target_is_directory=True)
    note = min((chat_folder(vault, "Crash Forum") / "topics").rglob("*-*.md"))
    kept = note.read_bytes()
    note.unlink()
    before = contents(outside)
    capsys.readouterr()
    assert main(["verify", "--out", str(vault)]) == 1
    out = capsys.readouterr().out
    assert "move or replace what they name" in out and "`tobs-tui verify --repair` fetches the rest" in out

    assert main(["verify", "--out", str(vault), "--repair", *world_args]) == 1, "the link is still there"
    out = capsys.readouterr().out
    assert "Repairing: exporting 1 chat(s) again; 1 more after what they name is moved." in out
    assert note.read_bytes() == kept
    assert contents(outside) == before
    assert problem_lines(out.split("Repairing:")[1])[-1].startswith(
        f"{media.relative_to(vault).as_posix()}: is a symlink"
    )
    assert "fetches the rest" not in out.split("Repairing:")[1], "nothing is left that a repair could fetch"

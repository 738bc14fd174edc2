"""Disk faults through the real `tobs-tui export` (media on): a full disk stops with one sentence and a re-run after
space is freed ends identical to an export that never hit it; a read-only export dir; a symlink planted inside the
vault that points outside is never written through."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.crash_harness import compare, consistency_problems
from tests.support.child import REPO, child_env
from tobs_tui.engine.vault.vault import STATE_DIR

DISK_WORLD = """\
seed = 3
max_file_size = 16384
generated_users = 6

[[chats]]
kind = "supergroup"
title = "Disk Supergroup"
messages = 600
media = 0.3

[[chats]]
kind = "private"
messages = 150
media = 0.4
"""


def export(tmp_path: Path, out: Path) -> subprocess.CompletedProcess:
    world = tmp_path / "world.toml"
    world.write_text(DISK_WORLD, encoding="utf-8")
    cmd = [
        sys.executable,
        "-m",
        "tobs_tui",
        "export",
        "--emulator",
        "lan",
        "--world",
        str(world),
        "--all",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(
        cmd, env=child_env(tmp_path / "home"), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER: every thread's stack, to see where it hung
        stdout, stderr = proc.communicate()
        pytest.fail(f"the export hung:\n{stdout}\n{stderr}")
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def mount_tmpfs(where: Path, options: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(
            "mounting a tmpfs needs root; tests/unit/engine/vault/test_vault.py injects ENOSPC at the write layer instead"
        )


@pytest.fixture
def tmpfs(tmp_path):
    mounted: list[Path] = []

    def mount(name: str, options: str) -> Path:
        where = tmp_path / name
        mount_tmpfs(where, options)
        mounted.append(where)
        return where

    yield mount
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    base = tmp_path_factory.mktemp("disk-ref")
    run = export(base, base / "vault")
    assert run.returncode == 0, run.stdout + run.stderr
    return base / "vault"


def one_clear_sentence(run: subprocess.CompletedProcess, fragment: str) -> None:
    text = run.stdout + run.stderr
    assert fragment in text, text
    assert "Traceback" not in text, text


@pytest.mark.slow
def test_full_disk_stops_with_one_sentence_and_resumes_once_space_is_freed(tmp_path, tmpfs, reference):
    disk = tmpfs("small-disk", "size=1m")
    vault = disk / "vault"
    full = export(tmp_path, vault)
    assert full.returncode != 0
    one_clear_sentence(full, "is full; free some space and run the export again")
    # Make room (what a user does after deleting files) and run again: it ends as if the disk never filled.
    subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
    again = export(tmp_path, vault)
    assert again.returncode == 0, again.stdout + again.stderr
    assert compare(reference, vault) == []


@pytest.mark.slow
def test_disk_filling_up_midway_keeps_what_was_committed(tmp_path, tmpfs, reference):
    # Enough for the notes and some files, not all: the disk fills during media downloads.
    disk = tmpfs("mid-disk", "size=3m")
    vault = disk / "vault"
    full = export(tmp_path, vault)
    if full.returncode == 0:
        pytest.skip("the export fitted in 3 MiB on this machine; the 1 MiB test covers a full disk")
    one_clear_sentence(full, "is full")
    assert consistency_problems(vault, finished=False) == []
    subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
    again = export(tmp_path, vault)
    assert again.returncode == 0, again.stdout + again.stderr
    assert compare(reference, vault) == []


def test_read_only_export_dir_is_one_sentence(tmp_path, tmpfs):
    ro = tmpfs("ro", "ro,size=1m")
    run = export(tmp_path, ro / "vault")
    assert run.returncode == 2
    one_clear_sentence(run, "read-only file system; choose a writable folder")


@pytest.mark.slow
def test_existing_vault_gone_read_only_is_one_sentence_and_unchanged(tmp_path, tmpfs, reference):
    disk = tmpfs("was-rw", "size=64m")
    vault = disk / "vault"
    first = export(tmp_path, vault)
    assert first.returncode == 0, first.stdout + first.stderr
    before = {p: p.read_bytes() for p in vault.rglob("*") if p.is_file()}
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    run = export(tmp_path, vault)
    assert run.returncode == 2
    one_clear_sentence(run, "read-only file system")
    assert {p: p.read_bytes() for p in vault.rglob("*") if p.is_file()} == before


CHAT_DIR = "Disk Supergroup (-1001100000000)"


@pytest.mark.slow
@pytest.mark.parametrize("plant", ["chat folder", "media folder", "state json"])
def test_a_symlink_planted_before_the_first_export_is_never_written_through(tmp_path, plant):
    vault = tmp_path / "vault"
    outside = tmp_path / "outside"
    outside.mkdir()
    link = {
        "chat folder": vault / CHAT_DIR,
        "media folder": vault / CHAT_DIR / "media",
        "state json": vault / STATE_DIR / "json",
    }[plant]
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    run = export(tmp_path, vault)
    assert run.returncode != 0
    one_clear_sentence(run, "is a symlink inside the export dir; refusing to write through it")
    assert list(outside.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("plant", ["chat folder", "year folder", "index note", "result.json"])
def test_a_symlink_planted_in_an_exported_vault_is_never_written_through(tmp_path, reference, plant):
    vault = tmp_path / "vault"
    shutil.copytree(reference, vault)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    chat = vault / CHAT_DIR
    target = {
        "chat folder": chat,
        "year folder": next(p for p in chat.iterdir() if p.is_dir() and p.name.isdigit()),
        "index note": chat / f"{chat.name}.md",
        "result.json": chat / "result.json",
    }[plant]
    target.rename(tmp_path / "moved")
    target.symlink_to(outside / "keep.txt" if target.suffix else outside)
    run = export(tmp_path, vault)  # a re-run rewrites the chat's index note and result.json
    assert run.returncode != 0
    one_clear_sentence(run, "is a symlink inside the export dir; refusing to write through it")
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]
    assert (outside / "keep.txt").read_text() == "mine"


@pytest.mark.slow
def test_a_link_planted_where_a_new_media_file_goes_makes_it_take_another_name(tmp_path, reference):
    """A link (to a file outside, or dangling) at the name a file is first downloaded under is someone else's:
    the file takes the next free name, as beside a file or folder of theirs, and the link is left as it is."""
    vault = tmp_path / "vault"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    media = sorted(p.relative_to(reference) for p in (reference / CHAT_DIR / "media").rglob("*") if p.is_file())
    to_file, dangling = vault / media[0], vault / media[1]
    for link in (to_file, dangling):
        link.parent.mkdir(parents=True, exist_ok=True)
    to_file.symlink_to(outside / "keep.txt")
    dangling.symlink_to(outside / "nothing.jpg")
    run = export(tmp_path, vault)
    assert run.returncode == 0, run.stdout + run.stderr
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"] and (outside / "keep.txt").read_text() == "mine"
    for link, original in ((to_file, media[0]), (dangling, media[1])):
        assert link.is_symlink()
        stem, ext = link.name.rsplit(".", 1)
        assert (link.parent / f"{stem} (2).{ext}").read_bytes() == (reference / original).read_bytes()

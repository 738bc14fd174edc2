"""`--since` on a chat exported before, and `--backfill`: the older messages land exactly once, in order, in front
of the ones exported before, through the real `tobs-tui export` against the emulator; a back-fill killed at
random instants resumes to the same vault as one never interrupted."""

from __future__ import annotations

import json
import random
import shutil
import signal
import sqlite3
import subprocess

import pytest

from tests.reliability.crash_harness import (
    _run,
    consistency_problems,
    export_command,
    state_tables,
    vault_files,
)
from tests.support.child import REPO, child_env
from tests.support.vaults import notes_of
from tobs_tui import cli

WORLD = """\
seed = 11
max_file_size = 65536
generated_users = 8

[[chats]]
kind = "supergroup"
title = "Back Room"
messages = 3000
media = 0.1
span_days = 120

[[chats]]
kind = "private"
messages = 300
media = 0.1
span_days = 120

[[chats]]
kind = "forum"
title = "Back Forum"
messages = 400
media = 0.1
span_days = 120
"""
# The world's messages run from early September to the end of December 2025.
LATER, EARLIER = "2025-11-10", "2025-10-01"


@pytest.fixture
def world(tmp_path):
    path = tmp_path / "world.toml"
    path.write_text(WORLD, encoding="utf-8")
    return path


def export(world, vault, *extra: str, env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*export_command(world, vault), *extra], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
    )


def chat_notes(vault) -> dict[str, dict[str, list[int]]]:
    return {d.name: notes_of(d) for d in sorted(vault.iterdir()) if d.is_dir() and not d.name.startswith(".")}


def pending_backfills(vault) -> int:
    db = sqlite3.connect(f"file:{vault / '.tobs' / 'state.sqlite'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT count(*) FROM backfills").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # killed before the schema existed
    finally:
        db.close()


def test_since_on_an_exported_chat_says_it_does_not_apply(world, tmp_path, capsys):
    vault = tmp_path / "v"
    args = ["export", "--emulator", "--world", str(world), "--chat", "Back Room", "--out", str(vault), "--no-media"]
    assert cli.main([*args, "--since", LATER]) == 0
    capsys.readouterr()
    assert cli.main([*args, "--since", EARLIER]) == 0
    _, err = capsys.readouterr()
    assert (
        '"Back Room" was exported before, so the start date 2025-10-01 does not apply to it: this run continues '
        "after its last exported message. To fetch the messages before its first exported one, back-fill it "
        "(`tobs-tui export --backfill`)." in err
    )
    assert "Traceback" not in err


@pytest.mark.slow
def test_backfill_puts_older_messages_in_front_exactly_once_and_a_killed_one_resumes(world, tmp_path):
    env = child_env(tmp_path / "home")
    full = tmp_path / "full"
    assert export(world, full, env=env).returncode == 0

    base = tmp_path / "base"
    first = export(world, base, "--since", LATER, env=env)
    assert first.returncode == 0, first.stderr
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    shutil.copytree(base, clean)
    shutil.copytree(base, killed)

    # Uninterrupted: from EARLIER, then the rest from the beginning.
    for extra in (("--backfill", "--since", EARLIER), ("--backfill",)):
        run = export(world, clean, *extra, env=env)
        assert run.returncode == 0, run.stderr
    assert consistency_problems(clean) == []
    assert not (clean / ".tobs" / "backfill").exists()
    # Every message once, in order, in the note it belongs to, as an export of the whole history has them.
    assert chat_notes(clean) == chat_notes(full)
    # The JSON (result.json, the JSONL) and media byte for byte; the notes differ only where a message exported
    # before the back-fill replies to one it brought (written then as "not in this export").
    back_filled = vault_files(clean)
    for rel, data in vault_files(full).items():
        if rel.endswith((".json", ".jsonl")) or "/media/" in rel:
            assert back_filled[rel] == data, rel
    summary = json.loads((next(clean.glob("Back Room*")) / "result.json").read_text(encoding="utf-8"))
    assert len(summary["messages"]) == 3000

    # Killed at seeded random instants while back-filling, resumed by running the same command again. Each kill
    # is timed from the moment the back-fill is staged, not from the start, so start-up on a busy machine
    # cannot push every kill past the end of a back-fill that lasts about a second.
    rng = random.Random(20261206)
    log = tmp_path / "exports.log"
    hit_staged = 0
    for extra in (("--backfill", "--since", EARLIER), ("--backfill",)):
        cmd = [*export_command(world, killed), *extra]
        for _ in range(3):
            stopped = _run(
                cmd, env, log, rng.uniform(0.0, 0.8), signal.SIGKILL, armed=lambda: pending_backfills(killed) > 0
            )
            assert stopped.orphans == 0
            hit_staged += pending_backfills(killed)
        last = _run(cmd, env, log)
        assert last.exit_code == 0, log.read_text()[-3000:]
    assert hit_staged, "no kill landed while a back-fill was under way"
    assert consistency_problems(killed) == []
    assert vault_files(killed) == vault_files(clean)
    assert state_tables(killed) == state_tables(clean)
    assert pending_backfills(killed) == 0 and not (killed / ".tobs" / "backfill").exists()

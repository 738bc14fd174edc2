"""kill -9 a vault writer at seeded random instants (timed, and inside commits), resume, compare byte for byte."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import tobs_tui
from tobs_tui.engine.vault.vault import Vault

# The writer runs as a script from tmp_path: make the package importable however it is installed.
CHILD_ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(
        [str(Path(tobs_tui.__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")]
    ),
}

# A deterministic export of two chats through the real Vault; resumes from the committed last_id like the pipeline.
WRITER = r'''
import os, signal, sys
from pathlib import Path
from tobs_tui.engine.vault import store as store_module
from tobs_tui.engine.vault.filenames import chat_dir_name
from tobs_tui.engine.vault.jsonl import encode_line
from tobs_tui.engine.vault.vault import Vault

root = Path(sys.argv[1])
crash = sys.argv[2] if len(sys.argv) > 2 else ""
CHATS = [(-1001234, "Family ✓ [notes]"), (42, "../Bob: ∕ CON")]
N, BATCH = 900, 37


def die():
    os.kill(os.getpid(), signal.SIGKILL)


if crash:
    stage, k = crash.split(":")
    k, seen = int(k), [0]
    if stage == "pwrite":  # a torn write: half the bytes reach the file, then the process dies
        real_pwrite = os.pwrite
        def pwrite(fd, data, offset):
            seen[0] += 1
            if seen[0] == k:
                real_pwrite(fd, bytes(data[: len(data) // 2]), offset)
                die()
            return real_pwrite(fd, data, offset)
        os.pwrite = pwrite
    elif stage == "fsync":
        real_fsync = os.fsync
        def fsync(fd):
            seen[0] += 1
            if seen[0] == k:
                die()
            real_fsync(fd)
        os.fsync = fsync
    else:  # before_db / after_db: files durable, state not (yet) committed / committed
        real_commit = store_module.StateStore.commit_batch
        def commit_batch(self, *args, **kwargs):
            seen[0] += 1
            if seen[0] == k and stage == "before_db":
                die()
            real_commit(self, *args, **kwargs)
            if seen[0] == k:
                die()
        store_module.StateStore.commit_batch = commit_batch


def body(cid, i):
    extra = "line two — ✓\n" if i % 5 == 0 else ""
    return f"message {i} of {cid} " + "é" * (i % 13) + "\n" + extra


with Vault(root) as v:
    v.recover()
    print("ready", flush=True)
    for cid, title in CHATS:
        d = chat_dir_name(title, cid)
        v.store.upsert_chat(cid, title=title, kind="group", username=None, dir_name=d)
        w = v.chat_writer(cid)
        start = v.store.chat_progress(cid).last_id + 1
        for first in range(start, N + 1, BATCH):
            ids = range(first, min(first + BATCH, N + 1))
            rows = []
            for i in ids:
                year, month = 2023 + i // 400, (i // 60) % 12 + 1
                note = f"{d}/{year}/{year}-{month:02d}.md"
                text = body(cid, i)
                w.append(note, f"**Bob** · 2024-01-05 10:00\n{text.rstrip()} ^m{i}\n\n",
                         header=f"---\nchat: {cid}\nmonth: {year}-{month:02d}\n---\n\n")
                w.append_json_line(encode_line({"id": i, "type": "message", "from": "Bob", "text": text}))
                rows.append((i, note.removesuffix(".md"), "Bob", text[:20]))
            w.commit(last_id=ids[-1], messages=rows)
        rec = v.store.chat_progress(cid)
        v.write_file_atomic(f"{d}/{d}.md", f"---\nid: {cid}\nrange: {rec.first_id}-{rec.last_id}\n"
                                           f"messages: {rec.message_count}\n---\n".encode())
        w.write_result_json(f"{d}/result.json", {"name": title, "type": "private_group", "id": cid})
print("done", flush=True)
'''

KILLS = 24
SEED = 20261129


def tree(root: Path) -> dict[str, bytes]:
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith((".tobs/state.sqlite", ".tobs/lock", ".tobs/intents/")):
            out[rel] = path.read_bytes()
    return out


def run_writer(script: Path, root: Path, crash: str = "", kill_after: float | None = None) -> int:
    proc = subprocess.Popen(
        [sys.executable, str(script), str(root), *([crash] if crash else [])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=CHILD_ENV,
    )
    assert proc.stdout.readline() == "ready\n", proc.stderr.read()
    if kill_after is not None:
        time.sleep(kill_after)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=120)
    stderr = proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode in (0, -signal.SIGKILL), stderr
    return proc.returncode


def assert_rolled_back_to_the_last_commit(root: Path) -> None:
    """After recover() every appended file on disk is exactly its committed length, and nothing else is left."""
    with Vault(root) as v:
        v.recover()
        committed = {r.path: r.length for r in v.store.all_files()}
        chats = {c.dir_name for c in v.store.all_chats()}
        assert all(length > 0 for length in committed.values())
        for path in root.rglob("*"):
            rel = path.relative_to(root).as_posix()
            if (path.is_file() and not rel.startswith(".tobs/")) or rel.startswith(".tobs/json/"):
                if rel in committed:
                    assert path.stat().st_size == committed[rel], rel
                else:  # only whole-file atomic writes live outside the committed-length table
                    assert rel.endswith(("/result.json", ".md")) and rel.split("/")[0] in chats, rel
                    assert rel.count("/") == 1, rel
        assert list(v.tmp_dir.iterdir()) == []


def assert_state_consistent(root: Path) -> None:
    with Vault(root) as v:
        assert v.recover().clean
        for record in v.store.all_files():
            assert record.length > 0
            assert (root / record.path).stat().st_size == record.length
        for chat in v.store.all_chats():
            assert chat.message_count == chat.last_id == 900
            assert len(v.store.lookup_messages(chat.chat_id, range(1, 901))) == 900
        assert list(v.tmp_dir.iterdir()) == []


def test_kill_minus_nine_anywhere_then_resume_is_byte_identical(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER, encoding="utf-8")
    reference = tmp_path / "reference"
    started = time.monotonic()
    assert run_writer(script, reference) == 0
    duration = time.monotonic() - started
    expected = tree(reference)
    assert len([p for p in expected if p.endswith(".md")]) > 20

    rng = random.Random(SEED)
    kills = 0
    killed_by: dict[str, int] = {}
    completed = 0
    attempt = 0
    while kills < KILLS or completed == 0:
        vault = tmp_path / f"crashed-{completed}"
        attempt += 1
        assert attempt < 400, "the writer never finished"
        mode = rng.choice(["timed", "timed", "pwrite", "fsync", "before_db", "after_db"])
        if mode == "timed":
            code = run_writer(script, vault, kill_after=rng.uniform(0, duration / 6))
        else:
            code = run_writer(script, vault, crash=f"{mode}:{rng.randint(1, 25)}")
        if code == 0:
            assert tree(vault) == expected, f"vault differs after resuming from kills (seed {SEED})"
            assert_state_consistent(vault)
            completed += 1
        else:
            kills += 1
            killed_by[mode] = killed_by.get(mode, 0) + 1
            assert_rolled_back_to_the_last_commit(vault)
    assert kills >= KILLS
    # timed kills land anywhere; the others are certain to land inside a commit, at each step of it
    assert set(killed_by) == {"timed", "pwrite", "fsync", "before_db", "after_db"}, killed_by
    print(f"kills by mode: {killed_by}, vaults completed: {completed}")

"""kill -9 the exporting process at seeded random instants, resume each time, and compare the final vault byte for
byte with an uninterrupted export (the index notes' export-time line excepted)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.support.vaults import vault_bytes
from tobs_tui.emulator import Emulator
from tobs_tui.emulator.world import World

KILLS = int(os.environ.get("TOBS_KILLS", "5"))  # CI runs the short form; raise it for a long soak

WORLD = {
    "seed": 9,
    "generated_users": 8,
    "chats": [
        {"kind": "supergroup", "title": "Main Hall", "messages": 3000, "media": 0.1},
        {"kind": "forum", "title": "Forum", "messages": 600, "media": 0.1},
        {"kind": "private", "messages": 400, "media": 0.2},
        {"kind": "channel", "title": "Announcements", "messages": 500, "media": 0.3},
    ],
}

EXPORTER = r"""
import dataclasses, sys
from pathlib import Path
from tobs_tui.config import Settings
from tobs_tui.engine import ChatSelection, EngineRunner, ExportRequest

session, out = sys.argv[1], Path(sys.argv[2])
base = Settings()
settings = dataclasses.replace(base, export=dataclasses.replace(base.export, output_dir=out, download_media=False),
                               workers=dataclasses.replace(base.workers, max_threads=4))
runner = EngineRunner(settings, session=session, api_id=1, api_hash="0" * 32)
runner.start()
assert runner.connect().result(60)
dialogs = runner.list_dialogs().result(60)
print("exporting", flush=True)
final = runner.start_export(ExportRequest(tuple(ChatSelection(d.chat_id) for d in dialogs))).result(600)
print("finished", final.state.value, final.messages_done, flush=True)
runner.stop()
"""


def start(session: str, out) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", EXPORTER, session, str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.slow
def test_kill_at_random_points_then_resume_gives_the_same_vault(tmp_path):
    rng = random.Random(20261129)
    with Emulator(profile="lan", seed=9, world=World(WORLD)) as emu:
        session = emu.session_string()
        whole = tmp_path / "whole"
        proc = start(session, whole)
        assert proc.stdout.readline().strip() == "exporting", proc.stderr.read()
        began = time.monotonic()
        out, err = proc.communicate(timeout=300)
        span = time.monotonic() - began
        assert proc.returncode == 0 and "finished done 4500" in out, err

        killed = tmp_path / "killed"
        kills = 0
        consumed = 0.0  # seconds of export the killed runs were given: at most what they did
        orphans: list[psutil.Process] = []
        while kills < KILLS:
            proc = start(session, killed)
            assert proc.stdout.readline().strip() == "exporting", proc.stderr.read()
            # Spread the kills over the export, each drawn within what is left of it: at most 2/(k+2) of the rest
            # with k kills to go, so every kill lands before the end even where a busy machine makes the runs
            # unequal (a bound of the whole export's share let the last kills fall after it on a loaded CI run).
            delay = rng.uniform(0.0, 2 * max(span - consumed, 0.0) / (KILLS - kills + 2))
            time.sleep(delay)
            consumed += delay
            if proc.poll() is not None:
                break  # it finished before the kill landed: nothing left to interrupt
            helpers = psutil.Process(proc.pid).children(recursive=True)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            orphans.extend(helpers)
            proc.stdout.close()
            proc.stderr.close()
            kills += 1
        proc = start(session, killed)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0 and "finished done" in out, err
    assert kills >= KILLS - 1, f"only {kills} kills landed before the export finished"
    assert vault_bytes(killed) == vault_bytes(whole)
    # The render worker processes of a killed exporter notice and exit on their own.
    _, alive = psutil.wait_procs(orphans, timeout=10)
    assert not alive, f"render workers outlived their killed exporter: {[p.pid for p in alive]}"

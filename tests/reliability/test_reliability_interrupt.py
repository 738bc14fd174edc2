"""Ctrl-C in a terminal during `tobs-tui export`: the terminal sends SIGINT to the whole process group, render
worker processes included. The export says one line, exits 130, and the next run ends byte-identical to an
export that was never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.reliability.crash_harness import WORLD_TOML, compare, export_command
from tests.support.child import REPO, child_env

INTERRUPTED = "Interrupted; the next run continues where it stopped.\n"


def _export(cmd: list[str], env: dict[str, str], stdout: Path, stderr: Path) -> subprocess.Popen:
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        # Its own process group, as a shell gives a job: Ctrl-C reaches every process in it.
        return subprocess.Popen(cmd, env=env, cwd=REPO, stdout=out, stderr=err, start_new_session=True)


def _committed_progress(stdout: Path) -> bool:
    for line in stdout.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if row.get("messages_done", 0) > 0:
            return True
    return False


@pytest.mark.slow
def test_ctrl_c_to_the_process_group_is_one_line_exit_130_and_resumes_identical(tmp_path):
    world = tmp_path / "world.toml"
    world.write_text(WORLD_TOML, encoding="utf-8")
    env = child_env(tmp_path / "home")

    reference = tmp_path / "reference"
    whole = subprocess.run(export_command(world, reference), env=env, cwd=REPO, capture_output=True, timeout=300)
    assert whole.returncode == 0, whole.stderr.decode()

    vault = tmp_path / "vault"
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    proc = _export([*export_command(world, vault), "--json-progress"], env, out, err)
    try:
        deadline = time.monotonic() + 120
        while not _committed_progress(out):
            assert proc.poll() is None, err.read_text()
            assert time.monotonic() < deadline, "the export never got going"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert code == 130, err.read_text()
    # The one line, after whatever warnings the run logged before (a loaded machine may look throttled).
    said = err.read_text().split("\n")
    assert said[-2:] == [INTERRUPTED.rstrip("\n"), ""], said
    assert all(line.startswith("tobs-tui: WARNING: ") for line in said[:-2]), said
    assert "Traceback" not in out.read_text()

    resumed = subprocess.run(export_command(world, vault), env=env, cwd=REPO, capture_output=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert compare(reference, vault) == []

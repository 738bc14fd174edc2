"""CI smoke run of the benchmark harness: `python -m benchmarks.run_all --quick` produces every row and both
result files. It checks the harness, not performance: no figure is asserted against its goal."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest

from benchmarks.run_all import MODULES
from tests.support.child import REPO


@pytest.mark.once
def test_quick_run_writes_every_row(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run_all", "--quick", "--out", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]

    result = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    assert result["quick"] is True
    assert [s["module"] for s in result["sections"]] == list(MODULES)
    assert all(s["error"] is None for s in result["sections"]), [s["error"] for s in result["sections"]]

    rows = {r["id"]: r for r in result["rows"]}
    expected = [row for name in MODULES for row in importlib.import_module(f"benchmarks.{name}").ROWS]
    assert sorted(rows) == sorted(expected)
    for row in rows.values():
        # A figure, or an honest "not measured here" that says why.
        assert isinstance(row["value"], (int, float)) or (row["value"] is None and row["note"]), row
        if row["goal"]:
            assert row["met"] in (True, False), row

    table = (tmp_path / "latest.md").read_text(encoding="utf-8")
    for row in rows.values():
        assert row["name"].replace("|", "\\|") in table
    for number in range(1, 7):
        assert f"\n## {number}. " in table

    # Re-running one module replaces its rows and keeps the rest of the table.
    again = subprocess.run(
        [sys.executable, "-m", "benchmarks.run_all", "--quick", "--only", "ab_media_workers", "--out", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0, again.stderr[-4000:]
    merged = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    assert sorted(r["id"] for r in merged["rows"]) == sorted(expected)
    assert [s["run"] for s in merged["sections"] if s["module"] == "ab_media_workers"] == [1]
    assert len(merged["runs"]) == 2 and "--only ab_media_workers" in merged["runs"][1]["command"]

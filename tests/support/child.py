"""The one way the tests start tobs-tui in a child process: this checkout importable, config and logs in a
scratch home, and a fault handler that dumps every thread's stack on SIGABRT (to see where a child hung)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def child_env(home: Path) -> dict[str, str]:
    """The export's environment: this checkout importable, config and logs in a scratch home."""
    env = {k: v for k, v in os.environ.items() if k not in ("TOBS_CONFIG", "MEDIA_WORKERS", "MAX_THREADS")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env["HOME"] = str(home)
    env["PYTHONFAULTHANDLER"] = "1"
    for var, sub in (
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_CACHE_HOME", ".cache"),
    ):
        env[var] = str(home / sub)
    return env


def tobs_command(*args: str) -> list[str]:
    """`python -m tobs_tui ARGS...` with this interpreter."""
    return [sys.executable, "-m", "tobs_tui", *args]


def start_child(args: list[str], home: Path, **popen: object) -> subprocess.Popen:
    """Start `python -m tobs_tui ARGS...` in its own environment (see child_env), from the checkout."""
    return subprocess.Popen(tobs_command(*args), env=child_env(home), cwd=REPO, **popen)  # type: ignore[arg-type]

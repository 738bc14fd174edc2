"""Shared fixtures: keep the developer's real config and environment out of every test."""

from __future__ import annotations

import os
import signal

# A suite started in the background of a script (`pytest … &`) inherits SIGINT ignored, and so would every
# export it starts: the tests that press Ctrl-C on an export would then watch it run to the end. Ctrl-C is
# Python's own again here, so each child starts with it as a terminal would give it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Methods marked @pool_side / @loop_side check the thread they run on (tobs_tui/engine/runtime/threads.py).
os.environ["TOBS_CHECK_THREADS"] = "1"

import pytest


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path, monkeypatch):
    """Point config and data dirs at a temp dir and clear the env overrides we honour."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    for name in ("TOBS_CONFIG", "MEDIA_WORKERS", "MAX_THREADS", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield


# The 3.12 run is there for what changes between Pythons under the product: the event loop that Textual,
# Telethon and the engine share, and the threads and processes around it. These modules check what an export
# leaves on disk (file formats and their readers, the vault after kills, signals and hand edits) through long
# harnesses of the same code the 3.12 run already drives: marked `once`, only the 3.11 run has them.
ONCE_MODULES = {
    "tests/integration/engine/test_kill_resume.py",
    "tests/integration/engine/test_tdesktop_json.py",
    "tests/reliability/test_reliability_backfill.py",
    "tests/reliability/test_reliability_crash.py",
    "tests/reliability/test_reliability_disk.py",
    "tests/reliability/test_reliability_hostile.py",
    "tests/reliability/test_reliability_input.py",
    "tests/reliability/test_reliability_interrupt.py",
    "tests/reliability/test_reliability_vault.py",
    "tests/reliability/test_reliability_verify_links.py",
}
# Plain functions of text, files and SQLite: no loop, no thread of their own.
ONCE_FOLDERS = ("tests/unit/engine/render/", "tests/unit/engine/vault/", "tests/unit/engine/runner/")


def pytest_collection_modifyitems(config, items):
    root = config.rootpath
    for item in items:
        where = item.path.relative_to(root).as_posix()
        if where in ONCE_MODULES or where.startswith(ONCE_FOLDERS):
            item.add_marker(pytest.mark.once)

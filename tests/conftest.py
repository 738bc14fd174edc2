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


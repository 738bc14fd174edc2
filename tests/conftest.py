"""Shared fixtures: keep the developer's real config and environment out of every test."""

from __future__ import annotations

import os

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

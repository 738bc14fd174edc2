"""Vault work (disk and SQLite) run on a worker pool without outliving its caller."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from tobs_tui.engine.runtime.pools import DualPool, TaskPriority
from tobs_tui.engine.vault.vault import write_error


async def run_on_pool(pools: DualPool, root: Path, fn, *args, priority: TaskPriority = TaskPriority.HIGH, **kwargs):
    """Disk and SQLite work on a pool; a cancelled caller still waits for it to finish, so no write outlives
    the caller and the vault is never closed under a running commit."""
    fut = pools.submit(fn, *args, priority=priority, **kwargs)
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:
        await asyncio.wait([fut])
        if not fut.cancelled():
            fut.exception()  # the caller is gone: its error would only be "never retrieved" noise
        raise
    except (OSError, sqlite3.OperationalError) as exc:
        # A full disk often shows first in the state DB ("database or disk is full"): one sentence for the
        # user, not a traceback, and the chat stops at its last commit.
        raise write_error(exc, root) from exc

"""Plain helpers the UI tests import (conftest modules are not importable by name across test folders)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def wait_until(pilot, condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Let the app run until `condition()` holds (engine work happens on its own thread meanwhile)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await pilot.pause(0.05)
        await asyncio.sleep(0)

"""Waiting for a condition: from a plain test thread, or inside a Textual Pilot while the engine works."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, step: float = 0.02) -> bool:
    """Poll `predicate` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


async def wait_until(pilot, condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Let the app run until `condition()` holds (engine work happens on its own thread meanwhile)."""
    from textual.css.query import NoMatches

    def holds() -> bool:
        # A screen is current as soon as it is pushed, and has its widgets only once mounted: a widget not
        # there yet is a condition not met yet (one that never appears ends in the timeout below).
        try:
            return bool(condition())
        except NoMatches:
            return False

    deadline = time.monotonic() + timeout
    while not holds():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await pilot.pause(0.05)
        await asyncio.sleep(0)


async def click(pilot, selector: str, timeout: float = 20.0) -> None:
    """Click the widget `selector` names once it stands where the screen draws it.

    Pilot aims a click at the widget's region as last laid out: right after a step changes what is on screen
    (one field group hidden, another shown), a busy machine may not have laid the screen out again yet, and the
    click lands where the widget was. And a button ignores clicks for a moment after each press (while it shows
    the press, class `-active`): a form whose steps answer quickly has its next click dropped. Wait for a
    layout and a button ready to be pressed, click, and click again only if it missed.
    """
    deadline = time.monotonic() + timeout
    while True:
        await pilot.pause()
        widget = pilot.app.screen.query_one(selector)
        ready = not widget.disabled and widget.region.area and not widget.has_class("-active")
        if ready and await pilot.click(selector):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s trying to click {selector}")
        await pilot.pause(0.05)

"""How long the engine loop waits for the network, and how long its latest turns kept work waiting: the
selector's `select()` marks each turn of the loop.

While the loop is blocked in `select()`, nothing in this process is waiting to run, so a reply that has not
been handled yet has not arrived yet either: the idle time inside a request's round trip is the server's and
the network's for certain. And a reply, once its bytes arrive, reaches the task awaiting it within a few turns
of the loop (the transport reads it, Telethon's connection and sender tasks pass it on and decode it, the
awaiting task resumes): the busy time of the loop's latest turns bounds what our own CPU (a busy loop, the GIL,
other processes on the machine) added to its latency.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections import deque

# Turns of the loop between a reply's bytes arriving and its awaiting task resuming: the turn that reads them,
# one each for Telethon's connection and sender tasks, the awaiting task's own, and the turn before the read
# (the bytes may have arrived just after that turn's select()).
REPLY_TURNS = 5


class IdleTimedSelector(selectors.DefaultSelector):
    """The platform's default selector, timing each `select()`: the idle seconds in all, the latest turns."""

    def __init__(self) -> None:
        super().__init__()
        self._idle = 0.0
        self._turns: deque[tuple[float, float]] = deque(maxlen=REPLY_TURNS)  # (select started, returned)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        started = time.perf_counter()
        try:
            return super().select(timeout)
        finally:
            returned = time.perf_counter()
            if timeout is None or timeout > 0:  # a poll (work is queued) is a turn, but never idle
                self._idle += returned - started
            else:
                started = returned
            self._turns.append((started, returned))

    def idle_s(self) -> float:
        """Seconds blocked in select() so far; read it on the loop's own thread (differences are what count)."""
        return self._idle

    def recent_busy_s(self) -> float:
        """Seconds the loop spent running work (not waiting in select()) over its latest REPLY_TURNS turns, the
        current one included; read it on the loop's own thread."""
        now = time.perf_counter()
        busy = 0.0
        for started, returned in reversed(self._turns):
            busy += now - returned
            now = started
        return busy


def idle_timed_loop() -> tuple[asyncio.AbstractEventLoop, IdleTimedSelector]:
    """A new selector event loop whose idle time and latest turns can be read."""
    selector = IdleTimedSelector()
    return asyncio.SelectorEventLoop(selector), selector

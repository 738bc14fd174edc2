"""How long the engine loop has waited for the network: the time its selector spent blocked in `select()`.

While the loop is blocked there, nothing in this process is waiting to run, so a reply that has not been
handled yet has not arrived yet either. The idle time inside a request's round trip is therefore the part
of its latency that the server and the network certainly took; the rest may be our own CPU (a busy loop,
the GIL, other processes on the machine) keeping the reply waiting.
"""

from __future__ import annotations

import asyncio
import selectors
import time


class IdleTimedSelector(selectors.DefaultSelector):
    """The platform's default selector, adding up the seconds `select()` blocked."""

    def __init__(self) -> None:
        super().__init__()
        self._idle = 0.0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout <= 0:
            return super().select(timeout)  # a poll: the loop has work queued, so it is not idle
        started = time.perf_counter()
        try:
            return super().select(timeout)
        finally:
            self._idle += time.perf_counter() - started

    def idle_s(self) -> float:
        """Seconds blocked in select() so far; read it on the loop's own thread (differences are what count)."""
        return self._idle


def idle_timed_loop() -> tuple[asyncio.AbstractEventLoop, IdleTimedSelector]:
    """A new selector event loop whose idle time can be read."""
    selector = IdleTimedSelector()
    return asyncio.SelectorEventLoop(selector), selector

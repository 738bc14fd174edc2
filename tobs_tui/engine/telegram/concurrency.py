"""The adaptive in-flight request limit: slow start until the server first pushes back, then additive increase
while healthy and multiplicative decrease on throttling (AIMD); a FloodWait starts it again at one. Always within
[1, max_limit], at most one decrease per window of replies. A free slot goes to the most urgent waiter (the
lowest priority number). Used from the engine's loop only."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import AsyncIterator, Callable


class AdaptiveLimit:
    """An asyncio semaphore whose size moves with the server's health."""

    def __init__(
        self,
        max_limit: int,
        *,
        initial: int | None = None,
        increase_every: int = 8,
        decrease_factor: float = 0.5,
        ceiling_hold_s: float = 30.0,
        slow_start: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_limit < 1:
            raise ValueError("max_limit must be at least 1")
        self._max = max_limit
        # Start at half the cap: fast enough on a healthy server, gentle if it is already throttling us.
        self._limit = max(1, min(max_limit, initial if initial is not None else (max_limit + 1) // 2))
        self._in_flight = 0
        self._healthy_streak = 0
        # Replies still due from requests sent before the last decrease: they were slowed (or flooded) by the
        # load before it, so they must not cut the limit again (as TCP halves its window once per round trip).
        self._hold = 0
        self._increase_every = increase_every
        # Slow start: below this level, one more slot per healthy reply, so the limit doubles every round trip
        # instead of growing by one per window (at long round trips the climb from half the cap took a second
        # of a few-second export). It runs to the cap until the server first pushes back (throttling, a
        # probe, replies slowing); after a FloodWait the limit starts again at one and runs up to half the
        # level the FloodWait came at, as TCP does after a timeout. 0: off.
        self._slow_start_to = max_limit if slow_start else 0
        self._decrease_factor = decrease_factor
        # Waiting requests: (priority, arrival, future); a future's result means its slot was taken for it.
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()
        self._before_probe: int | None = None  # the limit a probe halved, while it runs
        # A FloodWait at N requests in flight means N is more than the server's rate allows: growth stops one
        # below it (the ceiling) until `hold` seconds pass without another, then may try N again. A FloodWait
        # at the ceiling's edge doubles the hold (up to 8x), so a rate limit costs a few FloodWaits per export,
        # not one per cycle of growth.
        self._clock = clock
        self._ceiling: int | None = None
        self._ceiling_until = 0.0
        self._flood_level: int | None = None  # the level the last FloodWait came at (kept past its hold)
        self._hold_s = ceiling_hold_s
        self._base_hold_s = ceiling_hold_s
        self.increases = 0
        self.decreases = 0

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def max_limit(self) -> int:
        return self._max

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @contextlib.asynccontextmanager
    async def slot(self, priority: int = 0) -> AsyncIterator[None]:
        """Hold one request slot. When slots are short, lower `priority` numbers go first (the export gives its
        oldest id range the lowest, so the range the writer waits for is never starved by ranges ahead of it)."""
        if self._in_flight < self._limit and not self._waiters:
            self._in_flight += 1
        else:
            granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiters, (priority, next(self._arrivals), granted))
            try:
                await granted
            except asyncio.CancelledError:
                if granted.done() and not granted.cancelled():
                    self._release()  # the slot was taken for us just as we were cancelled: hand it on
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        self._in_flight -= 1
        self._grant()

    def _grant(self) -> None:
        """Give free slots to the most urgent waiters (those cancelled meanwhile are skipped)."""
        while self._waiters and self._in_flight < self._limit:
            _, _, granted = heapq.heappop(self._waiters)
            if not granted.done():
                self._in_flight += 1
                granted.set_result(None)

    def on_success(self, *, throttled: bool) -> None:
        """A request came back (it still holds its slot); grow by one after a streak of healthy replies, shrink
        when throttled."""
        if self._hold:
            self._hold -= 1
            if throttled:
                return
        if throttled:
            self._decrease(window=self._in_flight - 1)
            return
        if self._before_probe is not None:
            return  # a probe holds the limit where it put it until it is decided
        self._healthy_streak += 1
        # Additive increase: one more slot per window of healthy replies (a window is at least the limit,
        # the classic "+1 per round trip"); in slow start, one per reply.
        window = 1 if self.slow_start else max(self._increase_every, self._limit)
        if self._healthy_streak >= window and self._limit < self._grow_to():
            self._healthy_streak = 0
            self._limit += 1
            self.increases += 1
            self._grant()

    def _grow_to(self) -> int:
        """How far additive increase may go now: the cap, or one below the last FloodWait's level while its
        hold lasts."""
        if self._ceiling is None:
            return self._max
        if self._clock() >= self._ceiling_until:
            self._ceiling = None  # held long enough without a FloodWait: the old level may be tried again
            return self._max
        return min(self._max, self._ceiling)

    @property
    def ceiling(self) -> int | None:
        """The level growth stops at after a FloodWait (None: the cap), while its hold lasts."""
        return None if self._ceiling is None or self._clock() >= self._ceiling_until else self._ceiling

    def on_flood(self) -> None:
        """A FloodWait (its request has left its slot): the server told us outright we are too fast."""
        if self._hold:
            self._hold -= 1
            return
        self._hold_below(self._in_flight + 1)  # the requests in flight when it was sent, itself included
        level = self._limit
        self._decrease(window=self._in_flight)
        # The requests held by the wait go one at a time after it (see TelegramSource), then double per round
        # trip while the replies stay quick, up to half the level that drew it.
        self._slow_start_to = max(1, level // 2)
        self._limit = 1

    @property
    def slow_start(self) -> bool:
        return self._limit < self._slow_start_to

    def end_slow_start(self) -> None:
        """Replies are slowing (ThrottleDetector.rising): additive growth from here, before anything is cut."""
        self._slow_start_to = 0
        self._healthy_streak = 0

    def _hold_below(self, level: int) -> None:
        level = min(level, self._limit)
        if self._flood_level is not None and level <= self._flood_level:
            self._hold_s = min(self._hold_s * 2, self._base_hold_s * 8)  # that level again: hold longer
        else:
            self._hold_s = self._base_hold_s
        self._flood_level = level
        self._ceiling = max(1, level - 1)
        self._ceiling_until = self._clock() + self._hold_s

    def _decrease(self, *, window: int) -> None:
        self._healthy_streak = 0
        self._slow_start_to = 0
        new = max(1, int(self._limit * self._decrease_factor))
        if new < self._limit:
            self._limit = new
            self.decreases += 1
            self._hold = max(0, window)

    def probe(self) -> None:
        """Halve the requests in flight to see whether a rise in latency persists with fewer (ThrottleDetector);
        `end_probe` restores them if it did not."""
        if self._before_probe is None:
            self._slow_start_to = 0
            self._before_probe = self._limit
            self._healthy_streak = 0
            self._limit = max(1, self._limit // 2)
            # If the rise is confirmed, the replies already on their way count as the cut's, as after a decrease.
            self._hold = max(0, self._in_flight - 1)

    def end_probe(self, *, restore: bool) -> None:
        """The probe is decided: `restore` puts back the limit it halved (the rise was our own queueing)."""
        if self._before_probe is None:
            return
        if restore:
            self._limit = min(self._max, max(self._limit, self._before_probe))
            self._grant()
        self._before_probe = None

    @property
    def probing(self) -> bool:
        return self._before_probe is not None

    def set_max(self, max_limit: int) -> None:
        """Live change of the cap (settings panel); the current limit is clamped into it."""
        if max_limit < 1:
            raise ValueError("max_limit must be at least 1")
        self._max = max_limit
        self._limit = min(self._limit, max_limit)
        self._grant()

"""DualPool: critical and standard worker pools with priority routing, live resize and metrics.

HIGH tasks (disk writes, network-bound I/O) run in the critical pool; NORMAL and LOW tasks
(hashing, transcoding, cleanup) run in the standard pool, where LOW yields to NORMAL.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from enum import IntEnum
from typing import Any

from tobs_tui.engine.runtime.stats import percentile
from tobs_tui.engine.runtime.threads import mark_pool_thread
from tobs_tui.engine.snapshot import PoolStats

_WAIT_WINDOW = 512  # queue waits kept for the p50/p95 (recent work, bounded memory)


class TaskPriority(IntEnum):
    HIGH = 0
    NORMAL = 1
    LOW = 2


class _Task:
    __slots__ = ("args", "enqueued", "fn", "future", "kwargs")

    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict, future: concurrent.futures.Future) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.future = future
        self.enqueued = time.monotonic()


class _WorkerPool:
    """Our own threads: the stdlib executor can grow but never shrink.

    Shrinking lowers the target; a worker checks it only between tasks, so a running task
    always finishes and queued tasks stay queued for the workers that remain.
    """

    def __init__(self, name: str, size: int, *, thread_prefix: str, by_priority: bool) -> None:
        if size < 1:
            raise ValueError(f"the {name} pool needs at least 1 worker (got {size})")
        self.name = name
        self._prefix = thread_prefix
        self._by_priority = by_priority
        self._cond = threading.Condition()
        self._queue: list[tuple[int, int, _Task]] = []
        self._seq = itertools.count()
        self._target = 0
        self._alive = 0
        self._busy = 0
        self._closing = False
        self._threads: set[threading.Thread] = set()
        self._names = itertools.count(1)
        self._completed = 0
        self._failed = 0
        self._run_total = 0.0
        self._waits: deque[float] = deque(maxlen=_WAIT_WINDOW)
        self.resize(size)

    def put(self, task: _Task, priority: TaskPriority) -> None:
        # FIFO mode orders by arrival only; priority mode by (priority, arrival).
        key = int(priority) if self._by_priority else 0
        with self._cond:
            if self._closing:
                raise RuntimeError(f"the {self.name} pool is shut down; no new tasks are accepted")
            heapq.heappush(self._queue, (key, next(self._seq), task))
            self._cond.notify()

    def resize(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"the {self.name} pool needs at least 1 worker (got {size})")
        with self._cond:
            if self._closing:
                raise RuntimeError(f"the {self.name} pool is shut down and cannot be resized")
            self._target = size
            while self._alive < self._target:
                self._alive += 1
                t = threading.Thread(
                    target=self._work, daemon=True, name=f"{self._prefix}-{self.name}-{next(self._names)}"
                )
                self._threads.add(t)
                t.start()
            # Idle workers above the new target wake up and leave; busy ones leave after their task.
            self._cond.notify_all()

    def _next_task(self) -> _Task | None:
        with self._cond:
            while True:
                if self._alive > self._target or (self._closing and not self._queue):
                    self._alive -= 1
                    self._threads.discard(threading.current_thread())
                    self._cond.notify_all()
                    return None
                if self._queue:
                    _, _, task = heapq.heappop(self._queue)
                    if not task.future.set_running_or_notify_cancel():
                        continue  # cancelled while queued
                    self._busy += 1
                    self._waits.append(time.monotonic() - task.enqueued)
                    return task
                self._cond.wait()

    def _work(self) -> None:
        mark_pool_thread()
        while (task := self._next_task()) is not None:
            started = time.monotonic()
            error: BaseException | None = None
            result: Any = None
            try:
                result = task.fn(*task.args, **task.kwargs)
            except BaseException as exc:  # delivered to the caller, never lost in a thread
                error = exc
            # Count before delivering, so a caller that sees its result also sees it in metrics().
            with self._cond:
                self._busy -= 1
                self._run_total += time.monotonic() - started
                if error is None:
                    self._completed += 1
                else:
                    self._failed += 1
            if error is None:
                task.future.set_result(result)
            else:
                task.future.set_exception(error)
            task = result = error = None  # drop references before waiting for the next one

    def stats(self) -> PoolStats:
        with self._cond:
            waits = sorted(self._waits)
            done = self._completed + self._failed
            return PoolStats(
                name=self.name,
                workers=self._alive,
                busy=self._busy,
                queued=len(self._queue),
                completed=self._completed,
                failed=self._failed,
                wait_p50_ms=percentile(waits, 0.50) * 1000.0,
                wait_p95_ms=percentile(waits, 0.95) * 1000.0,
                mean_run_ms=(self._run_total / done * 1000.0) if done else 0.0,
            )

    def close(self, *, cancel_pending: bool) -> list[threading.Thread]:
        with self._cond:
            self._closing = True
            if cancel_pending:
                for _, _, task in self._queue:
                    task.future.cancel()
                self._queue.clear()
            self._cond.notify_all()
            return list(self._threads)


class DualPool:
    """Critical (HIGH) and standard (NORMAL, LOW) pools; `single_fifo` builds the A/B baseline."""

    def __init__(self, critical: int, standard: int, *, name: str = "tobs") -> None:
        self._critical = _WorkerPool("critical", critical, thread_prefix=name, by_priority=True)
        try:
            self._standard: _WorkerPool | None = _WorkerPool("standard", standard, thread_prefix=name, by_priority=True)
        except ValueError:
            self._critical.close(cancel_pending=True)
            raise

    @classmethod
    def single_fifo(cls, total: int, *, name: str = "tobs") -> DualPool:
        """One FIFO pool of `total` workers ignoring priorities: what the dual pools are measured against."""
        pool = cls.__new__(cls)
        pool._critical = _WorkerPool("fifo", total, thread_prefix=name, by_priority=False)
        pool._standard = None
        return pool

    def _route(self, priority: TaskPriority) -> _WorkerPool:
        if self._standard is None or priority is TaskPriority.HIGH:
            return self._critical
        return self._standard

    def submit_sync(
        self, fn: Callable[..., Any], /, *args: Any, priority: TaskPriority = TaskPriority.NORMAL, **kwargs: Any
    ) -> concurrent.futures.Future:
        """Queue `fn(*args, **kwargs)`; for callers that are not on an event loop."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._route(TaskPriority(priority)).put(_Task(fn, args, kwargs, future), TaskPriority(priority))
        return future

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, priority: TaskPriority = TaskPriority.NORMAL, **kwargs: Any
    ) -> asyncio.Future:
        """Queue `fn` on a worker thread; await the result on the calling loop.

        Cancelling the returned future before the task starts keeps it from running (asyncio
        forwards the cancel to the pool on the loop's next turn).
        """
        loop = asyncio.get_running_loop()
        return asyncio.wrap_future(self.submit_sync(fn, *args, priority=priority, **kwargs), loop=loop)

    def resize(self, *, critical: int | None = None, standard: int | None = None) -> None:
        """Change pool sizes while running: no queued task is lost, no running task is stopped."""
        if self._standard is None and standard is not None:
            raise ValueError("a single FIFO pool has one size; pass critical= only")
        for size in (critical, standard):
            if size is not None and size < 1:  # checked first so a bad pair changes nothing
                raise ValueError(f"each pool needs at least 1 worker (got critical={critical}, standard={standard})")
        if critical is not None:
            self._critical.resize(critical)
        if standard is not None and self._standard is not None:
            self._standard.resize(standard)

    def metrics(self) -> tuple[PoolStats, ...]:
        """(critical, standard) for dual pools; (fifo,) for a single FIFO pool."""
        if self._standard is None:
            return (self._critical.stats(),)
        return self._critical.stats(), self._standard.stats()

    def shutdown(self, *, wait: bool = True, cancel_pending: bool = False) -> None:
        """Stop accepting tasks; drain the queues (or cancel what has not started); optionally join."""
        threads = self._critical.close(cancel_pending=cancel_pending)
        if self._standard is not None:
            threads += self._standard.close(cancel_pending=cancel_pending)
        if wait:
            current = threading.current_thread()
            for t in threads:
                if t is not current:
                    t.join()

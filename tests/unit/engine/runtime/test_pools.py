"""DualPool: priority routing, live resize, error delivery, shutdown, metrics (events, no sleeps)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tobs_tui.config import default_total_threads, split_threads
from tobs_tui.engine.runtime.pools import DualPool, TaskPriority

TIMEOUT = 10.0  # generous: only reached when something is broken


class Gate:
    """Tasks that report they started and then block until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self.started: list[object] = []
        self.running = 0
        self.max_running = 0

    def task(self, tag: object = None):
        def run():
            with self._cond:
                self.started.append(tag)
                self.running += 1
                self.max_running = max(self.max_running, self.running)
                self._cond.notify_all()
            try:
                assert self.release.wait(TIMEOUT), "gate never released"
                return tag
            finally:
                with self._cond:
                    self.running -= 1

        return run

    def wait_started(self, n: int) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.started) >= n, TIMEOUT), self.started


@pytest.fixture
def pools():
    made: list[DualPool] = []

    def make(*a, **kw):
        p = DualPool(*a, **kw) if a else DualPool.single_fifo(**kw)
        made.append(p)
        return p

    yield make
    for p in made:
        p.shutdown(wait=True, cancel_pending=True)


def stats(pool, name):
    return {s.name: s for s in pool.metrics()}[name]


def test_default_total_threads():
    assert default_total_threads(1) == 4
    assert default_total_threads(2) == 4
    assert default_total_threads(4) == 6
    assert default_total_threads(16) == 24
    assert default_total_threads() >= 4
    with pytest.raises(ValueError):
        default_total_threads(0)


def test_split_threads():
    assert split_threads(4) == (3, 1)
    assert split_threads(6) == (4, 2)
    assert split_threads(10) == (7, 3)
    assert split_threads(2) == (1, 1)
    assert split_threads(10, 0.99) == (9, 1)
    assert split_threads(10, 0.01) == (1, 9)
    for bad in ((1, 0.7), (4, 0.0), (4, 1.0)):
        with pytest.raises(ValueError):
            split_threads(*bad)


async def test_high_starts_at_once_while_standard_is_saturated_by_low(pools):
    pool = pools(2, 2)
    gate = Gate()
    slow = [pool.submit(gate.task(i), priority=TaskPriority.LOW) for i in range(6)]
    await asyncio.to_thread(gate.wait_started, 2)
    high = [pool.submit(lambda i=i: ("high", i), priority=TaskPriority.HIGH) for i in range(5)]
    assert await asyncio.wait_for(asyncio.gather(*high), TIMEOUT) == [("high", i) for i in range(5)]
    std = stats(pool, "standard")
    assert (std.busy, std.queued, std.completed) == (2, 4, 0)
    assert stats(pool, "critical").completed == 5
    gate.release.set()
    assert await asyncio.wait_for(asyncio.gather(*slow), TIMEOUT) == list(range(6))


async def test_low_yields_to_normal_in_the_standard_pool(pools):
    pool = pools(1, 1)
    gate = Gate()
    order: list[str] = []
    blocker = pool.submit(gate.task("blocker"), priority=TaskPriority.NORMAL)
    await asyncio.to_thread(gate.wait_started, 1)
    futs = [
        pool.submit(order.append, tag, priority=prio)
        for tag, prio in [
            ("low1", TaskPriority.LOW),
            ("normal1", TaskPriority.NORMAL),
            ("low2", TaskPriority.LOW),
            ("normal2", TaskPriority.NORMAL),
        ]
    ]
    gate.release.set()
    await asyncio.wait_for(asyncio.gather(blocker, *futs), TIMEOUT)
    assert order == ["normal1", "normal2", "low1", "low2"]


async def test_resize_up_under_load_starts_queued_tasks(pools):
    pool = pools(1, 1)
    gate = Gate()
    futs = [pool.submit(gate.task(i), priority=TaskPriority.LOW) for i in range(4)]
    await asyncio.to_thread(gate.wait_started, 1)
    assert stats(pool, "standard").queued == 3
    pool.resize(standard=4)
    await asyncio.to_thread(gate.wait_started, 4)  # all four run together now
    s = stats(pool, "standard")
    assert (s.workers, s.busy, s.queued) == (4, 4, 0)
    gate.release.set()
    assert await asyncio.wait_for(asyncio.gather(*futs), TIMEOUT) == [0, 1, 2, 3]


async def test_resize_down_under_load_finishes_running_and_keeps_queued(pools):
    pool = pools(1, 3)
    first = Gate()
    running = [pool.submit(first.task(i)) for i in range(3)]
    await asyncio.to_thread(first.wait_started, 3)
    later = Gate()
    queued = [pool.submit(later.task(i)) for i in range(4)]
    pool.resize(standard=1)
    s = stats(pool, "standard")
    assert (s.workers, s.busy, s.queued) == (3, 3, 4)  # nobody is killed mid-task
    later.release.set()
    first.release.set()
    assert await asyncio.wait_for(asyncio.gather(*running), TIMEOUT) == [0, 1, 2]
    assert await asyncio.wait_for(asyncio.gather(*queued), TIMEOUT) == [0, 1, 2, 3]
    assert later.max_running == 1  # the queued work ran on one worker
    s = stats(pool, "standard")
    assert (s.workers, s.completed, s.queued) == (1, 7, 0)


async def test_resize_critical_and_invalid_sizes(pools):
    pool = pools(2, 1)
    pool.resize(critical=5)
    assert stats(pool, "critical").workers == 5
    with pytest.raises(ValueError):
        pool.resize(critical=3, standard=0)
    assert stats(pool, "critical").workers == 5  # a bad pair changes nothing
    with pytest.raises(ValueError):
        DualPool(0, 1)


async def test_exceptions_reach_the_awaiting_caller(pools):
    pool = pools(1, 1)

    def boom(x):
        raise KeyError(x)

    with pytest.raises(KeyError, match="lost"):
        await pool.submit(boom, "lost", priority=TaskPriority.HIGH)
    with pytest.raises(KeyError):
        await pool.submit(boom, "again", priority=TaskPriority.LOW)
    with pytest.raises(KeyError):
        pool.submit_sync(boom, "sync").result(TIMEOUT)
    assert stats(pool, "critical").failed == 1
    assert stats(pool, "standard").failed == 2
    # The pool keeps working after failures.
    assert await pool.submit(lambda a, *, b: a + b, 1, b=2) == 3


def test_submit_sync_without_a_loop(pools):
    pool = pools(2, 2)
    futs = [pool.submit_sync(pow, 2, i, priority=TaskPriority.HIGH) for i in range(10)]
    assert [f.result(TIMEOUT) for f in futs] == [2**i for i in range(10)]


async def test_cancelled_before_start_never_runs(pools):
    pool = pools(1, 1)
    gate = Gate()
    blocker = pool.submit(gate.task())
    await asyncio.to_thread(gate.wait_started, 1)
    ran = threading.Event()
    doomed = pool.submit(ran.set)
    doomed.cancel()
    await asyncio.sleep(0)  # asyncio runs the cancel callback that reaches the pool on the next turn
    after = pool.submit(lambda: "after")
    gate.release.set()
    assert await asyncio.wait_for(after, TIMEOUT) == "after"
    await blocker
    assert not ran.is_set()


def test_shutdown_drains_queued_tasks(pools):
    pool = pools(1, 1)
    gate = Gate()
    blocker = pool.submit_sync(gate.task("b"), priority=TaskPriority.HIGH)
    gate.wait_started(1)
    queued = [pool.submit_sync(lambda i=i: i, priority=TaskPriority.HIGH) for i in range(3)]
    pool.shutdown(wait=False)
    with pytest.raises(RuntimeError):
        pool.submit_sync(print)
    assert stats(pool, "critical").queued == 3
    gate.release.set()
    pool.shutdown(wait=True)
    assert blocker.result(0) == "b"
    assert [f.result(0) for f in queued] == [0, 1, 2]
    assert stats(pool, "critical").workers == 0


def test_shutdown_cancel_pending_cancels_queued_but_finishes_running(pools):
    pool = pools(1, 1)
    gate = Gate()
    blocker = pool.submit_sync(gate.task("b"), priority=TaskPriority.LOW)
    gate.wait_started(1)
    queued = [pool.submit_sync(lambda: None, priority=TaskPriority.LOW) for _ in range(3)]
    pool.shutdown(wait=False, cancel_pending=True)
    assert all(f.cancelled() for f in queued)
    assert not blocker.done()
    gate.release.set()
    pool.shutdown(wait=True)
    assert blocker.result(0) == "b"
    with pytest.raises(RuntimeError):
        pool.resize(standard=2)


def test_metrics_count_waits_and_run_times(pools):
    pool = pools(1, 1)
    gate = Gate()
    blocker = pool.submit_sync(gate.task(), priority=TaskPriority.HIGH)
    gate.wait_started(1)
    queued = pool.submit_sync(lambda: None, priority=TaskPriority.HIGH)
    # The queued task cannot start before the blocker is released, so its wait is >= that delay.
    threading.Event().wait(0.05)
    gate.release.set()
    blocker.result(TIMEOUT)
    queued.result(TIMEOUT)
    crit, std = pool.metrics()
    assert (crit.name, std.name) == ("critical", "standard")
    assert crit.completed == 2 and crit.failed == 0 and crit.queued == 0
    assert crit.wait_p50_ms >= 25.0  # midpoint of ~0 and >= 50 ms
    assert crit.wait_p95_ms >= 45.0
    assert crit.mean_run_ms >= 25.0  # blocker ran >= 50 ms, the other ~0
    assert (std.completed, std.wait_p50_ms, std.mean_run_ms) == (0, 0.0, 0.0)


async def test_single_fifo_ignores_priority(pools):
    pool = pools(total=1)
    gate = Gate()
    order: list[str] = []
    blocker = pool.submit(gate.task())
    await asyncio.to_thread(gate.wait_started, 1)
    futs = [
        pool.submit(order.append, tag, priority=prio)
        for tag, prio in [("low", TaskPriority.LOW), ("high", TaskPriority.HIGH), ("normal", TaskPriority.NORMAL)]
    ]
    gate.release.set()
    await asyncio.wait_for(asyncio.gather(blocker, *futs), TIMEOUT)
    assert order == ["low", "high", "normal"]
    (fifo,) = pool.metrics()
    assert (fifo.name, fifo.workers, fifo.completed) == ("fifo", 1, 4)
    pool.resize(critical=3)
    assert pool.metrics()[0].workers == 3
    with pytest.raises(ValueError):
        pool.resize(standard=1)


def test_many_submitters_with_resizes_lose_nothing(pools):
    pool = pools(2, 2, name="stress")
    barrier = threading.Barrier(4)
    futures: list[list] = [[] for _ in range(3)]

    def submitter(k):
        barrier.wait()
        for i in range(300):
            futures[k].append(pool.submit_sync(lambda v=(k, i): v, priority=TaskPriority(i % 3)))

    def resizer():
        barrier.wait()
        for n in (1, 5, 2, 4, 1, 3):
            pool.resize(critical=n, standard=6 - n)

    threads = [threading.Thread(target=submitter, args=(k,)) for k in range(3)]
    threads.append(threading.Thread(target=resizer))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(3):
        assert [f.result(TIMEOUT) for f in futures[k]] == [(k, i) for i in range(300)]
    crit, std = pool.metrics()
    assert crit.completed + std.completed == 900
    pool.shutdown(wait=True)
    assert not [t for t in threading.enumerate() if t.name.startswith("stress-")]


def test_pool_side_methods_refuse_the_wrong_thread():
    from tobs_tui.engine.runtime import threads

    assert threads.CHECKING, "tests/conftest.py switches the thread check on"

    @threads.pool_side
    def disk_work() -> str:
        return "written"

    @threads.loop_side
    def loop_work() -> str:
        return "counted"

    with pytest.raises(threads.WrongThreadError, match="on a pool thread"):
        disk_work()
    assert loop_work() == "counted"
    pools = DualPool(1, 1, name="thread-check")
    try:
        assert pools.submit_sync(disk_work).result(timeout=10) == "written"
        with pytest.raises(threads.WrongThreadError, match="on the engine loop"):
            pools.submit_sync(loop_work).result(timeout=10)
    finally:
        pools.shutdown(wait=True)

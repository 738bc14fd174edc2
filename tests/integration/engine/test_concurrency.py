"""The adaptive in-flight limit (AIMD) and the rate meters, as units."""

from __future__ import annotations

import asyncio
import time

import pytest

from tobs_tui.engine.runtime.rates import RateMeter
from tobs_tui.engine.telegram.concurrency import AdaptiveLimit


async def test_limit_grows_while_healthy_and_restarts_at_one_on_flood():
    limit = AdaptiveLimit(8, initial=2, increase_every=4, slow_start=False, ceiling_hold_s=0.0)
    for _ in range(4):
        limit.on_success(throttled=False)
    assert limit.limit == 3
    for _ in range(100):
        limit.on_success(throttled=False)
    assert limit.limit == 8, "bounded by the cap"
    limit.on_flood()
    assert limit.limit == 1, "a FloodWait starts again from one request"
    assert limit.slow_start, "and doubles back up to half the level it came at"
    for _ in range(3):
        limit.on_success(throttled=False)
    assert limit.limit == 4 and not limit.slow_start
    for _ in range(3):
        limit.on_success(throttled=False)
    assert limit.limit == 4, "one per window past half the level"
    limit.on_success(throttled=True)
    assert limit.limit == 2
    limit.on_flood()
    limit.on_flood()
    assert limit.limit == 1, "never below one"


async def test_slow_start_doubles_per_round_trip_until_the_server_pushes_back():
    limit = AdaptiveLimit(16, initial=2)
    assert limit.slow_start
    for _ in range(2):  # the first round trip's two replies
        limit.on_success(throttled=False)
    assert limit.limit == 4
    for _ in range(4):
        limit.on_success(throttled=False)
    assert limit.limit == 8
    limit.end_slow_start()  # replies slowing (ThrottleDetector.rising)
    for _ in range(7):
        limit.on_success(throttled=False)
    assert limit.limit == 8, "additive from here: one per window of eight"
    limit.on_success(throttled=False)
    assert limit.limit == 9
    # A throttled reply or a probe ends it too.
    limit = AdaptiveLimit(16, initial=4)
    limit.on_success(throttled=True)
    assert limit.limit == 2 and not limit.slow_start
    limit = AdaptiveLimit(16, initial=4)
    limit.probe()
    limit.end_probe(restore=True)
    assert limit.limit == 4 and not limit.slow_start


async def test_after_a_flood_growth_stops_below_its_level_until_the_hold_ends():
    now = [0.0]
    limit = AdaptiveLimit(8, initial=4, increase_every=1, ceiling_hold_s=30.0, clock=lambda: now[0])
    held = []
    for _ in range(3):  # three requests in flight when the fourth's FloodWait comes back
        cm = limit.slot()
        await cm.__aenter__()
        held.append(cm)
    limit.on_flood()
    assert limit.limit == 1 and limit.ceiling == 3
    for cm in held:
        await cm.__aexit__(None, None, None)
    for _ in range(3):
        limit.on_flood()  # the replies already on their way when it came: absorbed, no second cut
    assert limit.limit == 1 and limit.decreases == 1
    for _ in range(50):
        limit.on_success(throttled=False)
    assert limit.limit == 3, "grows to the ceiling, not past it, while the hold lasts"
    now[0] = 31.0
    for _ in range(50):
        limit.on_success(throttled=False)
    assert limit.ceiling is None and limit.limit == 8, "after the hold the old level may be tried again"
    # A FloodWait at the same level again, once growth has tried it after the hold, holds twice as long.
    limit = AdaptiveLimit(8, initial=2, increase_every=1, ceiling_hold_s=30.0, clock=lambda: now[0])
    async with limit.slot():
        async with limit.slot():
            pass
        limit.on_flood()  # one other in flight: it came at level 2
    assert limit.limit == 1 and limit.ceiling == 1
    limit.on_success(throttled=False)  # the one reply that was on its way
    now[0] += 31.0
    for _ in range(5):
        limit.on_success(throttled=False)
    assert limit.limit >= 2 and limit.ceiling is None
    async with limit.slot():
        limit.on_flood()  # level 2 again (this one holds a slot too)
    start = now[0]
    now[0] = start + 59.0
    assert limit.ceiling == 1
    now[0] = start + 60.0
    assert limit.ceiling is None


async def test_slots_never_exceed_the_limit_and_a_raised_cap_lets_waiters_in():
    limit = AdaptiveLimit(1, initial=1, increase_every=1)
    peak = 0
    release = asyncio.Event()

    async def worker():
        nonlocal peak
        async with limit.slot():
            peak = max(peak, limit.in_flight)
            await release.wait()

    tasks = [asyncio.create_task(worker()) for _ in range(5)]
    await asyncio.sleep(0.01)
    assert limit.in_flight == 1
    limit.set_max(3)
    for _ in range(10):  # healthy replies grow the limit up to the new cap
        limit.on_success(throttled=False)
    assert limit.limit == 3
    await asyncio.sleep(0.01)
    assert limit.in_flight == 3
    release.set()
    await asyncio.gather(*tasks)
    assert peak == 3 and limit.in_flight == 0


async def test_set_max_clamps_and_rejects_zero():
    limit = AdaptiveLimit(8, initial=8)
    limit.set_max(3)
    assert limit.limit == 3 and limit.max_limit == 3
    with pytest.raises(ValueError):
        limit.set_max(0)


def test_rate_meter_instant_smoothed_and_eta():
    now = [0.0]
    meter = RateMeter(window_s=1.0, tau_s=2.0, clock=lambda: now[0])
    assert meter.instant == 0.0 and meter.eta(10) is None
    for step in range(1, 11):
        now[0] = step * 0.5
        meter.update(step * 50)  # 100 per second
    assert meter.instant == pytest.approx(100.0)
    assert meter.smoothed == pytest.approx(100.0)
    assert meter.eta(500) == pytest.approx(5.0)
    assert meter.eta(0) == 0.0
    now[0] += 1.0
    meter.update(500)  # stalled for a second
    assert meter.instant == pytest.approx(0.0)
    assert 0 < meter.smoothed < 100.0


async def test_a_window_of_slow_replies_cuts_the_limit_once():
    limit = AdaptiveLimit(8, initial=8)
    release = asyncio.Event()
    replies: list[bool] = []

    async def request(throttled: bool) -> None:
        async with limit.slot():
            await release.wait()
            limit.on_success(throttled=throttled)
            replies.append(throttled)

    # Eight requests in flight when the server slows down: all eight come back slow.
    tasks = [asyncio.create_task(request(True)) for _ in range(8)]
    await asyncio.sleep(0.01)
    assert limit.in_flight == 8
    release.set()
    await asyncio.gather(*tasks)
    assert len(replies) == 8
    assert (limit.limit, limit.decreases) == (4, 1), "one cut for the window, not one per slow reply"
    # The next slow reply was sent under the new limit: it cuts again.
    limit.on_success(throttled=True)
    assert limit.limit == 2
    # A FloodWait storm over four requests in flight halves once as well.
    limit = AdaptiveLimit(8, initial=8)
    release = asyncio.Event()

    async def flooded() -> None:
        async with limit.slot():
            await release.wait()
        limit.on_flood()

    tasks = [asyncio.create_task(flooded()) for _ in range(4)]
    await asyncio.sleep(0.01)
    release.set()
    await asyncio.gather(*tasks)
    assert limit.limit == 1 and limit.decreases == 1


async def test_a_probe_halves_the_limit_and_puts_it_back_when_refuted():
    limit = AdaptiveLimit(8, initial=8)
    limit.probe()
    assert (limit.limit, limit.probing) == (4, True)
    for _ in range(20):  # healthy replies do not grow it while the probe runs
        limit.on_success(throttled=False)
    assert limit.limit == 4
    limit.end_probe(restore=True)
    assert (limit.limit, limit.probing) == (8, False)
    limit.probe()
    limit.end_probe(restore=False)  # confirmed: the halved limit stays
    assert limit.limit == 4


def test_the_loop_counts_only_the_time_it_waited_for_the_network_as_idle():
    from tobs_tui.engine.runtime.loop_idle import idle_timed_loop

    loop, selector = idle_timed_loop()
    try:

        async def work() -> tuple[float, float]:
            start = selector.idle_s()
            await asyncio.sleep(0.2)  # nothing to run: idle
            slept = selector.idle_s() - start
            start = selector.idle_s()
            deadline = loop.time() + 0.2
            while loop.time() < deadline:  # busy, yielding to the loop now and then: not idle
                await asyncio.sleep(0)
            idle_while_busy = selector.idle_s() - start
            spun = time.perf_counter()
            while time.perf_counter() - spun < 0.05:  # this turn has been busy for 50 ms so far
                pass
            return slept, idle_while_busy, selector.recent_busy_s()

        slept, busy, recent = loop.run_until_complete(work())
    finally:
        loop.close()
    assert slept >= 0.15 and busy < 0.05, (slept, busy)
    assert 0.05 <= recent < 0.5, recent  # the latest turns: the current busy one and a few short ones

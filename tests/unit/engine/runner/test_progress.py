"""The run's ETA and rates as a reader trusts them: never before the slowest chat, nothing promised while paused."""

from __future__ import annotations

from tobs_tui.engine.runner.progress import run_eta
from tobs_tui.engine.runtime.rates import RateMeter
from tobs_tui.engine.snapshot import ChatProgress, ChatState


def chat(eta: float | None) -> ChatProgress:
    return ChatProgress(1, "c", None, ChatState.RUNNING, 10, 100, 0, 0, 1.0, 0.0, eta)


def test_the_run_ends_no_sooner_than_its_slowest_chat():
    assert run_eta(157.0, [chat(260.0), chat(30.0)]) == 260.0
    assert run_eta(300.0, [chat(260.0)]) == 300.0
    assert run_eta(None, [chat(260.0)]) == 260.0
    assert run_eta(157.0, [chat(None)]) == 157.0


def test_a_pause_does_not_drag_the_rate_down():
    now = [0.0]
    meter = RateMeter(clock=lambda: now[0])
    for i in range(11):  # 100 msgs/s for ten seconds
        now[0] = float(i)
        meter.update(100.0 * i)
    before = meter.smoothed
    meter.hold()
    now[0] = 300.0  # five minutes paused
    meter.update(1000.0)
    now[0] = 301.0
    meter.update(1100.0)
    assert abs(meter.smoothed - before) < 1.0

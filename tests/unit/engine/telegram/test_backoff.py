"""FloodWait policy: every branch of the adaptive policy and the fixed A/B policy."""

from __future__ import annotations

import pytest

from tobs_tui.engine.telegram.backoff import FixedBackoff, FloodDecision, FloodWaitPolicy


def test_not_throttled_waits_s_plus_one():
    assert FloodWaitPolicy().decide(10, throttled=False) == FloodDecision("wait", 11.0, "1 s of margin")


def test_throttled_adds_half_of_the_wait():
    d = FloodWaitPolicy().decide(10, throttled=True)
    assert (d.wait_s, d.reason) == (15.0, "5 s of margin while Telegram is slowing our requests")


def test_throttled_extra_is_capped_at_sixty_seconds():
    assert FloodWaitPolicy().decide(300, throttled=True).wait_s == 360.0
    assert FloodWaitPolicy(extra_cap_s=5).decide(300, throttled=True).wait_s == 305.0


def test_zero_second_wait():
    assert FloodWaitPolicy().decide(0, throttled=False).wait_s == 1.0
    assert FloodWaitPolicy().decide(0, throttled=True).wait_s == 0.0


def test_two_floods_in_a_row_count_as_throttled():
    p = FloodWaitPolicy()
    assert p.decide(20, throttled=False, consecutive=1).wait_s == 21.0
    d = p.decide(20, throttled=False, consecutive=2)
    assert (d.wait_s, d.reason) == (30.0, "10 s of margin after 2 FloodWaits in a row")


def test_waits_of_hours_park_the_chat():
    p = FloodWaitPolicy()
    d = p.decide(3600, throttled=False)
    assert d.action == "give_up"
    assert d.wait_s == 3600.0
    assert "parked" in d.reason
    assert p.decide(3599, throttled=False).action == "wait"
    assert FloodWaitPolicy(give_up_after_s=120).decide(120, throttled=True).action == "give_up"


def test_max_wait_trims_padding_but_never_below_telegrams_ask():
    p = FloodWaitPolicy(give_up_after_s=7200, max_wait_s=3600)
    assert p.decide(3580, throttled=True).wait_s == 3600.0
    # Telegram's deadline wins over our cap: retrying earlier only earns another FloodWait.
    assert p.decide(4000, throttled=True).wait_s == 4000.0
    assert p.decide(4000, throttled=False).wait_s == 4000.0


def test_premium_wait_gets_only_the_one_second_margin():
    d = FloodWaitPolicy().decide(30, throttled=True, premium=True)
    assert d.wait_s == 31.0
    assert "Premium" in d.reason


def test_negative_seconds_rejected():
    with pytest.raises(ValueError):
        FloodWaitPolicy().decide(-1, throttled=False)
    with pytest.raises(ValueError):
        FixedBackoff().decide(-1, throttled=False)


@pytest.mark.parametrize("kw", [{"extra_cap_s": -1}, {"give_up_after_s": 0}, {"max_wait_s": 0}])
def test_invalid_settings_rejected(kw):
    with pytest.raises(ValueError):
        FloodWaitPolicy(**kw)


def test_fixed_backoff_ignores_throttle_and_streaks():
    f = FixedBackoff()
    assert f.decide(10, throttled=True, consecutive=5).wait_s == 11.0
    assert f.decide(300, throttled=True).wait_s == 301.0
    assert f.decide(7200, throttled=False).action == "give_up"
    with pytest.raises(ValueError):
        FixedBackoff(give_up_after_s=0)

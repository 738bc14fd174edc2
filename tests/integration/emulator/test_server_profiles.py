"""Profile knobs and the per-request decision: buckets, soft throttling, episodes, seeded faults, validation."""

from __future__ import annotations

import time

import pytest

from tobs_tui.emulator.profiles import PROFILES, Behaviour, error_code, get_profile


def test_lan_decides_nothing_for_any_method():
    behaviour = Behaviour(get_profile("lan"))
    decisions = {behaviour.decide(m, None, 1, False) for m in ("GetHistoryRequest", "GetFileRequest")}
    assert {(d.delay, d.error, d.action) for d in decisions} == {(0.0, None, None)}


def test_soft_throttle_raises_latency_as_the_bucket_drains_then_flood_waits():
    profile = get_profile("lan", {"rate_limits": {"*": (0.001, 10.0)}, "soft_throttle_ms": 200.0})
    behaviour = Behaviour(profile)
    decisions = [behaviour.decide("GetHistoryRequest", None, 1, False) for _ in range(11)]
    delays = [d.delay for d in decisions[:10]]
    assert delays[:6] == [0.0] * 6  # above half the burst: healthy
    assert delays[6] < delays[7] < delays[8] < delays[9] <= 0.2
    assert decisions[10].error == "FLOOD_WAIT_1000"  # a token frees in 1 / 0.001 s


def test_buckets_are_per_auth_key_and_refill_at_the_rate():
    behaviour = Behaviour(get_profile("lan", {"rate_limits": {"GetFileRequest": (50.0, 1.0)}}))
    assert behaviour.decide("GetFileRequest", None, 1, False).error is None
    assert behaviour.decide("GetFileRequest", None, 1, False).error == "FLOOD_WAIT_1"
    assert behaviour.decide("GetFileRequest", None, 2, False).error is None  # another account
    time.sleep(0.05)
    assert behaviour.decide("GetFileRequest", None, 1, False).error is None
    assert behaviour.decide("GetHistoryRequest", None, 1, False).error is None  # not limited


def test_throttle_episodes_add_latency_only_inside_an_episode():
    profile = get_profile("lan", {"throttle_every_s": 0.2, "throttle_for_s": 0.1, "throttle_latency_ms": 300.0})
    behaviour = Behaviour(profile)
    delays = []
    for _ in range(8):
        delays.append(behaviour.decide("GetHistoryRequest", None, 1, False).delay)
        time.sleep(0.05)
    assert 0.0 in delays and 0.3 in delays


def test_hostile_faults_are_deterministic_under_a_seed():
    def run(seed: int) -> list:
        b = Behaviour(get_profile("hostile", {"rate_limits": {}, "jitter_ms": 0.0}), seed)
        return [(d.error, d.action) for d in (b.decide("GetFileRequest", None, 1, False) for _ in range(400))]

    first = run(7)
    assert first == run(7)
    assert first != run(8)
    kinds = {e or a for e, a in first if e or a}
    assert {"FILE_REFERENCE_EXPIRED", "INTERNAL"} <= kinds
    assert any(k.startswith("FLOOD_WAIT_") for k in kinds)


def test_bootstrap_methods_never_get_random_faults():
    b = Behaviour(get_profile("hostile", {"flood_wait_rate": 1.0, "rate_limits": {}}), 1)
    assert all(b.decide("GetConfigRequest", None, 1, False).error is None for _ in range(50))
    assert b.decide("GetHistoryRequest", None, 1, False).error.startswith("FLOOD_WAIT_")


def test_flood_storm_keeps_flooding_until_the_bucket_refills():
    b = Behaviour(get_profile("lan", {"rate_limits": {"*": (1.0, 10.0)}, "flood_wait_rate": 0.5}), 3)
    errors = [b.decide("GetHistoryRequest", None, 1, False).error for _ in range(20)]
    first = next(i for i, e in enumerate(errors) if e)
    # The drawn wait empties the bucket: every later call in the storm flood-waits, and as each comes before
    # the wait ran out, each wait is longer than the one before.
    assert errors[first].startswith("FLOOD_WAIT_")
    waits = [int(e.removeprefix("FLOOD_WAIT_")) for e in errors[first:]]
    assert all(e.startswith("FLOOD_WAIT_") for e in errors[first:])
    assert waits == sorted(waits) and waits[-1] > waits[0]


def test_early_retries_lengthen_the_wait_and_one_after_it_ends_does_not(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("tobs_tui.emulator.profiles.time.monotonic", lambda: now[0])
    b = Behaviour(get_profile("lan", {"rate_limits": {"*": (1.0, 2.0)}}), 1)
    assert [b.decide("GetHistoryRequest", None, 1, False).error for _ in range(2)] == [None, None]
    assert b.decide("GetHistoryRequest", None, 1, False).error == "FLOOD_WAIT_1"
    # Retried at once, three times: 1 + 1, then + 2, then + 3 tokens owed.
    early = [b.decide("GetHistoryRequest", None, 1, False).error for _ in range(3)]
    assert early == ["FLOOD_WAIT_2", "FLOOD_WAIT_4", "FLOOD_WAIT_7"]
    now[0] += 7.0  # waited the whole last wait: the bucket has refilled what it owed, no strike
    assert b.decide("GetHistoryRequest", None, 1, False).error is None


def test_takeout_delay_only_on_init_takeout():
    b = Behaviour(get_profile("lan", {"takeout_delay_rate": 1.0, "takeout_delay_s": 86400}), 1)
    assert b.decide("InitTakeoutSessionRequest", None, 1, False).error == "TAKEOUT_INIT_DELAY_86400"
    assert b.decide("GetHistoryRequest", None, 1, False).error is None


def test_scripts_validate_their_arguments():
    b = Behaviour(get_profile("lan"))
    with pytest.raises(ValueError, match="exactly one"):
        b.script("GetFileRequest", error="X", action="no_reply")
    with pytest.raises(ValueError, match="Unknown fault action"):
        b.script("GetFileRequest", action="explode")
    with pytest.raises(ValueError, match="nth"):
        b.script("GetFileRequest", nth=0, error="X")


def test_unknown_profile_and_setting_names_are_one_clear_sentence():
    with pytest.raises(ValueError, match="Unknown emulator profile 'wan'; choose one of: lan"):
        get_profile("wan")
    with pytest.raises(ValueError, match="Unknown emulator setting latency; use one of"):
        get_profile("lan", {"latency": 5})


def test_error_codes_match_telegram():
    assert error_code("FLOOD_WAIT_3") == 420
    assert error_code("FLOOD_PREMIUM_WAIT_3") == 420
    assert error_code("TAKEOUT_INIT_DELAY_3600") == 420
    assert error_code("INTERNAL") == 500
    assert error_code("FILE_REFERENCE_EXPIRED") == 400
    assert error_code("AUTH_KEY_UNREGISTERED") == 401


def test_every_named_profile_is_a_real_step_up():
    assert PROFILES["lan"].latency_ms == 0 and not PROFILES["lan"].rate_limits
    assert PROFILES["realistic"].rate_limits and PROFILES["realistic"].media_bandwidth
    assert PROFILES["throttled"].throttle_every_s > 0
    assert PROFILES["hostile"].drop_before_rate > 0 and PROFILES["hostile"].no_reply_rate > 0


async def test_realistic_profile_serves_full_history_through_telethon(make_emu, connect, pick_chat):
    emu = make_emu("realistic")
    peer = pick_chat(emu, 250, 2000)
    async with connect(emu) as client:
        entity = await client.get_input_entity(peer)
        started = time.monotonic()
        ids = [m.id async for m in client.iter_messages(entity, reverse=True, wait_time=0)]
        elapsed = time.monotonic() - started
    assert len(ids) == emu.world.message_count(peer) and ids == sorted(set(ids))
    pages = emu.log.count(method="GetHistoryRequest")
    assert elapsed >= pages * (0.060 - 0.015)

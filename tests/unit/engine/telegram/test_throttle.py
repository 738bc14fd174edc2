"""ThrottleDetector on synthetic latency sequences (fake clock, seeded noise)."""

from __future__ import annotations

import heapq
import logging
import random
import threading

import pytest

from tobs_tui.engine.runtime.stats import percentile
from tobs_tui.engine.snapshot import ThrottleStats
from tobs_tui.engine.telegram.throttle import _MIN_BELOW, ThrottleDetector


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(**kw):
    clock = FakeClock()
    events: list[tuple[str, float, dict]] = []
    det = ThrottleDetector(clock=clock, on_event=lambda k, t, info: events.append((k, t, info)), **kw)
    return det, clock, events


def feed(det, clock, latencies, step=0.1):
    for lat in latencies:
        clock.now += step
        det.record(lat, "messages.getHistory")


def test_healthy_server_is_never_throttled():
    det, clock, events = make()
    feed(det, clock, [0.05] * 500)
    s = det.get_stats()
    assert not det.is_throttled()
    assert events == []
    assert s["avg_latency_ms"] == pytest.approx(50.0)
    assert s["baseline_latency_ms"] == pytest.approx(50.0)
    assert s["threshold_ms"] == pytest.approx(150.0)
    assert s["sample_count"] == 500
    assert s["window_count"] == 100


def test_no_verdict_before_min_samples():
    det, clock, events = make(min_samples=20)
    # A server that is slow from the start must not produce a verdict from a handful of samples.
    feed(det, clock, [0.01] * 10 + [1.0] * 9)
    assert det.get_stats()["sample_count"] == 19
    assert not det.get_stats()["has_verdict"]
    assert not det.is_throttled()
    assert events == []
    feed(det, clock, [1.0])
    assert det.get_stats()["has_verdict"]
    assert det.is_throttled()
    assert [e[0] for e in events] == ["throttle_start"]


def test_rising_sees_one_slow_reply_long_before_a_verdict():
    det, clock, events = make()
    feed(det, clock, [0.06] * (_MIN_BELOW - 2) + [0.2])
    assert not det.rising(), "no baseline from fewer than a handful of replies"
    feed(det, clock, [0.06] * 10)
    assert not det.rising()
    feed(det, clock, [0.085])  # jitter
    assert not det.rising()
    feed(det, clock, [0.1])  # a bucket draining: 1.67x
    assert det.rising() and not det.is_throttled() and events == []


def test_spike_starts_throttle_with_timestamp_and_logs(caplog):
    det, clock, events = make()
    feed(det, clock, [0.05] * 200)
    caplog.set_level(logging.INFO, logger="tobs_tui.engine.telegram.throttle")
    feed(det, clock, [0.5] * 30)
    assert det.is_throttled()
    assert len(events) == 1
    kind, t, info = events[0]
    assert kind == "throttle_start"
    # With the 5 slowest dropped, the mean crosses 150 ms on the 27th slow sample.
    assert t == pytest.approx(clock.now - 0.1 * (30 - 27))
    assert info["baseline_latency_ms"] == pytest.approx(50.0)
    assert info["avg_latency_ms"] > 150.0
    assert "Throttling detected" in caplog.text
    (span,) = det.snapshot().spans
    assert span == (pytest.approx(t - 1000.0), None)


def test_recovery_ends_throttle_once_and_records_the_span(caplog):
    det, clock, events = make()
    feed(det, clock, [0.05] * 200)
    feed(det, clock, [0.5] * 50)
    assert det.is_throttled()
    caplog.set_level(logging.INFO, logger="tobs_tui.engine.telegram.throttle")
    feed(det, clock, [0.05] * 200)
    assert not det.is_throttled()
    assert [e[0] for e in events] == ["throttle_start", "throttle_end"]
    start_t, end_t = events[0][1], events[1][1]
    assert end_t > start_t
    assert events[1][2]["duration_s"] == pytest.approx(end_t - start_t)
    assert "Throttling ended" in caplog.text
    (span,) = det.snapshot().spans
    assert span[1] is not None and span[1] - span[0] == pytest.approx(end_t - start_t)


def test_hysteresis_does_not_flap_around_the_threshold():
    det, clock, events = make()
    feed(det, clock, [0.05] * 200)
    feed(det, clock, [0.5] * 40)
    assert det.is_throttled()
    # Mean hovers between 2x and 3x baseline: above the exit line, below the entry line.
    rng = random.Random(7)
    feed(det, clock, [rng.choice([0.10, 0.15]) for _ in range(400)])
    assert [e[0] for e in events] == ["throttle_start"]
    assert det.is_throttled()


def test_exit_needs_calm_requests_in_a_row():
    det, clock, events = make(window=10, min_samples=10, exit_samples=5)
    feed(det, clock, [0.05] * 60)
    feed(det, clock, [0.6] * 10)
    assert det.is_throttled()
    # The window (less its slowest sample) drops under 2 x baseline on the 9th fast reply;
    # the throttle ends only on the 5th calm reply in a row after that, the 13th.
    feed(det, clock, [0.05] * 12)
    assert det.is_throttled()
    feed(det, clock, [0.05])
    assert not det.is_throttled()
    assert [e[0] for e in events] == ["throttle_start", "throttle_end"]


def test_noisy_but_healthy_server_is_not_throttled():
    det, clock, events = make()
    rng = random.Random(1234)
    lat = []
    for _ in range(3000):
        x = rng.lognormvariate(-2.3, 0.4)  # ~100 ms median
        if rng.random() < 0.05:
            x *= 4  # occasional slow request
        lat.append(x)
    feed(det, clock, lat)
    assert events == []
    assert not det.is_throttled()


def test_one_lucky_fast_sample_does_not_set_the_baseline():
    det, clock, events = make()
    feed(det, clock, [0.001] + [0.1] * 300)
    assert det.get_stats()["baseline_latency_ms"] == pytest.approx(100.0)
    assert events == []


def test_permanently_slower_server_becomes_the_new_normal():
    det, clock, events = make()
    feed(det, clock, [0.05] * 200)
    feed(det, clock, [0.4] * 100)
    assert det.is_throttled()
    feed(det, clock, [0.4] * 400)
    assert not det.is_throttled()
    assert [e[0] for e in events] == ["throttle_start", "throttle_end"]
    assert det.get_stats()["baseline_latency_ms"] == pytest.approx(400.0)
    feed(det, clock, [0.4] * 500)
    assert [e[0] for e in events] == ["throttle_start", "throttle_end"]


def test_faster_server_moves_the_baseline_down():
    det, clock, _ = make()
    feed(det, clock, [0.2] * 300)
    feed(det, clock, [0.02] * 100)
    assert det.get_stats()["baseline_latency_ms"] == pytest.approx(20.0)


def test_snapshot_carries_recent_samples_relative_to_origin():
    clock = FakeClock()
    det = ThrottleDetector(clock=clock, origin=990.0)
    feed(det, clock, [0.05, 0.06, 0.07])
    snap = det.snapshot(recent=2)
    assert isinstance(snap, ThrottleStats)
    assert [s.ms for s in snap.recent] == pytest.approx([60.0, 70.0])
    assert snap.recent[-1].t == pytest.approx(10.3)
    assert snap.recent[-1].method == "messages.getHistory"
    assert snap.sample_count == 3
    assert det.snapshot(recent=0).recent == ()


def test_record_from_many_threads_counts_every_sample():
    det = ThrottleDetector()
    barrier = threading.Barrier(4)

    def work():
        barrier.wait()
        for _ in range(500):
            det.record(0.05)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert det.get_stats()["sample_count"] == 2000
    assert det.get_stats()["avg_latency_ms"] == pytest.approx(50.0)


@pytest.mark.parametrize("kw", [{"window": 0}, {"exit_factor": 1.0}, {"exit_factor": 4.0}, {"baseline_quantile": 0.6}])
def test_invalid_settings_rejected(kw):
    with pytest.raises(ValueError):
        ThrottleDetector(**kw)


def test_negative_latency_rejected():
    with pytest.raises(ValueError):
        ThrottleDetector().record(-0.1)


def test_baseline_floor_keeps_tiny_latencies_from_reading_as_throttled():
    """A 6 ms loopback baseline: 20 ms replies are 3x it, but not slow; above 3 x the floor they are."""
    floored = ThrottleDetector(min_samples=20, baseline_floor_s=0.020)
    plain = ThrottleDetector(min_samples=20)
    for det in (floored, plain):
        for _ in range(200):
            det.record(0.006)
        for _ in range(100):
            det.record(0.025)
    assert plain.is_throttled()
    assert not floored.is_throttled()
    assert floored.get_stats()["threshold_ms"] == pytest.approx(60.0)
    assert floored.get_stats()["baseline_latency_ms"] == pytest.approx(6.0)
    for _ in range(100):
        floored.record(0.200)
    assert floored.is_throttled()


def test_baseline_is_the_quantile_of_the_last_history_samples():
    """The baseline comes from a history kept sorted as samples come and go: after every sample it must be the
    same quantile a fresh sort of the last `history` samples gives (repeats and evictions included)."""
    rng = random.Random(7)
    det, clock, _ = make(window=10, history=50)
    seen: list[float] = []
    for _ in range(400):
        lat = rng.choice([0.05, 0.06, 0.06, 0.2, rng.uniform(0.01, 2.0)])
        feed(det, clock, [lat])
        seen.append(lat)
        last = sorted(seen[-50:])
        expected = percentile(last, min(max(det.baseline_quantile, _MIN_BELOW / len(last)), 0.5))
        assert det.get_stats()["baseline_latency_ms"] == pytest.approx(expected * 1000.0)


def closed_loop(latency_of, *, in_flight_known: bool, limit: int = 8, until: float = 30.0) -> tuple[list[float], int]:
    """A client keeping `limit` requests in flight against a server answering after `latency_of(t, in_flight)`,
    acting on the detector's changes as TelegramSource does: the times of throttle starts, and probes refuted."""
    clock = FakeClock()
    clock.now = 0.0
    det = ThrottleDetector(clock=clock, baseline_floor_s=0.02)
    current, in_flight, seq = limit, 0, 0
    due: list[tuple[float, int, int]] = []
    starts: list[float] = []
    while clock.now < until:
        while in_flight < current:
            in_flight += 1
            seq += 1
            heapq.heappush(due, (clock.now + latency_of(clock.now, in_flight), seq, in_flight))
        clock.now, _, sent_with = heapq.heappop(due)
        in_flight -= 1
        change = det.record(latency_of(clock.now, sent_with), in_flight=sent_with if in_flight_known else 1)
        if change == "probe_start":
            current = max(1, current // 2)
        elif change == "probe_refuted":
            current = limit
        elif change == "throttle_start":
            starts.append(clock.now)
            current = max(1, current // 2)
    return starts, det.probes_refuted


def server_step(t: float, n: int) -> float:
    return 0.06 + (0.4 if t >= 10 else 0.0)  # the `throttled` profile's episode: +400 ms per reply from t = 10 s


def server_ramp(t: float, n: int) -> float:
    return 0.06 + (min(0.6, 0.05 * (t - 10)) if t >= 10 else 0.0)  # soft throttling as a bucket drains


def our_queueing(t: float, n: int) -> float:
    return 0.005 * n * (4 if t >= 10 else 1)  # replies served one after another, 4x slower from t = 10 s


@pytest.mark.parametrize("server", [server_step, server_ramp])
@pytest.mark.parametrize("limit", [2, 4, 8, 16])
def test_a_probe_confirms_a_server_slowdown_as_fast_as_the_window_alone(server, limit):
    old, _ = closed_loop(server, in_flight_known=False, limit=limit)  # every reply taken as sent alone: no probe
    new, refuted = closed_loop(server, in_flight_known=True, limit=limit)
    assert old and new and refuted == 0
    # At most one reply's latency later (the ramp's window fills a little slower while the probe halves the load).
    assert new[0] <= old[0] + 0.1, (old[0], new[0])


def test_a_rise_that_falls_with_fewer_requests_in_flight_is_our_queueing_not_throttling(caplog):
    caplog.set_level(logging.INFO, logger="tobs_tui.engine.telegram.throttle")
    old, _ = closed_loop(our_queueing, in_flight_known=False)
    assert old, "without the probe, our own queueing reads as throttling"
    new, refuted = closed_loop(our_queueing, in_flight_known=True)
    assert new == [] and refuted >= 1
    assert "our own requests queueing" in caplog.text


def test_our_share_of_latency_never_counts():
    det, clock, events = make()
    feed(det, clock, [0.05] * 200)
    for _ in range(200):  # the loop was busy for most of each round trip: the server's share stays 50 ms
        clock.now += 0.1
        det.record(0.5, local_s=0.45)
    assert events == [] and not det.is_throttled()
    stats = det.get_stats()
    assert stats["avg_latency_ms"] == pytest.approx(50.0) and stats["avg_local_ms"] == pytest.approx(450.0)
    with pytest.raises(ValueError):
        det.record(0.1, local_s=-0.01)

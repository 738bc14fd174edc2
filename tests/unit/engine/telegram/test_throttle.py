"""ThrottleDetector on synthetic latency sequences (fake clock, seeded noise)."""

from __future__ import annotations

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

"""A/B 2: throttle detector + adaptive FloodWait backoff vs the fixed `s + 1` backoff, exporting through the
EngineRunner on the `throttled` and `hostile` profiles."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from benchmarks.harness import Row, Samples, emulator, export_all, fresh_dir, ratio_row, run_rounds, spread_text
from tobs_tui.engine import BackoffPolicy, FixedBackoff, FloodDecision, FloodWaitPolicy

SECTION = "2. Adaptive FloodWait backoff vs fixed s + 1"
PROFILES = ("throttled", "hostile")
ROWS = tuple(f"backoff.{p}.{m}" for p in PROFILES for m in ("time", "flood_waits", "longest_run"))

# A reply the hostile profile never sends would otherwise cost the default 30 s timeout each time; both
# sides use the same shorter timeout.
REQUEST_TIMEOUT_S = 5.0


class RecordingPolicy:
    """Wraps a policy and keeps what it was asked: how many FloodWaits, the longest run in a row on one
    request, and the total time it chose to wait."""

    def __init__(self, inner: BackoffPolicy) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self.decisions = 0
        self.longest_run = 0
        self.waited_s = 0.0

    def decide(self, seconds: int, *, throttled: bool, premium: bool = False, consecutive: int = 0) -> FloodDecision:
        decision = self._inner.decide(seconds, throttled=throttled, premium=premium, consecutive=consecutive)
        with self._lock:
            self.decisions += 1
            self.longest_run = max(self.longest_run, consecutive + 1)
            self.waited_s += decision.wait_s
        return decision


def run(quick: bool, work: Path, progress: Callable[[str], None]) -> list[Row]:
    rounds = 1 if quick else 3
    out: list[Row] = []
    for profile in PROFILES:
        # `throttled` starts with a 10 s episode (then 10 s healthy, and so on): 5,000 messages span both.
        messages = 200 if quick else (5_000 if profile == "throttled" else 2_000)
        chats = [
            {"kind": "supergroup", "title": "Backoff", "messages": messages, "media": 0.2},
            {"kind": "private", "messages": messages // 10, "media": 0.2},
        ]

        def variant(name: str, make: Callable[[], BackoffPolicy]) -> Callable[[], dict[str, float]]:
            def one() -> dict[str, float]:
                policy = RecordingPolicy(make())
                # A fresh emulator each run: the same seeded faults, throttle episodes from the same start and
                # full token buckets, so both policies meet the same server.
                with emulator(profile, chats) as emu:
                    r = export_all(
                        emu,
                        fresh_dir(work, f"backoff-{profile}-{name}-"),
                        policy=policy,
                        request_timeout_s=REQUEST_TIMEOUT_S,
                    )
                throttled = sum(1 for e in r.events if e.kind.name == "THROTTLE_START")
                return {
                    "seconds": r.seconds,
                    "flood_waits": r.snapshot.flood_waits,
                    "longest_run": policy.longest_run,
                    "waited_s": policy.waited_s,
                    "rate": r.rate,
                    "throttle_starts": throttled,
                    "messages": messages,
                }

            return one

        s = run_rounds(
            {"adaptive": variant("adaptive", FloodWaitPolicy), "fixed": variant("fixed", FixedBackoff)},
            rounds,
            lambda text, p=profile: progress(f"{p}: {text}"),
        )
        out += rows(s, profile)
    return out


def rows(s: Samples, profile: str) -> list[Row]:
    messages = int(s.of("adaptive", "messages")[0])
    setup = (
        f"`{profile}` profile, {messages:,} + {messages // 10:,} messages, a fresh emulator per run; throttle "
        f"episodes detected: adaptive {spread_text(s.of('adaptive', 'throttle_starts'), '{:.0f}')}, fixed "
        f"{spread_text(s.of('fixed', 'throttle_starts'), '{:.0f}')}"
    )
    waited = (
        f"time spent waiting: adaptive {spread_text(s.of('adaptive', 'waited_s'), '{:.1f}')} s, fixed "
        f"{spread_text(s.of('fixed', 'waited_s'), '{:.1f}')} s"
    )
    return [
        ratio_row(
            f"backoff.{profile}.time",
            SECTION,
            f"Total export time, adaptive / fixed ({profile})",
            s,
            "seconds",
            "adaptive",
            "fixed",
            better="lower",
            estimate="\"variable\"",
            note=f"A/B values in s; {setup}; {waited}.",
            fmt="{:.1f}",
        ),
        ratio_row(
            f"backoff.{profile}.flood_waits",
            SECTION,
            f"FloodWaits, adaptive / fixed ({profile})",
            s,
            "flood_waits",
            "adaptive",
            "fixed",
            better="lower",
            note="A/B values are counts.",
            fmt="{:.0f}",
        ),
        ratio_row(
            f"backoff.{profile}.longest_run",
            SECTION,
            f"Longest run of consecutive FloodWaits on one request, adaptive / fixed ({profile})",
            s,
            "longest_run",
            "adaptive",
            "fixed",
            better="lower",
            note="A/B values are counts.",
            fmt="{:.0f}",
        ),
    ]

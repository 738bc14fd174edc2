"""A/B 5: the adaptive in-flight request limit vs one request at a time on the `realistic` profile, as export
rate over the profile's rate-limit ceiling (the fastest any client could fetch that history).

    python -m benchmarks.ab_concurrency --messages 10000 [--runs 2]   # the adaptive export alone, at any size
    python -m benchmarks.ab_concurrency --messages 20000 --chats 3   # the same messages over 3 chats at once
    python -m benchmarks.ab_concurrency --messages 5000 --runs 1 --timeline   # and when each request went out
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from benchmarks.harness import Row, Samples, emulator, export_all, fresh_dir, ratio_row, run_rounds, spread_text
from tobs_tui.config import Settings
from tobs_tui.emulator.profiles import HISTORY_PAGE, get_profile
from tobs_tui.engine import TelegramSource

SECTION = "5. Adaptive concurrency vs one request at a time"
SYSTEM = "6. Whole system"
ROWS = (
    "concurrency.rate_vs_one",
    "concurrency.adaptive_of_ceiling",
    "concurrency.one_of_ceiling",
    "system.realistic_of_ceiling",
    "system.realistic_20k_floods",
    "system.realistic_20k_three_chats_floods",
)
LONG_MESSAGES = 20_000  # the FloodWait goal's export: 85 s of ceiling, past the burst's one-off costs
FLOOD_GOAL = 3  # at most this many FloodWaits in such an export, at >= 0.9 of the ceiling


def ceiling_seconds(profile: str, messages: int) -> float:
    """The least time the profile's token bucket allows for the history calls `messages` need: the bucket
    starts full (burst), then refills at `rate`; one round trip of latency is the floor."""
    p = get_profile(profile)
    rate, burst = p.bucket("GetHistoryRequest")
    calls = math.ceil(messages / HISTORY_PAGE)
    return max(p.latency_ms / 1000, (calls - burst) / rate)


def export_of_ceiling(messages: int, work: Path, cap: int, n_chats: int = 1) -> dict[str, float]:
    """One export of `messages` messages (one supergroup, or `n_chats` exported at once, the account's one
    getHistory bucket shared) on a fresh `realistic` emulator, against the ceiling."""
    sizes = [messages // n_chats + (1 if i < messages % n_chats else 0) for i in range(n_chats)]
    chats = [
        {"kind": "supergroup", "title": f"Concurrency {i + 1}", "messages": n, "media": 0.2}
        for i, n in enumerate(sizes)
    ]
    ceiling = ceiling_seconds("realistic", messages)
    # A fresh emulator each run: its token buckets start full, as the ceiling assumes, whichever side ran before.
    with emulator("realistic", chats) as emu:
        r = export_all(emu, fresh_dir(work, f"conc-{cap}-"), max_concurrent_requests=cap)
    return {
        "seconds": r.seconds,
        "rate": r.rate,
        "of_ceiling": ceiling / r.seconds,
        "flood_waits": r.snapshot.flood_waits,
    }


def run(quick: bool, work: Path, progress: Callable[[str], None]) -> list[Row]:
    messages = 2_000 if quick else 5_000  # past the 30-page burst: 10 s at the `realistic` pace of 2 pages/s
    rounds = 1 if quick else 3
    adaptive_cap = Settings().export.max_concurrent_requests
    ceiling = ceiling_seconds("realistic", messages)

    def variant(cap: int) -> Callable[[], dict[str, float]]:
        return lambda: export_of_ceiling(messages, work, cap)

    s = run_rounds({"adaptive": variant(adaptive_cap), "one": variant(1)}, rounds, progress)
    # The FloodWait goal, on one chat and on three at once (one run each: the emulator is seeded and a run is
    # 85 s; single runs have repeated to the FloodWait and within 0.001 of the ratio).
    long = 2_000 if quick else LONG_MESSAGES
    floods = []
    for chats in (1, 3):
        progress(f"{long:,} messages in {chats} chat(s)")
        floods.append(_flood_row(chats, long, export_of_ceiling(long, work, adaptive_cap, chats)))
    return [*rows(s, messages, ceiling, adaptive_cap), *floods]


def _flood_row(chats: int, messages: int, r: dict[str, float]) -> Row:
    met = r["flood_waits"] <= FLOOD_GOAL and r["of_ceiling"] >= 0.9
    return Row(
        id="system.realistic_20k_floods" if chats == 1 else "system.realistic_20k_three_chats_floods",
        section=SYSTEM,
        name=f"FloodWaits in a {messages:,}-message `realistic` export"
        + ("" if chats == 1 else " over three chats at once"),
        value=r["flood_waits"],
        unit="count",
        a=f"{r['of_ceiling']:.3f} of the ceiling",
        goal=f"<= {FLOOD_GOAL} at >= 0.9 of the ceiling",
        met=met,
        note=f"one run; {r['seconds']:.1f} s against a ceiling of {ceiling_seconds('realistic', messages):.1f} s.",
    )


def rows(s: Samples, messages: int, ceiling: float, cap: int) -> list[Row]:
    p = get_profile("realistic")
    rate, burst = p.bucket("GetHistoryRequest")
    how = (
        f"{messages:,} messages on `realistic` (getHistory {rate:g}/s, burst {burst:g}, {p.latency_ms:g} ms "
        f"± {p.jitter_ms:g}): ceiling {ceiling:.1f} s = {messages / ceiling:,.0f} msg/s"
    )
    floods = (
        f"FloodWaits: adaptive {spread_text(s.of('adaptive', 'flood_waits'), '{:.0f}')}, one at a time "
        f"{spread_text(s.of('one', 'flood_waits'), '{:.0f}')}"
    )
    return [
        ratio_row(
            "concurrency.rate_vs_one",
            SECTION,
            f"Export rate, adaptive (cap {cap}) / one at a time",
            s,
            "rate",
            "adaptive",
            "one",
            better="higher",
            note=f"A/B values in msg/s; {how}.",
            fmt="{:,.0f}",
        ),
        _of_ceiling(
            "concurrency.adaptive_of_ceiling",
            SECTION,
            "Export rate / rate-limit ceiling, adaptive",
            s,
            "adaptive",
            floods,
        ),
        _of_ceiling(
            "concurrency.one_of_ceiling",
            SECTION,
            "Export rate / rate-limit ceiling, one request at a time",
            s,
            "one",
            "",
        ),
        _of_ceiling(
            "system.realistic_of_ceiling",
            SYSTEM,
            "`realistic` export rate / rate-limit ceiling, 5,000 messages (the adaptive runs of section 5)",
            s,
            "adaptive",
            floods + "; the goal (>= 0.9) is measured on 20,000 messages, in the two rows below: at 5,000 the "
            "one-off costs of the burst running dry and of the last reply weigh 15 %",
        ),
    ]


def _of_ceiling(id: str, section: str, name: str, s: Samples, variant: str, note: str) -> Row:
    values = s.of(variant, "of_ceiling")
    value = statistics.median(values)
    return Row(
        id=id,
        section=section,
        name=name,
        value=value,
        unit="x",
        a=spread_text(values, "{:.3f}"),
        note=note,
        spread=(min(values), max(values)),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The adaptive export's rate over the `realistic` ceiling.")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--chats", type=int, default=1, help="split the messages over this many chats")
    parser.add_argument(
        "--timeline",
        action="store_true",
        help="print every request: sent and answered (s from the first), outcome, in-flight limit",
    )
    args = parser.parse_args(argv)
    cap = Settings().export.max_concurrent_requests
    with tempfile.TemporaryDirectory(prefix="tobs-bench-") as tmp:
        for _ in range(args.runs):
            with _timeline(args.timeline) as requests:
                r = export_of_ceiling(args.messages, Path(tmp), cap, args.chats)
            for sent, answered, method, outcome, limit in requests:
                print(f"{sent:7.3f} {answered:7.3f}  {method:<20} {outcome:<16} limit {limit}")
            print(
                json.dumps(
                    {
                        "messages": args.messages,
                        "chats": args.chats,
                        "ceiling_s": ceiling_seconds("realistic", args.messages),
                        **{k: round(v, 3) for k, v in r.items()},
                    }
                ),
                flush=True,
            )
    return 0


@contextlib.contextmanager
def _timeline(on: bool) -> Iterator[list[tuple[float, float, str, str, int]]]:
    """While on, every request the engine sends is noted (the engine runs in this process, on its own thread)."""
    requests: list[tuple[float, float, str, str, int]] = []
    if not on:
        yield requests
        return
    send = TelegramSource._send
    t0: list[float] = []

    async def timed(source: TelegramSource, wire, dc_id):
        sent = time.perf_counter()
        t0[:] = t0 or [sent]
        outcome = "ok"
        try:
            return await send(source, wire, dc_id)
        except Exception as e:
            outcome = type(e).__name__
            raise
        finally:
            requests.append(
                (sent - t0[0], time.perf_counter() - t0[0], type(wire).__name__, outcome, source.limit.limit)
            )

    TelegramSource._send = timed
    try:
        yield requests
    finally:
        TelegramSource._send = send
        requests.sort()


if __name__ == "__main__":
    raise SystemExit(main())

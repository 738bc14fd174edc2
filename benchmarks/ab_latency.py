"""7. Round-trip time: the export at 50, 100 and 200 ms per reply (no rate limits) against what requests in
flight allow there (limit x 100 messages / round trip) and the export's own `lan` rate, side by side in one run,
and against plain Telethon `iter_messages(wait_time=0)` at 100 ms.

    python -m benchmarks.ab_latency [--messages 20000] [--rounds 1]   # one table of rates, printed as JSON
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchmarks.harness import Row, Samples, emulator, export_all, fresh_dir, run_rounds, spread_text
from benchmarks.raw_telethon import raw_in_subprocess
from tobs_tui.config import Settings
from tobs_tui.emulator.profiles import HISTORY_PAGE, LATENCY_PROFILES

SECTION = "7. Round-trip time"
ROWS = (
    *(f"latency.{ms}ms_of_bound" for ms in LATENCY_PROFILES),
    "latency.100ms_vs_raw",
)
RATIO_GOAL = 0.8
RAW_GOAL = 5.0
TIMEOUT_S = 1200


def bound(lan_rate: float, ms: int, cap: int) -> float:
    """What the export could reach at `ms` per reply: its `lan` rate, or the pages requests in flight fetch."""
    return min(lan_rate, cap * HISTORY_PAGE / (ms / 1000))


def measure(messages: int, rounds: int, work: Path, progress: Callable[[str], None]) -> Samples:
    chats = [{"kind": "supergroup", "title": "Round trips", "messages": messages, "media": 0.2}]
    profiles = ["lan", *(f"latency{ms}" for ms in LATENCY_PROFILES)]
    with contextlib.ExitStack() as stack:
        # One emulator per profile for the whole run: these profiles keep no state between exports.
        emus = {p: stack.enter_context(emulator(p, chats)) for p in profiles}

        def export(profile: str) -> Callable[[], dict[str, float]]:
            def one() -> dict[str, float]:
                r = export_all(emus[profile], fresh_dir(work, f"{profile}-"))
                return {"rate": r.rate, "messages": r.messages, "load": os.getloadavg()[0]}

            return one

        def raw() -> dict[str, float]:
            # Plain Telethon as it ships, in a fresh interpreter, over the same 100 ms emulator.
            count, seconds, _cpu = raw_in_subprocess(emus["latency100"].session_string)
            return {"rate": count / seconds, "messages": count, "load": os.getloadavg()[0]}

        variants = {p: export(p) for p in profiles}
        variants["raw100"] = raw
        return run_rounds(variants, rounds, progress)


def run(quick: bool, work: Path, progress: Callable[[str], None]) -> list[Row]:
    messages = 600 if quick else 20_000  # quick checks the harness: a few pages per profile
    rounds = 1 if quick else 3
    return rows(measure(messages, rounds, work, progress), messages)


def rows(s: Samples, messages: int) -> list[Row]:
    cap = Settings().export.max_concurrent_requests
    lan = s.of("lan", "rate")
    load = spread_text(
        [x for v in s.values for x in s.of(v, "load")],
        "{:.1f}",
    )
    out = []
    for ms in LATENCY_PROFILES:
        rates = s.of(f"latency{ms}", "rate")
        # Round by round: each export against the `lan` export of the same round.
        ratios = [r / bound(lan_rate, ms, cap) for r, lan_rate in zip(rates, lan, strict=True)]
        value = statistics.median(ratios)
        out.append(
            Row(
                id=f"latency.{ms}ms_of_bound",
                section=SECTION,
                name=f"Export rate at {ms} ms per reply / min(`lan` export rate, {cap} in flight x 100 msgs / {ms} ms)",
                value=value,
                unit="x",
                a=spread_text(rates, "{:,.0f}"),
                b=spread_text([bound(x, ms, cap) for x in lan], "{:,.0f}"),
                goal=f">= {RATIO_GOAL}",
                met=value >= RATIO_GOAL,
                note=f"A: msg/s at {ms} ms; B: the bound in msg/s (`lan` export {spread_text(lan, '{:,.0f}')} msg/s, "
                f"same rounds); {messages:,} messages, no rate limits; load average {load}.",
                spread=(min(ratios), max(ratios)),
            )
        )
    ratios = s.paired_ratio("rate", "latency100", "raw100")
    value = statistics.median(ratios)
    out.append(
        Row(
            id="latency.100ms_vs_raw",
            section=SECTION,
            name="Export rate / plain Telethon iter_messages(wait_time=0), 100 ms per reply",
            value=value,
            unit="x",
            a=spread_text(s.of("latency100", "rate"), "{:,.0f}"),
            b=spread_text(s.of("raw100", "rate"), "{:,.0f}"),
            goal=f">= {RAW_GOAL:g}",
            met=value >= RAW_GOAL,
            note=f"A/B values in msg/s; {messages:,} messages; load average {load}.",
            spread=(min(ratios), max(ratios)),
        )
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tobs-bench-") as tmp:
        s = measure(args.messages, args.rounds, Path(tmp), lambda text: None)
    for row in rows(s, args.messages):
        print(json.dumps({"id": row.id, "value": round(row.value or 0, 3), "a": row.a, "b": row.b, "note": row.note}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

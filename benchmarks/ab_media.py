"""6. Media throughput against the bandwidth ceiling: the downloader A/B (several parts and files in flight vs
one part at a time, benchmarks/media_throughput.py in its own process), and a whole export of a media channel
on the `realistic` profile with every file kind the world has."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks.harness import Row, emulator, export_all, fresh_dir, spread_text
from tobs_tui.emulator.profiles import get_profile

SECTION = "6. Whole system"
ROWS = ("system.media_of_ceiling", "system.media_vs_one_part", "system.media_export_of_ceiling")
GOAL = 0.85
MiB = 1024 * 1024


def downloader_ab(quick: bool, progress: Callable[[str], None]) -> list[Row]:
    rounds, budget = (1, 1) if quick else (3, 4)
    progress(f"downloader A/B: {rounds} rounds of {budget} MiB (benchmarks.media_throughput)")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.media_throughput", "--rounds", str(rounds), "--budget-mib", str(budget)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmarks.media_throughput failed ({done.returncode}):\n{done.stderr[-3000:]}")
    r = json.loads(done.stdout.strip().splitlines()[-1])
    per = r["per_round_mib_s"]
    ratios = [v / r["ceiling_mib_s"] for v in per["parallel"]]
    speedups = [p / o for p, o in zip(per["parallel"], per["one_part"], strict=True)]
    setup = (
        f"`{r['profile']}` with the bandwidth cut to {r['media_bandwidth_kib_s']} KiB/s per part stream × "
        f"{r['media_streams']} streams = {r['ceiling_mib_s']:g} MiB/s ceiling; {r['files']} documents/videos, "
        f"{r['mib_per_round']:g} MiB per round, the media stage alone (no history fetching)"
    )
    return [
        Row(
            id="system.media_of_ceiling",
            section=SECTION,
            name="Media MB/s / bandwidth ceiling (downloader)",
            value=statistics.median(ratios),
            unit="x",
            a=spread_text(per["parallel"], "{:.2f}") + " MiB/s",
            goal=f">= {GOAL}",
            met=statistics.median(ratios) >= GOAL,
            note=setup + ".",
            spread=(min(ratios), max(ratios)),
        ),
        Row(
            id="system.media_vs_one_part",
            section=SECTION,
            name="Media MB/s, parts and files in flight / one part at a time",
            value=statistics.median(speedups),
            unit="x",
            a=spread_text(per["parallel"], "{:.2f}") + " MiB/s",
            b=spread_text(per["one_part"], "{:.2f}") + " MiB/s",
            note="same files, alternating rounds (higher is better).",
            spread=(min(speedups), max(speedups)),
        ),
    ]


def export_of_ceiling(quick: bool, work: Path, progress: Callable[[str], None]) -> Row:
    messages, rounds = (8, 1) if quick else (30, 2)
    max_file = (1 if quick else 4) * MiB
    p = get_profile("realistic")
    ceiling = p.media_bandwidth * p.media_streams
    chats = [{"kind": "channel", "title": "Media", "messages": messages, "media": 1.0}]
    rates: list[float] = []
    for r in range(rounds):
        progress(f"whole export with downloads, round {r + 1}/{rounds}")
        with emulator("realistic", chats, max_file_size=max_file) as emu:  # full buckets, idle streams
            result = export_all(emu, fresh_dir(work, "media-"), download_media=True)
        m = result.snapshot.media
        if m.files_failed:
            raise RuntimeError(f"{m.files_failed} media downloads failed")
        rates.append(m.bytes_done / result.seconds)
    ratios = [rate / ceiling for rate in rates]
    value = statistics.median(ratios)
    return Row(
        id="system.media_export_of_ceiling",
        section=SECTION,
        name="Media MB/s / bandwidth ceiling (whole export, every file kind)",
        value=value,
        unit="x",
        a=spread_text([x / MiB for x in rates], "{:.2f}") + " MiB/s",
        goal=f">= {GOAL}",
        met=value >= GOAL,
        note=f"`realistic`: {p.media_bandwidth / MiB:g} MiB/s per part stream × {p.media_streams} = "
        f"{ceiling / MiB:g} MiB/s; a channel of {messages} messages, all with media (photos, documents, "
        f"videos, voice, stickers … up to {max_file // MiB} MiB), default settings; the clock includes "
        "fetching and writing the messages.",
        spread=(min(ratios), max(ratios)),
    )


def run(quick: bool, work: Path, progress: Callable[[str], None]) -> list[Row]:
    return [*downloader_ab(quick, progress), export_of_ceiling(quick, work, progress)]

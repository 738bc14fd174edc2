"""6. The whole system against its ceilings: the `lan` export rate over raw Telethon iter_messages (same run,
alternating), peak RSS exporting 1,000,000 messages (a child process measuring itself), the TUI's CPU cost.

The child: python -m benchmarks.ab_system rss SESSION_FILE OUT_DIR   (prints one JSON line)
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from benchmarks.harness import (
    Row,
    bench_settings,
    children_cpu_s,
    emulator,
    export_all,
    fresh_dir,
    ratio_row,
    run_rounds,
    spread_text,
)
from benchmarks.raw_telethon import raw_in_subprocess
from tobs_tui.emulator.credentials import DEMO_API_HASH, DEMO_API_ID
from tobs_tui.engine import ChatSelection, EngineRunner, ExportRequest
from tobs_tui.engine.render.workers import RenderPool

SECTION = "6. Whole system"
ROWS = (
    "system.lan_vs_raw",
    "system.lan_cpu_per_message",
    "system.lan_cpu_us",
    "system.one_cpu_rate",
    "system.one_cpu_cpu_us",
    "system.peak_rss_1m",
)
LAN_GOAL = 0.9  # of the raw iter_messages rate, on a quiet machine (median of 5 rounds)
CPU_GOAL_US = 60.0  # client CPU per message with Markdown + JSON on, render workers included

RSS_GOAL_MB = 300
TIMEOUT_S = 1800  # run_all's limit for this module: the 1,000,000-message export runs at what a loaded machine gives


def our_cpu_s(exclude: int) -> float:
    """CPU seconds of this process and its children (the render workers), the emulator process excluded."""
    t = psutil.Process().cpu_times()
    return t.user + t.system + children_cpu_s(exclude)


def lan_vs_raw(quick: bool, work: Path, progress: Callable[[str], None]) -> list[Row]:
    # 30,000 messages and 5 rounds: at 10,000 an export lasts under a second, so its pipeline filling and draining
    # weigh a few per cent, and single rounds on this shared machine spread from 0.66 to 0.92.
    messages = 2_000 if quick else 30_000
    rounds = 1 if quick else 5
    chats = [{"kind": "supergroup", "title": "Lan", "messages": messages, "media": 0.2}]

    def export() -> dict[str, float]:
        cpu = our_cpu_s(emu.process.pid)
        r = export_all(emu, fresh_dir(work, "lan-"))
        # Includes connecting and listing dialogs, which the raw side's CPU figure leaves out: a few ms.
        used = (our_cpu_s(emu.process.pid) - cpu) / r.messages * 1e6
        return {"rate": r.rate, "messages": r.messages, "cpu_us": used, "load": os.getloadavg()[0]}

    def raw() -> dict[str, float]:
        # In a fresh interpreter: Telethon as it ships, not as the engine's process decodes history replies.
        count, seconds, cpu = raw_in_subprocess(emu.session_string)
        return {"rate": count / seconds, "messages": count, "cpu_us": cpu / count * 1e6}

    with emulator("lan", chats) as emu:
        s = run_rounds({"export": export, "raw": raw}, rounds, progress)
    if s.of("export", "messages") != s.of("raw", "messages"):
        raise AssertionError(f"the export and iter_messages saw different message counts: {s.values}")
    load = spread_text(s.of("export", "load"), "{:.1f}")
    used = s.of("export", "cpu_us")
    cpu = s.median("export", "cpu_us")
    return [
        ratio_row(
            "system.lan_vs_raw",
            SECTION,
            "`lan` export rate / raw Telethon iter_messages rate",
            s,
            "rate",
            "export",
            "raw",
            goal=f">= {LAN_GOAL:g}",
            met=lambda v: v >= LAN_GOAL,
            better="higher",
            note=f"A/B values in msg/s; {messages:,} messages (20 % with media, downloads off), Markdown + "
            f"JSON, the emulator in its own process on the same 2 cores; load average {load}.",
            fmt="{:,.0f}",
        ),
        ratio_row(
            "system.lan_cpu_per_message",
            SECTION,
            "Client CPU per message, export / raw iter_messages",
            s,
            "cpu_us",
            "export",
            "raw",
            better="lower",
            note="A/B values in µs of CPU per message (the export counts its render worker processes); "
            "unlike wall time, not distorted by other load on the machine.",
            fmt="{:.0f}",
        ),
        Row(
            id="system.lan_cpu_us",
            section=SECTION,
            name="Client CPU per message, the export (engine process and render workers)",
            value=cpu,
            unit="µs",
            a=spread_text(used, "{:.0f}"),
            goal=f"<= {CPU_GOAL_US:g} µs",
            met=cpu <= CPU_GOAL_US,
            note=f"Markdown + JSON on; raw iter_messages {s.median('raw', 'cpu_us'):.0f} µs.",
            spread=(min(used), max(used)),
        ),
    ]


# -- one usable CPU: rendering in the engine process against a render worker ---------------------------------


@contextlib.contextmanager
def _one_cpu():
    """This process and every process it starts meanwhile (emulator, render workers) on one CPU."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def one_cpu(quick: bool, work: Path, progress: Callable[[str], None]) -> list[Row]:
    """On one CPU (a Raspberry Pi Zero, a container with a quota of one) the engine renders in its own process,
    each message decoded once; the baseline is what it did before: one render worker process, which decodes
    each message again and takes turns with the engine process for the CPU."""
    if not hasattr(os, "sched_setaffinity"):
        return []
    messages = 2_000 if quick else 20_000
    rounds = 1 if quick else 3
    chats = [{"kind": "supergroup", "title": "One CPU", "messages": messages, "media": 0.2}]
    with _one_cpu(), emulator("lan", chats) as emu:
        worker = RenderPool(1)  # started on the one CPU, as the process's own would be

        def export(**how: Any) -> Callable[[], dict[str, float]]:
            def run() -> dict[str, float]:
                cpu = our_cpu_s(emu.process.pid)
                r = export_all(emu, fresh_dir(work, "one-cpu-"), **how)
                used = (our_cpu_s(emu.process.pid) - cpu) / r.messages * 1e6
                return {"rate": r.rate, "cpu_us": used, "load": os.getloadavg()[0]}

            return run

        try:
            worker.warm()
            s = run_rounds(
                {"process": export(render_in_process=True), "worker": export(render_pool=worker)}, rounds, progress
            )
        finally:
            worker.shutdown()
    load = spread_text(s.of("process", "load"), "{:.1f}")
    note = (
        f"{messages:,} messages (20 % with media, downloads off), Markdown + JSON; this process, its render "
        f"worker and the emulator on one CPU (sched_setaffinity); load average {load}."
    )
    return [
        ratio_row(
            "system.one_cpu_rate",
            SECTION,
            "One CPU: export rate, rendering in the engine process / in one render worker",
            s,
            "rate",
            "process",
            "worker",
            better="higher",
            note=f"A/B values in msg/s. {note}",
            fmt="{:,.0f}",
        ),
        ratio_row(
            "system.one_cpu_cpu_us",
            SECTION,
            "One CPU: client CPU per message, rendering in the engine process / in one render worker",
            s,
            "cpu_us",
            "process",
            "worker",
            better="lower",
            note="A/B values in µs of CPU per message, the render worker's included.",
            fmt="{:.0f}",
        ),
    ]


# -- peak RSS of a 1,000,000-message export, measured by the exporting process itself ----------------


def _tree_rss_mb() -> tuple[float, float]:
    """(this process, this process + its children: the render workers) resident MB."""
    me = psutil.Process()
    own = me.memory_info().rss
    total = own
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += child.memory_info().rss
    return own / 1e6, total / 1e6


def rss_child(session_file: Path, out: Path) -> dict:
    """Runs in the child: export everything, sampling RSS (own and with the render workers) against progress;
    the process's own peak also comes from the kernel."""
    samples: list[tuple[int, float, float]] = []

    def on_snapshot(snap) -> None:
        samples.append((snap.messages_done, *_tree_rss_mb()))

    runner = EngineRunner(
        bench_settings(out),
        session=session_file.read_text(encoding="ascii").strip(),
        api_id=DEMO_API_ID,
        api_hash=DEMO_API_HASH,
        on_snapshot=on_snapshot,
    )
    runner.start()
    try:
        runner.connect().result(60)
        dialogs = runner.list_dialogs().result(60)
        before = _tree_rss_mb()
        started = time.perf_counter()
        snap = runner.start_export(
            ExportRequest(chats=tuple(ChatSelection(d.chat_id, download_media=False) for d in dialogs))
        ).result()
        seconds = time.perf_counter() - started
        workers = [_peak_mb(p.pid) for p in psutil.Process().children(recursive=True)]  # still alive here
    finally:
        runner.stop()
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across exec, so it would report the parent's
    # size at the fork (the benchmark process after its lan rounds: 130-140 MB) instead of this export's.
    peak = _peak_mb(os.getpid())
    return {
        "state": snap.state.value,
        "messages": snap.messages_done,
        "seconds": seconds,
        "rss_before_mb": before,
        "peak_rss_mb": peak,
        "worker_peaks_mb": workers,
        "sampled_tree_mb": max((t for _, _, t in samples), default=0.0),
        "samples": samples,
    }


def _peak_mb(pid: int) -> float:
    """A process's own peak RSS (VmHWM) from /proc."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    return 0.0


def peak_rss(quick: bool, work: Path, progress: Callable[[str], None]) -> Row:
    messages = 5_000 if quick else 1_000_000
    chats = [{"kind": "supergroup", "title": "The Million", "messages": messages, "media": 0.1}]
    with emulator("lan", chats) as emu:
        session = work / "rss-session.txt"
        session.write_text(emu.session_string, encoding="ascii")
        progress(f"exporting {messages:,} messages in a child process")
        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.ab_system", "rss", str(session), str(fresh_dir(work, "rss-"))],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parent.parent,
        )
    if child.returncode != 0:
        raise RuntimeError(f"the RSS child failed ({child.returncode}):\n{child.stderr[-3000:]}")
    r = json.loads(child.stdout.strip().splitlines()[-1])
    if r["state"] != "done" or r["messages"] != messages:
        raise RuntimeError(f"the RSS child exported {r['messages']} of {messages} messages ({r['state']})")
    points = _quarters(r["samples"], messages)
    # The goal is for everything the export keeps resident: the exporting process and its render workers. The
    # sum of each process's own peak is an upper bound (their peaks need not coincide); sampling at 4 Hz gives a
    # lower one.
    peak = r["peak_rss_mb"] + sum(r["worker_peaks_mb"])
    own0, tree0 = r["rss_before_mb"]
    return Row(
        id="system.peak_rss_1m",
        section=SECTION,
        name=f"Peak RSS exporting {messages:,} messages (process + render workers, sum of their peaks)",
        value=peak,
        unit="MB",
        goal=f"<= {RSS_GOAL_MB} MB",
        met=peak <= RSS_GOAL_MB,
        a=f"process {r['peak_rss_mb']:.0f} MB + workers "
        + " + ".join(f"{w:.0f}" for w in r["worker_peaks_mb"])
        + f" MB; sampled together at most "
        f"{r['sampled_tree_mb']:.0f} MB",
        note=f"connected, before the export: {own0:.0f} MB ({tree0:.0f} MB with workers); at "
        + ", ".join(f"{q}: {own:.0f} MB ({tree:.0f})" for q, own, tree in points)
        + f" — flat means no growth with the message count; {messages / r['seconds']:,.0f} msg/s over "
        f"{r['seconds']:.0f} s (`lan`, downloads off, Markdown + JSON).",
    )


def _quarters(samples: list[list[float]], total: int) -> list[tuple[str, float, float]]:
    out = []
    for share in (0.25, 0.5, 0.75, 1.0):
        hits = [(own, tree) for done, own, tree in samples if done >= total * share]
        if hits:
            out.append((f"{share:.0%}", *hits[0]))
    return out


def run(quick: bool, work: Path, progress: Callable[[str], None]) -> list[Row]:
    return [*lan_vs_raw(quick, work, progress), *one_cpu(quick, work, progress), peak_rss(quick, work, progress)]


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "rss":
        raise SystemExit(__doc__)
    print(json.dumps(rss_child(Path(sys.argv[2]), Path(sys.argv[3]))))

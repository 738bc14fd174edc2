"""Export rate of the engine against the raw Telethon `iter_messages` rate, measured in the same run.

The emulator runs in its own process on the `lan` profile (no delay, no limits), so both numbers are bounded by
the same server; the ratio is the engine's overhead (goal >= 0.9 on a quiet machine). Also reports the peak RSS of this process
while exporting one large chat, sampled over the export so a growing footprint shows.

    python -m benchmarks.export_lan [--messages 100000] [--repeat 1]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from benchmarks.raw_telethon import raw_in_subprocess, world_file
from tobs_tui.config import Settings
from tobs_tui.emulator import start_subprocess
from tobs_tui.engine import ChatSelection, EngineRunner, ExportRequest


def cpu_seconds(proc: psutil.Process) -> float:
    return sum(proc.cpu_times()[:2])


def raw_rate(session: str, chat_id: int, emulator: psutil.Process) -> tuple[int, float, float, float]:
    """Raw iter_messages over the same emulator, in a fresh interpreter: (count, seconds, CPU s, emulator CPU s)."""
    emu_cpu = cpu_seconds(emulator)
    n, elapsed, cpu = raw_in_subprocess(session, chat_id)
    return n, elapsed, cpu, cpu_seconds(emulator) - emu_cpu


class RssSampler:
    """RSS of this process every 100 ms, with the message count at that moment."""

    def __init__(self, runner: EngineRunner) -> None:
        self.runner = runner
        self.samples: list[tuple[int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        proc = psutil.Process()
        while not self._stop.wait(0.1):
            self.samples.append((self.runner.snapshot().messages_done, proc.memory_info().rss))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def engine_rate(
    session: str, chat_id: int, out: Path, emulator: psutil.Process, render_in_process: bool | None = None
) -> dict:
    base = Settings()
    settings = dataclasses.replace(base, export=dataclasses.replace(base.export, output_dir=out, download_media=False))
    runner = EngineRunner(settings, session=session, api_id=1, api_hash="0" * 32, render_in_process=render_in_process)
    runner.start()
    try:
        assert runner.connect().result(60)
        runner.list_dialogs().result(60)
        time.sleep(2)  # let the render worker processes finish starting (a runner starts them once)
        # The render worker processes; the emulator is a child of this process too, counted on its own.
        workers = [p for p in psutil.Process().children() if p.pid != emulator.pid]
        with RssSampler(runner) as sampler:
            started, cpu = time.perf_counter(), time.process_time()
            worker_cpu, emu_cpu = sum(cpu_seconds(w) for w in workers), cpu_seconds(emulator)
            final = runner.start_export(ExportRequest((ChatSelection(chat_id),))).result(3600)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            worker_cpu = sum(cpu_seconds(w) for w in workers) - worker_cpu
            emu_cpu = cpu_seconds(emulator) - emu_cpu
    finally:
        runner.stop()
    marks = {}
    for frac in (0.25, 0.5, 0.75):
        at = [rss for done, rss in sampler.samples if done >= frac * final.messages_done]
        marks[f"rss_mb_at_{int(frac * 100)}pct"] = round(at[0] / 2**20, 1) if at else None
    return {
        "messages": final.messages_done,
        "seconds": round(elapsed, 3),
        "rate": round(final.messages_done / elapsed, 1),
        "state": final.state.value,
        "flood_waits": final.flood_waits,
        "cpu_us_per_msg_main": round(cpu / final.messages_done * 1e6, 1),
        "cpu_us_per_msg_render_workers": round(worker_cpu / final.messages_done * 1e6, 1),
        "cpu_us_per_msg_emulator": round(emu_cpu / final.messages_done * 1e6, 1),
        "peak_rss_mb_sampled": round(max((r for _, r in sampler.samples), default=0) / 2**20, 1),
        **marks,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1, help="alternate raw/engine runs this many times")
    parser.add_argument(
        "--render",
        choices=("auto", "workers", "process"),
        default="auto",
        help="render in worker processes, in the engine process, or as the engine decides (by usable CPUs)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tobs-bench-") as tmp:
        tmpdir = Path(tmp)
        emu = start_subprocess(profile="lan", seed=7, world_path=world_file(tmpdir, args.messages))
        try:
            chat_id = -1001100000000
            emulator = psutil.Process(emu.process.pid)
            raws, engines = [], []
            for i in range(args.repeat):
                n, elapsed, cpu, emu_cpu = raw_rate(emu.session_string, chat_id, emulator)
                raws.append(
                    {
                        "messages": n,
                        "seconds": round(elapsed, 3),
                        "rate": round(n / elapsed, 1),
                        "cpu_us_per_msg": round(cpu / n * 1e6, 1),
                        "cpu_us_per_msg_emulator": round(emu_cpu / n * 1e6, 1),
                    }
                )
                in_process = {"auto": None, "workers": False, "process": True}[args.render]
                engines.append(engine_rate(emu.session_string, chat_id, tmpdir / f"vault{i}", emulator, in_process))
        finally:
            emu.stop()
    raw = max(r["rate"] for r in raws)
    eng = max(e["rate"] for e in engines)
    print(
        json.dumps(
            {
                "benchmark": "export_lan",
                "python": sys.version.split()[0],
                "messages": args.messages,
                "raw_telethon": raws,
                "engine": engines,
                "ratio": round(eng / raw, 3),
                "goal_ratio": 0.9,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

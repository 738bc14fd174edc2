"""The dashboard's cost during a full-speed export: CPU of the UI at 4 Hz beyond the engine's own, and how
long a keypress waits while the engine works (the emulator runs in its own process).

    python -m benchmarks.tui_cpu [--quick]

The goal's figure, tui.cpu_beyond_engine, is the dashboard window's process CPU minus the engine's process
CPU per message (measured in the engine-alone window of the same round) times the messages the dashboard
window exported: every cost the dashboard causes in this process, in any thread, and no engine work, however
fast either export ran. The engine's render worker processes are measured too but not subtracted: they do the
same job per message with or without the dashboard (the note shows both), and their CPU per message, the
noisiest term on a shared machine (5 % between windows, several points of a core), swamped the figure when
it was included. tui.cpu_ui_threads attributes CPU by thread (the UI loop, its worker threads that build
charts, the key probe standing in for the terminal's input thread): a lower bound, blind to what the UI makes
other threads do (GIL hand-offs). The old figure, kept as tui.cpu_process_difference (process CPU with the
dashboard minus process CPU alone), charged the UI for engine work whenever the two exports ran at different
rates. A key counts from when it was due, so pauses that stop every thread (a garbage collection) count
against it as they would against a real keypress.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import gc
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
from textual import events
from textual.binding import Binding

from benchmarks.harness import Row, bench_settings, children_cpu_s, percentile, spread_text
from tobs_tui.emulator import EmulatorProcess, start_subprocess
from tobs_tui.emulator.credentials import DEMO_API_HASH, DEMO_API_ID
from tobs_tui.engine import ChatSelection, EngineRunner, ExportRequest, RunState
from tobs_tui.ui.app import TobsApp

SECTION = "TUI cost during an export"
ROWS = (
    "tui.cpu_beyond_engine",
    "tui.ui_thread_cpu",
    "tui.keypress_p95",
    "tui.keypress_max",
    "tui.cpu_ui_threads",
    "tui.cpu_process_difference",
)

KEY_EVERY_S = 0.1
KEY_SLOW_MS = 50.0  # keys slower than this are checked against the collector's runs
UI_WORKER = "tobs-ui-worker"  # the UI loop's executor threads: Textual runs thread workers (chart builds) there
KEY_PROBE = "key-probe"


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds used so far: this process, the engine's render processes, and each live thread."""

    wall: float
    process: float
    helpers: float
    threads: dict[int, tuple[str, float]]  # native id -> (name, CPU seconds)

    @classmethod
    def take(cls, emulator_pid: int) -> CpuSample:
        me = psutil.Process()
        names = {t.native_id: t.name for t in threading.enumerate()}
        threads = {t.id: (names.get(t.id, "?"), t.user_time + t.system_time) for t in me.threads()}
        return cls(time.perf_counter(), time.process_time(), children_cpu_s(emulator_pid), threads)


@dataclass(frozen=True)
class Window:
    """What one measured window did: per wall second CPU (1.0 = one core) and messages exported."""

    wall: float
    process: float  # this process: the engine's threads, the UI's, the key probe
    helpers: float  # the engine's render worker processes
    ui_loop: float  # the thread running the Textual loop
    ui_threads: float  # the UI loop, its worker threads and the key probe
    rate: float  # messages per second

    @classmethod
    def between(cls, a: CpuSample, b: CpuSample, done: int) -> Window:
        wall = b.wall - a.wall

        def threads(keep: Callable[[str], bool]) -> float:
            return sum(cpu - a.threads.get(tid, ("", 0.0))[1] for tid, (name, cpu) in b.threads.items() if keep(name))

        return cls(
            wall=wall,
            process=(b.process - a.process) / wall,
            helpers=(b.helpers - a.helpers) / wall,
            ui_loop=threads(lambda n: n == "MainThread") / wall,
            ui_threads=threads(lambda n: n in ("MainThread", KEY_PROBE) or n.startswith(UI_WORKER)) / wall,
            rate=done / wall,
        )


class GcPauses:
    """Durations of the cyclic collector's runs while installed: every thread waits for them (they hold the GIL)."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float, float]] = []  # (generation, start, end) in perf_counter seconds
        self._started = 0.0

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((info["generation"], self._started, time.perf_counter()))

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


class MeasuredApp(TobsApp):
    """The real app plus one key whose handler stamps the time it ran (the probe for keypress latency)."""

    BINDINGS = [*TobsApp.BINDINGS, Binding("f12", "probe", show=False)]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.handled = threading.Event()
        self.handled_at = 0.0

    def action_probe(self) -> None:
        self.handled_at = time.perf_counter()
        self.handled.set()


def _request(runner: EngineRunner) -> ExportRequest:
    dialogs = runner.list_dialogs().result(60)
    # Every dialog: far more than the window needs, so the engine is at full speed throughout.
    return ExportRequest(tuple(ChatSelection(d.chat_id, download_media=False) for d in dialogs))


def engine_alone(emu: EmulatorProcess, out: Path, window: float) -> Window:
    """CPU with only the engine running (snapshots at 4 Hz, nobody drawing them)."""
    runner = EngineRunner(
        bench_settings(out),
        session=emu.session_string,
        api_id=DEMO_API_ID,
        api_hash=DEMO_API_HASH,
        on_snapshot=lambda snap: None,
    )
    try:
        runner.start()
        runner.connect().result(60)
        future = runner.start_export(_request(runner))
        while runner.snapshot().messages_done == 0:
            time.sleep(0.05)
        done0, before = runner.snapshot().messages_done, CpuSample.take(emu.process.pid)
        time.sleep(window)
        after, done1 = CpuSample.take(emu.process.pid), runner.snapshot().messages_done
        if future.done():
            raise RuntimeError("the export finished inside the window; the world is too small for it")
        runner.cancel().result(60)
    finally:
        runner.stop()
    return Window.between(before, after, done1 - done0)


@dataclass(frozen=True)
class Shown:
    window: Window
    keys: list[tuple[float, float]]  # (due, handled) of each key, perf_counter seconds
    gc: list[tuple[int, float, float]]  # (generation, start, end) of each collection inside the window

    def latencies(self) -> list[float]:
        return [(handled - due) * 1000 for due, handled in self.keys]

    def slow_keys(self, over_ms: float) -> tuple[int, int]:
        """Keys slower than over_ms, and how many of them waited through a collection."""
        slow = [(due, handled) for due, handled in self.keys if (handled - due) * 1000 > over_ms]
        behind_gc = sum(any(start < handled and end > due for _, start, end in self.gc) for due, handled in slow)
        return len(slow), behind_gc


def with_dashboard(emu: EmulatorProcess, out: Path, window: float) -> Shown:
    """The same export driven from the real app showing the dashboard at 4 Hz, with a key probe every 100 ms."""
    # A config of its own next to the vault: nothing the app saves may land in the user's real config.
    app = MeasuredApp(
        bench_settings(out),
        session=emu.session_string,
        api_id=DEMO_API_ID,
        api_hash=DEMO_API_HASH,
        config_path=out.parent / f"{out.name}-config.toml",
    )
    result: list[Shown] = []

    async def drive() -> None:
        # Named threads, so the app's thread workers (chart builds) count as the UI's.
        asyncio.get_running_loop().set_default_executor(
            concurrent.futures.ThreadPoolExecutor(thread_name_prefix=UI_WORKER)
        )
        async with app.run_test(size=(160, 48)) as pilot:
            while not (app.logged_in and app.runner is not None):
                await pilot.pause(0.05)
            request = await asyncio.get_running_loop().run_in_executor(None, _request, app.runner)
            assert app.start_export(request)
            while app.live.latest is None or app.live.latest.messages_done == 0:
                await pilot.pause(0.05)
            keys: list[tuple[float, float]] = []
            stop = threading.Event()

            def press_keys() -> None:
                # Posted from another thread, as the terminal driver posts real keys. A key counts from the
                # moment it was due, not from when this thread got the GIL back to post it: a pause that holds
                # every thread (a GC run, a long hold of the GIL) delays a real keypress just the same.
                due = time.perf_counter()
                while not stop.wait(max(0.0, due - time.perf_counter())):
                    app.handled.clear()
                    app.post_message(events.Key("f12", None))
                    if app.handled.wait(5):
                        keys.append((due, app.handled_at))
                    due = max(due + KEY_EVERY_S, time.perf_counter())

            presser = threading.Thread(target=press_keys, name=KEY_PROBE)
            with GcPauses() as pauses:
                done0, before = app.runner.snapshot().messages_done, CpuSample.take(emu.process.pid)
                presser.start()
                await asyncio.sleep(window)
                after, done1 = CpuSample.take(emu.process.pid), app.runner.snapshot().messages_done
                stop.set()
                await asyncio.get_running_loop().run_in_executor(None, presser.join)
            if app.live.latest.state is not RunState.RUNNING:
                raise RuntimeError("the export stopped inside the window; the world is too small for it")
            await asyncio.wrap_future(app.runner.cancel())
            await app.shutdown_engine()
            result.append(Shown(Window.between(before, after, done1 - done0), keys, pauses.pauses))

    asyncio.run(drive())
    return result[0]


def beyond_engine(alone: Window, shown: Window) -> float:
    """The dashboard window's process CPU less what the engine alone spends in it on as many messages
    (1.0 = one core)."""
    return shown.process - alone.process / alone.rate * shown.rate


def run(quick: bool, tmp: Path, log: Callable[[str], None]) -> list[Row]:
    window = 2.5 if quick else 15.0
    rounds = 1 if quick else 3
    alone: list[Window] = []
    shown: list[Shown] = []
    emu = start_subprocess("lan", seed=1)
    try:
        for r in range(rounds):
            # Alternate the order so drift in the machine's load favours neither side.
            order = ("alone", "dashboard") if r % 2 == 0 else ("dashboard", "alone")
            for name in order:
                log(f"round {r + 1}/{rounds}: {name} ({window:.0f} s window)")
                out = Path(tempfile.mkdtemp(prefix=f"tui-{name}-", dir=tmp))
                if name == "alone":
                    alone.append(engine_alone(emu, out, window))
                else:
                    shown.append(with_dashboard(emu, out, window))
    finally:
        emu.stop()
    dash = [s.window for s in shown]
    beyond = [100 * beyond_engine(a, d) for a, d in zip(alone, dash, strict=True)]
    difference = [100 * (d.process - a.process) for a, d in zip(alone, dash, strict=True)]
    ui_threads = [100 * d.ui_threads for d in dash]
    ui = [100 * d.ui_loop for d in dash]
    keys = [k for s in shown for k in s.latencies()]
    slow, behind_gc = (sum(n) for n in zip(*(s.slow_keys(KEY_SLOW_MS) for s in shown), strict=True))
    pauses = [(gen, (end - start) * 1000) for s in shown for gen, start, end in s.gc]
    gen2 = [ms for gen, ms in pauses if gen == 2]
    slowest_gc = max((ms for _, ms in pauses), default=0.0)
    rates = (
        f"engine alone {statistics.median(a.rate for a in alone):,.0f} msgs/s, with the dashboard "
        f"{statistics.median(d.rate for d in dash):,.0f} msgs/s"
    )
    per_message = statistics.median(1e6 * a.process / a.rate for a in alone)
    helpers_alone = statistics.median(1e6 * a.helpers / a.rate for a in alone)
    helpers_shown = statistics.median(1e6 * d.helpers / d.rate for d in dash)
    return [
        Row(
            "tui.cpu_beyond_engine",
            SECTION,
            "CPU with the dashboard at 4 Hz beyond the engine's own CPU per message x messages exported",
            statistics.median(beyond),
            "%",
            a=spread_text([100 * d.process for d in dash], "{:.1f}"),
            b=spread_text([100 * a.process for a in alone], "{:.1f}"),
            goal="<= 10",
            met=statistics.median(beyond) <= 10,
            note=f"% of one core; engine {per_message:.0f} µs of process CPU per message alone; render processes "
            f"{helpers_alone:.0f} µs per message alone, {helpers_shown:.0f} with the dashboard; {rates}",
            spread=(min(beyond), max(beyond)),
        ),
        Row(
            "tui.ui_thread_cpu",
            SECTION,
            "CPU of the UI thread (Textual loop, our widgets) at 4 Hz",
            statistics.median(ui),
            "%",
            a=spread_text(ui, "{:.1f}"),
            note="% of one core; headless driver (no terminal writes); chart builds run on worker threads, "
            "counted in tui.cpu_ui_threads",
            spread=(min(ui), max(ui)),
        ),
        Row(
            "tui.keypress_p95",
            SECTION,
            "keypress handled after (p95) while exporting",
            percentile(keys, 0.95),
            "ms",
            a=f"p50 {percentile(keys, 0.5):.1f} ms over {len(keys)} keys",
            goal="< 100",
            met=percentile(keys, 0.95) < 100,
        ),
        Row(
            "tui.keypress_max",
            SECTION,
            "slowest keypress while exporting",
            max(keys, default=0.0),
            "ms",
            goal="< 100",
            met=max(keys, default=0.0) < 100,
            note=f"{slow} keys over {KEY_SLOW_MS:.0f} ms, {behind_gc} of them waited through a GC run; "
            f"{len(pauses)} GC runs in the windows, slowest {slowest_gc:.1f} ms; {len(gen2)} full, "
            f"slowest {max(gen2, default=0.0):.1f} ms",
        ),
        Row(
            "tui.cpu_ui_threads",
            SECTION,
            "CPU of the UI's threads: the Textual loop, chart builds, key input",
            statistics.median(ui_threads),
            "%",
            a=spread_text(ui_threads, "{:.1f}"),
            note="% of one core; the lower bound of the cost (what the UI makes other threads do is not in it)",
            spread=(min(ui_threads), max(ui_threads)),
        ),
        Row(
            "tui.cpu_process_difference",
            SECTION,
            "process CPU with the dashboard minus process CPU with the engine alone (the old figure)",
            statistics.median(difference),
            "%",
            note="% of one core; counts engine work too when the two exports ran at different rates",
            spread=(min(difference), max(difference)),
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short round")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tobs-tui-bench-") as tmp:
        rows = run(args.quick, Path(tmp), lambda text: print(text, flush=True))
    for row in rows:
        goal = f"  goal {row.goal}: {'met' if row.met else 'NOT met'}" if row.goal else ""
        extra = f"  [{row.a}]" if row.a else ""
        spread = f" ({row.spread[0]:.1f}–{row.spread[1]:.1f})" if row.spread else ""
        print(f"{row.name}: {row.value:.1f} {row.unit}{spread}{extra}{goal}" + (f"  ({row.note})" if row.note else ""))
    return 0 if all(row.met is not False for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Shared pieces of the benchmark suite: the emulator in its own process, exports through the real
EngineRunner, A/B rounds (alternating order, medians and spread) and the result rows run_all writes."""

from __future__ import annotations

import contextlib
import dataclasses
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import tomli_w

from tobs_tui.config import Settings
from tobs_tui.emulator import EmulatorProcess, start_subprocess
from tobs_tui.emulator.credentials import DEMO_API_HASH, DEMO_API_ID
from tobs_tui.engine import (
    BackoffPolicy,
    ChatSelection,
    DualPool,
    EngineEvent,
    EngineRunner,
    EngineSnapshot,
    ExportRequest,
    RunState,
)
from tobs_tui.engine import percentile as sorted_percentile
from tobs_tui.engine.render.workers import RenderPool

WAIT_S = 600  # no single export in the suite may take longer; a hang fails the run instead of stalling it


@dataclass(frozen=True)
class Row:
    """One line of the results table: a figure, what it is compared with, and its goal if it has one."""

    id: str  # stable key, e.g. "pools.high_wait_p95_ratio"
    section: str  # the numbered comparison it belongs to
    name: str  # what the figure is, in words
    value: float | None  # None only when the figure cannot be measured on this machine (note says why)
    unit: str  # "x" for ratios, "ms", "MB/s", "MB", "%", "count"
    a: str = ""  # the mechanism's side: median (min-max) over the rounds
    b: str = ""  # the baseline's side
    goal: str = ""  # e.g. ">= 0.7"
    met: bool | None = None  # None when there is no goal
    estimate: str = ""  # what the design notes guessed
    note: str = ""
    spread: tuple[float, float] | None = None  # min and max of the per-round figure


@dataclass
class Samples:
    """Per-variant lists of metric values, one value per round, in round order."""

    values: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def add(self, variant: str, metrics: dict[str, float]) -> None:
        per = self.values.setdefault(variant, {})
        for key, value in metrics.items():
            per.setdefault(key, []).append(float(value))
        self.order.append(variant)

    def of(self, variant: str, metric: str) -> list[float]:
        return self.values[variant][metric]

    def median(self, variant: str, metric: str) -> float:
        return statistics.median(self.of(variant, metric))

    def paired_ratio(self, metric: str, top: str, bottom: str) -> list[float]:
        """top/bottom round by round: both sides of a round saw the same machine load."""
        return [
            t / b if b else float("inf") if t else 1.0
            for t, b in zip(self.of(top, metric), self.of(bottom, metric), strict=True)
        ]


def run_rounds(
    variants: dict[str, Callable[[], dict[str, float]]], rounds: int, progress: Callable[[str], None] | None = None
) -> Samples:
    """Run every variant once per round, the order reversed every other round (A B, B A, A B ...), so drift
    in the machine's load and warm caches favour neither side."""
    samples = Samples()
    names = list(variants)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            if progress is not None:
                progress(f"round {r + 1}/{rounds}: {name}")
            samples.add(name, variants[name]())
    return samples


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile (q in 0..1) of unsorted values, as the pools compute theirs; 0 for none."""
    return sorted_percentile(sorted(values), q)


def children_cpu_s(exclude: int) -> float:
    """CPU seconds of this process's children (the render workers), one of them (the emulator) excluded."""
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        if child.pid == exclude:
            continue
        with contextlib.suppress(psutil.Error):  # a child that just ended has nothing more to count
            t = child.cpu_times()
            total += t.user + t.system
    return total


def spread_text(values: Sequence[float], fmt: str = "{:.3g}") -> str:
    """'median (min-max)' of the rounds, or the one value."""
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def ratio_row(
    id: str,
    section: str,
    name: str,
    samples: Samples,
    metric: str,
    top: str,
    bottom: str,
    *,
    unit: str = "x",
    goal: str = "",
    better: str = "",
    estimate: str = "",
    note: str = "",
    fmt: str = "{:.3g}",
    met: Callable[[float], bool] | None = None,
) -> Row:
    """A row whose figure is the median of the per-round ratio top/bottom of one metric."""
    ratios = samples.paired_ratio(metric, top, bottom)
    value = statistics.median(ratios)
    text = f"{note} " if note else ""
    if better:
        text += f"({better} is better)"
    return Row(
        id=id,
        section=section,
        name=name,
        value=value,
        unit=unit,
        a=spread_text(samples.of(top, metric), fmt),
        b=spread_text(samples.of(bottom, metric), fmt),
        goal=goal,
        met=met(value) if met else None,
        estimate=estimate,
        note=text.strip(),
        spread=(min(ratios), max(ratios)),
    )


# -- the emulator, in its own process -------------------------------------------------------------


def world_file(
    directory: Path,
    chats: list[dict[str, Any]],
    *,
    seed: int = 7,
    generated_users: int = 60,
    max_file_size: int | None = None,
) -> Path:
    """A world file (docs/WORLD.md) with exactly these chats, so each benchmark knows what it exports."""
    data: dict[str, Any] = {"seed": seed, "generated_users": generated_users, "chats": chats}
    if max_file_size is not None:
        data["max_file_size"] = max_file_size
    path = directory / "world.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


@contextlib.contextmanager
def emulator(profile: str, chats: list[dict[str, Any]], **world: Any) -> Iterator[EmulatorProcess]:
    """The emulator in a child process (it must not share our GIL), stopped on the way out."""
    with tempfile.TemporaryDirectory(prefix="tobs-bench-world-") as tmp:
        process = start_subprocess(profile, world_path=world_file(Path(tmp), chats, **world))
        try:
            yield process
        finally:
            process.stop()


# -- exports through the real engine --------------------------------------------------------------


def bench_settings(
    out: Path, *, max_threads: int = 0, media_workers: int = 0, parts_per_file: int | None = None, **export: Any
) -> Settings:
    """The default settings (media downloads off unless asked) with the export going to `out`."""
    base = Settings()
    export.setdefault("download_media", False)
    workers = dataclasses.replace(base.workers, max_threads=max_threads, media_download_workers=media_workers)
    if parts_per_file is not None:
        workers = dataclasses.replace(workers, parts_per_file=parts_per_file)
    return dataclasses.replace(
        base,
        export=dataclasses.replace(base.export, output_dir=out, **export),
        workers=workers,
        ui=dataclasses.replace(base.ui, refresh_hz=4.0),
    )


@dataclass(frozen=True)
class ExportResult:
    seconds: float
    messages: int
    snapshot: EngineSnapshot
    events: tuple[EngineEvent, ...]

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


def export_all(
    emu: EmulatorProcess,
    out: Path,
    *,
    pools: DualPool | None = None,
    policy: BackoffPolicy | None = None,
    during: Callable[[EngineRunner], Callable[[], None]] | None = None,
    before: Callable[[], None] | None = None,
    render_pool: RenderPool | None = None,
    render_in_process: bool | None = None,
    **settings: Any,
) -> ExportResult:
    """Export every dialog of the emulator's world into `out` with a fresh EngineRunner; the clock runs from
    start_export to its result (connecting and listing dialogs are not timed). `before()` runs just before
    the export starts (e.g. to wait for a phase of the server's behaviour); `during(runner)` may start
    extra load once the runner exists and returns the function that stops it."""
    events: list[EngineEvent] = []
    runner = EngineRunner(
        bench_settings(out, **settings),
        session=emu.session_string,
        api_id=DEMO_API_ID,
        api_hash=DEMO_API_HASH,
        on_event=events.append,
        pools=pools,
        policy=policy,
        render_pool=render_pool,
        render_in_process=render_in_process,
    )
    stop_load: Callable[[], None] | None = None
    try:
        runner.start()
        runner.connect().result(WAIT_S)
        dialogs = runner.list_dialogs().result(WAIT_S)
        download = bool(settings.get("download_media", False))
        request = ExportRequest(chats=tuple(ChatSelection(d.chat_id, download_media=download) for d in dialogs))
        if before is not None:
            before()
        if during is not None:
            stop_load = during(runner)
        started = time.perf_counter()
        snap = runner.start_export(request).result(WAIT_S)
        seconds = time.perf_counter() - started
    finally:
        if stop_load is not None:
            stop_load()
        runner.stop()
    if snap.state is not RunState.DONE:
        raise RuntimeError(f"the benchmark export ended {snap.state.value}: {'; '.join(snap.errors) or 'no error'}")
    return ExportResult(seconds, snap.messages_done, snap, tuple(events))


def fresh_dir(parent: Path, prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))

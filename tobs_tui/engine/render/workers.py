"""Rendering batches in worker processes: Markdown and JSON are pure CPU work that would otherwise hold the GIL
against Telethon's decoding on the engine loop. A job carries everything a renderer asks for, as plain data."""

from __future__ import annotations

import atexit
import contextlib
import datetime
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from tobs_tui.cpus import usable_cpus
from tobs_tui.engine.render import MediaRef, RenderContext, ReplyTarget, render_message
from tobs_tui.engine.render.json_export import message_to_json
from tobs_tui.engine.render.markdown import default_peer_name
from tobs_tui.engine.runtime import gc_tuning as heap
from tobs_tui.engine.telegram.tlreader import FastReader, LeanMessage
from tobs_tui.engine.vault.jsonl import encode_line


@dataclass(frozen=True)
class RenderJob:
    tz: datetime.tzinfo
    messages: tuple[Any, ...]  # the messages to render, in order (with `raw`, as the engine read them: lean)
    names: dict[int, str]  # message id -> sender's display name
    targets: dict[int, ReplyTarget]
    media: dict[int, MediaRef]
    peer_names: dict[int, str]  # marked peer id -> name, for forwards, mentions and service text
    markdown: bool
    json: bool
    raw: tuple[
        bytes, ...
    ] = ()  # the history replies' TL bytes (kept by engine/telegram/source.py), when there are some
    ids: tuple[int, ...] = ()  # set by for_worker(): which messages of `raw` to render, in order
    notes: tuple[str, ...] = ()  # the note each message's block goes to, in `messages` order
    usernames: dict[int, str] = field(default_factory=dict)  # bots' usernames, for result.json's "via_bot"

    def for_worker(self) -> RenderJob:
        """The job as a worker process receives it: the replies' bytes and the ids to render, no objects.

        Unpickling Telethon's objects costs a worker about twice what decoding the same messages from their
        TL bytes does, and pickling them costs the engine process time under the GIL."""
        if not self.raw:
            return self
        return replace(self, messages=(), ids=tuple(m.id for m in self.messages))

    def decoded(self) -> tuple[Any, ...]:
        """The messages to render, whole: as the job holds them when they are (an engine process without render
        workers reads replies whole), else decoded from `raw` (the engine process reads replies lean for its
        workers, tlreader.LeanMessage, which no renderer takes)."""
        if not self.messages and not self.ids:
            return ()  # a batch with nothing to render (already in the vault, or outside the chosen topics)
        if self.messages and not any(type(m) is LeanMessage for m in self.messages):
            return self.messages  # read whole already (rendering in the engine process): not decoded twice
        if not self.raw:  # lean messages, or ids (set by for_worker, which only a job with bytes passes on)
            raise TypeError("a render job of lean messages needs the replies' bytes to decode them whole")
        by_id = {}
        for raw in self.raw:
            for m in FastReader(raw).tgread_object().messages:
                by_id[m.id] = m
        return tuple(by_id[i] for i in self.ids or [m.id for m in self.messages])


@dataclass(frozen=True)
class Rendered:
    """A job's output as the commit appends it: each note's blocks joined, and the JSONL lines joined."""

    notes: tuple[tuple[str, str], ...]  # (note, its messages' Markdown blocks in order), first seen first
    json: bytes  # the messages' result.json items, one JSONL line each, in order


def render_job(job: RenderJob) -> Rendered:
    """The job's Markdown blocks per note and its JSONL lines. Joined here, in the worker: the engine process
    receives one string per note instead of two objects per message."""
    ctx = RenderContext(
        tz=job.tz,
        sender_name=lambda m: job.names.get(m.id, ""),
        reply_target=job.targets.get,
        media=lambda m: job.media.get(m.id),
        peer_name=lambda pid: job.peer_names.get(pid) or default_peer_name(pid),
    )
    messages = job.decoded()
    notes: dict[str, list[str]] = {}
    if job.markdown:
        for note, m in zip(job.notes, messages, strict=True):
            blocks = notes.get(note)
            if blocks is None:
                blocks = notes[note] = []
            blocks.append(render_message(m, ctx))
    username = job.usernames.get
    lines = b"".join([encode_line(message_to_json(m, ctx, username)) for m in messages]) if job.json else b""
    return Rendered(tuple((note, "".join(blocks)) for note, blocks in notes.items()), lines)


def _warm() -> int:
    return os.getpid()


def _init_worker(parent: int, niceness: int = 0) -> None:
    """Worker initializer: ignore Ctrl-C, follow the parent's fate, keep the collector out of the rendering's way."""
    # A terminal's Ctrl-C reaches the whole process group; the engine process decides how the export stops and
    # shuts the workers down itself. SIGINT arrived blocked (see _QuietSpawnExecutor): ignore it, then unblock.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _exit_with_parent(parent)
    _yield_cpu(niceness)
    # Rendering allocates a great many short-lived, acyclic objects, freed by their reference counts; young
    # collections every 700 of them only re-scan the imported modules and the job in hand. For the worker's
    # whole life: it ends with its engine.
    heap.calm_collector()


# How far a render worker stands back from the engine process for a core (0 is a normal process, 19 the most
# patient). Rendering is throughput work that queues up; the engine process's event loop and its commit
# threads are latency work that everything else waits on. With both at the same priority on two cores, a
# commit woken on an idle critical-pool thread waited a median 1.6 ms (p95 9 ms) for a core the renderers
# held; at 10 its median is 0.1 ms and the export ends sooner (docs/PERFORMANCE.md, section 1).
RENDER_NICENESS = 10


def _yield_cpu(niceness: int) -> None:
    """Lower this worker's scheduling priority by `niceness`, where the system has such a thing."""
    if niceness:
        with contextlib.suppress(AttributeError, OSError):  # no os.nice on Windows; a sandbox may refuse it
            os.nice(niceness)


def _exit_with_parent(parent: int) -> None:
    """A worker must not outlive its engine process (after a kill -9 nothing tells it; its queue pipe stays
    open because the worker itself holds the write end)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="tobs-render-parent-watch", daemon=True).start()


def _usable_fd(stream: object) -> bool:
    try:
        os.fstat(stream.fileno())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False
    return True


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker against a real stderr.

    The tracker hands sys.stderr's fd to its child; a host that swapped stderr for an object without one
    (Textual captures it while its app runs: fileno() is -1) would make that start fail, and with it every
    worker process. The tracker keeps running once started, so later workers spawn whatever stderr is then.
    """
    if os.name != "posix" or _usable_fd(sys.stderr):
        return
    from multiprocessing import resource_tracker

    saved = sys.stderr
    devnull = None
    if _usable_fd(sys.__stderr__):
        sys.stderr = sys.__stderr__
    else:
        devnull = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - closed below, once the tracker has it
    try:
        resource_tracker.ensure_running()
    finally:
        sys.stderr = saved
        if devnull is not None:
            devnull.close()


@contextlib.contextmanager
def _sigint_blocked():
    """SIGINT blocked in the calling thread only (any thread may do this, unlike changing a handler). A child
    started meanwhile inherits the mask, so Ctrl-C cannot interrupt it before its initializer ignores SIGINT.
    Python runs its handlers on the main thread whatever thread the kernel picks, so nothing is lost here."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


# The signals that stop an export (Ctrl-C; `kill`, `docker stop`): held while a worker process starts.
_STOPPING = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _stop_signals_held():
    """On the main thread, a Ctrl-C or SIGTERM that arrives meanwhile takes effect at the end, not inside.

    Blocking a signal in this thread does not keep it out: the kernel hands it to another thread, and then
    Python raises KeyboardInterrupt in the main thread at its next instruction, or SIGTERM's default action
    ends the process there, which may be between starting a worker process and sending it what it is to run
    (the worker then dies of "Ran out of input", with a traceback on the user's terminal). Elsewhere no
    handler can be changed, and nothing is held."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {signum: signal.signal(signum, lambda got, frame: caught.append(got)) for signum in _STOPPING}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
    for got in dict.fromkeys(caught):  # each once, in the order they came
        handler = previous[signal.Signals(got)]
        if callable(handler):
            handler(got, None)  # Python's own SIGINT handler raises KeyboardInterrupt; the export's SIGTERM one too
        elif handler in (signal.SIG_DFL, None):
            signal.raise_signal(got)


class _QuietSpawnExecutor(ProcessPoolExecutor):
    """Starts its worker processes (on submit, as they are needed) with SIGINT blocked, and whole."""

    def submit(self, fn, /, *args, **kwargs):
        with _stop_signals_held(), _sigint_blocked():
            return super().submit(fn, *args, **kwargs)


# Render workers beyond what one engine process can feed only take memory (about 66 MB each): on the slower
# machine the engine process spends about 60 us of CPU per message and a worker about 95 to render it
# (docs/PERFORMANCE.md, section 6), so 1.6 workers keep up with it; a third leaves room for a slower worker.
MAX_RENDER_WORKERS = 3


def render_workers_for(cpus: int) -> int:
    """Render worker processes for an engine process that may use `cpus` CPUs: one per CPU, at most
    MAX_RENDER_WORKERS, and none on one CPU. There a worker would only take turns with the engine process for
    the CPU, and every message would be decoded twice (once in each) and its job moved between them: the
    engine process then renders on its own threads, from the messages it read whole."""
    return 0 if cpus <= 1 else min(cpus, MAX_RENDER_WORKERS)


class RenderPool:
    """A few worker processes (render_workers_for), started once per runner and warmed before the first batch."""

    def __init__(self, workers: int | None = None, *, niceness: int = RENDER_NICENESS) -> None:
        """`niceness`: how much lower than this process the workers run (0: the same; the A/B's baseline)."""
        self.workers = max(1, workers or render_workers_for(usable_cpus()))
        _start_resource_tracker()
        # spawn, not fork: the engine process has threads (its loop, the pools), which fork would copy mid-flight.
        self._executor = _QuietSpawnExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(os.getpid(), niceness),
        )

    def warm(self) -> None:
        """Start every worker now (imports take a moment) instead of on the first batch."""
        for _ in range(self.workers):
            self._executor.submit(_warm)

    @property
    def executor(self) -> ProcessPoolExecutor:
        return self._executor

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


_shared: RenderPool | None = None
_shared_lock = threading.Lock()


def shared_render_pool() -> RenderPool:
    """One pool per process: jobs are stateless, so every runner (and every test) can share warm workers."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = RenderPool()
            _shared.warm()
            atexit.register(_shared.shutdown)
        return _shared

"""Python's cyclic garbage collector while an engine runs: fewer, shorter pauses (every thread waits while one
runs, the UI's included), and less of the engine's CPU spent re-scanning objects that live for the whole run."""

from __future__ import annotations

import gc
import threading

# Measured on a full-speed `lan` export (benchmarks/export_lan.py and benchmarks/tui_cpu.py): with CPython's
# default thresholds (700, 10, 10) the engine's allocations ran a full collection every second or so, 130-160 ms
# each, and the engine process spent 70 us of CPU per message; with the heap frozen at start-up and at each
# export's start and a young collection every 10,000 allocations, 60 us, and no full collection within 10 s.
# Telethon's objects and the rendered text are acyclic and freed by their reference counts either way.
YOUNG_THRESHOLD = 10_000

_lock = threading.Lock()
_users = 0
_saved: tuple[int, int, int] | None = None


def calm_collector() -> None:
    """The first caller freezes what exists now (modules, the app, long-lived state) and makes young
    collections rarer; every call needs a restore_collector()."""
    global _users, _saved
    with _lock:
        _users += 1
        if _users == 1:
            _saved = gc.get_threshold()
            freeze_heap()
            gc.set_threshold(YOUNG_THRESHOLD, *_saved[1:])


def freeze_heap() -> None:
    """Collect, then move every surviving object out of the collector's sight (refcounts still free it)."""
    gc.collect()
    gc.freeze()


def settle() -> None:
    """After each committed batch, while the collector is calm: what the engine holds now (batches in flight, the
    reply index) moves where young collections do not look. Otherwise old objects dying let the young generation
    grow far past its threshold (each death counts against it): 45,000-80,000 objects and 20-40 ms per young
    collection during a `lan` export, a frozen UI while it runs. gc.freeze moves lists, it does not scan them;
    the engine's objects are acyclic and their reference counts free them, frozen or not."""
    if _users:
        gc.freeze()


def thaw() -> None:
    """At an export's end: collect whatever cycles settle() froze, then freeze again (one pause, the export done)."""
    if _users:
        gc.unfreeze()
        gc.collect()
        gc.freeze()


def restore_collector() -> None:
    """The last caller gives the frozen objects back to the collector (a finished run's cycles can be freed)
    and restores the thresholds."""
    global _users, _saved
    with _lock:
        if _users == 0:
            return
        _users -= 1
        if _users == 0 and _saved is not None:
            gc.unfreeze()
            gc.set_threshold(*_saved)
            _saved = None

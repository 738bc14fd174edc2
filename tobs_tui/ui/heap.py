"""Python's cyclic garbage collector while the TUI runs: fewer, shorter pauses, so a keypress is not held up
behind a collection of the engine's garbage (every thread waits while one runs)."""

from __future__ import annotations

import gc
from dataclasses import dataclass

# Measured on a full-speed `lan` export beside the dashboard (benchmarks/tui_cpu.py, 10 s windows): with the
# default thresholds (700, 10, 10) the engine's allocations ran 8 full collections, 130-160 ms each, and 1.8 s
# of the 10 s went to the collector; keys waited up to 143 ms. With the start-up heap frozen and a young
# collection every 10,000 allocations: no full collection in the window, 0.6 s in the collector, the longest
# pause 72 ms. A full collection still comes every ~40 s, over the unfrozen heap only (~90 ms instead of ~130).
YOUNG_THRESHOLD = 10_000   # allocations between young collections (CPython's default is 700)


@dataclass(frozen=True)
class CollectorSettings:
    thresholds: tuple[int, int, int]


def calm_collector() -> CollectorSettings:
    """Freeze what exists now (modules, the app, its screens: it lives until the app ends, so scanning it on
    every full collection is wasted) and make young collections rarer. Returns what restore_collector needs."""
    before = CollectorSettings(gc.get_threshold())
    freeze_heap()
    gc.set_threshold(YOUNG_THRESHOLD, *before.thresholds[1:])
    return before


def freeze_heap() -> None:
    """Collect, then move every surviving object out of the collector's sight (it is still freed by refcount)."""
    gc.collect()
    gc.freeze()


def restore_collector(before: CollectorSettings) -> None:
    """Give the frozen objects back to the collector (so a finished app's cycles can be freed) and the thresholds."""
    gc.unfreeze()
    gc.set_threshold(*before.thresholds)

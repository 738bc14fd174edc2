"""The collector settings an engine runs with: applied by the first user, restored by the last."""

from __future__ import annotations

import gc
import weakref

from tobs_tui.engine.runtime import gc_tuning as heap


def test_the_collector_is_calmed_once_and_restored_by_the_last_user():
    before = gc.get_threshold()
    heap.calm_collector()
    try:
        assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD
        assert gc.get_freeze_count() > 0
        heap.calm_collector()  # a second user (the app beside its engine runner)
        heap.restore_collector()
        assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD, "the first user still runs"
    finally:
        heap.restore_collector()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    heap.restore_collector()  # one too many: harmless
    assert gc.get_threshold() == before


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_settled_objects_leave_the_young_generation_and_thaw_frees_their_cycles():
    heap.calm_collector()
    try:
        held = [_Node() for _ in range(2_000)]  # what the engine holds across batches
        freed = weakref.ref(held[0])
        cycle = _Node()
        cycle.other = _Node()
        cycle.other.other = cycle  # garbage a reference count cannot free
        in_cycle = weakref.ref(cycle)
        heap.settle()
        assert not any(o is held[0] or o is cycle for o in gc.get_objects(0)), "settled: out of young scans"
        del held, cycle
        assert freed() is None, "a frozen object is still freed by its reference count"
        gc.collect()
        assert in_cycle() is not None, "a frozen cycle waits for thaw()"
        heap.thaw()
        assert in_cycle() is None
    finally:
        heap.restore_collector()
    heap.settle()  # without a calm collector nothing is frozen
    assert gc.get_freeze_count() == 0

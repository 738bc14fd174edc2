"""The collector settings an engine runs with: applied by the first user, restored by the last."""

from __future__ import annotations

import gc

from tobs_tui.engine import heap


def test_the_collector_is_calmed_once_and_restored_by_the_last_user():
    before = gc.get_threshold()
    heap.calm_collector()
    try:
        assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD
        assert gc.get_freeze_count() > 0
        heap.calm_collector()            # a second user (the app beside its engine runner)
        heap.restore_collector()
        assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD, "the first user still runs"
    finally:
        heap.restore_collector()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    heap.restore_collector()             # one too many: harmless
    assert gc.get_threshold() == before

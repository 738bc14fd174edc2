"""The crash harness in its short seeded form: a real `tobs-tui export` (text and media) against the emulator,
killed (SIGKILL), terminated (SIGTERM) and interrupted (Ctrl-C) at random instants, resumed each time, and
compared byte for byte with an uninterrupted export. The full run is `python -m tests.reliability.crash_harness`."""

from __future__ import annotations

import pytest

from tests.reliability.crash_harness import crash_run


@pytest.mark.slow
def test_interrupted_at_random_instants_then_resumed_is_byte_identical(tmp_path):
    report = crash_run(tmp_path, kills=5, seed=20261129, signals=("KILL", "KILL", "TERM", "INT"))
    assert report.ok, report.text() + "\n" + "\n".join(report.problems())
    assert len(report.interruptions) >= 5
    assert report.reference_media_files > 0  # media downloads really were part of the run


@pytest.mark.slow
def test_hand_edits_typed_between_interruptions_survive_once_where_they_were_typed(tmp_path):
    report = crash_run(tmp_path, kills=4, seed=20261206, signals=("KILL", "KILL", "TERM"), hand_edits=True)
    assert report.ok, report.text() + "\n" + "\n".join(report.problems())
    assert len(report.interruptions) >= 4
    assert report.hand_edits >= 3, "most interruptions leave a note to type into"

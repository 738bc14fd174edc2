"""The crash harness in its short seeded form: a real `tobs-tui export` (text and media) against the emulator,
killed (SIGKILL), terminated (SIGTERM) and interrupted (Ctrl-C) at random instants, a line typed into a month note
after each interruption, resumed each time, and compared byte for byte with an uninterrupted export (the typed
lines, once each, where they were typed). The full run is
`python -m tests.reliability.crash_harness --kills 30 --signals KILL,KILL,TERM,INT --hand-edits`."""

from __future__ import annotations

import pytest

from tests.reliability.crash_harness import SHORT_WORLD_TOML, crash_run


@pytest.mark.slow
def test_interrupted_at_random_instants_with_hand_edits_then_resumed_is_byte_identical(tmp_path):
    report = crash_run(
        tmp_path,
        kills=5,
        seed=20261206,
        signals=("KILL", "KILL", "TERM", "INT"),
        hand_edits=True,
        world_toml=SHORT_WORLD_TOML,
    )
    assert report.ok, report.text() + "\n" + "\n".join(report.problems())
    assert len(report.interruptions) >= 5
    assert report.reference_media_files > 0  # media downloads really were part of the run
    assert report.hand_edits >= 3, "most interruptions leave a note to type into"
    assert {i.signal for i in report.interruptions} >= {"KILL", "TERM"}, "more than one way of stopping was drawn"

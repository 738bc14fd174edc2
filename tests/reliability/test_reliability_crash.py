"""The crash harness in its short seeded form: a real `tobs-tui export` (text and media) against the emulator,
killed (SIGKILL), terminated (SIGTERM) and interrupted (Ctrl-C) at random instants, a line typed into a month note
after each interruption, resumed each time, and compared byte for byte with an uninterrupted export (the typed
lines, once each, where they were typed). The full run is
`python -m tests.reliability.crash_harness --kills 30 --signals KILL,KILL,TERM,INT --hand-edits`."""

from __future__ import annotations

import signal

import pytest

from tests.reliability.crash_harness import SHORT_WORLD_TOML, Run, _stop_problems, crash_run


@pytest.mark.slow
def test_interrupted_at_random_instants_with_hand_edits_then_resumed_is_byte_identical(tmp_path):
    report = crash_run(
        tmp_path,
        kills=5,
        seed=20261206,
        signals=("KILL", "KILL", "TERM", "INT"),
        hand_edits=True,
        world_toml=SHORT_WORLD_TOML,
        min_hand_edits=3,
    )
    assert report.ok, report.text() + "\n" + "\n".join(report.problems())
    assert len(report.interruptions) >= 5
    assert report.reference_media_files > 0  # media downloads really were part of the run
    assert report.hand_edits >= 3, "most interruptions leave a note to type into"
    assert {i.signal for i in report.interruptions} >= {"KILL", "TERM"}, "more than one way of stopping was drawn"


def test_a_signal_that_lands_as_the_export_ends_is_judged_by_what_it_printed():
    summary = (
        "Exported 1990 messages from 3 chats in 4.1 s (620 msg/s over the 3.2 s of the export itself), 0 FloodWaits.\n"
    )
    # Landing as the finished export leaves its Ctrl-C handling: 0, with the summary printed. Nothing was left to stop.
    assert _stop_problems("TERM", 4.2, Run(0, summary, True, 0)) == []
    # 0 without a summary is an export that swallowed the signal; any other code is still an unclean stop.
    assert _stop_problems("TERM", 1.0, Run(0, "", True, 0)) == ["SIGTERM after 1.00 s: exit 0, expected 130"]
    assert _stop_problems("INT", 4.2, Run(3, summary, True, 0)) == ["SIGINT after 4.20 s: exit 3, expected 130"]
    # The shutdown is still checked after the end.
    trace = summary + "Traceback (most recent call last):\n  ...\n"
    assert len(_stop_problems("TERM", 4.2, Run(0, trace, True, 0))) == 1


def test_a_ctrl_c_that_said_its_sentence_may_end_by_the_signal_itself():
    said = "Interrupted; the next run continues where it stopped.\n"
    assert _stop_problems("INT", 0.36, Run(-signal.SIGINT, said, True, 0)) == []
    # Silent, or by another signal, or with a traceback: still an unclean stop.
    assert _stop_problems("INT", 2.0, Run(-signal.SIGINT, "exporting…\n", True, 0)) == [
        "SIGINT after 2.00 s: exit -2, expected 130"
    ]
    assert _stop_problems("TERM", 2.0, Run(-signal.SIGINT, said, True, 0)) == [
        "SIGTERM after 2.00 s: exit -2, expected 130"
    ]
    assert (
        len(_stop_problems("INT", 0.36, Run(-signal.SIGINT, said + "Traceback (most recent call last):\n", True, 0)))
        == 1
    )

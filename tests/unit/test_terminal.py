"""Text from Telegram on a terminal: whatever a title holds, what is printed acts on nothing."""

from __future__ import annotations

import json
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from tobs_tui.terminal import terminal_json, terminal_text

BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
ODD = "\x00\x01\x07\x08\x1b\x7f\x85\x9b\t\n\r\x0b\x0c\u2028\u2029\u202e\u2066\u200f\ufeff[/]\\ud800"
titles = st.text(st.one_of(st.sampled_from(ODD), st.characters(codec=None)), max_size=60)


def acts_on_nothing(text: str) -> bool:
    return not any(unicodedata.category(c) in ("Cc", "Zl", "Zp", "Cs") or c in BIDI for c in text)


@given(titles)
def test_terminal_text_leaves_nothing_a_terminal_acts_on(title):
    shown = terminal_text(title)
    assert acts_on_nothing(shown), repr(shown)
    shown.encode("utf-8")  # a lone surrogate would raise here, and on any terminal
    if acts_on_nothing(title):
        assert shown == title  # letters, emoji and right-to-left text stay as they are


@given(titles)
def test_terminal_json_round_trips_and_acts_on_nothing(title):
    line = terminal_json({"title": title})
    assert acts_on_nothing(line), repr(line)
    assert json.loads(line) == {"title": title}


def test_escapes_are_visible():
    assert terminal_text("a\x1b[31mb\nc\u202ed\x00") == "a\\x1b[31mb\\nc\\u202ed\\x00"

"""The fast text primitives against plain character-by-character statements of the same rules."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from tobs_tui.engine.render.text import NBSP, Utf16Index, clean, escape_plain, normalize_newlines, utf16_len

ALWAYS = frozenset("\\`*_~[]<>|^#&$")
ORDERED = re.compile(r"(\d+)([.)])")


def reference_escape(text: str, *, line_start: bool, prev: str = "", next_char: str = "") -> str:
    """The escaping rules written out one character at a time: slow, and plainly right."""
    text = normalize_newlines(clean(text))
    out: list[str] = []
    n = len(text)
    at_start = line_start
    i = 0
    while i < n:
        ch = text[i]
        if ch == "\n":
            out.append("\n")
            at_start = True
            i += 1
            continue
        if at_start:
            # Leading indentation would make an indented code block or nest a list; a no-break
            # space keeps the visual indent without meaning anything to the parser.
            while i < n and text[i] in " \t":
                out.append(NBSP * (4 if text[i] == "\t" else 1))
                i += 1
            if i >= n or text[i] == "\n":
                continue
            at_start = False
            ch = text[i]
            if ch in "-+=":
                out.append("\\" + ch)
                i += 1
                continue
            match = ORDERED.match(text, i)
            if match:
                out.append(match.group(1) + "\\" + match.group(2))
                i = match.end()
                continue
        before = out[-1][-1] if out else prev
        after = text[i + 1] if i + 1 < n else next_char
        if ch in ALWAYS or (ch in "=%" and (before == ch or after == ch)):
            out.append("\\" + ch)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


fragments = st.text(
    st.one_of(st.sampled_from("=%-+#*. \t\n\r1234567890ab`[]\\"), st.characters(codec=None)), max_size=40
)
neighbours = st.sampled_from(["", "=", "%", "a", " ", "*", "\n"])


@settings(max_examples=1000, deadline=None)
@given(fragments, st.booleans(), neighbours, neighbours)
def test_fast_escaping_matches_the_reference(text, line_start, prev, next_char):
    assert escape_plain(text, line_start=line_start, prev=prev, next_char=next_char) == reference_escape(
        text, line_start=line_start, prev=prev, next_char=next_char
    )


def reference_units(text: str) -> list[int]:
    """The UTF-16 offset at which each character starts, counted one character at a time."""
    starts, pos = [], 0
    for ch in text:
        starts.append(pos)
        pos += 2 if ord(ch) > 0xFFFF else 1
    return starts + [pos]


@settings(max_examples=1000, deadline=None)
@given(st.text(st.one_of(st.sampled_from("a😀🇺🇦\u0301"), st.characters(codec=None)), max_size=30))
def test_utf16_index_matches_the_reference(text):
    starts = reference_units(text)
    index = Utf16Index(text)
    assert index.units == utf16_len(text) == starts[-1]
    for unit in range(-1, starts[-1] + 2):
        # start: the character containing the unit; end: just past the character containing unit - 1
        expected_start = max([i for i, s in enumerate(starts[:-1]) if s <= unit] or [0])
        expected_start = len(text) if unit >= starts[-1] else expected_start
        expected_end = min([i for i, s in enumerate(starts) if s >= unit] or [len(text)])
        assert index.start(unit) == expected_start, (text, unit)
        assert index.end(unit) == expected_end, (text, unit)

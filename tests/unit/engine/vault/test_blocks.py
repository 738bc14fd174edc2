"""Telling a cut-short commit's bytes (the engine's own blocks) from text a person added to a month note."""

from __future__ import annotations

from pathlib import Path

import pytest

from tobs_tui.engine.vault.blocks import block_ids, leading_blocks, separator

GOLDEN = Path(__file__).parents[1] / "render" / "golden"
BLOCKS = (
    "**Bob** · 2024-01-05 10:00\nhello ^m51\n\n".encode()
    + "**Bob** · 2024-01-05 10:01\nShe wrote:\n\n> quoted\n\n^m52\n\n".encode()
    + "⚙ **Bob** joined the group · 2024-01-05 10:02 ^m53\n\n".encode()
)


@pytest.mark.parametrize("golden", sorted(GOLDEN.glob("*.md")), ids=lambda p: p.stem)
def test_every_rendered_block_and_every_cut_of_it_is_the_engines(golden):
    block = golden.read_bytes()
    assert leading_blocks(block, 0) == (len(block), True)
    for cut in range(len(block)):
        assert leading_blocks(block[:cut], 0)[1], f"a commit cut after {cut} bytes is not recognised"


def test_blocks_the_note_already_holds_are_not_a_torn_write():
    assert leading_blocks(BLOCKS, 50) == (len(BLOCKS), True)
    assert leading_blocks(BLOCKS, 51) == (0, False), "an id at or below the committed one is not ours"
    assert leading_blocks(BLOCKS + b"\0" * 4096, 50) == (len(BLOCKS), True), "zeros a power cut leaves"


@pytest.mark.parametrize(
    "typed",
    [
        "My own comment\n",
        "\n## Thoughts\n- one\n",
        "**Important**: call Bob\n",
        "**Bob** said hi\n",
        "*",
        "^m99\n\n",
    ],
)
def test_text_a_person_typed_is_theirs(typed):
    whole, ours = leading_blocks(typed.encode(), 0)
    assert (whole, ours) == (0, False) or typed == "*"
    whole, ours = leading_blocks(BLOCKS + typed.encode(), 50)
    assert whole == len(BLOCKS) and (not ours or typed == "*")


def test_the_separator_puts_the_next_block_in_a_paragraph_of_its_own():
    assert separator(b"") == b"" and separator(b"^m5\n\n") == b""
    assert separator(b"my note\n") == b"\n" and separator(b"my note") == b"\n\n"
    assert leading_blocks(b"\n" + BLOCKS, 50) == (len(BLOCKS) + 1, True)


def test_block_ids_in_file_order():
    assert block_ids(BLOCKS) == [51, 52, 53]

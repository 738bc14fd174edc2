"""Telling a cut-short commit's bytes from text a person added to a month note: by what the commit recorded it
was appending (engine/vault/intents.py), never by how the bytes look."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tobs_tui.engine.vault.blocks import block_ids, header_end, month_header_length, separator
from tobs_tui.engine.vault.intents import engine_bytes, read_intents, write_intent

GOLDEN = Path(__file__).parents[1] / "render" / "golden"
BLOCKS = (
    "**Bob** · 2024-01-05 10:00\nhello ^m51\n\n".encode()
    + "**Bob** · 2024-01-05 10:01\nShe wrote:\n\n> quoted\n\n^m52\n\n".encode()
    + "⚙ **Bob** joined the group · 2024-01-05 10:02 ^m53\n\n".encode()
)
AT = 1234  # the note's committed length


@pytest.mark.parametrize("golden", sorted(GOLDEN.glob("*.md")), ids=lambda p: p.stem)
def test_every_cut_of_a_recorded_commit_is_the_engines(golden):
    block = golden.read_bytes()
    for cut in range(1, len(block) + 1):
        assert engine_bytes(block[:cut], AT, (AT, block)) == cut, f"a commit cut after {cut} bytes"


def test_zeros_a_power_cut_leaves_in_or_after_the_commits_bytes_are_the_engines():
    assert engine_bytes(BLOCKS + b"\0" * 4096, AT, (AT, BLOCKS)) == len(BLOCKS) + 4096
    holed = BLOCKS[:10] + b"\0" * 20 + BLOCKS[30:]
    assert engine_bytes(holed, AT, (AT, BLOCKS)) == len(BLOCKS)
    assert engine_bytes(b"\0" * 512, AT, None) == 512, "zeros are never a person's text"


@pytest.mark.parametrize(
    "typed",
    ["My own comment\n", "\n## Thoughts\n- one\n", "**Important**: call Bob\n", "**Bob** said hi\n", "*", "^m99\n\n"],
)
def test_text_a_person_typed_is_theirs(typed):
    text = typed.encode()
    assert engine_bytes(text, AT, None) == 0, "no commit was recorded"
    assert engine_bytes(text, AT, (AT - 100, text)) == 0, "the record is of an earlier commit, at another offset"
    assert engine_bytes(BLOCKS + text, AT, (AT, BLOCKS)) == len(BLOCKS), "typed after a cut-short commit"
    if not BLOCKS.startswith(text):  # what the commit itself would have written there cannot be told apart
        assert engine_bytes(text + BLOCKS, AT, (AT, BLOCKS)) < len(text), "typed where the commit's bytes go"


def test_a_record_survives_a_cut_in_its_own_writing_by_its_whole_entries(tmp_path):
    entries = [("Chat (1)/2024/2024-01.md", 10, BLOCKS), ("Chat (1)/2024/2024-02.md", 0, b"x" * 50)]
    write_intent(tmp_path / "1", entries)
    assert read_intents(tmp_path) == {rel: (offset, data) for rel, offset, data in entries}
    whole = (tmp_path / "1").read_bytes()
    (tmp_path / "1").write_bytes(whole[:-10])
    assert read_intents(tmp_path) == {entries[0][0]: (10, BLOCKS)}
    (tmp_path / "2").mkdir()  # not a record: ignored
    assert read_intents(tmp_path) == {entries[0][0]: (10, BLOCKS)}


def test_a_pipe_among_the_records_is_skipped_without_waiting_for_a_writer(tmp_path):
    import threading

    os.mkfifo(tmp_path / "3")
    found: list = []
    reader = threading.Thread(target=lambda: found.append(read_intents(tmp_path)), daemon=True)
    reader.start()
    reader.join(10)
    assert not reader.is_alive(), "read_intents waited on a pipe"
    assert found == [{}]


def test_the_separator_puts_the_next_block_in_a_paragraph_of_its_own():
    assert separator(b"") == b"" and separator(b"^m5\n\n") == b""
    assert separator(b"my note\n") == b"\n" and separator(b"my note") == b"\n\n"


def test_block_ids_in_file_order():
    assert block_ids(BLOCKS) == [51, 52, 53]


HEADER = b'---\nchat_id: 1\nchat: "Chat"\nmonth: "2024-01"\n---\n\n[[Chat (1)/Chat (1)|Chat (1)]] \xc2\xb7 2024-01\n\n'


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["", "BOM"])
@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["LF", "CRLF"])
def test_a_month_header_is_found_however_an_editor_saved_it(bom, newline):
    """Front matter an editor saved with CRLF line ends or a byte order mark is still the note's header: the
    text after it (a person's, or the blocks) is told from it the same way."""
    header = bom + HEADER.replace(b"\n", newline)
    note = header + BLOCKS.replace(b"\n", newline)
    assert header_end(note) == month_header_length(note) == len(header)
    assert header_end(header[:-3]) == len(header) - 3, "cut inside its header: all of it is the header"
    assert month_header_length(b"---" + newline + b"tags: [x]" + newline) == 0, "front matter never closed"
    assert header_end(b"Typed first" + newline + header) == month_header_length(b"Typed first" + newline) == 0


def test_a_blocks_month_is_among_the_dates_its_header_holds_whatever_its_sender_is_called():
    from tobs_tui.engine.vault.blocks import dated_note_blocks

    note = (
        "**Eve · 2020-01-01 10:00 · x** · 2025-11-03 14:00 · edited 2025-12-01 09:00\nhi ^m7\n\n"
        "**Chan** (Ann · 1999-02-02 10:00 · z) · 2025-11-04 08:00\npost ^m8\n\n"
        "⚙ **Bob** pinned a message · 2025-11-05 07:00 ^m9\n\n"
        "no header at all ^m10\n\n"
    ).encode()
    months = {msg_id: dated for msg_id, _, _, dated in dated_note_blocks(note)}
    assert (2025, 11) in months[7] and (2025, 11) in months[8] and months[9] == {(2025, 11)}
    assert months[10] == frozenset()

"""Streaming committed JSONL lines into a result.json: block by block, the same bytes as line by line."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tobs_tui.engine.vault import jsonl
from tobs_tui.engine.vault.jsonl import PathRebase, encode_line, iter_committed_lines, stream_messages


def _line_by_line(data: bytes, length: int, rebase: PathRebase, indent: bytes) -> bytes:
    """What stream_messages writes, by its definition: each committed non-empty line, rebased, in a list."""
    lines = [rebase(line) for line in data[:length].split(b"\n") if line]
    if not lines:
        return indent + b'"messages": []'
    body = b",\n".join(indent + b" " + line for line in lines)
    return indent + b'"messages": [\n' + body + b"\n" + indent + b"]"


_items = st.lists(
    st.one_of(
        st.builds(
            lambda key, path, text: encode_line({"id": 1, key: path, "text": text}),
            st.sampled_from(["photo", "file", "thumbnail", "other"]),
            st.sampled_from(["Chat (1)/media/a.jpg", "Chat (1)/x\nChat (1)/y", "Other/b.png", "(File not included)"]),
            st.text(max_size=40),
        ),
        st.just(b"\n"),  # an empty line
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(_items, st.integers(min_value=0, max_value=4000), st.integers(min_value=1, max_value=64))
def test_blocks_write_what_lines_would(tmp_path_factory, items, cut, block):
    data = b"".join(items)
    path = tmp_path_factory.mktemp("jsonl") / "messages.jsonl"
    path.write_bytes(data)
    length = min(cut, len(data))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(jsonl, "_BLOCK", block)  # lines across many block boundaries, and lines longer than a block
        for folder in ("", "Chat (1)"):
            rebase = PathRebase(folder)
            out = io.BytesIO()
            count = stream_messages(out, path, length, rebase, b" ")
            assert out.getvalue() == _line_by_line(data, length, rebase, b" ")
            assert count == len([line for line in data[:length].split(b"\n") if line])
        assert list(iter_committed_lines(path, length)) == [line for line in data[:length].split(b"\n") if line]


def test_rebased_paths_are_relative_to_the_chat_folder(tmp_path):
    path = tmp_path / "messages.jsonl"
    path.write_bytes(encode_line({"id": 1, "photo": "Chat (1)/media/p.jpg", "text": '"photo":"Chat (1)/'}))
    out = io.BytesIO()
    stream_messages(out, path, path.stat().st_size, PathRebase("Chat (1)"), b"")
    item = json.loads(b"{" + out.getvalue() + b"}")["messages"][0]
    assert item["photo"] == "media/p.jpg"
    assert item["text"] == '"photo":"Chat (1)/'  # text that looks like a path key is escaped in the line: kept


def test_the_newest_line_is_found_wherever_it_stands(monkeypatch):
    """A forum exported topic by topic holds lines out of id order; lines cross the blocks they are read in."""
    ids = [5, 900, 12, 1000, 7, 999]
    data = b"".join(encode_line({"id": i, "text": "x" * (i % 300)}) for i in ids)
    assert jsonl.max_line_id(io.BytesIO(data), len(data)) == 1000
    cut = data.index(b'{"id":1000')
    assert jsonl.max_line_id(io.BytesIO(data), cut) == 900, "lines past the committed length do not count"
    assert jsonl.max_line_id(io.BytesIO(b""), 0) == 0
    monkeypatch.setattr(jsonl, "_BLOCK", 7)  # every line crosses a block
    assert jsonl.max_line_id(io.BytesIO(data), len(data)) == 1000

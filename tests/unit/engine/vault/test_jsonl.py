"""Streaming committed JSONL lines into a result.json: block by block, the same bytes as line by line."""

from __future__ import annotations

import io
import json
import re
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tobs_tui.engine.vault import jsonl
from tobs_tui.engine.vault.jsonl import (
    PathRebase,
    encode_line,
    iter_committed_lines,
    stream_account_json,
    stream_messages,
    stream_result_json,
)


def _line_by_line(data: bytes, length: int, rebase: PathRebase, indent: bytes) -> bytes:
    """What stream_messages writes, by its definition: each committed non-empty line, rebased, in a list."""
    lines = [rebase(line) for line in data[:length].split(b"\n") if line]
    if not lines:
        return indent + b'"messages": []'
    body = b",\n".join(indent + b" " + line for line in lines)
    return indent + b'"messages": [\n' + body + b"\n" + indent + b"]"


_fields = st.builds(
    lambda key, path, text: {key: path, "text": text},
    st.sampled_from(["photo", "file", "thumbnail", "other"]),
    st.sampled_from(["Chat (1)/media/a.jpg", "Chat (1)/x\nChat (1)/y", "Other/b.png", "(File not included)"]),
    st.text(max_size=40),
)
_items = st.lists(st.one_of(_fields, st.none()), max_size=30)  # None: an empty line


def _in_order(items: list[dict | None]) -> bytes:
    """The lines of `items` with ids 1, 2, 3...: a JSONL in id order, as most are."""
    return b"".join(b"\n" if item is None else encode_line({"id": i, **item}) for i, item in enumerate(items, 1))


@settings(max_examples=300, deadline=None)
@given(_items, st.integers(min_value=0, max_value=4000), st.integers(min_value=1, max_value=64))
def test_blocks_write_what_lines_would(tmp_path_factory, items, cut, block):
    data = _in_order(items)
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


def _ids(out: bytes) -> list[int]:
    return [m["id"] for m in json.loads(b"{" + out + b"}")["messages"]]


def _stream(path, length, folder="Chat (1)") -> tuple[bytes, int]:
    out = io.BytesIO()
    count = stream_messages(out, path, length, PathRebase(folder), b" ")
    return out.getvalue(), count


_ID = re.compile(rb'\{"id":(-?\d+)[,}]')


def _by_definition(data: bytes, length: int, rebase: PathRebase, indent: bytes) -> bytes:
    """What stream_messages writes, by its definition: the committed non-empty lines, rebased, by ascending id;
    of an id's lines the last one; a line without an id (not one the engine writes) after the line before it."""
    head: list[bytes] = []
    entries: dict[int, list[bytes]] = {}
    current = head
    for line in data[:length].split(b"\n"):
        match = _ID.match(line)
        if match is not None and -(2**31) <= int(match[1]) < 2**31:
            current = entries[int(match[1])] = [line]
        elif line:
            current.append(line)
    lines = head + [line for msg_id in sorted(entries) for line in entries[msg_id]]
    return _line_by_line(b"\n".join(lines), len(b"\n".join(lines)), rebase, indent)


_lines_any_order = st.lists(
    st.one_of(
        st.tuples(st.integers(min_value=-3, max_value=40), _fields),  # ids twice, out of order, negative
        st.sampled_from([b"\n", b'{"date":"2024-01-01","photo":"Chat (1)/a.jpg"}\n', b'{"id":"7"}\n']),
        st.just(encode_line({"id": 2**40, "text": "no message's id"})),
    ),
    max_size=40,
)


@settings(max_examples=400, deadline=None)
@given(
    _lines_any_order,
    st.integers(min_value=0, max_value=6000),
    st.integers(min_value=1, max_value=300),
    st.integers(min_value=1, max_value=5),
)
def test_lines_in_any_order_stream_by_ascending_id(tmp_path_factory, lines, cut, block, sort_run):
    """Whatever order the JSONL holds its lines in, and wherever the committed length cuts it, the messages come
    out by ascending id, each id once, each line's bytes as the in-order stream writes them."""
    data = b"".join(line if isinstance(line, bytes) else encode_line({"id": line[0], **line[1]}) for line in lines)
    path = tmp_path_factory.mktemp("jsonl") / "messages.jsonl"
    path.write_bytes(data)
    length = min(cut, len(data))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(jsonl, "_BLOCK", block)  # lines across blocks, and spans read in more than one batch
        mp.setattr(jsonl, "_SORT_RUN", sort_run)  # many sorted runs merged
        for folder in ("", "Chat (1)"):
            rebase = PathRebase(folder)
            out = io.BytesIO()
            count = stream_messages(out, path, length, rebase, b" ")
            assert out.getvalue() == _by_definition(data, length, rebase, b" ")
            assert count == out.getvalue().count(b"\n  ")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=2**31 - 1), unique=True, min_size=1, max_size=60),
    st.data(),
    st.integers(min_value=1, max_value=200),
)
def test_any_permutation_of_ascending_runs_streams_as_the_sorted_jsonl(tmp_path_factory, ids, data, block):
    """A forum exported topic by topic, or back-filled: ascending runs, appended in any order. Its result.json is
    byte for byte the one its lines in id order give."""
    ids.sort()
    cuts = sorted(
        data.draw(st.sets(st.integers(min_value=1, max_value=len(ids) - 1)) if len(ids) > 1 else st.just(set()))
    )
    runs = [ids[a:b] for a, b in zip([0, *cuts], [*cuts, len(ids)], strict=True)]
    runs = data.draw(st.permutations(runs))
    line = {i: encode_line({"id": i, "photo": f"Chat (1)/media/photo/{i}.jpg", "text": "é" * (i % 7)}) for i in ids}
    folder = tmp_path_factory.mktemp("jsonl")
    (folder / "runs.jsonl").write_bytes(b"".join(line[i] for run in runs for i in run))
    (folder / "sorted.jsonl").write_bytes(b"".join(line[i] for i in ids))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(jsonl, "_BLOCK", block)
        mp.setattr(jsonl, "_SORT_RUN", 4)
        length = len(b"".join(line.values()))
        got, expected = _stream(folder / "runs.jsonl", length), _stream(folder / "sorted.jsonl", length)
    assert got == expected
    assert _ids(got[0]) == ids


def test_topics_exported_one_after_another_stream_oldest_first(tmp_path):
    """The reviewer's case: one topic's messages up to 400, then an older topic's: result.json goes 52, 54, ...,
    398, 399, 400, as Telegram Desktop writes it, in the chat's own file and in the vault root's."""
    first = [*range(300, 401)]
    older = [52, 54, *range(60, 299, 3)]
    path = tmp_path / "messages.jsonl"
    path.write_bytes(b"".join(encode_line({"id": i, "text": str(i)}) for i in first + older))
    length = path.stat().st_size
    own, root = io.BytesIO(), io.BytesIO()
    assert stream_result_json(own, {"name": "Forum", "messages": []}, path, length, folder="Forum (1)") == len(
        first + older
    )
    assert stream_account_json(root, "a", "c", [({"name": "Forum"}, path, length)]) == len(first + older)
    assert [m["id"] for m in json.loads(own.getvalue())["messages"]] == sorted(first + older)
    assert [m["id"] for m in json.loads(root.getvalue())["chats"]["list"][0]["messages"]] == sorted(first + older)


def test_the_same_id_twice_is_written_once_as_last_committed(tmp_path):
    path = tmp_path / "messages.jsonl"
    path.write_bytes(
        b"".join(encode_line({"id": i, "text": text}) for i, text in [(5, "old"), (3, "x"), (5, "new"), (4, "y")])
    )
    out, count = _stream(path, path.stat().st_size)
    assert count == 3
    assert [(m["id"], m["text"]) for m in json.loads(b"{" + out + b"}")["messages"]] == [(3, "x"), (4, "y"), (5, "new")]
    # In order but for one id twice: not the fast path's file order either.
    path.write_bytes(b"".join(encode_line({"id": i, "text": t}) for i, t in [(1, "a"), (2, "old"), (2, "new")]))
    assert [m["text"] for m in json.loads(b"{" + _stream(path, path.stat().st_size)[0] + b"}")["messages"]] == [
        "a",
        "new",
    ]


def test_a_line_cut_by_the_committed_length_still_ends_its_own_line(tmp_path):
    """The committed bytes can end inside a line; moved before a later id, it is not joined to the next line."""
    path = tmp_path / "messages.jsonl"
    path.write_bytes(encode_line({"id": 9, "text": "x"}) + encode_line({"id": 2, "text": "a long line"}))
    out, count = _stream(path, path.stat().st_size - 5)
    assert count == 2
    assert out == b' "messages": [\n  {"id":2,"text":"a long li,\n  {"id":9,"text":"x"}\n ]'


class _AscendingSink:
    """A result.json's reader that keeps nothing: it counts the messages and checks their ids ascend."""

    def __init__(self) -> None:
        self.count = 0
        self.last = 0

    def write(self, data: bytes) -> None:
        for found in _ID.findall(data):
            assert int(found) > self.last
            self.last = int(found)
            self.count += 1


def test_out_of_order_memory_is_two_integers_a_line(tmp_path, monkeypatch):
    """The order of a JSONL out of id order is held in compact arrays, not a Python object a line."""
    n = 30_000
    path = tmp_path / "messages.jsonl"
    with open(path, "wb") as f:
        for topic in range(10):  # ten topics, each ascending, the newest topic's appended first
            f.write(b"".join(b'{"id":%d,"text":"%s"}\n' % (i * 10 + 10 - topic, b"x" * 40) for i in range(n // 10)))
    # What a line costs, not what a block of lines or a run of keys sorted as Python ints costs at once.
    monkeypatch.setattr(jsonl, "_BLOCK", 1 << 16)
    monkeypatch.setattr(jsonl, "_SORT_RUN", 4096)
    sink = _AscendingSink()
    tracemalloc.start()
    try:
        stream_messages(sink, path, path.stat().st_size, PathRebase(""), b"")  # type: ignore[arg-type]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sink.count == n
    # Two 8-byte integers a line; a sorted list of keys alone would be 1 MB more at least.
    assert peak < 16 * n + (1 << 20), f"{peak / 1e6:.1f} MB for {n} lines"

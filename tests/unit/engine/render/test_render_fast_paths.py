"""The renderers' shortcuts for common shapes against the general code they stand in for."""

from __future__ import annotations

import json
from urllib.parse import quote

from hypothesis import example, given, settings
from hypothesis import strategies as st
from telethon.tl import types as t

from tobs_tui.engine.render.entities import (
    _URL_SAFE,
    _URL_SAFE_RE,
    ENTITY_KINDS,
    Span,
    _entity_spans,
    _nest,
    _Node,
    _tree,
    _Writer,
    entity_spans,
)
from tobs_tui.engine.render.text import Utf16Index, clean
from tobs_tui.engine.vault.jsonl import encode_line

KINDS = ["bold", "italic", "code", "text_link", "mention", "spoiler", "underline", "custom_emoji"]


def shape(node) -> tuple:
    return (node.span, node.start, node.end, tuple(shape(child) for child in node.children))


spans = st.lists(
    st.builds(
        lambda kind, start, length: Span(kind, start, start + length),
        st.sampled_from(KINDS),
        st.integers(-2, 30),
        st.integers(-1, 12),
    ),
    max_size=5,
)


@settings(max_examples=1500, deadline=None)
@given(spans, st.integers(0, 10), st.integers(0, 30))
def test_side_by_side_spans_nest_as_the_general_tree_does(span_list, lo, width):
    # Random spans are often side by side (the shortcut) and often overlapping or unordered (the heap).
    hi = lo + width
    assert shape(_tree(span_list, lo, hi)) == shape(_nest(span_list, lo, hi))


def test_the_shortcut_takes_ordered_disjoint_spans():
    spans_in_order = [Span("bold", 0, 3), Span("italic", 3, 5), Span("code", 7, 9)]
    root = _tree(spans_in_order, 0, 10)
    assert [(c.span.kind, c.start, c.end, c.children) for c in root.children] == [
        ("bold", 0, 3, []),
        ("italic", 3, 5, []),
        ("code", 7, 9, []),
    ]


def reference_spans(text: str, entities: list) -> list[Span]:
    """Every entity through Utf16Index.span and a lookup of every optional field."""
    index = Utf16Index(text)
    spans = []
    for entity in entities:
        start, end = index.span(entity.offset, entity.length)
        if end <= start:
            continue
        kind = ENTITY_KINDS.get(type(entity).__name__, "unknown")
        if kind == "code" and any(ch in text[start:end] for ch in "\n\r\u2028\u2029\x85"):
            kind = "pre"
        language, url = getattr(entity, "language", None), getattr(entity, "url", None)
        user_id, document_id = getattr(entity, "user_id", None), getattr(entity, "document_id", None)
        spans.append(
            Span(
                kind,
                start,
                end,
                clean(str(language)) if language else "",
                clean(str(url)) if url else "",
                user_id,
                bool(getattr(entity, "collapsed", False)),
                document_id,
            )
        )
    return spans


ENTITY_TYPES = [
    lambda o, n: t.MessageEntityBold(o, n),
    lambda o, n: t.MessageEntityCode(o, n),
    lambda o, n: t.MessageEntityMention(o, n),
    lambda o, n: t.MessageEntityTextUrl(o, n, "https://a.example/x"),
    lambda o, n: t.MessageEntityPre(o, n, "py"),
    lambda o, n: t.MessageEntityBlockquote(o, n, collapsed=True),
    lambda o, n: t.MessageEntityMentionName(o, n, 42),
    lambda o, n: t.MessageEntityCustomEmoji(o, n, 7),
]


@settings(max_examples=1000, deadline=None)
@given(
    st.text(st.sampled_from("ab \n\u00e9\u0410\U0001f600"), max_size=20),
    st.lists(st.tuples(st.sampled_from(ENTITY_TYPES), st.integers(-3, 25), st.integers(-2, 25)), max_size=5),
)
def test_entity_spans_clip_as_utf16_index_does(text, drawn):
    # With and without characters outside the BMP: the direct clipping only runs without them.
    entities = [make(offset, length) for make, offset, length in drawn]
    assert _entity_spans(text, entities) == reference_spans(text, entities)


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
        max_leaves=12,
    )
)
@example(6.103515625e-05)  # orjson writes 0.00006103515625
@example([1e-06, "x"])  # orjson writes 1e-6
@example({"lat": float("nan"), "long": float("-inf")})  # orjson writes null
@example("\ud800")  # orjson refuses a lone surrogate
@example(2**70)  # and an integer beyond 64 bits
@example("e-mail 0.0000 null")  # the marks in a string: encoded twice, the same bytes
def test_encode_line_writes_what_json_dumps_writes(value):
    # Lone surrogates included: both replace them the same way when encoding to UTF-8.
    item = {"id": 1, "value": value}
    expected = json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace") + b"\n"
    assert encode_line(item) == expected


def test_remembered_spans_are_fresh_lists_for_the_same_text_only():
    entities = [t.MessageEntityBold(0, 3), t.MessageEntityItalic(4, 2)]
    first = entity_spans("abc de", entities)
    first.sort(key=lambda span: -span.start)  # text_parts sorts its list in place
    again = entity_spans("abc de", entities)
    assert [span.kind for span in again] == ["bold", "italic"]
    assert [(span.start, span.end) for span in entity_spans("ab", entities)] == [(0, 2)]


@settings(max_examples=500, deadline=None)
@given(
    st.text(st.sampled_from("ab1. -=%*_\n\t#[]!"), min_size=1, max_size=16),
    st.booleans(),
    st.sampled_from(["*", "[", "=", ">"]),
    st.sampled_from(["*", "]", "=", "<"]),
)
def test_a_childless_node_reads_as_a_writer_of_its_own_writes_it(text, line_start, prev, end_next):
    node = _Node(Span("bold", 0, len(text)), 0, len(text))
    writer = _Writer(text, line_start=line_start, prev="", limit=len(text), end_next="")
    own = _Writer(text, line_start=line_start, prev=prev, limit=len(text), end_next=end_next)
    own.children(node)
    assert writer.sub(node, prev=prev, end_next=end_next, line_start=line_start) == own.value()


def test_urls_left_alone_are_the_ones_quote_leaves_alone():
    for code in range(0x250):
        char = chr(code)
        assert bool(_URL_SAFE_RE.fullmatch(char)) == (quote(char, safe=_URL_SAFE) == char), repr(char)

"""The renderers' shortcuts for common shapes against the general code they stand in for."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tobs_tui.engine.render.entities import Span, _nest, _tree

KINDS = ["bold", "italic", "code", "text_link", "mention", "spoiler", "underline", "custom_emoji"]


def shape(node) -> tuple:
    return (node.span, node.start, node.end, tuple(shape(child) for child in node.children))


spans = st.lists(
    st.builds(lambda kind, start, length: Span(kind, start, start + length),
              st.sampled_from(KINDS), st.integers(-2, 30), st.integers(-1, 12)),
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
        ("bold", 0, 3, []), ("italic", 3, 5, []), ("code", 7, 9, [])]

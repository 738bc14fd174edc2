"""Builders for the renderer tests: a RenderContext over plain dicts, and a Markdown parser."""

from __future__ import annotations

import datetime

import pytest
from markdown_it import MarkdownIt

from tobs_tui.engine.render import MediaRef, RenderContext, ReplyTarget

UTC = datetime.UTC
# A fixed offset keeps the goldens independent of the machine's zone; +02:00 also moves
# 23:30 UTC into the next day, which the month-key tests rely on.
TZ = datetime.timezone(datetime.timedelta(hours=2))
NAMES = {
    1: "Alice Liddell",
    2: "Bob",
    3: "Carol",
    4: "Dave",
    555: "HelperBot",
    -1001000000777: "News Channel",
    -1001000000123: "Book Club",
}
USERNAMES = {555: "helper_bot"}


@pytest.fixture(scope="session")
def make_ctx():
    def build(
        *,
        sender: str = "Bob",
        targets: dict[int, ReplyTarget] | None = None,
        media: MediaRef | None = None,
        tz: datetime.tzinfo = TZ,
    ) -> RenderContext:
        targets = targets or {}
        return RenderContext(
            tz=tz,
            sender_name=lambda message: sender,
            reply_target=targets.get,
            media=lambda message: media,
            peer_name=lambda peer_id: NAMES.get(peer_id, f"id {peer_id}"),
        )

    return build


@pytest.fixture(scope="session")
def markdown_parser() -> MarkdownIt:
    """CommonMark with GFM tables and strikethrough: the parts of Obsidian's dialect it shares."""
    return MarkdownIt("commonmark").enable(["strikethrough", "table"])

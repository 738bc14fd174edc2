"""Telegram message entities to Obsidian Markdown: nesting, overlaps, UTF-16 offsets, block structure.

Block entities (blockquote, pre, multi-line code) split the text into blocks; inline entities are
clipped to those blocks and nested into a tree, splitting any entity that crosses another's end.
"""

from __future__ import annotations

import heapq
import re
from typing import Any, NamedTuple
from urllib.parse import quote

from .memo import JobMemo
from .text import (
    NBSP,
    Utf16Index,
    clean,
    code_fence,
    code_span,
    escape_plain,
    is_punct,
    is_space,
)

# Telethon class name -> our entity kind.
ENTITY_KINDS = {
    "MessageEntityBold": "bold",
    "MessageEntityItalic": "italic",
    "MessageEntityUnderline": "underline",
    "MessageEntityStrike": "strikethrough",
    "MessageEntitySpoiler": "spoiler",
    "MessageEntityCode": "code",
    "MessageEntityPre": "pre",
    "MessageEntityBlockquote": "blockquote",
    "MessageEntityTextUrl": "text_link",
    "MessageEntityUrl": "link",
    "MessageEntityEmail": "email",
    "MessageEntityPhone": "phone",
    "MessageEntityMention": "mention",
    "MessageEntityMentionName": "mention_name",
    "InputMessageEntityMentionName": "mention_name",
    "MessageEntityHashtag": "hashtag",
    "MessageEntityCashtag": "cashtag",
    "MessageEntityBotCommand": "bot_command",
    "MessageEntityBankCard": "bank_card",
    "MessageEntityCustomEmoji": "custom_emoji",
}
LINK_KINDS = frozenset({"text_link", "link", "email", "phone", "mention", "mention_name"})
# Markdown marker when the delimiter rules allow it, HTML tag otherwise. A spoiler is shown as an
# Obsidian highlight: Obsidian has no hidden text, and a comment (%%) would hide it for good.
WRAPPERS = {
    "bold": ("**", "b"),
    "italic": ("*", "i"),
    "strikethrough": ("~~", "s"),
    "spoiler": ("==", "mark"),
    "underline": (None, "u"),
}
# At equal spans the first here is the outer one.
_PRIORITY = {
    kind: rank
    for rank, kind in enumerate(
        [
            "text_link",
            "link",
            "email",
            "phone",
            "mention",
            "mention_name",
            "hashtag",
            "cashtag",
            "bot_command",
            "bank_card",
            "bold",
            "italic",
            "underline",
            "strikethrough",
            "spoiler",
            "custom_emoji",
            "code",
        ]
    )
}
_SAFE_SCHEMES = frozenset({"http", "https", "tg", "mailto", "tel", "ftp", "ton"})
_SCHEME_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
_TAG_RE = re.compile(r"#[\w/-]*[^\W\d][\w/-]*")
_TAG_CHAR_RE = re.compile(r"[\w/-]")
_DIGITS_LINE_RE = re.compile("[ \t\u00a0]*[0-9]*")
_LIST_MARK_RE = re.compile(r"([0-9]*)[.)]")
_LIST_MARK_FIRST = frozenset("0123456789.)")
_LINE_BREAK_RE = re.compile("[\n\r\u2028\u2029\x85]")
_BARE_PERCENT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SECOND_EQUALS_RE = re.compile(r"(?<==)=")
_USERNAME_RE = re.compile(r"\w{1,64}")
_NOT_PHONE_RE = re.compile(r"[^\d+]")
# What quote leaves as it is: its always-safe characters and the ones _encode_url passes as safe.
_URL_SAFE = "!#&'*+,-./:;=?@_~%"
_URL_SAFE_RE = re.compile(r"[A-Za-z0-9_.\-~!#&'*+,/:;=?@%]*")


class Span(NamedTuple):
    # A tuple, not a frozen dataclass: every entity of every message makes one, and a frozen dataclass's
    # __init__ sets each field through object.__setattr__.
    kind: str
    start: int
    end: int
    language: str = ""
    url: str = ""
    user_id: int | None = None
    collapsed: bool = False
    document_id: int | None = None


class Block(NamedTuple):
    """One Markdown block of a message body: "para" text can share a paragraph, "block" cannot."""

    kind: str
    text: str


class _Node:
    # A slotted class, not a dataclass: every entity of every message makes one, and a dataclass's generated
    # __init__ with a default factory costs about twice as much.
    __slots__ = ("children", "end", "span", "start")

    def __init__(self, span: Span | None, start: int, end: int) -> None:
        self.span = span
        self.start = start
        self.end = end
        self.children: list[_Node] = []


# Entity list -> (the text, its spans), for both renderers.
_spans_seen = JobMemo()
# Most entities (bold, italic, mention, url...) carry none of a span's optional fields. Which types do is
# learnt from their first instance (a TL type always has the same fields), so the others skip five lookups.
_SPAN_EXTRAS = ("language", "url", "user_id", "collapsed", "document_id")
_BARE_TYPES: dict[type, bool] = {}
# A span's fields all at once: Span(...) goes through the NamedTuple's Python-level __new__.
_new_tuple = tuple.__new__


def entity_spans(text: str, entities: list | None) -> list[Span]:
    """Telegram entities as clipped Python-index spans; malformed ones are dropped, never raised."""
    if not entities:
        return []
    seen = _spans_seen.get(entities)
    if seen is not None and seen[0] == text:
        return list(seen[1])
    spans = _entity_spans(text, entities)
    _spans_seen.put(entities, (text, tuple(spans)))
    return spans


def _entity_spans(text: str, entities: list) -> list[Span]:
    index = Utf16Index(text)
    spans = []
    for entity in entities:
        kind = ENTITY_KINDS.get(type(entity).__name__, "unknown")
        offset, length = getattr(entity, "offset", 0), getattr(entity, "length", 0)
        if index.identity and type(offset) is int and type(length) is int:
            # Offsets are indices (no character outside the BMP): Utf16Index.span's clipping, without its calls.
            if length <= 0:
                continue
            start, end = max(offset, 0), min(offset + length, index.length)
        else:
            start, end = index.span(offset, length)
        if end <= start:
            continue
        if kind == "code" and _LINE_BREAK_RE.search(text, start, end):
            kind = "pre"  # a code span cannot hold a line break safely; a fence can
        cls = type(entity)
        bare = _BARE_TYPES.get(cls)
        if bare is None:
            bare = _BARE_TYPES[cls] = not any(hasattr(entity, name) for name in _SPAN_EXTRAS)
        if bare:
            spans.append(_new_tuple(Span, (kind, start, end, "", "", None, False, None)))
            continue
        # Look each up once, and clean only what is there.
        language = getattr(entity, "language", None)
        url = getattr(entity, "url", None)
        user_id = getattr(entity, "user_id", None)
        document_id = getattr(entity, "document_id", None)
        spans.append(
            Span(
                kind,
                start,
                end,
                clean(str(language)) if language else "",
                clean(str(url)) if url else "",
                user_id if isinstance(user_id, int) else None,
                bool(getattr(entity, "collapsed", False)),
                document_id if isinstance(document_id, int) else None,
            )
        )
    return spans


def _non_overlapping(spans: list[Span], lo: int, hi: int) -> list[Span]:
    """Clip to [lo, hi) and keep the earliest of any overlapping ones."""
    kept: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        start, end = max(span.start, lo), min(span.end, hi)
        if end <= start or (kept and start < kept[-1].end):
            continue
        kept.append(
            Span(span.kind, start, end, span.language, span.url, span.user_id, span.collapsed, span.document_id)
        )
    return kept


def render_blocks(text: str | None, entities: list | None) -> list[Block]:
    """The message body as Markdown blocks, in order."""
    text = clean(text or "")
    spans = entity_spans(text, entities)
    if not spans:
        return _paragraph(text, spans, 0, len(text))  # what _blocks comes to without quotes or code blocks
    return _blocks(text, spans, 0, len(text))


def render_text(text: str | None, entities: list | None) -> str:
    """Entities to Markdown, everything else escaped; blocks separated by a blank line."""
    return "\n\n".join(block.text for block in render_blocks(text, entities))


def _blocks(text: str, spans: list[Span], lo: int, hi: int) -> list[Block]:
    quotes = [s for s in spans if s.kind == "blockquote"]
    if not quotes:
        return _plain_region(text, spans, lo, hi)
    quotes = _non_overlapping(quotes, lo, hi)
    blocks: list[Block] = []
    pos = lo
    for quote_span in quotes:
        blocks += _plain_region(text, spans, pos, quote_span.start)
        inner = _plain_region(text, spans, quote_span.start, quote_span.end)
        if inner:
            body = "\n\n".join(block.text for block in inner)
            lines = [f"> {line}" if line else ">" for line in body.split("\n")]
            if quote_span.collapsed:
                lines.insert(0, "> [!quote]-")
            blocks.append(Block("block", "\n".join(lines)))
        pos = quote_span.end
    blocks += _plain_region(text, spans, pos, hi)
    return blocks


def _plain_region(text: str, spans: list[Span], lo: int, hi: int) -> list[Block]:
    """A region without quotes: paragraphs separated by fenced code blocks."""
    pres = [s for s in spans if s.kind == "pre"]
    if not pres:
        return _paragraph(text, spans, lo, hi)
    pres = _non_overlapping(pres, lo, hi)
    blocks: list[Block] = []
    pos = lo
    for pre in pres:
        blocks += _paragraph(text, spans, pos, pre.start)
        if text[pre.start : pre.end].strip():
            blocks.append(Block("block", code_fence(text[pre.start : pre.end], pre.language)))
        pos = pre.end
    blocks += _paragraph(text, spans, pos, hi)
    return blocks


def _paragraph(text: str, spans: list[Span], lo: int, hi: int) -> list[Block]:
    while lo < hi and is_space(text[lo]):
        lo += 1
    while hi > lo and is_space(text[hi - 1]):
        hi -= 1
    if lo >= hi:
        return []
    inline = [s for s in spans if s.kind not in ("pre", "blockquote")]
    root = _tree(inline, lo, hi) if inline else None
    if root is not None and root.children:
        writer = _Writer(text, line_start=True, prev="", limit=hi, end_next="")
        writer.children(root)
        value = writer.value()
    else:
        # What the writer does with one plain piece, without building it: most paragraphs have no entities.
        value = escape_plain(text[lo:hi], line_start=True)
    if "\n" not in value:
        return [Block("para", value)] if value.strip() else []
    # A blank line would end the paragraph, and with it the block the message's id names; a line
    # holding a no-break space keeps the gap visible and the message one block.
    lines: list[str] = []
    for line in value.split("\n"):
        if line.strip(" \t" + NBSP):
            lines.append(line)
        elif lines and lines[-1] != NBSP:
            lines.append(NBSP)
    rendered = "\n".join(lines)
    return [Block("para", rendered)] if rendered.strip() else []


def _tree(spans: list[Span], lo: int, hi: int) -> _Node:
    """Nest inline spans; one that crosses its parent's end is split at that end."""
    # Most paragraphs hold a few spans side by side, in order: each is then a child of the root, which is what
    # the nesting below makes of them too, without its heap.
    root = _Node(None, lo, hi)
    pos = lo
    for span in spans:
        start, end = max(span.start, lo), min(span.end, hi)
        if end <= start:
            continue
        if start < pos:
            return _nest(spans, lo, hi)
        root.children.append(_Node(span, start, end))
        pos = end
    return root


def _nest(spans: list[Span], lo: int, hi: int) -> _Node:
    heap: list[tuple[Any, ...]] = []
    for seq, span in enumerate(spans):
        start, end = max(span.start, lo), min(span.end, hi)
        if end > start:
            heapq.heappush(heap, (start, -end, _PRIORITY.get(span.kind, 99), seq, span))
    root = _Node(None, lo, hi)
    stack = [root]
    seq = len(spans)
    while heap:
        start, neg_end, prio, _, span = heapq.heappop(heap)
        end = -neg_end
        while stack[-1].end <= start:
            stack.pop()
        parent = stack[-1]
        if end > parent.end:
            seq += 1
            heapq.heappush(heap, (parent.end, -end, prio, seq, span))
            end = parent.end
        if end <= start:
            continue
        ancestors = [node.span.kind for node in stack if node.span is not None]
        if (
            "code" in ancestors
            or span.kind in ancestors
            or (span.kind in LINK_KINDS and LINK_KINDS.intersection(ancestors))
        ):
            continue  # nothing nests in code; a link in a link or bold in bold adds nothing
        node = _Node(span, start, end)
        parent.children.append(node)
        stack.append(node)
    return root


class _Writer:
    """Builds Markdown left to right so each piece knows what stands before it."""

    __slots__ = ("code_tail", "end_next", "limit", "line_start", "out", "prev", "tail", "text")

    def __init__(self, text: str, *, line_start: bool, prev: str, limit: int, end_next: str) -> None:
        self.text = text
        self.out: list[str] = []
        self.line_start = line_start
        self.prev = prev
        self.limit = limit
        self.end_next = end_next
        self.code_tail: tuple[int, str] | None = None  # (index in out, raw text) of a code span
        # The last character written, None before anything non-empty: every piece asks for it, and a walk back
        # over `out` for each would cost more than the piece. Only `put` adds a non-empty piece; the other
        # edits of `out` (code spans merged, a `!` escaped, empty pieces dropped) keep the last character.
        self.tail: str | None = None

    def value(self) -> str:
        return "".join(self.out)

    def put(self, piece: str) -> None:
        self.out.append(piece)
        if piece:
            self.tail = piece[-1]

    def last(self) -> str:
        tail = self.tail
        return self.prev if tail is None else tail

    def at_line_start(self) -> bool:
        tail = self.tail
        return self.line_start if tail is None else tail == "\n"

    def next_after(self, end: int) -> str:
        return self.text[end] if end < self.limit else self.end_next

    def plain(self, start: int, end: int) -> None:
        if end > start:
            tail = self.tail
            escaped = escape_plain(
                self.text[start:end],
                line_start=self.line_start if tail is None else tail == "\n",
                prev=self.prev if tail is None else tail,
                next_char=self.text[end] if end < self.limit else self.end_next,
            )
            marker = _LIST_MARK_RE.match(escaped) if escaped[0] in _LIST_MARK_FIRST else None
            if marker:
                # "1" in one piece and "." in the next would still start an ordered list.
                line = self.current_line()
                if line and _DIGITS_LINE_RE.fullmatch(line) and (marker.group(1) or line[-1].isdigit()):
                    escaped = marker.group(1) + "\\" + escaped[len(marker.group(1)) :]
            self.out.append(escaped)
            self.tail = escaped[-1]

    def current_line(self) -> str | None:
        """The output line so far, or None when it began before this writer's output."""
        tail = []
        for piece in reversed(self.out):
            newline = piece.rfind("\n")
            if newline >= 0:
                tail.append(piece[newline + 1 :])
                break
            tail.append(piece)
        else:
            if not self.line_start:
                return None
        return "".join(reversed(tail))

    def children(self, node: _Node) -> None:
        pos = node.start
        for child in node.children:
            self.plain(pos, child.start)
            self.node(child)
            pos = child.end
        self.plain(pos, node.end)

    def sub(self, node: _Node, prev: str, end_next: str, line_start: bool | None = None) -> str:
        if line_start is None:
            line_start = self.at_line_start()
        if not node.children:
            # What a writer of its own makes of one plain piece, without building it: its first piece cannot
            # finish a list marker (there is no line before it), so it is the escaped text alone.
            return escape_plain(self.text[node.start : node.end], line_start=line_start, prev=prev, next_char=end_next)
        writer = _Writer(self.text, line_start=line_start, prev=prev, limit=node.end, end_next=end_next)
        writer.children(node)
        return writer.value()

    def node(self, node: _Node) -> None:
        span = node.span
        assert span is not None
        kind = span.kind
        raw = self.text[node.start : node.end]
        if kind in WRAPPERS:
            self.wrap(node, *WRAPPERS[kind])
        elif kind == "code":
            if raw.strip(" "):
                self.code(raw)
            else:
                self.plain(node.start, node.end)
        elif kind in LINK_KINDS:
            self.link(node, _href(span, raw))
        elif (
            kind == "hashtag"
            and not node.children
            and _is_safe_tag(raw)
            and (not self.last() or is_space(self.last()))
            and not _TAG_CHAR_RE.match(self.next_after(node.end) or " ")
        ):
            self.put(raw)  # a real Obsidian tag, so the vault's tag pane finds it
        else:
            self.children(node)  # custom emoji (its text is the fallback), cashtags, commands...

    def code(self, raw: str) -> None:
        # Touching code spans would fuse their backtick fences into one run: write them as one.
        if self.code_tail is not None and self.code_tail[0] == len(self.out) - 1:
            raw = self.code_tail[1] + raw
            self.out.pop()
        self.put(code_span(raw))
        self.code_tail = (len(self.out) - 1, raw)

    def wrap(self, node: _Node, marker: str | None, tag: str) -> None:
        mark_char = marker[-1] if marker else ">"
        inner = self.sub(node, prev=mark_char, end_next=(marker[0] if marker else "<"))
        pieces = inner.split("\n")
        final = len(pieces) - 1
        out = self.out
        for i, piece in enumerate(pieces):
            if i:
                self.put("\n")
            core = piece.strip()
            if not core:
                self.put(piece)
                continue
            if len(core) == len(piece):
                # The usual piece: nothing around the text to keep outside the markers (an empty lead still
                # takes its place in `out`, which code-span merging counts).
                lead = trail = ""
                out.append("")
            else:
                lead = piece[: len(piece) - len(piece.lstrip())]
                trail = piece[len(piece.rstrip()) :]
                self.put(lead)
            before = self.prev if self.tail is None else self.tail
            if i == final:
                after = trail[:1] or self.next_after(node.end)
            else:
                after = trail[:1] or "\n"
            if marker and _can_wrap(marker, before, core, after):
                out.append(f"{marker}{core}{marker}")
                self.tail = marker[-1]
            else:
                out.append(f"<{tag}>{core}</{tag}>")
                self.tail = ">"
            self.put(trail)

    def link(self, node: _Node, href: str | None) -> None:
        if href is None:
            self.children(node)
            return
        label = self.sub(node, prev="[", end_next="]", line_start=False)
        if "\n" in label:
            label = " ".join(part.strip() for part in label.split("\n") if part.strip())
        else:
            label = label.strip()
        if not label:
            self.children(node)  # a link over blank text has nothing to click: keep the text
            return
        if self.tail == "!":  # otherwise no piece written ends with one
            self.escape_trailing_bang()
        self.put(f"[{label}]({href})")

    def escape_trailing_bang(self) -> None:
        """A bare `!` right before `[` would turn the link into an image embed."""
        while self.out and not self.out[-1]:
            self.out.pop()
        if self.out and self.out[-1].endswith("!"):
            body = self.out[-1][:-1]
            backslashes = len(body) - len(body.rstrip("\\"))
            if backslashes % 2 == 0:
                self.out[-1] = body + "\\!"


def _is_safe_tag(raw: str) -> bool:
    """A valid Obsidian tag whose underscores sit inside words, where they cannot start emphasis."""
    if not _TAG_RE.fullmatch(raw):
        return False
    return all(
        0 < i < len(raw) - 1 and raw[i - 1].isalnum() and raw[i + 1].isalnum() for i, ch in enumerate(raw) if ch == "_"
    )


def _can_wrap(marker: str, before: str, core: str, after: str) -> bool:
    """CommonMark flanking rules for a delimiter run around `core`, plus no merging with a sibling run.

    A run of the same character may follow the closer only as the parent's closer (`**a *b***`
    parses as intended); `_Writer.sub` passes the parent's marker as `after` in that case.
    """
    if before == marker[0] or (after == marker[0] and after != "*"):
        return False
    opens = not is_punct(core[0], symbols=True) or not before or is_space(before) or is_punct(before, symbols=False)
    closes = not is_punct(core[-1], symbols=True) or not after or is_space(after) or is_punct(after, symbols=False)
    return opens and closes


def _encode_url(url: str) -> str:
    """Percent-encode so the destination holds nothing Obsidian could read as its own syntax
    (`$` math, `%%` comment, `==` highlight, `^` block id, brackets, pipes, spaces)."""
    url = clean(url).strip()
    if "%" in url:
        url = _BARE_PERCENT_RE.sub("%25", url)
    if "==" in url:
        url = _SECOND_EQUALS_RE.sub("%3D", url)
    if _URL_SAFE_RE.fullmatch(url):
        return url  # what quote returns for it, without its encode and byte checks
    return quote(url, safe=_URL_SAFE)


def _href(span: Span, raw: str) -> str | None:
    """Where a link entity points, percent-encoded for a Markdown link; None when it is not safe."""
    kind = span.kind
    raw = raw.strip()
    if kind == "mention":
        name = raw.lstrip("@")
        return f"https://t.me/{_encode_url(name)}" if _USERNAME_RE.fullmatch(name) else None
    if kind == "mention_name":
        return f"tg://user?id={span.user_id}" if span.user_id is not None else None
    if kind == "email":
        return f"mailto:{_encode_url(raw)}" if "@" in raw else None
    if kind == "phone":
        digits = _NOT_PHONE_RE.sub("", raw)
        return f"tel:{digits}" if digits else None
    url = span.url if kind == "text_link" else raw
    url = clean(url).strip()
    if not url:
        return None
    match = _SCHEME_RE.match(url)
    if match is None:
        url = "https://" + url  # Telegram links bare domains ("example.com/x") too
    elif match.group(1).lower() not in _SAFE_SCHEMES:
        return None
    return _encode_url(url)

"""Hostile content: random text and random (often invalid) entities never break the note.

Structure is checked with a real CommonMark parser (markdown-it, the parser Rich ships with);
Obsidian's own syntax ([[ ]], ==, %%, $, ^id, #tag) is checked on the raw output.
"""

from __future__ import annotations

import json
import re
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telethon.tl import types as t

from tests.support.dates import when
from tobs_tui.engine.render import message_to_json, render_message, render_text
from tobs_tui.engine.render.text import clean, normalize_newlines, utf16_len, writable

HOSTILE = "#>-+*=_~`[]|^%$<>&\\!:/(). \n\t\r1"
ODD = "\u0301\u200b\u200d\u200e\u200f\u202e\u2028\u2029\ufeff\x00\x0b\x85 שלוםعربي😀👨‍👩‍👧🇺🇦"
chars = st.one_of(
    st.sampled_from(HOSTILE),
    st.sampled_from(ODD),
    st.characters(codec=None),  # anything, lone surrogates included
)
texts = st.text(chars, max_size=120)

ALLOWED_HTML = re.compile(r"</?(b|i|s|u|mark)>")
SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

INLINE = [
    t.MessageEntityBold,
    t.MessageEntityItalic,
    t.MessageEntityStrike,
    t.MessageEntityUnderline,
    t.MessageEntityHashtag,
    t.MessageEntityCashtag,
    t.MessageEntityBotCommand,
    t.MessageEntityBankCard,
]


@st.composite
def entity(draw, units: int, kinds: tuple[str, ...]):
    offset = draw(st.integers(-3, units + 3))
    length = draw(st.integers(-2, units + 3))
    kind = draw(st.sampled_from(kinds))
    if kind == "inline":
        return draw(st.sampled_from(INLINE))(offset, length)
    if kind == "spoiler":
        return t.MessageEntitySpoiler(offset, length)
    if kind == "code":
        return t.MessageEntityCode(offset, length)
    if kind == "pre":
        return t.MessageEntityPre(offset, length, draw(st.text(chars, max_size=8)))
    if kind == "quote":
        return t.MessageEntityBlockquote(offset, length, collapsed=draw(st.booleans()))
    if kind == "emoji":
        return t.MessageEntityCustomEmoji(offset, length, document_id=draw(st.integers(0, 2**63 - 1)))
    if kind == "link":
        return t.MessageEntityTextUrl(offset, length, draw(st.text(chars, max_size=30)))
    if kind == "url":
        return draw(
            st.sampled_from([t.MessageEntityUrl, t.MessageEntityEmail, t.MessageEntityPhone, t.MessageEntityMention])
        )(offset, length)
    return t.MessageEntityMentionName(offset, length, user_id=draw(st.integers(1, 2**40)))


ALL_KINDS = ("inline", "spoiler", "code", "pre", "quote", "emoji", "link", "url", "mention_name")


@st.composite
def text_and_entities(draw, kinds=ALL_KINDS):
    text = draw(texts)
    units = utf16_len(text)
    entities = draw(st.lists(entity(units, kinds), max_size=8))
    return text, entities


def kinds_present(text: str, entities: list) -> set[str]:
    from tobs_tui.engine.render.entities import entity_spans

    return {span.kind for span in entity_spans(clean(text), entities)}


def flat(tokens):
    for token in tokens:
        yield token
        yield from flat(token.children or [])


@SETTINGS
@given(text_and_entities())
def test_never_crashes_and_is_valid_utf8(markdown_parser, case):
    text, entities = case
    out = render_text(text, entities)
    out.encode("utf-8")  # raises on a lone surrogate
    assert "\x00" not in out


@SETTINGS
@given(text_and_entities())
def test_text_creates_no_structure_it_did_not_carry(markdown_parser, case):
    text, entities = case
    kinds = kinds_present(text, entities)
    out = render_text(text, entities)
    allowed = {
        "paragraph_open",
        "paragraph_close",
        "inline",
        "text",
        "softbreak",
        "hardbreak",
        "code_inline",
        "html_inline",
        "strong_open",
        "strong_close",
        "em_open",
        "em_close",
        "s_open",
        "s_close",
        "link_open",
        "link_close",
    }
    if "blockquote" in kinds:
        allowed |= {"blockquote_open", "blockquote_close"}
    if "pre" in kinds or "code" in kinds:
        allowed.add("fence")
    for token in flat(markdown_parser.parse(out)):
        # Never a heading, list, table, rule, HTML block, indented code or image.
        assert token.type in allowed, (token.type, out)
        if token.type == "html_inline":
            assert ALLOWED_HTML.fullmatch(token.content), (token.content, out)
        if token.type == "link_open":
            assert kinds & {"text_link", "link", "email", "phone", "mention", "mention_name"}, out


def unescaped(out: str) -> str:
    """The raw output with every backslash escape removed: what Obsidian's own syntax sees."""
    return re.sub(r"\\[\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e]", "", out)


@SETTINGS
@given(text_and_entities(kinds=("inline", "spoiler", "quote", "emoji", "link", "url", "mention_name")))
def test_text_creates_no_obsidian_syntax(case):
    text, entities = case
    kinds = kinds_present(text, entities)
    raw = unescaped(render_text(text, entities))
    for destination in re.findall(r"\]\(([^)]*)\)", raw):
        assert not re.search(r"\s|%%|==|[$^\[\]|<>]", destination), destination
    raw = re.sub(r"\]\([^)]*\)", "]", raw)
    for token in ("[[", "]]", "%%", "$"):
        assert token not in raw, raw
    assert not re.search(r"(^|\s)\^[A-Za-z0-9-]+\s*$", raw, re.M), raw  # no block id
    if "spoiler" not in kinds:
        assert "==" not in raw, raw
    if "hashtag" not in kinds:
        assert "#" not in raw, raw
    assert not re.search(r"^ {4}", raw, re.M), raw  # never an indented code block


def visible_text(parser, source: str) -> str:
    parts = []
    for token in flat(parser.parse(source)):
        if token.type in ("text", "code_inline"):
            parts.append(token.content)
        elif token.type == "fence":
            parts.append(" " + token.content + " ")
        elif token.type in ("softbreak", "hardbreak", "paragraph_close"):
            parts.append(" ")
    return " ".join("".join(parts).split())


@SETTINGS
@given(text_and_entities(kinds=("inline", "code", "pre", "emoji", "mention_name")))
def test_every_character_of_the_text_is_shown(markdown_parser, case):
    text, entities = case
    # Whitespace is compared loosely: a fenced block inside a line must start a line of its own.
    expected = "".join(normalize_newlines(clean(text)).split())
    assert "".join(visible_text(markdown_parser, render_text(text, entities)).split()) == expected


@SETTINGS
@given(text_and_entities(), st.text(chars, max_size=40), st.integers(1, 2**31 - 1))
def test_message_block_has_its_block_id_once(make_ctx, markdown_parser, case, name, msg_id):
    text, entities = case
    message = t.Message(
        id=msg_id, peer_id=t.PeerUser(2), date=when(), message=text, entities=entities, from_id=t.PeerUser(2)
    )
    out = render_message(message, make_ctx(sender=name))
    out.encode("utf-8")
    assert out.endswith("\n\n")
    ids = re.findall(r"(?:^| )\^m\d+$", out, re.M)
    assert ids == [f" ^m{msg_id}"] or ids == [f"^m{msg_id}"], out
    first = markdown_parser.parse(out)[0]
    assert first.type == "paragraph_open", out  # the header is never a heading, list or quote


@SETTINGS
@given(text_and_entities(), st.text(chars, max_size=40))
def test_json_item_round_trips(make_ctx, case, name):
    text, entities = case
    message = t.Message(
        id=7, peer_id=t.PeerUser(2), date=when(), message=text, entities=entities, from_id=t.PeerUser(2)
    )
    item = message_to_json(message, make_ctx(sender=name))
    dumped = json.dumps(item, ensure_ascii=False)
    dumped.encode("utf-8")
    assert json.loads(dumped) == item
    assert "".join(part["text"] for part in item["text_entities"]) == writable(text)


def test_huge_message_renders_quickly():
    text = ("word *x* [[y]] 😀 " * 3000)[:40000]
    entities = [t.MessageEntityBold(i, 3) for i in range(0, utf16_len(text) - 3, 7)]
    out = render_text(text, entities)
    assert out.count("**") + out.count("<b>") * 2 >= len(entities)


names = st.text(chars, max_size=30)


@SETTINGS
@given(
    text=texts,
    note=names,
    sender=names,
    snippet=names,
    path=names,
    file_name=names,
    emoticon=names,
    fwd_name=names,
    author=names,
    status=st.sampled_from(["ok", "pending", "skipped", "failed"]),
)
def test_hostile_context_cannot_break_the_block(
    make_ctx, markdown_parser, text, note, sender, snippet, path, file_name, emoticon, fwd_name, author, status
):
    """Names, paths, snippets and reactions come from Telegram too: none of them may open structure,
    a comment that hides the rest of the note, or math and code reaching past their link."""
    from tobs_tui.engine.render import MediaRef, ReplyTarget

    doc = t.Document(1, 2, b"", when(), "application/pdf", 10, 2, [t.DocumentAttributeFilename(file_name)])
    message = t.Message(
        id=9,
        peer_id=t.PeerUser(2),
        date=when(),
        message=text,
        from_id=t.PeerUser(2),
        reply_to=t.MessageReplyHeader(reply_to_msg_id=5),
        post_author=author,
        fwd_from=t.MessageFwdHeader(date=when(), from_name=fwd_name),
        media=t.MessageMediaDocument(document=doc),
        reactions=t.MessageReactions(results=[t.ReactionCount(t.ReactionEmoji(emoticon), 2)]),
    )
    ctx = make_ctx(
        sender=sender,
        targets={5: ReplyTarget(note, sender, snippet)},
        media=MediaRef("document", path, status, file_name, None, 10, reason=snippet),
    )
    out = render_message(message, ctx)
    out.encode("utf-8")
    assert_no_controls(out)
    assert "%%" not in out
    assert not re.search(r"(?<!\\)\$", out), out
    assert re.findall(r"\^m\d+$", out, re.M) == ["^m9"], out
    allowed = {
        "paragraph_open",
        "paragraph_close",
        "inline",
        "text",
        "softbreak",
        "hardbreak",
        "code_inline",
        "strong_open",
        "strong_close",
        "em_open",
        "em_close",
        "link_open",
        "link_close",
        "html_inline",
    }
    for token in flat(markdown_parser.parse(out)):
        assert token.type in allowed, (token.type, out)
        if token.type == "html_inline":
            assert ALLOWED_HTML.fullmatch(token.content), (token.content, out)


BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def assert_no_controls(out: str) -> None:
    """No control character in a note but line breaks and tabs, no bidi override that would reorder what follows."""
    bad = [c for c in out if (unicodedata.category(c) == "Cc" and c not in "\n\t") or c in BIDI_CONTROLS]
    assert not bad, (bad, out)


@SETTINGS
@given(text_and_entities(), st.text(chars, max_size=40))
def test_text_and_sender_names_carry_no_control_or_bidi_characters(make_ctx, case, name):
    text, entities = case
    message = t.Message(
        id=3, peer_id=t.PeerUser(2), date=when(), message=text, entities=entities, from_id=t.PeerUser(2)
    )
    assert_no_controls(render_message(message, make_ctx(sender=name)))


titles = st.one_of(
    st.text(chars, max_size=60),
    st.text(
        st.sampled_from("\x7f\x85\u2028\u2029\x00\x1b\x9b\ufeff\ufffe\uffff\u202e\"'\\:#-[]{}&*!|>%@` \n\t"),
        max_size=20,
    ),
)


def yaml_12(text: str):
    from ruamel.yaml import YAML

    parser = YAML(typ="safe", pure=True)
    parser.version = (1, 2)
    return parser.load(text)


def front_matter_of(note: str) -> str:
    assert note.startswith("---\n"), note
    return note[4 : note.index("\n---\n", 3)]


@SETTINGS
@given(title=titles, username=st.one_of(st.none(), st.text(chars, max_size=20)))
def test_front_matter_parses_under_yaml_1_1_and_1_2_for_any_title(title, username):
    import yaml

    from tobs_tui.engine.render.notes import index_note, month_header

    index = index_note(
        chat_id=-1001,
        kind="supergroup",
        title=title,
        username=username,
        first_id=1,
        last_id=9,
        message_count=9,
        last_export=1_700_000_000.0,
        dir_name="Chat (-1001)",
        notes=["Chat (-1001)/2024/2024-03.md"],
    )
    month = month_header(-1001, title, "Chat (-1001)", "2024-03")
    for note in (index, month):
        note.encode("utf-8")  # a lone surrogate would raise here
        matter = front_matter_of(note)
        for parse in (yaml.safe_load, yaml_12):
            data = parse(matter)
            assert data.get("title", data.get("chat")) == title, (parse, matter)
            if "username" in data:
                assert data["username"] == username
    assert_no_controls(index)
    assert_no_controls(month)


ZONES = ["UTC", "Europe/Berlin", "Asia/Kathmandu", "Australia/Lord_Howe", "America/St_Johns", "Pacific/Chatham"]


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    ordered=st.booleans(),
    instants=st.lists(st.integers(1_356_998_400, 1_924_992_000), min_size=1, max_size=60),
    near=st.lists(st.integers(-7200, 7200), max_size=30),
)
def test_month_keys_agree_with_month_key_in_any_order_and_zone(zone, ordered, instants, near):
    import datetime
    import zoneinfo

    from tobs_tui.engine.render import MonthKeys, month_key

    tz = zoneinfo.ZoneInfo(zone)
    # Instants next to local month starts too, where a cached month would be wrong first.
    firsts = [datetime.datetime(2024, m, 1, tzinfo=tz).timestamp() for m in (1, 3, 4, 10, 11)]
    stamps = instants + [int(f) + d for f in firsts for d in near]
    if ordered:
        stamps.sort()
    keys = MonthKeys(tz)
    for stamp in stamps:
        message = t.Message(
            id=1, peer_id=t.PeerUser(1), message="", date=datetime.datetime.fromtimestamp(stamp, datetime.UTC)
        )
        assert keys(message) == month_key(message, tz), (zone, stamp)

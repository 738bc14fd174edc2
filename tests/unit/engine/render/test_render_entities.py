"""Entities and escaping: each expected string was written by hand from the Markdown rules."""

from __future__ import annotations

import pytest
from telethon.tl import types as t

from tobs_tui.engine.render import render_text
from tobs_tui.engine.render.text import Utf16Index, plain_snippet, utf16_len

NB = "\u00a0"

ESCAPING = [
    ("heading", "# not a heading", "\\# not a heading"),
    ("dash list", "- item", "\\- item"),
    ("plus list", "+ item", "\\+ item"),
    ("star list", "* item", "\\* item"),
    ("ordered list", "1. first", "1\\. first"),
    ("ordered paren", "12) x", "12\\) x"),
    ("quote", "> quote", "\\> quote"),
    ("front matter", "---\ntitle: x\n---", "\\---\ntitle: x\n\\---"),
    ("setext", "Title\n===", "Title\n\\=\\=\\="),
    ("wikilink", "[[Note]]", "\\[\\[Note\\]\\]"),
    ("embed", "![[secret.png]]", "!\\[\\[secret.png\\]\\]"),
    ("table pipe", "a | b", "a \\| b"),
    ("block id", "end ^block1", "end \\^block1"),
    ("highlight", "==hi==", "\\=\\=hi\\=\\="),
    ("single equals", "a = b", "a = b"),
    ("comment", "%%hidden%%", "\\%\\%hidden\\%\\%"),
    ("single percent", "50% off", "50% off"),
    ("math", "$E=mc^2$", "\\$E=mc\\^2\\$"),
    ("html", "<b>x</b>", "\\<b\\>x\\</b\\>"),
    ("backticks", "`code`", "\\`code\\`"),
    ("emphasis chars", "a*b_c~d\\e", "a\\*b\\_c\\~d\\\\e"),
    ("tag", "#tag", "\\#tag"),
    ("entity ref", "&amp;", "\\&amp;"),
    ("indent", "x\n    indented", "x\n" + NB * 4 + "indented"),
    ("tab indent", "x\n\t- tab", "x\n" + NB * 4 + "\\- tab"),
    ("leading blank lines trimmed", "\n\n  x  \n", "x"),
    ("blank lines keep one paragraph", "a\n\n\n \nb", "a\n" + NB + "\nb"),
    ("crlf", "a\r\n# b", "a\n\\# b"),
    ("lone cr", "a\r# b", "a\n\\# b"),
    ("line separator", "a\u2028# b", "a\n\\# b"),
    ("nul", "a\x00b", "a\u2400b"),
    ("controls", "a\x1b[31m\x07\x01\x7f\x9bb", "a\u241b\\[31m\u2407\u2401\u2421\ufffdb"),
    ("bidi override", "a\u202egpj.exe\u2066b\u2069", "a\ufffdgpj.exe\ufffdb\ufffd"),
    ("lone surrogate", "a\ud800b", "a\ufffdb"),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in ESCAPING], ids=[c[0] for c in ESCAPING])
def test_plain_text_is_escaped(text, expected):
    assert render_text(text, None) == expected


ENTITIES = [
    ("bold", "hello bold world", [t.MessageEntityBold(6, 4)], "hello **bold** world"),
    ("italic", "hello bold world", [t.MessageEntityItalic(6, 4)], "hello *bold* world"),
    ("strike", "hello bold world", [t.MessageEntityStrike(6, 4)], "hello ~~bold~~ world"),
    ("underline", "hello bold world", [t.MessageEntityUnderline(6, 4)], "hello <u>bold</u> world"),
    ("spoiler", "hello bold world", [t.MessageEntitySpoiler(6, 4)], "hello ==bold== world"),
    ("code", "run ls -la now", [t.MessageEntityCode(4, 6)], "run `ls -la` now"),
    ("code with backtick", "say a`b ok", [t.MessageEntityCode(4, 3)], "say ``a`b`` ok"),
    ("code starting with backtick", "x `y z", [t.MessageEntityCode(2, 2)], "x `` `y `` z"),
    ("code keeps markdown literal", "x # [[a]] *b*", [t.MessageEntityCode(2, 11)], "x `# [[a]] *b*`"),
    (
        "pre with language",
        "see:\nprint(1)\ndone",
        [t.MessageEntityPre(5, 8, "python")],
        "see:\n\n```python\nprint(1)\n```\n\ndone",
    ),
    ("pre fence longer than content", "```x```", [t.MessageEntityPre(0, 7, "")], "````\n```x```\n````"),
    ("pre hostile language", "x", [t.MessageEntityPre(0, 1, "py\n# h`")], "```py#h\nx\n```"),
    ("code with newline becomes fence", "a\nb", [t.MessageEntityCode(0, 3)], "```\na\nb\n```"),
    (
        "text link",
        "docs here",
        [t.MessageEntityTextUrl(0, 4, "https://example.com/a b")],
        "[docs](https://example.com/a%20b) here",
    ),
    ("text link parens", "x", [t.MessageEntityTextUrl(0, 1, "https://e.com/(a)")], "[x](https://e.com/%28a%29)"),
    ("url entity", "go example.com now", [t.MessageEntityUrl(3, 11)], "go [example.com](https://example.com) now"),
    ("link label brackets", "[x] y", [t.MessageEntityTextUrl(0, 3, "https://e.com")], "[\\[x\\]](https://e.com) y"),
    ("unsafe scheme dropped", "click", [t.MessageEntityTextUrl(0, 5, "javascript:alert(1)")], "click"),
    ("mention", "hi @bob!", [t.MessageEntityMention(3, 4)], "hi [@bob](https://t.me/bob)!"),
    ("mention name", "hi Bob", [t.MessageEntityMentionName(3, 3, user_id=2)], "hi [Bob](tg://user?id=2)"),
    ("email", "mail a_b@x.io", [t.MessageEntityEmail(5, 8)], "mail [a\\_b@x.io](mailto:a_b@x.io)"),
    ("phone", "call +1 555 0100", [t.MessageEntityPhone(5, 11)], "call [+1 555 0100](tel:+15550100)"),
    ("hashtag becomes tag", "tag #hello x", [t.MessageEntityHashtag(4, 6)], "tag #hello x"),
    ("hashtag with inner underscore", "#my_tag", [t.MessageEntityHashtag(0, 7)], "#my_tag"),
    ("hashtag underscore could emphasise", "#_x_", [t.MessageEntityHashtag(0, 4)], "\\#\\_x\\_"),
    ("numeric hashtag stays text", "in #2024", [t.MessageEntityHashtag(3, 5)], "in \\#2024"),
    ("cashtag", "buy $USD", [t.MessageEntityCashtag(4, 4)], "buy \\$USD"),
    ("bot command", "/start_x", [t.MessageEntityBotCommand(0, 8)], "/start\\_x"),
    ("custom emoji fallback", "hi 😀", [t.MessageEntityCustomEmoji(3, 2, document_id=5)], "hi 😀"),
    ("blockquote", "quote line\nsecond\nafter", [t.MessageEntityBlockquote(0, 17)], "> quote line\n> second\n\nafter"),
    (
        "collapsed blockquote",
        "quote line\nsecond\nafter",
        [t.MessageEntityBlockquote(0, 17, collapsed=True)],
        "> [!quote]-\n> quote line\n> second\n\nafter",
    ),
    ("quote holding a heading char", "# x", [t.MessageEntityBlockquote(0, 3)], "> \\# x"),
    (
        "pre inside quote",
        "q\ncode",
        [t.MessageEntityBlockquote(0, 6), t.MessageEntityPre(2, 4, "")],
        "> q\n>\n> ```\n> code\n> ```",
    ),
    (
        "bold across quote edge",
        "quote\nafter",
        [t.MessageEntityBlockquote(0, 5), t.MessageEntityBold(0, 11)],
        "> **quote**\n\n**after**",
    ),
    ("same span bold italic", "both", [t.MessageEntityBold(0, 4), t.MessageEntityItalic(0, 4)], "**<i>both</i>**"),
    (
        "italic closing with parent",
        "hello bold",
        [t.MessageEntityBold(0, 10), t.MessageEntityItalic(6, 4)],
        "**hello *bold***",
    ),
    (
        "crossing entities split",
        "abcdef",
        [t.MessageEntityBold(0, 4), t.MessageEntityItalic(2, 4)],
        "<b>ab*cd*</b>*ef*",
    ),
    ("bold over blank line", "two\n\nlines bold", [t.MessageEntityBold(0, 15)], "**two**\n" + NB + "\n**lines bold**"),
    ("spaces kept outside markers", "a  b  c", [t.MessageEntityBold(1, 4)], "a  **b**  c"),
    ("punctuation inside word", 'a"q"b', [t.MessageEntityBold(1, 3)], 'a<b>"q"</b>b'),
    ("escaped star next to bold", "a *b* c", [t.MessageEntityBold(3, 1)], "a \\*<b>b</b>\\* c"),
    ("equals next to spoiler", "a=b", [t.MessageEntitySpoiler(2, 1)], "a=<mark>b</mark>"),
    ("list marker split by an entity", "1. x", [t.MessageEntityCustomEmoji(0, 1, document_id=1)], "1\\. x"),
    ("bold of whitespace only", "a   b", [t.MessageEntityBold(1, 3)], "a   b"),
]


@pytest.mark.parametrize(("text", "entities", "expected"), [c[1:] for c in ENTITIES], ids=[c[0] for c in ENTITIES])
def test_entities_become_markdown(text, entities, expected):
    assert render_text(text, entities) == expected


UTF16 = [
    ("emoji before", "😀 bold x", [t.MessageEntityBold(3, 4)], "😀 **bold** x"),
    ("combining mark", "e\u0301 bold", [t.MessageEntityBold(3, 4)], "e\u0301 **bold**"),
    ("zwj family", "👨\u200d👩\u200d👧 ok", [t.MessageEntityBold(9, 2)], "👨\u200d👩\u200d👧 **ok**"),
    ("flag", "🇺🇦 x", [t.MessageEntityItalic(5, 1)], "🇺🇦 *x*"),
    ("offset inside a surrogate pair", "😀x", [t.MessageEntityBold(1, 2)], "**😀x**"),
    ("end inside a surrogate pair", "x😀 y", [t.MessageEntityBold(0, 2)], "**x😀** y"),
    ("entity past the end is clipped", "bad", [t.MessageEntityBold(-5, 100)], "**bad**"),
    ("zero length dropped", "bad", [t.MessageEntityItalic(2, 0)], "bad"),
    ("starting past the end dropped", "bad", [t.MessageEntityBold(10, 5)], "bad"),
    ("rtl", "שלום עולם", [t.MessageEntityBold(5, 4)], "שלום **עולם**"),
]


@pytest.mark.parametrize(("text", "entities", "expected"), [c[1:] for c in UTF16], ids=[c[0] for c in UTF16])
def test_offsets_are_utf16_code_units(text, entities, expected):
    assert render_text(text, entities) == expected


def test_utf16_index_maps_units_to_characters():
    text = "a😀b"
    index = Utf16Index(text)
    assert utf16_len(text) == index.units == 4
    assert [index.start(u) for u in range(5)] == [0, 1, 1, 2, 3]
    assert [index.end(u) for u in range(5)] == [0, 1, 2, 2, 3]


def test_plain_snippet_shortens_and_joins_lines():
    assert plain_snippet("one two\nthree", words=8) == "one two three"
    assert plain_snippet("a b c d e f g h i j", words=3) == "a b c…"
    assert plain_snippet("", words=3) == ""


@pytest.mark.parametrize(
    ("label", "shown"),
    [
        ("<script>alert(1)</script>", "\\<script\\>alert(1)\\</script\\>"),
        ("**bold** #tag", "\\*\\*bold\\*\\* \\#tag"),
        ("a [[b]] | c", "a \\[\\[b\\]\\] \\| c"),
        ("50%% off `x` $5\nnext", "50\\%\\% off \\`x\\` \\$5 next"),
    ],
)
def test_reply_and_document_labels_are_escaped_like_message_text(make_ctx, markdown_parser, label, shown):
    """Obsidian shows a wikilink alias as typed and other readers parse it as Markdown: a label that needs
    escaping makes a Markdown link whose text is escaped as message text is."""
    from telethon.tl import types as t

    from tests.support.dates import when
    from tobs_tui.engine.render import MediaRef, ReplyTarget, render_message

    note = "Club (-100)/2024/2024-03"
    doc = t.Document(1, 2, b"", when(), "application/pdf", 10, 2, [t.DocumentAttributeFilename(label)])
    message = t.Message(
        id=9,
        peer_id=t.PeerUser(2),
        date=when(),
        message="",
        from_id=t.PeerUser(2),
        reply_to=t.MessageReplyHeader(reply_to_msg_id=5),
        media=t.MessageMediaDocument(document=doc),
    )
    ctx = make_ctx(
        targets={5: ReplyTarget(note, "Alice", label)},
        media=MediaRef("document", "Club (-100)/media/document/2024-03/9_x.pdf", "ok", label, None, 10),
    )
    out = render_message(message, ctx)
    assert f"[↩ Alice: {shown}](Club%20%28-100%29/2024/2024-03.md#^m5)" in out, out
    assert f"📎 [{shown}](Club%20%28-100%29/media/document/2024-03/9_x.pdf)" in out, out
    tokens = [token for block in markdown_parser.parse(out) for token in (block.children or [])]
    assert not any(token.type == "html_inline" for token in tokens), out
    assert sum(token.type == "link_open" for token in tokens) == 2, out


def test_plain_labels_stay_wikilinks(make_ctx):
    from telethon.tl import types as t

    from tests.support.dates import when
    from tobs_tui.engine.render import ReplyTarget, render_message

    message = t.Message(
        id=9, peer_id=t.PeerUser(2), date=when(), message="", reply_to=t.MessageReplyHeader(reply_to_msg_id=5)
    )
    target = ReplyTarget("Club (-100)/2024/2024-03", "Alice", "see data_94.csv at 5% = fine")
    out = render_message(message, make_ctx(targets={5: target}))
    assert "[[Club (-100)/2024/2024-03#^m5|↩ Alice: see data_94.csv at 5% = fine]]" in out, out

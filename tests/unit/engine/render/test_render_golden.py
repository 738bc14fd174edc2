"""Golden notes: one message of every kind, rendered as Obsidian Markdown and as result.json items.

Each golden file was checked by hand against what a reader of the vault should see; a change in
output must be looked at the same way before the golden is changed.
"""

from __future__ import annotations

import datetime
import functools
import json
from pathlib import Path

import pytest
from telethon.tl import types as t

from tests.support.dates import when
from tests.unit.engine.render.conftest import USERNAMES
from tobs_tui.engine.render import MediaRef, ReplyTarget, message_to_json, render_message

GOLDEN = Path(__file__).parent / "golden"
NOTE = "Book Club (-1001000000123)/2024/2024-03"
TARGETS = {5: ReplyTarget(NOTE, "Alice Liddell", "Shall we read *Through the Looking-Glass* next?")}


def msg(**kw) -> t.Message:
    base = dict(id=101, peer_id=t.PeerChannel(1000000123), date=when(), from_id=t.PeerUser(2), message="")
    base.update(kw)
    return t.Message(**base)


def service(action, **kw) -> t.MessageService:
    base = dict(id=102, peer_id=t.PeerChannel(1000000123), date=when(), from_id=t.PeerUser(1), action=action)
    base.update(kw)
    return t.MessageService(**base)


def photo_media() -> t.MessageMediaPhoto:
    sizes = [t.PhotoSize("m", 320, 240, 20_000), t.PhotoSizeProgressive("y", 1280, 960, [10_000, 150_000])]
    return t.MessageMediaPhoto(photo=t.Photo(1, 2, b"", when(), sizes, 2))


def document_media(*attributes, mime="application/pdf", size=2_621_440, **kw) -> t.MessageMediaDocument:
    doc = t.Document(3, 4, b"", when(), mime, size, 2, list(attributes))
    return t.MessageMediaDocument(document=doc, **kw)


def poll_media(*, quiz=False, closed=False) -> t.MessageMediaPoll:
    answers = [
        t.PollAnswer(t.TextWithEntities("Tuesday", []), b"0"),
        t.PollAnswer(t.TextWithEntities("Thursday | late", []), b"1"),
        t.PollAnswer(t.TextWithEntities("- never", []), b"2"),
    ]
    poll = t.Poll(1, t.TextWithEntities("When do we meet?", []), answers, 0, quiz=quiz, closed=closed)
    results = t.PollResults(
        results=[
            t.PollAnswerVoters(b"0", voters=3),
            t.PollAnswerVoters(b"1", voters=1, chosen=True, correct=quiz),
            t.PollAnswerVoters(b"2", voters=0),
        ],
        total_voters=4,
    )
    return t.MessageMediaPoll(poll, results)


def geo() -> t.GeoPoint:
    return t.GeoPoint(long=13.404954, lat=52.520008, access_hash=0)


TEXT = "Meeting notes:\nbold, italic, code and a link.\nSee @alice and #books"
FORMATTED = [
    t.MessageEntityBold(15, 4),
    t.MessageEntityItalic(21, 6),
    t.MessageEntityCode(29, 4),
    t.MessageEntityTextUrl(40, 4, "https://example.org/club?id=7"),
    t.MessageEntityMention(50, 6),
    t.MessageEntityHashtag(61, 6),
]
PDF = t.DocumentAttributeFilename("Reading list [2024] #1.pdf")

CASES = {
    "text_plain": (lambda: msg(message="Hello, world! See you at 7."), {}),
    "text_formatted": (lambda: msg(message=TEXT, entities=FORMATTED), {}),
    "text_hostile": (
        lambda: msg(
            message="# Not a heading\n---\n- not a list\n[[Secret]] | ^m1 ==x== %%y%% $z$\n"
            "<script>alert(1)</script> &amp; `tick`"
        ),
        {},
    ),
    "text_multiline_paragraphs": (lambda: msg(message="First paragraph.\n\nSecond paragraph\nwith a break."), {}),
    "ends_with_quote": (
        lambda: msg(message="She wrote:\nCuriouser and curiouser!", entities=[t.MessageEntityBlockquote(11, 24)]),
        {},
    ),
    "ends_with_code": (lambda: msg(message="Try:\nprint('hi')", entities=[t.MessageEntityPre(5, 11, "python")]), {}),
    "sender_hostile_name": (lambda: msg(message="hi"), {"sender": "# Admin | [[x]] *star*"}),
    "reply": (lambda: msg(message="Yes, let's!", reply_to=t.MessageReplyHeader(reply_to_msg_id=5)), {}),
    "reply_with_quote": (
        lambda: msg(
            message="Agreed.",
            reply_to=t.MessageReplyHeader(reply_to_msg_id=5, quote=True, quote_text="Through the Looking-Glass"),
        ),
        {},
    ),
    "reply_missing": (lambda: msg(message="What?", reply_to=t.MessageReplyHeader(reply_to_msg_id=4)), {}),
    "reply_other_chat": (
        lambda: msg(
            message="Seen this?",
            reply_to=t.MessageReplyHeader(reply_to_msg_id=9, reply_to_peer_id=t.PeerChannel(1000000777)),
        ),
        {},
    ),
    "topic_message_not_a_reply": (
        lambda: msg(message="In the topic", reply_to=t.MessageReplyHeader(reply_to_msg_id=40, forum_topic=True)),
        {},
    ),
    "forwarded": (
        lambda: msg(
            message="Library closes early today.",
            fwd_from=t.MessageFwdHeader(
                date=when(day=4, hour=9, minute=0), from_id=t.PeerChannel(1000000777), post_author="Editor"
            ),
        ),
        {},
    ),
    "forwarded_hidden_user": (
        lambda: msg(
            message="quote of the day", fwd_from=t.MessageFwdHeader(date=when(day=1), from_name="Hidden Hatter")
        ),
        {},
    ),
    "edited": (lambda: msg(message="Typo fixed", edit_date=when(minute=9)), {}),
    "edited_next_day": (lambda: msg(message="Later fix", edit_date=when(day=6, hour=8)), {}),
    "edit_hidden": (lambda: msg(message="Bot update", edit_date=when(minute=9), edit_hide=True), {}),
    "channel_post_via_bot": (
        lambda: msg(message="Announcement", post_author="Mod Team", via_bot_id=555, from_id=None, post=True),
        {"sender": "News Channel"},
    ),
    "channel_post_signed_as_sender": (
        lambda: msg(message="Hi", post_author="Mod Team", from_id=None, post=True),
        {"sender": "Mod Team"},
    ),
    "photo_ok": (
        lambda: msg(message="Our shelf", media=photo_media()),
        {"media": MediaRef("photo", "Book Club (-1001000000123)/media/2024-03/101.jpg", "ok")},
    ),
    "video_pending": (
        lambda: msg(
            media=document_media(
                t.DocumentAttributeVideo(12.5, 640, 360), t.DocumentAttributeFilename("clip.mp4"), mime="video/mp4"
            )
        ),
        {
            "media": MediaRef(
                "video",
                "Book Club (-1001000000123)/media/2024-03/101-clip.mp4",
                "pending",
                "clip.mp4",
                "video/mp4",
                1_000_000,
            )
        },
    ),
    "voice_ok": (
        lambda: msg(media=document_media(t.DocumentAttributeAudio(7, voice=True), mime="audio/ogg")),
        {"media": MediaRef("voice", "Book Club (-1001000000123)/media/2024-03/101.ogg", "ok")},
    ),
    "sticker_animated": (
        lambda: msg(
            media=document_media(
                t.DocumentAttributeSticker("😀", t.InputStickerSetEmpty()),
                t.DocumentAttributeFilename("AnimatedSticker.tgs"),
                mime="application/x-tgsticker",
            )
        ),
        {"media": MediaRef("sticker", "Book Club (-1001000000123)/media/2024-03/101.tgs", "ok", "AnimatedSticker.tgs")},
    ),
    "document_ok": (
        lambda: msg(message="The list", media=document_media(PDF)),
        {
            "media": MediaRef(
                "document",
                "Book Club (-1001000000123)/media/2024-03/101-Reading list 2024 1.pdf",
                "ok",
                "Reading list [2024] #1.pdf",
                "application/pdf",
                2_621_440,
            )
        },
    ),
    "document_name_with_rtl_override": (
        lambda: msg(media=document_media(PDF)),
        {"media": MediaRef("document", "Club/media/evil_txt.exe", "ok", "evil\u202etxt.exe", "text/plain", 10)},
    ),
    "document_path_needs_encoding": (
        lambda: msg(media=document_media(PDF)),
        {"media": MediaRef("document", "Club/media/a#b [c].pdf", "ok", "a#b [c].pdf")},
    ),
    "photo_skipped_too_large": (
        lambda: msg(message="Huge scan", media=photo_media()),
        {"media": MediaRef("photo", None, "skipped", reason="too large")},
    ),
    "file_failed": (
        lambda: msg(media=document_media(PDF)),
        {"media": MediaRef("document", None, "failed", reason="file reference expired twice")},
    ),
    "photo_without_record": (lambda: msg(media=photo_media()), {}),
    "poll": (lambda: msg(media=poll_media()), {}),
    "quiz_closed": (lambda: msg(media=poll_media(quiz=True, closed=True)), {}),
    "location": (lambda: msg(media=t.MessageMediaGeo(geo())), {}),
    "venue": (lambda: msg(media=t.MessageMediaVenue(geo(), "Café [Central]", "Unter den Linden 1", "", "", "")), {}),
    "live_location": (lambda: msg(media=t.MessageMediaGeoLive(geo(), 900)), {}),
    "contact": (lambda: msg(media=t.MessageMediaContact("+49 30 1234567", "Mad", "Hatter", "", 0)), {}),
    "dice": (lambda: msg(media=t.MessageMediaDice(5, "🎲")), {}),
    "unsupported_media": (lambda: msg(media=t.MessageMediaUnsupported()), {}),
    "game": (lambda: msg(media=t.MessageMediaGame(t.Game(1, 2, "tea", "Tea party", "A game", t.PhotoEmpty(0)))), {}),
    "reactions": (
        lambda: msg(
            message="Great pick!",
            reactions=t.MessageReactions(
                results=[
                    t.ReactionCount(t.ReactionEmoji("👍"), 3),
                    t.ReactionCount(t.ReactionEmoji("❤️"), 1),
                    t.ReactionCount(t.ReactionCustomEmoji(99), 2),
                    t.ReactionCount(t.ReactionPaid(), 5),
                ]
            ),
        ),
        {},
    ),
    "service_pin": (
        lambda: service(t.MessageActionPinMessage(), reply_to=t.MessageReplyHeader(reply_to_msg_id=5)),
        {"sender": "Alice Liddell"},
    ),
    "service_add_users": (lambda: service(t.MessageActionChatAddUser([3, 4])), {"sender": "Alice Liddell"}),
    "service_join": (lambda: service(t.MessageActionChatAddUser([1])), {"sender": "Alice Liddell"}),
    "service_join_by_link": (lambda: service(t.MessageActionChatJoinedByLink(2)), {"sender": "Alice Liddell"}),
    "service_left": (lambda: service(t.MessageActionChatDeleteUser(1)), {"sender": "Alice Liddell"}),
    "service_removed": (lambda: service(t.MessageActionChatDeleteUser(3)), {"sender": "Alice Liddell"}),
    "service_create_group": (
        lambda: service(t.MessageActionChatCreate("Book Club", [1, 2])),
        {"sender": "Alice Liddell"},
    ),
    "service_title": (lambda: service(t.MessageActionChatEditTitle("Book Club [2024]")), {"sender": "Alice Liddell"}),
    "service_topic_created": (
        lambda: service(t.MessageActionTopicCreate("Sci-fi | Fantasy", 0x6FB9F0)),
        {"sender": "Alice Liddell"},
    ),
    "service_topic_closed": (lambda: service(t.MessageActionTopicEdit(closed=True)), {"sender": "Alice Liddell"}),
    "service_call_missed": (
        lambda: service(t.MessageActionPhoneCall(1, reason=t.PhoneCallDiscardReasonMissed()), peer_id=t.PeerUser(1)),
        {"sender": "Alice Liddell"},
    ),
    "service_call": (
        lambda: service(
            t.MessageActionPhoneCall(1, video=True, reason=t.PhoneCallDiscardReasonHangup(), duration=185),
            peer_id=t.PeerUser(1),
        ),
        {"sender": "Alice Liddell"},
    ),
    "service_ttl": (lambda: service(t.MessageActionSetMessagesTTL(86400 * 7)), {"sender": "Alice Liddell"}),
    "service_other": (lambda: service(t.MessageActionBoostApply(2)), {"sender": "Alice Liddell"}),
}
# Cases only result.json is checked for (the note's golden files cover the others).
JSON_ONLY_CASES = {
    "service_topic_renamed": (
        lambda: service(t.MessageActionTopicEdit(title="Sci-fi only", icon_emoji_id=5368324170671202286)),
        {"sender": "Alice Liddell"},
    ),
    "inline_buttons": (
        lambda: msg(
            message="Vote",
            reply_markup=t.ReplyInlineMarkup(
                [
                    t.KeyboardInlineButtonRow(
                        [
                            t.KeyboardInlineButton("Open", t.InlineButtonTypeUrl("https://example.org/")),
                            t.KeyboardInlineButton("Yes", t.InlineButtonTypeCallback(b"yes")),
                        ]
                    )
                ]
            ),
        ),
        {},
    ),
}
JSON_CASES = [
    "text_formatted",
    "reply",
    "forwarded",
    "edited",
    "channel_post_via_bot",
    "photo_ok",
    "video_pending",
    "document_ok",
    "photo_skipped_too_large",
    "file_failed",
    "poll",
    "venue",
    "live_location",
    "contact",
    "reactions",
    "service_pin",
    "service_add_users",
    "service_call",
    "service_topic_created",
    "service_topic_closed",
    "service_topic_renamed",
    "topic_message_not_a_reply",
    "ends_with_quote",
    "inline_buttons",
    "unsupported_media",
    "game",
]


def render_case(name: str, make_ctx, render, msg_id: int | None = None):
    build, ctx_kw = CASES[name] if name in CASES else JSON_ONLY_CASES[name]
    message = build()
    if msg_id is not None:
        message.id = msg_id
    return render(message, make_ctx(targets=TARGETS, **ctx_kw))


@pytest.mark.parametrize("name", sorted(CASES))
def test_markdown_golden(name, make_ctx):
    out = render_case(name, make_ctx, render_message)
    assert out == (GOLDEN / f"{name}.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", JSON_CASES)
def test_json_golden(name, make_ctx):
    item = render_case(name, make_ctx, functools.partial(message_to_json, username=USERNAMES.get))
    expected = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    assert item == expected
    assert list(item) == list(expected)  # Telegram Desktop's key order


def test_month_note_of_several_messages_reads_as_one_document(make_ctx, markdown_parser):
    """Blocks concatenate as they are: every message keeps its own block id and its own paragraph."""
    names = ["text_formatted", "reply", "ends_with_quote", "poll", "service_pin", "ends_with_code", "photo_ok"]
    note = "".join(render_case(name, make_ctx, render_message, 201 + i) for i, name in enumerate(names))
    assert note == (GOLDEN / "month_note.md").read_text(encoding="utf-8")
    tokens = markdown_parser.parse(note)
    assert not [tok for tok in tokens if tok.type in ("heading_open", "hr", "bullet_list_open", "html_block")]


def test_month_key_uses_the_configured_zone(make_ctx):
    from tobs_tui.engine.render import month_key

    late = msg(date=datetime.datetime(2024, 3, 31, 23, 30, tzinfo=datetime.UTC))
    assert month_key(late, datetime.UTC) == "2024-03"
    assert month_key(late, make_ctx().tz) == "2024-04"


def test_a_render_job_names_the_inline_bot_by_its_username(make_ctx):
    from tobs_tui.engine.render.workers import RenderJob, render_job

    build, _ = CASES["channel_post_via_bot"]
    job = RenderJob(
        tz=datetime.UTC,
        messages=(build(),),
        names={101: "Book Club"},
        targets={},
        media={},
        peer_names={-1001000000123: "Book Club"},
        markdown=False,
        json=True,
        usernames={555: "helper_bot"},
    )
    item = json.loads(render_job(job).json)
    assert (item["from"], item["author"], item["via_bot"]) == ("Book Club", "Mod Team", "@helper_bot")


@pytest.mark.parametrize("for_worker", [False, True])
def test_a_render_job_with_nothing_to_render_decodes_nothing(for_worker):
    """A batch already in the vault, or outside the chosen topics, makes a job with no messages: its reply's
    bytes are not decoded (they would be decoded for nothing; these are not even TL)."""
    from tobs_tui.engine.render.workers import Rendered, RenderJob, render_job

    job = RenderJob(
        tz=datetime.UTC,
        messages=(),
        names={},
        targets={},
        media={},
        peer_names={},
        markdown=True,
        json=True,
        raw=(b"\xff" * 16,),
    )
    assert render_job(job.for_worker() if for_worker else job) == Rendered((), b"")

"""Corrections of committed notes and JSON lines once a file that failed is fetched: the result is what the
renderers write for a file fetched at once, and nothing else in the note moves."""

from __future__ import annotations

import io

import pytest
from telethon.tl import types as t

from tests.support.dates import when
from tobs_tui.engine.render import MediaRef, message_to_json, render_message
from tobs_tui.engine.render.corrections import Retried, correct_json_lines, correct_note
from tobs_tui.engine.vault.jsonl import encode_line

PATH = "Club (-1001000000123)/media/document/2024-03/{}-Reading list 2024 1.pdf"
REASON = "file reference expired twice"


def document(msg_id: int, **kw) -> t.Message:
    doc = t.Document(
        3, 4, b"", when(), "application/pdf", 2_621_440, 2, [t.DocumentAttributeFilename("Reading list [2024] #1.pdf")]
    )
    return t.Message(
        id=msg_id,
        peer_id=t.PeerChannel(1000000123),
        date=when(),
        from_id=t.PeerUser(2),
        media=t.MessageMediaDocument(document=doc),
        **{"message": "", **kw},
    )


def photo(msg_id: int, **kw) -> t.Message:
    sizes = [t.PhotoSize("m", 320, 240, 20_000)]
    return t.Message(
        id=msg_id,
        peer_id=t.PeerChannel(1000000123),
        date=when(),
        from_id=t.PeerUser(2),
        media=t.MessageMediaPhoto(photo=t.Photo(1, 2, b"", when(), sizes, 2)),
        **{"message": "", **kw},
    )


def ok_ref(message) -> MediaRef:
    kind = "photo" if isinstance(message.media, t.MessageMediaPhoto) else "document"
    path = PATH.format(message.id) if kind == "document" else f"Club/media/photo/2024-03/{message.id}.jpg"
    return MediaRef(kind, path, "ok", None if kind == "photo" else "Reading list [2024] #1.pdf")


FAILED = MediaRef("document", None, "failed", reason=REASON)
# Code blocks are written as they are: this one holds what the failed line and block id of message 101 look like.
SPOOF = f"x\n(file failed: {REASON}) ^m101\n\ny"
REACTIONS = t.MessageReactions(results=[t.ReactionCount(t.ReactionEmoji("👍"), 3)])
CASES = {
    "text then file": document(101, message="The list"),
    "file alone": document(101),
    "after a quote": document(101, message="She wrote:\nCuriouser!", entities=[t.MessageEntityBlockquote(11, 10)]),
    "with reactions": document(101, message="The list", reactions=REACTIONS),
    "text that reads like the failure": document(101, message=f"(file failed: {REASON})"),
    "code that reads like the block's end": document(
        101, message=SPOOF, entities=[t.MessageEntityPre(0, len(SPOOF), "")]
    ),
    "photo": photo(101, message="Look"),
}


def render(message, ref, make_ctx) -> str:
    failed = ref.status == "failed"
    return render_message(message, make_ctx(media=MediaRef(ref.kind, None, "failed", reason=REASON) if failed else ref))


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
@pytest.mark.parametrize("case", CASES)
def test_a_note_gets_the_line_of_a_file_fetched_at_once(case, crlf, make_ctx):
    message = CASES[case]
    ref = ok_ref(message)
    # Ids that share digits with 101, the same failure; the later one's code block reads like 101's end.
    neighbours = [document(10), document(1010, message=SPOOF, entities=[t.MessageEntityPre(0, len(SPOOF), "")])]
    before = "".join(render(m, FAILED, make_ctx) for m in (neighbours[0], message, neighbours[1]))
    after = "".join(
        [
            render(neighbours[0], FAILED, make_ctx),
            render(message, ref, make_ctx),
            render(neighbours[1], FAILED, make_ctx),
        ]
    )
    if crlf:  # as a sync or editor on Windows saves it: the line ends stay as they are
        before, after = before.replace("\n", "\r\n"), after.replace("\n", "\r\n")
    retried = [Retried(101, ref.kind, REASON, ref, message.media)]
    assert correct_note(before.encode(), retried) == after.encode()
    assert correct_note(after.encode(), retried) is None, "a second pass finds nothing to do"


def test_a_json_line_gets_the_path(make_ctx):
    messages = [document(10), document(101, message="The list"), photo(102)]
    refs = {m.id: ok_ref(m) for m in messages}
    failed = b"".join(
        encode_line(message_to_json(m, make_ctx(media=MediaRef(refs[m.id].kind, None, "failed", reason=REASON))))
        for m in messages
    )
    retried = [Retried(m.id, refs[m.id].kind, REASON, refs[m.id], m.media) for m in messages[1:]]
    expected = b"".join(
        encode_line(
            message_to_json(
                m, make_ctx(media=refs[m.id] if m.id != 10 else MediaRef("document", None, "failed", reason=REASON))
            )
        )
        for m in messages
    )
    out = io.BytesIO()
    assert correct_json_lines(io.BytesIO(failed + b"uncommitted"), len(failed), out, retried) is True
    assert out.getvalue() == expected
    assert correct_json_lines(io.BytesIO(expected), len(expected), io.BytesIO(), retried) is False


def test_a_block_edited_by_hand_is_left_alone(make_ctx):
    message = document(101, message="The list")
    note = render(message, FAILED, make_ctx).replace("The list", "The list (my comment)")
    edited = note.replace(f"(file failed: {REASON}) ^m101", f"(file failed: {REASON}) — ask Bob ^m101")
    ref = ok_ref(message)
    assert correct_note(edited.encode(), [Retried(101, "document", REASON, ref, message.media)]) is None

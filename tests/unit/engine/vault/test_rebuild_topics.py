"""Which forum topic a JSONL message is in, told from the JSONL alone (a forum's notes deleted with the state)."""

from __future__ import annotations

from tobs_tui.engine.vault.rebuild import _Line, forum_topics


def line(msg_id: int, reply_to: int | None = None, *, created: str | None = None) -> _Line:
    return _Line(msg_id, "2025-01", "Ann", "", None, reply_to, created)


def test_topics_follow_reply_ids_to_a_topic_or_to_general():
    lines = {
        2: line(2, created="Plans"),  # topic 2 begins
        3: line(3, 2),  # in topic 2
        4: line(4, 3),  # answers a message of topic 2
        5: line(5),  # replies to nothing: General
        6: line(6, 5),  # answers a General message
        7: line(7, 40),  # answers a message neither the notes nor the JSONL hold: General, as readers file it
        8: line(8),  # a member joined: no reply id, General
        9: line(9, 4),  # a pin of message 4 (its message_id), in topic 2
        10: line(10, 11),  # a cycle of reply ids (a damaged JSONL): General
        11: line(11, 10),
        12: line(12, 30),  # answers a message the notes hold, in topic 30
    }
    assert forum_topics(lines, {30: 30}) == {2: 2, 3: 2, 4: 2, 5: 1, 6: 1, 7: 1, 8: 1, 9: 2, 10: 1, 11: 1, 12: 30}


def test_a_reply_to_another_chats_message_is_not_followed(tmp_path):
    """reply_to_message_id with reply_to_peer_id names a message of another chat: it says nothing of a topic."""
    from tobs_tui.engine.vault.rebuild import _jsonl_messages

    path = tmp_path / "c.jsonl"
    path.write_bytes(
        b'{"id":7,"type":"message","date":"2025-01-02T00:00:00","reply_to_peer_id":"channel9",'
        b'"reply_to_message_id":5,"text":""}\n'
        b'{"id":8,"type":"message","date":"2025-01-02T00:00:00","reply_to_message_id":5,"text":""}\n'
    )
    lines = list(_jsonl_messages(path, path.stat().st_size))
    assert [(line.msg_id, line.reply_to) for line in lines] == [(7, None), (8, 5)]


def test_the_index_notes_months_leave_out_a_note_moved_under_its_own_name(tmp_path):
    """The index lists a month note a person moved where it is now (pipeline/finish.py). With the state lost,
    such a link is not a lost month of the chat's own, or it would be fetched again beside the moved note; a
    link to a note that is not there is, as before."""
    from tobs_tui.engine.render.notes import INDEX_BEGIN, INDEX_END
    from tobs_tui.engine.vault.rebuild import listed_months

    folder = tmp_path / "Chat (1)"
    folder.mkdir()
    for moved in ("Archive/2025/2025-11.md", "Archive 2/2025/2025-09.md"):
        (tmp_path / moved).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / moved).write_text("moved\n", encoding="utf-8")
    (folder / "Chat (1).md").write_text(
        "\n".join(
            [
                INDEX_BEGIN,
                "- [[Chat (1)/2025/2025-10|2025/2025-10]]",
                "- [2025/2025-08](Chat%20%281%29/2025/2025-08.md)",
                "- [[Archive/2025/2025-11|Archive/2025/2025-11]]",
                "- [Archive 2/2025/2025-09](Archive%202/2025/2025-09.md)",
                "- [[Gone/2025/2025-12|Gone/2025/2025-12]]",
                INDEX_END,
                "",
            ]
        ),
        encoding="utf-8",
    )
    assert listed_months(folder) == ["Chat (1)/2025/2025-08.md", "Chat (1)/2025/2025-10.md", "Chat (1)/2025/2025-12.md"]

"""A forum exported topic by topic: its JSON lines are out of id order, its result.json files are not."""

from __future__ import annotations

import json
import re

from telethon import utils as tl_utils

from tests.support.settings import WAIT
from tests.support.vaults import chat_dir
from tobs_tui.engine import ChatSelection, ExportRequest
from tobs_tui.engine.snapshot import RunState


def export_topics(runner, forum: int, topic_ids: tuple[int, ...]):
    assert runner.connect().result(WAIT) is True
    runner.list_dialogs().result(WAIT)
    return runner.start_export(ExportRequest(chats=(ChatSelection(forum, topic_ids=topic_ids),))).result(WAIT)


def test_a_forum_exported_topic_by_topic_lists_its_messages_oldest_first(make_runner, emulator, tmp_path):
    """Each run a topic older than the one before: each run appends lines with lower ids than the JSONL's last.
    Both result.json files list every exported message once, by ascending id, as Telegram Desktop writes them
    (readers take the first and last for the date range)."""
    world = emulator.world
    forum = next(c for c in world.chat_ids() if world.chats[c].kind == "forum")
    spec = world.chats[forum]
    newest: dict[int, int] = {}
    for i in spec.ids():
        newest[world.topic_of(spec, i)] = i
    topics = sorted((t for t in newest if t != 1), key=newest.__getitem__, reverse=True)[:3]
    assert len(topics) == 3
    runner = make_runner()
    for topic in topics:
        final = export_topics(runner, forum, (topic,))
        assert final.state is RunState.DONE, final.errors

    vault = tmp_path / "vault"
    lines = (vault / ".tobs" / "json" / f"{forum}.jsonl").read_bytes()
    in_file = [int(i) for i in re.findall(rb'^\{"id":(\d+)', lines, re.MULTILINE)]
    assert in_file != sorted(in_file), "the JSONL holds the topics one after another, out of id order"
    exported = sorted(i for i in spec.ids() if world.topic_of(spec, i) in topics)
    assert sorted(in_file) == exported

    own = json.loads((chat_dir(vault, forum) / "result.json").read_text(encoding="utf-8"))
    assert [m["id"] for m in own["messages"]] == exported
    root = json.loads((vault / "result.json").read_text(encoding="utf-8"))
    (entry,) = [c for c in root["chats"]["list"] if c["id"] == tl_utils.resolve_id(forum)[0]]
    assert [m["id"] for m in entry["messages"]] == exported
    dates = [m["date_unixtime"] for m in own["messages"]]
    assert dates == sorted(dates, key=int), "oldest first"

"""The export pipeline end to end: real Telethon through the runner against the emulator on loopback."""

from __future__ import annotations

import json

import pytest

from tests.support.settings import WAIT
from tests.support.vaults import chat_dir, month_of, notes_of
from tobs_tui.engine import ChatSelection, ExportRequest
from tobs_tui.engine.snapshot import ChatState, RunState


def export(runner, chat_ids, **sel):
    assert runner.connect().result(WAIT) is True
    runner.list_dialogs().result(WAIT)
    request = ExportRequest(chats=tuple(ChatSelection(c, **sel) for c in chat_ids))
    return runner.start_export(request).result(WAIT)


def assert_chat_exported(vault, world, chat_id):
    spec = world.chats[chat_id]
    notes = notes_of(chat_dir(vault, chat_id))
    seen = [i for ids in notes.values() for i in ids]
    assert sorted(seen) == list(spec.ids()), "every message exactly once"
    for note, ids in notes.items():
        assert ids == sorted(ids), f"{note} is in id order"
        month = note.rsplit("/", 1)[-1].removesuffix(".md")
        assert all(month_of(spec.date_of_id(i)) == month for i in ids), f"{note} holds only its month"
    return notes


def test_full_export_of_the_test_world(make_runner, emulator, tmp_path):
    runner = make_runner()
    world = emulator.world
    wanted = [cid for cid in world.chat_ids() if world.chats[cid].count <= 500]
    final = export(runner, wanted)
    assert final.state is RunState.DONE, final.errors
    assert {c.chat_id for c in final.chats} == set(wanted)
    assert all(c.state is ChatState.DONE for c in final.chats)
    vault = tmp_path / "vault"
    for cid in wanted:
        assert_chat_exported(vault, world, cid)
    total = sum(world.chats[c].count for c in wanted)
    assert final.messages_done == total
    # result.json: Telegram Desktop's shape, every message in order.
    first = chat_dir(vault, wanted[0])
    result = json.loads((first / "result.json").read_text(encoding="utf-8"))
    assert [m["id"] for m in result["messages"]] == list(world.chats[wanted[0]].ids())
    assert {"name", "type", "id", "messages"} <= result.keys()


def test_forum_messages_go_to_their_topics(make_runner, emulator, tmp_path):
    world = emulator.world
    forum = next(c for c in world.chat_ids() if world.chats[c].kind == "forum")
    spec = world.chats[forum]
    final = export(make_runner(), [forum])
    assert final.state is RunState.DONE, final.errors
    notes = assert_chat_exported(tmp_path / "vault", world, forum)
    by_topic: dict[int, set[int]] = {}
    for note, ids in notes.items():
        assert note.startswith("topics/"), note
        topic_id = int(note.split("/")[1].rsplit("(", 1)[1].rstrip(")"))
        by_topic.setdefault(topic_id, set()).update(ids)
    for mid in spec.ids():
        topic = world.topic_of(spec, mid)
        assert mid in by_topic[topic], f"message {mid} belongs to topic {topic}"


def test_a_split_chat_is_written_in_order(make_runner, emulator, tmp_path, monkeypatch):
    import tobs_tui.engine.pipeline.chat as exporter

    # Ranges of 1,000 ids make the 10,000-message supergroup fetch ten ranges concurrently.
    monkeypatch.setattr(exporter, "RANGE_IDS", 1000)
    monkeypatch.setattr(exporter, "SPLIT_ABOVE", 2000)
    world = emulator.world
    big = next(c for c in world.chat_ids() if world.chats[c].count == 10_000)
    final = export(make_runner(max_concurrent_requests=8), [big])
    assert final.state is RunState.DONE, final.errors
    notes = assert_chat_exported(tmp_path / "vault", world, big)
    in_file_order = [i for note in sorted(notes) for i in notes[note]]
    assert in_file_order == list(world.chats[big].ids())


def test_the_short_ranges_at_the_end_all_fetch_while_the_writer_is_on_a_long_one(
    make_runner, emulator, tmp_path, monkeypatch
):
    """The window of ranges fetched ahead of the writer is counted in ids: the chat's last ids, in short ranges,
    do not wait for the writer to reach them one by one (at long round trips they sat idle behind it)."""
    from tobs_tui.engine.pipeline.chat import ChatExport

    started: list[tuple[int, tuple[int, int | None], int]] = []
    fetch = ChatExport._fetch_range

    async def recorded(self, index, bounds, queue):
        started.append((index, bounds, self._head))
        await fetch(self, index, bounds, queue)

    monkeypatch.setattr(ChatExport, "_fetch_range", recorded)
    world = emulator.world
    big = next(c for c in world.chat_ids() if world.chats[c].count == 10_000)
    final = export(make_runner(max_concurrent_requests=8), [big])
    assert final.state is RunState.DONE, final.errors
    long = [i for i, (lo, hi), _ in started if hi is not None and hi - lo > 300]
    short = [(i, head) for i, (lo, hi), head in started if hi is None or hi - lo <= 300]
    assert long and len(short) > 16, started
    assert all(head <= max(long) for _, head in short), short


def test_incremental_rerun_fetches_only_new_messages(make_runner, emulator, tmp_path):
    world = emulator.world
    chat = next(c for c in world.chat_ids() if world.chats[c].kind == "channel")
    first = make_runner()
    assert export(first, [chat]).state is RunState.DONE
    last = world.chats[chat].top_id
    dialogs = {d.chat_id: d for d in first.list_dialogs().result(WAIT)}
    assert dialogs[chat].last_exported_id == last and dialogs[chat].new_since_export == 0
    world.add_messages(chat, 7)
    emulator.log.clear()
    final = export(make_runner(), [chat])
    assert final.state is RunState.DONE, final.errors
    assert final.messages_done == 7
    history = [r for r in emulator.log.records if r.method == "GetHistoryRequest"]
    assert history, "the re-run asked for history"
    assert all(r.params["offset_id"] > last for r in history), [r.params for r in history]
    assert_chat_exported(tmp_path / "vault", world, chat)


def test_a_full_last_page_ends_the_chat_without_another_call(make_runner, emulator, tmp_path):
    world = emulator.world
    chats = [next(c for c in world.chat_ids() if world.chats[c].kind == kind) for kind in ("channel", "private")]
    for chat in chats:
        world.add_messages(chat, -world.chats[chat].count % 100)  # the newest message ends a full page
    final = export(make_runner(), chats)
    assert final.state is RunState.DONE, final.errors
    for chat in chats:
        calls = [r for r in emulator.log.records if r.method == "GetHistoryRequest" and r.peer == chat]
        # The newest id from the dialog list ends the chat: no call that only learns nothing is newer.
        assert len(calls) == world.chats[chat].count // 100
        assert_chat_exported(tmp_path / "vault", world, chat)


def test_an_old_chat_list_is_read_again_when_the_export_starts(make_runner, emulator, tmp_path, monkeypatch):
    import tobs_tui.engine.runner.runner as runner_module

    world = emulator.world
    chat = next(c for c in world.chat_ids() if world.chats[c].kind == "channel")
    runner = make_runner()
    assert runner.connect().result(WAIT) is True
    runner.list_dialogs().result(WAIT)
    world.add_messages(chat, 150)  # while the selection screen was open
    monkeypatch.setattr(runner_module, "TOPS_FRESH_S", -1.0)
    final = runner.start_export(ExportRequest(chats=(ChatSelection(chat),))).result(WAIT)
    assert final.state is RunState.DONE, final.errors
    assert "GetPeerDialogsRequest" in [r.method for r in emulator.log.records]
    assert final.messages_done == world.chats[chat].count  # without the new top it stops short of this
    assert_chat_exported(tmp_path / "vault", world, chat)


def test_messages_newer_than_the_list_come_with_the_next_run(make_runner, emulator, tmp_path):
    world = emulator.world
    chat = next(c for c in world.chat_ids() if world.chats[c].kind == "channel")
    assert export(make_runner(), [chat]).state is RunState.DONE
    runner = make_runner()
    assert runner.connect().result(WAIT) is True
    runner.list_dialogs().result(WAIT)
    world.add_messages(chat, 7)  # after the list was read, a moment before the export starts
    emulator.log.clear()
    final = runner.start_export(ExportRequest(chats=(ChatSelection(chat),))).result(WAIT)
    assert final.state is RunState.DONE and final.messages_done == 0
    assert not [r for r in emulator.log.records if r.method == "GetHistoryRequest"], "nothing new: no call"
    final = export(make_runner(), [chat])
    assert final.state is RunState.DONE and final.messages_done == 7
    assert_chat_exported(tmp_path / "vault", world, chat)


def test_takeout_session_is_used_and_finished(make_runner, emulator):
    chat = next(c for c in emulator.world.chat_ids() if emulator.world.chats[c].kind == "channel")
    final = export(make_runner(takeout=True), [chat])
    assert final.state is RunState.DONE, final.errors
    methods = [r.method for r in emulator.log.records]
    assert "InitTakeoutSessionRequest" in methods and "FinishTakeoutSessionRequest" in methods
    assert methods.index("InitTakeoutSessionRequest") < methods.index("GetHistoryRequest")
    (finish,) = emulator.log.find(method="FinishTakeoutSessionRequest")
    assert finish.params["success"] is True


def test_a_takeout_session_ended_by_telegram_mid_export_leaves_the_rest_to_normal_requests(make_runner, emulator):
    from tobs_tui.engine.snapshot import EventKind

    chat = next(c for c in emulator.world.chat_ids() if emulator.world.chats[c].kind == "channel")
    emulator.script("GetHistoryRequest", nth=2, error="TAKEOUT_INVALID")
    events = []
    final = export(make_runner(takeout=True, on_event=events.append), [chat])
    assert final.state is RunState.DONE, final.errors
    assert final.messages_done == emulator.world.chats[chat].count
    assert any(e.kind is EventKind.INFO and "ended the takeout session" in e.message for e in events)
    assert not emulator.log.find(method="FinishTakeoutSessionRequest"), "nothing left to finish"


def test_a_takeout_whose_export_failed_is_not_finished_as_a_success(make_runner, emulator):
    chat = next(c for c in emulator.world.chat_ids() if emulator.world.chats[c].kind == "channel")
    emulator.script("GetHistoryRequest", action="vanish", peer=chat)  # the chat is deleted as it is read
    final = export(make_runner(takeout=True), [chat])
    assert final.state is RunState.FAILED
    (finish,) = emulator.log.find(method="FinishTakeoutSessionRequest")
    assert not finish.params.get("success"), "Telegram is told the data was not all exported"


def test_takeout_pending_falls_back_to_normal_requests(make_runner, emulator, tmp_path):
    from tobs_tui.engine.snapshot import EventKind

    chat = next(c for c in emulator.world.chat_ids() if emulator.world.chats[c].kind == "channel")
    emulator.script("InitTakeoutSessionRequest", nth=1, error="TAKEOUT_INIT_DELAY_3600")
    final = export(make_runner(takeout=True), [chat])
    assert final.state is RunState.DONE, final.errors
    assert final.takeout == "pending"
    pending = [e for e in final.events if e.kind is EventKind.TAKEOUT_PENDING]
    assert pending and "approve it in Telegram" in pending[0].message
    assert_chat_exported(tmp_path / "vault", emulator.world, chat)


def test_since_starts_at_that_date(make_runner, emulator, tmp_path):
    import datetime

    world = emulator.world
    chat = next(c for c in world.chat_ids() if world.chats[c].kind == "channel")
    spec = world.chats[chat]
    ids = list(spec.ids())
    middle = datetime.datetime.fromtimestamp(spec.date_of_id(ids[len(ids) // 2]), datetime.UTC).date()
    final = export(make_runner(), [chat], since=middle)
    assert final.state is RunState.DONE, final.errors
    seen = sorted(i for ids_ in notes_of(chat_dir(tmp_path / "vault", chat)).values() for i in ids_)
    expected = [i for i in ids if datetime.datetime.fromtimestamp(spec.date_of_id(i), datetime.UTC).date() >= middle]
    assert seen == expected


@pytest.mark.parametrize("since", ["1970-01-01", "1969-12-31", "0001-01-01"])
def test_a_start_date_before_1970_is_the_whole_history(make_runner, emulator, tmp_path, since):
    """Telegram reads an offset date of 0 or less as none (the newest message): such a start date used to
    export nothing."""
    import datetime

    world = emulator.world
    chat = next(c for c in world.chat_ids() if world.chats[c].kind == "channel")
    final = export(make_runner(), [chat], since=datetime.date.fromisoformat(since))
    assert final.state is RunState.DONE, final.errors
    seen = sorted(i for ids_ in notes_of(chat_dir(tmp_path / "vault", chat)).values() for i in ids_)
    assert seen == list(world.chats[chat].ids())


def test_a_topic_selection_then_the_whole_forum(make_runner, emulator, tmp_path):
    world = emulator.world
    forum = next(c for c in world.chat_ids() if world.chats[c].kind == "forum")
    spec = world.chats[forum]
    runner = make_runner()
    assert runner.connect().result(WAIT)
    runner.list_dialogs().result(WAIT)
    topics = runner.list_topics(forum).result(WAIT)
    chosen = next(t.topic_id for t in topics if t.topic_id != 1)
    final = runner.start_export(ExportRequest(chats=(ChatSelection(forum, topic_ids=(chosen,)),))).result(WAIT)
    assert final.state is RunState.DONE, final.errors
    vault = tmp_path / "vault"
    notes = notes_of(chat_dir(vault, forum))
    assert len({n.split("/")[1] for n in notes}) == 1, "only the chosen topic's folder"
    only = sorted(i for ids in notes.values() for i in ids)
    assert only == [i for i in spec.ids() if world.topic_of(spec, i) == chosen]
    # Then everything: the other topics from their start, the chosen one not written twice.
    final = runner.start_export(ExportRequest(chats=(ChatSelection(forum),))).result(WAIT)
    assert final.state is RunState.DONE, final.errors
    assert_chat_exported(vault, world, forum)
    # And an incremental run fetches nothing old again.
    emulator.log.clear()
    again = runner.start_export(ExportRequest(chats=(ChatSelection(forum),))).result(WAIT)
    assert again.messages_done == 0
    assert all(r.params["offset_id"] > spec.top_id for r in emulator.log.records if r.method == "GetHistoryRequest")


def test_a_partly_chosen_forum_counts_the_messages_of_its_chosen_topics(make_runner, emulator, tmp_path):
    """Progress counts what is written: the chosen topics' messages, not the whole forum's ids scanned, from the
    moment the chat starts; a later run of the same topics counts only their new messages."""
    world = emulator.world
    forum = next(c for c in world.chat_ids() if world.chats[c].kind == "forum")
    spec = world.chats[forum]
    seen: list[tuple[int, int]] = []

    def on_snapshot(snapshot):
        seen.extend((c.messages_done, c.messages_expected) for c in snapshot.chats if c.state is ChatState.RUNNING)

    runner = make_runner(on_snapshot=on_snapshot)
    runner.set_snapshot_rate(100)
    assert runner.connect().result(WAIT)
    runner.list_dialogs().result(WAIT)
    emulator.set_profile("lan", {"latency_ms": 40.0})  # pages slow enough for snapshots of the running chat
    chosen = tuple(t.topic_id for t in runner.list_topics(forum).result(WAIT) if t.topic_id != 1)[:2]
    in_topics = [i for i in spec.ids() if world.topic_of(spec, i) in chosen]
    assert 0 < len(in_topics) < spec.count // 2
    final = runner.start_export(ExportRequest(chats=(ChatSelection(forum, topic_ids=chosen),))).result(WAIT)
    assert final.state is RunState.DONE, final.errors
    assert final.messages_done == final.messages_expected == len(in_topics)
    assert seen and all(expected == len(in_topics) and done <= expected for done, expected in seen), seen[-5:]

    world.add_messages(forum, 200)
    new = [i for i in spec.ids() if world.topic_of(spec, i) in chosen and i > max(in_topics)]
    seen.clear()
    runner.list_dialogs().result(WAIT)
    again = runner.start_export(ExportRequest(chats=(ChatSelection(forum, topic_ids=chosen),))).result(WAIT)
    assert again.state is RunState.DONE, again.errors
    assert again.messages_done == len(new) > 0, (again.messages_done, len(new))
    assert all(expected == len(new) for _, expected in seen), (seen[-5:], len(new))

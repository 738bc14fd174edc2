"""What real Telegram does and a well-behaved emulator need not: bursts of server errors (500 INTERNAL, -503
Timeout) on history and on files, history pages that come back short in the middle of a chat (messages withheld
in the user's country), forums of more than one page of topics, and the whole FILE_REFERENCE_* family. The
export still ends with every message it can read, and a file it cannot fetch fails alone with a sentence."""

from __future__ import annotations

import asyncio
import dataclasses
import types as pytypes

import pytest
import telethon.client.users as telethon_users

import tobs_tui.engine.telegram.source as source_module
from tests.support.runners import export_chats, runner_factory, running_emulator
from tests.support.settings import WAIT, engine_settings
from tests.support.vaults import chat_dir, notes_of
from tobs_tui.emulator.credentials import DEMO_API_HASH, DEMO_API_ID
from tobs_tui.emulator.world import World
from tobs_tui.engine import ChatSelection, EngineRunner, ExportRequest
from tobs_tui.engine.snapshot import ChatState, RunState
from tobs_tui.engine.telegram.backoff import FloodWaitPolicy
from tobs_tui.engine.telegram.client import build_client
from tobs_tui.engine.telegram.concurrency import AdaptiveLimit
from tobs_tui.engine.telegram.source import TelegramSource
from tobs_tui.engine.telegram.throttle import ThrottleDetector


def exported_ids(vault, chat_id):
    return sorted(i for ids in notes_of(chat_dir(vault, chat_id)).values() for i in ids)


@pytest.fixture
def quick_retries(monkeypatch):
    """Telethon sleeps 2 s after each server error and the engine pauses before its own retry; a test of a
    burst does not need to wait them out."""
    real_sleep = asyncio.sleep
    monkeypatch.setattr(telethon_users, "asyncio", pytypes.SimpleNamespace(sleep=lambda s: real_sleep(min(s, 0.02))))
    monkeypatch.setattr(source_module, "_SERVER_ERROR_PAUSE_S", 0.02, raising=False)


@pytest.fixture
def one_file_at_a_time(emulator, tmp_path):
    """A runner that downloads one file at a time: consecutive getFile calls are the same file's."""
    settings = engine_settings(tmp_path / "vault", media=True)
    settings = dataclasses.replace(settings, workers=dataclasses.replace(settings.workers, media_download_workers=1))
    runner = EngineRunner(settings, session=emulator.session_string(), api_id=DEMO_API_ID, api_hash=DEMO_API_HASH)
    runner.start()
    yield runner
    runner.stop()


# -- bursts of server errors -------------------------------------------------------------------------------
BURST = ("INTERNAL", "RPC_CALL_FAIL", "Timeout", "INTERNAL", "INTERNAL")  # five in a row: more than Telethon's 4


def test_five_server_errors_in_a_row_on_history_leave_the_export_done(make_runner, emulator, tmp_path, quick_retries):
    world = emulator.world
    chats = [c for c in world.chat_ids() if world.chats[c].kind == "channel"][:2]
    runner = make_runner()
    assert runner.connect().result(WAIT) is True
    runner.list_dialogs().result(WAIT)
    for error in BURST:  # each the next GetHistory call on the first chat from now on: all on one request
        emulator.script("GetHistoryRequest", nth=1, error=error, peer=chats[0])
    final = runner.start_export(ExportRequest(chats=tuple(ChatSelection(c) for c in chats))).result(WAIT)
    assert final.state is RunState.DONE, final.errors
    for chat in chats:
        assert exported_ids(tmp_path / "vault", chat) == list(world.chats[chat].ids())
    assert emulator.log.count(method="GetHistoryRequest", error="Timeout") == 1
    assert any("server error" in e.message for e in final.events)


def test_five_server_errors_in_a_row_on_a_file_leave_the_export_done(
    one_file_at_a_time, emulator, tmp_path, quick_retries
):
    world = emulator.world
    chat = next(c for c in world.chat_ids() if world.chats[c].title == "Quiet channel")
    runner = one_file_at_a_time
    assert runner.connect().result(WAIT) is True
    runner.list_dialogs().result(WAIT)
    for error in BURST:
        emulator.script("GetFileRequest", nth=1, error=error)
    final = runner.start_export(ExportRequest(chats=(ChatSelection(chat),))).result(WAIT)
    assert final.state is RunState.DONE, final.errors
    assert exported_ids(tmp_path / "vault", chat) == list(world.chats[chat].ids())
    assert emulator.log.count(method="GetFileRequest", error="INTERNAL") == 3
    # Every file done, or failed with a sentence; here the burst passes within the engine's retries.
    assert final.media.files_failed == 0 and final.media.files_done > 0


# -- short pages mid-history -------------------------------------------------------------------------------
def test_a_short_page_mid_history_does_not_end_the_chat(tmp_path):
    world = World(
        {
            "seed": 5,
            "chats": [
                # Split into ranges of 500 ids: short pages in a bounded range and in the last one.
                {"kind": "channel", "title": "Big", "messages": 2600, "media": 0.0},
                {"kind": "channel", "title": "Small", "messages": 300, "media": 0.0},
                {"kind": "supergroup", "title": "Plain", "messages": 250, "media": 0.0},
            ],
        }
    )
    by_title = {world.chats[c].title: c for c in world.chat_ids()}
    big, small, plain = by_title["Big"], by_title["Small"], by_title["Plain"]
    withheld = {big: [40, 41, 42, 1210, 2555], small: [10, 20, 30, 150]}
    for chat, ids in withheld.items():
        world.withhold_messages(chat, ids)
    with running_emulator(world=world) as emu, runner_factory(emu, tmp_path / "vault") as make:
        final = export_chats(make(), [big, small, plain])
        calls_on_plain = sum(1 for r in emu.log.find(method="GetHistoryRequest") if r.peer == plain)
    assert final.state is RunState.DONE, final.errors
    assert {c.chat_id: c.state for c in final.chats} == dict.fromkeys((big, small, plain), ChatState.DONE)
    for chat in (big, small, plain):
        expected = [i for i in world.chats[chat].ids() if i not in withheld.get(chat, ())]
        assert exported_ids(tmp_path / "vault", chat) == expected, world.chats[chat].title
    # Pages that are not short cost what they did: 250 messages, 3 pages, no empty call after the last.
    assert calls_on_plain == 3


# -- forum topics ------------------------------------------------------------------------------------------
def test_a_forum_of_more_than_100_topics_is_listed_whole():
    # 110 topics created in the forum's first 220 ids, active after that: the second page's topics were last
    # active after the first page's last topic was created, so a page offset by creation dates skips them.
    titles = [f"Topic {k}" for k in range(110)]
    world = World({"seed": 2, "chats": [{"kind": "forum", "title": "Big forum", "messages": 600, "topics": titles}]})
    forum = world.chat_ids()[0]

    async def topics(emu):
        client = build_client(emu.session_string(authorized=True), DEMO_API_ID, DEMO_API_HASH)
        await client.connect()
        try:
            source = TelegramSource(
                client,
                throttle=ThrottleDetector(),
                policy=FloodWaitPolicy(),
                limit=AdaptiveLimit(4),
                timeout_s=30,
                emit=lambda *a, **k: None,
            )
            await source.dialogs()
            return await source.topics(forum)
        finally:
            await client.disconnect()

    with running_emulator(world=world) as emu:
        got = asyncio.run(topics(emu))
        pages = emu.log.count(method="GetForumTopicsRequest")
    assert [t.topic_id for t in got] == sorted([1, *(t.id for t in world.chats[forum].topics)])
    assert pages == 2


# -- the FILE_REFERENCE_* family ---------------------------------------------------------------------------
@pytest.mark.parametrize("error", ["FILE_REFERENCE_INVALID", "FILE_REFERENCE_EMPTY", "FILE_REFERENCE_0_EXPIRED"])
def test_any_file_reference_error_fetches_the_message_again(one_file_at_a_time, emulator, error):
    world = emulator.world
    chat = next(c for c in world.chat_ids() if world.chats[c].title == "Quiet channel")
    for _ in range(3):  # as many as a file's attempts: retried as a refusal, the file would fail
        emulator.script("GetFileRequest", nth=1, error=error)
    final = export_chats(one_file_at_a_time, [chat])
    assert final.state is RunState.DONE, final.errors
    assert final.media.files_failed == 0 and final.media.files_done > 0
    assert emulator.log.count(method="GetMessagesRequest") >= 3  # channels.getMessages, once per refusal

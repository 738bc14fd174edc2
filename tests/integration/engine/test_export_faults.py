"""Faults on the wire: FloodWait through our policy, a reply that never comes, a dropped connection, a chat that
vanishes, a FloodWait of hours, and a whole throttled server — the export still ends with every message."""

from __future__ import annotations

import pytest

from tests.support.settings import WAIT, engine_settings
from tests.support.vaults import chat_dir, notes_of
from tobs_tui.emulator import Emulator
from tobs_tui.emulator.credentials import DEMO_API_HASH, DEMO_API_ID
from tobs_tui.emulator.world import World
from tobs_tui.engine import ChatSelection, EngineRunner, ExportRequest
from tobs_tui.engine.snapshot import ChatState, EventKind, RunState


def export(runner, chat_ids):
    assert runner.connect().result(WAIT) is True
    runner.list_dialogs().result(WAIT)
    return runner.start_export(ExportRequest(chats=tuple(ChatSelection(c) for c in chat_ids))).result(WAIT)


def exported_ids(vault, chat_id):
    return sorted(i for ids in notes_of(chat_dir(vault, chat_id)).values() for i in ids)


def medium_chat(world):
    return next(c for c in world.chat_ids() if world.chats[c].kind == "channel")


def test_flood_wait_goes_through_our_policy_and_is_an_event(make_runner, emulator, tmp_path):
    events = []
    chat = medium_chat(emulator.world)
    emulator.script("GetHistoryRequest", nth=2, error="FLOOD_WAIT_2")
    final = export(make_runner(on_event=events.append), [chat])
    assert final.state is RunState.DONE, final.errors
    assert final.flood_waits == 1
    waits = [e for e in events if e.kind is EventKind.FLOOD_WAIT]
    assert len(waits) == 1 and waits[0].seconds == 3.0  # healthy server: s + 1
    # Each fact once: what Telegram asked, what we wait, and why the difference.
    assert waits[0].message == "Telegram asked for a 2 s pause on GetHistoryRequest; waiting 3 s (1 s of margin)."
    assert any(e.kind is EventKind.FLOOD_WAIT for e in final.events)
    assert exported_ids(tmp_path / "vault", chat) == list(emulator.world.chats[chat].ids())


@pytest.mark.parametrize("action", ["no_reply", "drop_before_reply", "drop_after_reply"])
def test_a_lost_reply_is_recovered(make_runner, emulator, tmp_path, action):
    chat = medium_chat(emulator.world)
    emulator.script("GetHistoryRequest", nth=2, action=action)
    final = export(make_runner(request_timeout_s=1.0), [chat])
    assert final.state is RunState.DONE, final.errors
    assert exported_ids(tmp_path / "vault", chat) == list(emulator.world.chats[chat].ids())
    if action == "no_reply":
        assert any("No reply" in e.message for e in final.events)


@pytest.mark.parametrize("list_age", ["fresh", "old"])
def test_a_vanished_chat_fails_alone_with_a_clear_sentence(make_runner, emulator, tmp_path, monkeypatch, list_age):
    import tobs_tui.engine.runner.runner as runner_module

    if list_age == "old":  # the chosen chats' newest ids are read again, and the vanished one fails that call
        monkeypatch.setattr(runner_module, "TOPS_FRESH_S", -1.0)
    world = emulator.world
    gone, kept = [c for c in world.chat_ids() if world.chats[c].kind == "channel"][:2]
    runner = make_runner()
    assert runner.connect().result(WAIT)
    runner.list_dialogs().result(WAIT)
    world.delete_chat(gone)
    final = runner.start_export(ExportRequest(chats=(ChatSelection(gone), ChatSelection(kept)))).result(WAIT)
    states = {c.chat_id: c for c in final.chats}
    assert states[kept].state is ChatState.DONE
    assert states[gone].state is ChatState.FAILED
    assert "can no longer be read" in states[gone].error and states[gone].error.count(".") <= 2
    assert final.state is RunState.FAILED


def test_newest_ids_that_cannot_be_read_again_leave_the_export_to_the_lists(make_runner, emulator, monkeypatch):
    import tobs_tui.engine.runner.runner as runner_module

    monkeypatch.setattr(runner_module, "TOPS_FRESH_S", -1.0)
    emulator.script("GetPeerDialogsRequest", nth=1, error="FLOOD_WAIT_7200")
    chat = next(c for c in emulator.world.chat_ids() if emulator.world.chats[c].kind == "channel")
    final = export(make_runner(), [chat])
    assert final.state is RunState.DONE, final.errors
    assert final.messages_done == emulator.world.chats[chat].count


def test_a_flood_wait_of_hours_parks_the_chat(make_runner, emulator, tmp_path):
    world = emulator.world
    parked, other = [c for c in world.chat_ids() if world.chats[c].kind == "channel"][:2]
    emulator.script("GetHistoryRequest", nth=1, error="FLOOD_WAIT_7200", peer=parked)
    final = export(make_runner(), [parked, other])
    states = {c.chat_id: c for c in final.chats}
    assert states[parked].state is ChatState.PARKED
    assert states[other].state is ChatState.DONE
    assert any(e.kind is EventKind.CHAT_PARKED and e.chat_id == parked for e in final.events)


def test_the_throttled_profile_finishes_with_every_message(tmp_path):
    world = World({"seed": 3, "chats": [{"kind": "supergroup", "title": "Busy", "messages": 6000, "media": 0.0}]})
    chat = world.chat_ids()[0]
    with Emulator(profile="throttled", seed=3, world=world) as emu:
        # Episodes every 4 s for 2 s (from the emulator's start), so the export (60 pages at the profile's 7.5
        # pages/s, 6 s or more) is sure to see one begin after it has learnt a healthy baseline.
        emu.set_profile("throttled", {"throttle_every_s": 4.0, "throttle_for_s": 2.0})
        runner = EngineRunner(
            engine_settings(tmp_path / "vault"),
            session=emu.session_string(),
            api_id=DEMO_API_ID,
            api_hash=DEMO_API_HASH,
        )
        try:
            final = export(runner, [chat])
        finally:
            runner.stop()
    assert final.state is RunState.DONE, final.errors
    assert exported_ids(tmp_path / "vault", chat) == list(world.chats[chat].ids())
    assert final.throttle.sample_count > 0
    print("throttled:", final.flood_waits, final.throttle, [e.message for e in final.events][-10:])
    # The server pushed back (FloodWait or throttled latency) and the user saw it as events.
    assert any(e.kind in (EventKind.FLOOD_WAIT, EventKind.THROTTLE_START) for e in final.events)


def test_another_telegram_refusal_fails_only_that_chat(make_runner, emulator):
    world = emulator.world
    bad, good = [c for c in world.chat_ids() if world.chats[c].kind == "channel"][:2]
    emulator.script("GetHistoryRequest", nth=1, error="MSG_ID_INVALID", peer=bad)
    final = export(make_runner(), [bad, good])
    states = {c.chat_id: c for c in final.chats}
    assert states[good].state is ChatState.DONE
    assert states[bad].state is ChatState.FAILED
    assert "run the export again" in states[bad].error

"""Faults on the wire, end to end through the runner with media on: the emulator's hostile profile (every random
fault at once) and scripted storms end with the same vault as a healthy server gives; a chat that vanishes or is
parked mid-export fails alone with one clear sentence; takeout refused or delayed falls back to normal requests."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest

from tests.reliability.crash_harness import compare, consistency_problems
from tests.support.settings import WAIT, engine_settings
from tobs_tui.emulator import Emulator
from tobs_tui.emulator.credentials import DEMO_API_HASH, DEMO_API_ID
from tobs_tui.emulator.world import World
from tobs_tui.engine import ChatSelection, EngineRunner, ExportRequest
from tobs_tui.engine.snapshot import ChatState, EventKind, RunState

# Three chats with many small files: every fault has plenty of getHistory and getFile calls to land on.
FAULT_WORLD = """\
seed = 11
max_file_size = 32768
generated_users = 8

[[chats]]
kind = "supergroup"
title = "Storm Supergroup"
messages = 400
media = 0.3

[[chats]]
kind = "private"
messages = 120
media = 0.4

[[chats]]
kind = "channel"
title = "Storm Channel"
messages = 150
media = 0.4
"""


def fault_world() -> World:
    return World(tomllib.loads(FAULT_WORLD))


def export_all(runner, chat_ids=None):
    """Export every chat, then stop the runner while its emulator still listens (else Telethon keeps redialling)."""
    try:
        assert runner.connect().result(WAIT) is True
        dialogs = runner.list_dialogs().result(WAIT)
        ids = chat_ids or [d.chat_id for d in dialogs]
        return runner.start_export(ExportRequest(chats=tuple(ChatSelection(c) for c in ids))).result(WAIT)
    finally:
        runner.stop()


@pytest.fixture(scope="module")
def healthy_vault(tmp_path_factory):
    """The fault world exported over a healthy lan emulator: what every faulty run must end up identical to."""
    out = tmp_path_factory.mktemp("healthy") / "vault"
    with Emulator(profile="lan", seed=1, world=fault_world()) as emu:
        settings = engine_settings(out, media=True)
        settings = dataclasses.replace(settings, export=dataclasses.replace(settings.export, request_timeout_s=3.0))
        runner = EngineRunner(settings, session=emu.session_string(), api_id=DEMO_API_ID, api_hash=DEMO_API_HASH)
        runner.start()
        final = export_all(runner)
    assert final.state is RunState.DONE, final.errors
    return out


@pytest.mark.slow
def test_hostile_profile_with_takeout_ends_identical_to_a_healthy_export(make_runner, tmp_path, healthy_vault):
    """Drops before and after replies, lost replies, 500s, FloodWait storms, FLOOD_PREMIUM_WAIT,
    FILE_REFERENCE_EXPIRED and a delayed takeout, all drawn at random (seeded) from the hostile profile."""
    # Rates raised so a run of a few hundred requests meets every kind of fault; latency and bandwidth lowered
    # so it finishes in seconds. FILE_REFERENCE_EXPIRED at 5 %: every file here is one part, and the engine gives
    # a file up after its 4th expiry in a row (MAX_REFERENCE_REFRESHES), a failure the healthy vault cannot
    # match; at 10 % that was 0.1^4 per file, about one run in fifty over these ~230 files, at 5 % one in 700.
    overrides = dict(
        latency_ms=5.0,
        jitter_ms=5.0,
        media_bandwidth=0,
        flood_wait_rate=0.02,
        flood_premium_rate=0.02,
        internal_error_rate=0.03,
        file_reference_rate=0.05,
        drop_before_rate=0.02,
        drop_after_rate=0.02,
        no_reply_rate=0.005,
        fault_wait_s=(1, 1),
        takeout_delay_rate=1.0,
    )
    with Emulator(profile="hostile", seed=5, world=fault_world(), overrides=overrides) as emu:
        events = []
        runner = make_runner(emu=emu, media=True, takeout=True, request_timeout_s=2.0, on_event=events.append)
        final = export_all(runner)
        log = emu.log
        seen = {
            e
            for e in ("FLOOD_WAIT", "FLOOD_PREMIUM_WAIT", "INTERNAL", "FILE_REFERENCE_EXPIRED", "TAKEOUT_INIT")
            if any((r.error or "").startswith(e) for r in log.records)
        }
    assert final.state is RunState.DONE, (final.errors, [e.message for e in events][-15:])
    assert compare(healthy_vault, tmp_path / "vault") == []
    assert seen == {"FLOOD_WAIT", "FLOOD_PREMIUM_WAIT", "INTERNAL", "FILE_REFERENCE_EXPIRED", "TAKEOUT_INIT"}
    assert any(e.kind is EventKind.TAKEOUT_PENDING for e in events)
    assert final.flood_waits > 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "error, event",
    [("TAKEOUT_INIT_DELAY_3600", EventKind.TAKEOUT_PENDING), ("TAKEOUT_REQUIRED", EventKind.TAKEOUT_REFUSED)],
)
def test_takeout_delayed_or_refused_falls_back_to_normal_requests(make_runner, tmp_path, healthy_vault, error, event):
    with Emulator(profile="lan", seed=1, world=fault_world()) as emu:
        emu.script("InitTakeoutSessionRequest", error=error)
        events = []
        final = export_all(make_runner(emu=emu, media=True, takeout=True, on_event=events.append))
    assert final.state is RunState.DONE, final.errors
    said = [e for e in events if e.kind is event]
    assert len(said) == 1 and said[0].message.endswith(".") and "normal requests" in said[0].message
    assert final.takeout in ("pending", "refused")
    assert compare(healthy_vault, tmp_path / "vault") == []


@pytest.mark.slow
def test_storms_of_500s_and_premium_waits_on_media_and_history(make_runner, tmp_path, healthy_vault):
    with Emulator(profile="lan", seed=1, world=fault_world()) as emu:
        for nth in range(2, 8):  # six 500s in a row on history: more than Telethon's own retries absorb
            emu.script("GetHistoryRequest", nth=nth, error="INTERNAL")
        for nth in (3, 4, 5, 20):
            emu.script("GetFileRequest", nth=nth, error="FLOOD_PREMIUM_WAIT_1")
        emu.script("GetFileRequest", nth=30, action="drop_before_reply")
        emu.script("GetFileRequest", nth=40, action="no_reply")
        final = export_all(make_runner(emu=emu, media=True, request_timeout_s=2.0))
    assert final.state is RunState.DONE, final.errors
    assert compare(healthy_vault, tmp_path / "vault") == []


@pytest.mark.slow
def test_a_chat_deleted_mid_export_fails_alone_and_the_rest_finish(make_runner, tmp_path):
    data = tomllib.loads(FAULT_WORLD)
    data["chats"][0]["messages"] = 3000  # long enough that its history is still being fetched when it goes
    world = World(data)
    doomed = next(c for c in world.chat_ids() if world.chats[c].kind == "supergroup")

    with Emulator(profile="lan", seed=1, world=world, overrides={"latency_ms": 20.0}) as emu:
        # The chat goes on its 12th history page of 30: some pages are committed, most are still to fetch.
        emu.script("GetHistoryRequest", nth=12, peer=doomed, action="vanish")
        final = export_all(make_runner(emu=emu, media=True))
    assert world.chats[doomed].deleted
    states = {c.chat_id: c for c in final.chats}
    assert states[doomed].state is ChatState.FAILED
    error = states[doomed].error
    assert "can no longer be read" in error and "skipped" in error and "Traceback" not in error
    assert all(c.state is ChatState.DONE for cid, c in states.items() if cid != doomed)
    assert final.state is RunState.FAILED
    # What was committed before the chat vanished stays, consistent, in the vault.
    assert 100 <= states[doomed].messages_done < world.chats[doomed].count
    assert consistency_problems(tmp_path / "vault", finished=False) == []


@pytest.mark.slow
def test_a_flood_wait_of_hours_on_a_file_parks_only_that_chat(make_runner, tmp_path, healthy_vault):
    world = fault_world()
    with Emulator(profile="lan", seed=1, world=world) as emu:
        emu.script("GetFileRequest", nth=5, error="FLOOD_WAIT_7200")
        events = []
        final = export_all(make_runner(emu=emu, media=True, on_event=events.append))
        states = [c.state for c in final.chats]
        assert states.count(ChatState.PARKED) == 1 and states.count(ChatState.DONE) == len(states) - 1, states
        parked = next(c for c in final.chats if c.state is ChatState.PARKED)
        assert "7200" in parked.error and "parked" in parked.error
        assert any(e.kind is EventKind.CHAT_PARKED for e in events)
        # Its half-fetched files stay as ".part" to resume; the rest of the vault is committed and consistent.
        assert consistency_problems(tmp_path / "vault", finished=False) == []
        # Once Telegram lets it, a later run continues the parked chat to the same end as a healthy export.
        again = export_all(make_runner(emu=emu, media=True))
    assert again.state is RunState.DONE, again.errors
    assert compare(healthy_vault, tmp_path / "vault") == []

"""Our own CPU is not Telegram throttling: a `lan` export beside two CPU-burning processes reports no throttling
and keeps its requests in flight, while a server that really slows down is still caught."""

from __future__ import annotations

import statistics
import subprocess
import sys

import pytest
import tomli_w

from tests.support.settings import WAIT, engine_settings
from tobs_tui.config import Settings
from tobs_tui.emulator import start_subprocess
from tobs_tui.emulator.credentials import DEMO_API_HASH, DEMO_API_ID
from tobs_tui.engine import ChatSelection, EngineRunner, EngineSnapshot, ExportRequest
from tobs_tui.engine.snapshot import EventKind, RunState

BURNERS = 2  # as many as the CI machine has cores

# The load is this test's own: two burners on two cores. Beside another test suite it would be three times the
# cores and no longer the case it states, so .ci/run runs it once the side-by-side suites have ended.
pytestmark = pytest.mark.alone


def burn_cpu(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def test_a_lan_export_beside_cpu_burners_is_not_throttled_and_keeps_its_requests_in_flight(tmp_path):
    world = tmp_path / "world.toml"
    chats = [{"kind": "supergroup", "title": "Busy", "messages": 20_000, "media": 0.2}]
    world.write_text(tomli_w.dumps({"seed": 5, "chats": chats}), encoding="utf-8")
    limits: list[int] = []

    def on_snapshot(snap: EngineSnapshot) -> None:
        if snap.state is RunState.RUNNING and snap.messages_done:
            limits.append(snap.concurrency_limit)

    burners = burn_cpu(BURNERS)
    try:
        # The emulator in its own process, as Telegram is: the burners starve it too, but it does not share
        # our interpreter.
        with start_subprocess("lan", world_path=world) as emu:
            runner = EngineRunner(
                engine_settings(tmp_path / "vault"),
                session=emu.session_string,
                api_id=DEMO_API_ID,
                api_hash=DEMO_API_HASH,
                on_snapshot=on_snapshot,
            )
            runner.start()
            try:
                assert runner.connect().result(WAIT) is True
                selection = tuple(ChatSelection(d.chat_id) for d in runner.list_dialogs().result(WAIT))
                final = runner.start_export(ExportRequest(chats=selection)).result(WAIT)
            finally:
                runner.stop()
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    assert final.state is RunState.DONE and final.messages_done == 20_000, final.errors
    starts = [e.message for e in final.events if e.kind is EventKind.THROTTLE_START]
    assert starts == [], starts
    assert not final.throttle.is_throttled and not final.throttle.spans
    # In flight: the limit grows from its start (half the cap) and a probe that found our own queueing puts back
    # what it took; most of the export runs at the cap.
    cap = Settings().export.max_concurrent_requests
    assert limits and statistics.median(limits) >= cap - 1, limits

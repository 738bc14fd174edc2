"""The `realistic` profile meets a hard export the way Telegram does: a soft-throttle episode and a FloodWait
within the first minute, seen by the real engine over loopback."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import pytest
import tomli_w

from tests.support.child import REPO
from tobs_tui.config import Settings
from tobs_tui.emulator import Emulator
from tobs_tui.emulator.credentials import DEMO_API_HASH, DEMO_API_ID
from tobs_tui.emulator.profiles import HISTORY_PAGE, Behaviour, get_profile
from tobs_tui.engine import ChatSelection, EngineRunner, ExportRequest
from tobs_tui.engine.snapshot import EngineEvent, EventKind

WAIT = 50  # seconds of emulated traffic within which both signals must have arrived


def one_chat_world(directory: Path, messages: int) -> Path:
    path = directory / "world.toml"
    chats = [{"kind": "supergroup", "title": "Busy group", "messages": messages, "media": 0.0}]
    path.write_text(tomli_w.dumps({"seed": 3, "generated_users": 20, "chats": chats}), encoding="utf-8")
    return path


def first_signals(emu: Emulator, out: Path) -> dict[EventKind, float]:
    """Export every dialog with the real engine; seconds from the export's start to the first THROTTLE_START
    and the first FLOOD_WAIT (missing if not seen within WAIT). The export is cancelled once both arrived."""
    seen: dict[EventKind, float] = {}
    both = threading.Event()
    started = [0.0]

    def on_event(event: EngineEvent) -> None:
        if event.kind in (EventKind.THROTTLE_START, EventKind.FLOOD_WAIT) and event.kind not in seen:
            seen[event.kind] = time.monotonic() - started[0]
            if len(seen) == 2:
                both.set()

    base = Settings()
    settings = dataclasses.replace(
        base,
        export=dataclasses.replace(base.export, output_dir=out, download_media=False),
        workers=dataclasses.replace(base.workers, max_threads=4),
    )
    runner = EngineRunner(
        settings, session=emu.session_string(), api_id=DEMO_API_ID, api_hash=DEMO_API_HASH, on_event=on_event
    )
    runner.start()
    try:
        runner.connect().result(WAIT)
        dialogs = runner.list_dialogs().result(WAIT)
        started[0] = time.monotonic()
        export = runner.start_export(
            ExportRequest(tuple(ChatSelection(d.chat_id, download_media=False) for d in dialogs))
        )
        both.wait(WAIT)
        runner.cancel().result(WAIT)
        export.result(WAIT)
    finally:
        runner.stop()
    return seen


def test_realistic_ceiling_is_readable_and_documented():
    p = get_profile("realistic")
    rate, burst = p.bucket("GetHistoryRequest")
    assert p.history_ceiling_msgs_per_s() == rate * HISTORY_PAGE == 200
    assert burst * HISTORY_PAGE == 3000  # Telethon's iter_messages paces itself past 3,000 messages
    assert get_profile("lan").history_ceiling_msgs_per_s() == float("inf")
    doc = (REPO / "docs" / "EMULATOR.md").read_text(encoding="utf-8")
    assert f"getHistory {rate:g}/s, burst {burst:g}" in doc and f"+{p.soft_throttle_ms:g} ms" in doc


def test_realistic_latency_rises_past_3x_before_the_first_flood_wait():
    p = get_profile("realistic", {"jitter_ms": 0.0})
    b = Behaviour(p, seed=1)
    decisions = []
    while not decisions or decisions[-1].error is None:  # all at once: no time for the bucket to refill
        decisions.append(b.decide("GetHistoryRequest", None, 1, False))
    _, burst = p.bucket("GetHistoryRequest")
    assert len(decisions) == burst + 1
    delays = [d.delay for d in decisions[:-1]]
    healthy = p.latency_ms / 1000
    assert delays == sorted(delays) and delays[0] == healthy  # full bucket: healthy; then only slower
    assert sum(d > 3 * healthy for d in delays) >= 4 and delays[-1] > 8 * healthy
    assert decisions[-1].error == "FLOOD_WAIT_1"  # the real wait: one token frees in 1 / 2 s


@pytest.mark.alone  # beside other tests, the rise may be read as our own CPU (MECHANISMS.md), and rightly discounted
def test_realistic_export_of_one_big_chat_meets_flood_wait_and_throttling_in_the_first_minute(tmp_path):
    # About 30 pages at full speed, then the drain: FloodWait after ~5 s and a throttle episode after ~10 s
    # on an idle machine; the bound leaves room for a loaded one.
    with Emulator(profile="realistic", seed=1, world=one_chat_world(tmp_path, 20_000)) as emu:
        seen = first_signals(emu, tmp_path / "vault")
    assert set(seen) == {EventKind.THROTTLE_START, EventKind.FLOOD_WAIT}, seen
    assert max(seen.values()) < WAIT, seen

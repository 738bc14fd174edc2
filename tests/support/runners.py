"""Engine runners on an emulator, stopped at the end of the test: the `make_runner` fixture's one body."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.settings import WAIT, engine_settings
from tobs_tui.config import Settings
from tobs_tui.emulator import Emulator
from tobs_tui.emulator.credentials import DEMO_API_HASH, DEMO_API_ID
from tobs_tui.engine import ChatSelection, EngineRunner, ExportRequest


@contextmanager
def runner_factory(emulator: Emulator, vault: Path) -> Iterator:
    """`make(emu=None, authorized=True, out=None, media=False, on_event=None, on_snapshot=None,
    render_in_process=None, **export)`."""
    runners: list[EngineRunner] = []

    def make(
        *,
        emu: Emulator | None = None,
        authorized: bool = True,
        out: Path | None = None,
        media: bool = False,
        on_event=None,
        on_snapshot=None,
        render_in_process: bool | None = None,
        **export_changes,
    ) -> EngineRunner:
        settings = engine_settings(out or vault, media=media, **export_changes)
        runner = EngineRunner(
            settings,
            session=(emu or emulator).session_string(authorized=authorized),
            api_id=DEMO_API_ID,
            api_hash=DEMO_API_HASH,
            on_event=on_event,
            on_snapshot=on_snapshot,
            render_in_process=render_in_process,
        )
        runner.start()
        runners.append(runner)
        return runner

    try:
        yield make
    finally:
        for runner in runners:
            runner.stop()


@contextmanager
def running_emulator(**kwargs) -> Iterator[Emulator]:
    """An emulator on loopback (profile "lan" unless given), stopped at the end."""
    emu = Emulator(**{"profile": "lan", "seed": 1, **kwargs}).start()
    try:
        yield emu
    finally:
        emu.stop()


def export_chats(runner, chat_ids, **selection):
    """Connect, list the dialogs, export `chat_ids` (each with `selection`: topics, since...) and stop the runner:
    the export's final snapshot."""
    try:
        assert runner.connect().result(WAIT) is True
        runner.list_dialogs().result(WAIT)
        request = ExportRequest(chats=tuple(ChatSelection(c, **selection) for c in chat_ids))
        return runner.start_export(request).result(WAIT)
    finally:
        runner.stop()


def export_in_process(emulator: Emulator, vault: Path, chat: int, *, media: bool = False, **selection):
    """One whole export of `chat` into `vault` by a runner of its own (4 threads, one media worker, rendering in
    this process), stopped after: (its final snapshot, the events it emitted)."""
    base = Settings()
    settings = dataclasses.replace(
        base,
        export=dataclasses.replace(base.export, output_dir=vault, download_media=media),
        workers=dataclasses.replace(base.workers, max_threads=4, media_download_workers=1),
    )
    events: list = []
    runner = EngineRunner(
        settings,
        session=emulator.session_string(),
        api_id=DEMO_API_ID,
        api_hash=DEMO_API_HASH,
        on_event=events.append,
        render_in_process=True,
    )
    runner.start()
    return export_chats(runner, [chat], **selection), events

"""What the runner tells the TUI outside an export: the disk it measured, and what a cancelled run committed."""

from __future__ import annotations

import dataclasses

from tests.support.settings import WAIT
from tests.support.waiting import wait_for
from tobs_tui.engine import ChatSelection, ExportRequest
from tobs_tui.engine.runtime.disk import media_workers_for, resolve_media_workers
from tobs_tui.engine.snapshot import RunState


def test_a_cancelled_export_reports_the_committed_last_id(make_runner, emulator, tmp_path):
    chat = next(c for c in emulator.world.chat_ids() if emulator.world.chats[c].count == 10_000)
    runner = make_runner(out=tmp_path / "vault")
    runner.set_snapshot_rate(50)
    assert runner.connect().result(WAIT)
    before = {d.chat_id: d for d in runner.list_dialogs().result(WAIT)}
    assert before[chat].last_exported_id is None
    future = runner.start_export(ExportRequest(chats=(ChatSelection(chat),)))
    assert wait_for(lambda: runner.snapshot().messages_done > 0, step=0.005)
    runner.cancel().result(WAIT)
    final = future.result(WAIT)
    assert final.state is RunState.CANCELLED
    assert 0 < final.messages_done < 10_000
    after = {d.chat_id: d for d in runner.list_dialogs().result(WAIT)}[chat]
    assert after.last_exported_id is not None and after.last_exported_id > 0
    assert 0 < after.new_since_export < before[chat].top_message_id


def test_snapshots_carry_the_measured_disk_and_workers_before_any_export(make_runner, tmp_path, monkeypatch):
    out = tmp_path / "vault"
    workers, disk, _ = resolve_media_workers(out)
    runner = make_runner(out=out)
    assert wait_for(lambda: runner.snapshot().media.workers > 0)
    snap = runner.snapshot()
    assert (snap.disk_type, snap.media_workers_auto) == (disk.kind, media_workers_for(disk.kind))
    assert snap.media.workers == workers

    # MEDIA_WORKERS is what an export would use, so it is what the snapshot shows.
    monkeypatch.setenv("MEDIA_WORKERS", "5")
    other = make_runner(out=out)
    assert wait_for(lambda: other.snapshot().media.workers == 5)


def test_a_new_export_dir_is_measured_again(make_runner, tmp_path, monkeypatch):
    runner = make_runner(out=tmp_path / "vault")
    assert wait_for(lambda: runner.snapshot().media.workers > 0)
    # Only a new measurement reads MEDIA_WORKERS again: seeing 7 proves the new dir was measured.
    monkeypatch.setenv("MEDIA_WORKERS", "7")
    moved = tmp_path / "elsewhere"
    settings = runner._settings
    runner.update_settings(dataclasses.replace(settings, export=dataclasses.replace(settings.export, output_dir=moved)))
    assert wait_for(lambda: runner.snapshot().media.workers == 7)
    assert runner.snapshot().disk_type == resolve_media_workers(moved)[1].kind


def test_render_workers_start_when_stderr_has_no_fd():
    """Inside a running Textual app sys.stderr is a capture whose fileno() is -1; render workers still start."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import io, os, sys

        class Captured(io.StringIO):
            def fileno(self):
                return -1

        sys.stderr = Captured()
        from tobs_tui.engine.render.workers import RenderPool, _warm
        pool = RenderPool(1)
        pid = pool.executor.submit(_warm).result(60)
        pool.shutdown()
        print("worker", pid != os.getpid())
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "worker True"


def _niceness() -> int:
    import os

    return os.nice(0)


def test_render_workers_stand_back_from_the_engine_process_for_a_core():
    """A render worker runs RENDER_NICENESS lower in priority than the process that started it, so the
    engine's loop and commit threads get a core first (docs/PERFORMANCE.md, section 1)."""
    import os

    from tobs_tui.engine.render.workers import RENDER_NICENESS, RenderPool

    pools = RenderPool(1), RenderPool(1, niceness=0)  # the second is the benchmarks' baseline
    try:
        standing_back, plain = (pool.executor.submit(_niceness).result(60) for pool in pools)
    finally:
        for pool in pools:
            pool.shutdown()
    assert standing_back == min(19, os.nice(0) + RENDER_NICENESS)
    assert plain == os.nice(0)


def test_a_chats_rate_counts_the_same_bytes_as_the_total(make_runner, emulator):
    """Notes and media both: one chat's MB/s is the run's MB/s (they used to measure notes only vs everything)."""
    chat = next(c for c in emulator.world.chat_ids() if emulator.world.chats[c].title == "News Channel")
    seen: list = []
    runner = make_runner(on_snapshot=seen.append)
    settings = runner._settings
    runner.update_settings(
        dataclasses.replace(settings, export=dataclasses.replace(settings.export, download_media=True))
    )
    runner.set_snapshot_rate(20)
    assert runner.connect().result(WAIT)
    runner.list_dialogs().result(WAIT)
    final = runner.start_export(ExportRequest(chats=(ChatSelection(chat),))).result(WAIT)
    assert final.state is RunState.DONE, final.errors
    assert final.media.bytes_done > final.chats[0].bytes_done / 2, "the chat's bytes are mostly media"
    moving = [
        (s.chats[0].bytes_per_s, s.bytes_per_s)
        for s in seen
        if s.chats and s.chats[0].state.value == "running" and s.bytes_per_s > 0
    ]
    assert len(moving) >= 5
    late = moving[len(moving) // 2 :]
    assert all(abs(chat_rate - total) <= 0.25 * total for chat_rate, total in late)


def test_a_runner_calms_the_collector_while_it_runs_and_restores_it(make_runner):
    import gc

    from tobs_tui.engine.runtime import gc_tuning as heap

    before = gc.get_threshold()
    runner = make_runner()
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD
    runner.stop()
    assert gc.get_threshold() == before

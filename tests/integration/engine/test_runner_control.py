"""The runner's commands from another thread: login with 2FA, pause/resume, cancel, live limits."""

from __future__ import annotations

import threading
import time

import pytest

from tests.support.settings import WAIT
from tests.support.vaults import vault_bytes
from tests.support.waiting import wait_for
from tobs_tui.engine import ChatSelection, ExportRequest
from tobs_tui.engine.snapshot import EventKind, RunState
from tobs_tui.engine.telegram.login import LoginError


def test_login_with_code_and_two_step_password(make_runner, emulator):
    world = emulator.world
    runner = make_runner(authorized=False)
    assert runner.connect().result(WAIT) is False
    with pytest.raises(LoginError, match="phone number"):
        runner.send_code("+19990000000").result(WAIT)
    runner.send_code(world.twofa_phone).result(WAIT)
    with pytest.raises(LoginError, match="code is wrong"):
        runner.sign_in("00000").result(WAIT)
    assert runner.sign_in(world.demo_code).result(WAIT) == "password_needed"
    with pytest.raises(LoginError, match="password is wrong"):
        runner.check_password("not it").result(WAIT)
    runner.check_password(world.twofa_password).result(WAIT)
    assert runner.list_dialogs().result(WAIT), "logged in: dialogs are readable"


def test_login_without_two_step(make_runner, emulator):
    runner = make_runner(authorized=False)
    assert runner.connect().result(WAIT) is False
    runner.send_code(emulator.world.demo_phone).result(WAIT)
    assert runner.sign_in(emulator.world.demo_code).result(WAIT) == "ok"
    assert runner.connect().result(WAIT) is True


def big_chat(world):
    return next(c for c in world.chat_ids() if world.chats[c].count == 10_000)


def test_pause_holds_the_export_and_resume_finishes_it(make_runner, emulator):
    started = threading.Event()
    runner = make_runner(on_event=lambda e: e.kind is EventKind.CHAT_STARTED and started.set())
    runner.set_snapshot_rate(20)
    assert runner.connect().result(WAIT)
    runner.list_dialogs().result(WAIT)
    chat = big_chat(emulator.world)
    future = runner.start_export(ExportRequest(chats=(ChatSelection(chat),)))
    assert started.wait(WAIT)
    runner.pause()
    assert wait_for(lambda: runner.snapshot().state is RunState.PAUSED)
    # In-flight requests may still land; after that nothing moves.
    time.sleep(0.5)
    held = runner.snapshot().messages_done
    time.sleep(0.7)
    assert runner.snapshot().messages_done == held
    assert held < 10_000
    assert not future.done()
    runner.resume()
    final = future.result(WAIT)
    assert final.state is RunState.DONE
    assert final.messages_done == 10_000


def test_cancel_keeps_the_vault_consistent_and_a_rerun_completes_it(make_runner, emulator, tmp_path):
    chat = big_chat(emulator.world)
    runner = make_runner(out=tmp_path / "cancelled")
    runner.set_snapshot_rate(50)
    assert runner.connect().result(WAIT)
    runner.list_dialogs().result(WAIT)
    future = runner.start_export(ExportRequest(chats=(ChatSelection(chat),)))
    assert wait_for(lambda: runner.snapshot().messages_done > 0, step=0.005)
    runner.cancel().result(WAIT)
    final = future.result(WAIT)
    assert final.state is RunState.CANCELLED
    assert 0 < final.messages_done < 10_000
    runner.stop()

    again = make_runner(out=tmp_path / "cancelled")
    assert again.connect().result(WAIT)
    again.list_dialogs().result(WAIT)
    rest = again.start_export(ExportRequest(chats=(ChatSelection(chat),))).result(WAIT)
    assert rest.state is RunState.DONE
    assert final.messages_done + rest.messages_done == 10_000

    whole = make_runner(out=tmp_path / "whole")
    assert whole.connect().result(WAIT)
    whole.list_dialogs().result(WAIT)
    assert whole.start_export(ExportRequest(chats=(ChatSelection(chat),))).result(WAIT).state is RunState.DONE
    assert vault_bytes(tmp_path / "cancelled") == vault_bytes(tmp_path / "whole")


def test_set_limits_resizes_pools_and_caps_requests_live(make_runner):
    runner = make_runner()
    runner.set_snapshot_rate(20)
    runner.set_limits(critical=3, standard=2, max_concurrent_requests=2)

    def applied():
        s = runner.snapshot()
        workers = {p.name: p.workers for p in s.pools}
        return workers.get("critical") == 3 and workers.get("standard") == 2 and s.concurrency_limit <= 2

    assert wait_for(applied)
    runner.set_limits(critical=5)
    assert wait_for(lambda: {p.name: p.workers for p in runner.snapshot().pools}.get("critical") == 5)


def test_commands_before_connect_say_so(make_runner):
    runner = make_runner()
    with pytest.raises(Exception, match="connect first"):
        runner.list_dialogs().result(WAIT)


@pytest.mark.skipif(not hasattr(__import__("asyncio"), "eager_task_factory"), reason="Python 3.12+")
def test_runner_works_from_inside_a_textual_like_loop(make_runner):
    """Textual installs asyncio.eager_task_factory, in which Telethon hangs; the runner keeps its own loop."""
    import asyncio

    runner = make_runner()

    async def ui() -> tuple[bool, int]:
        asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)
        authorized = await asyncio.wait_for(asyncio.wrap_future(runner.connect()), WAIT)
        dialogs = await asyncio.wait_for(asyncio.wrap_future(runner.list_dialogs()), WAIT)
        return authorized, len(dialogs)

    authorized, count = asyncio.run(ui())
    assert authorized and count > 0

"""Rendering in the engine process (one usable CPU) writes what render workers write, from one decoding."""

from __future__ import annotations

from tests.support.settings import WAIT
from tests.support.vaults import vault_bytes
from tobs_tui.engine import ChatSelection, ExportRequest
from tobs_tui.engine.render import workers
from tobs_tui.engine.snapshot import RunState


def test_rendering_in_the_engine_process_writes_the_vault_render_workers_write(
    make_runner, emulator, tmp_path, monkeypatch
):
    world = emulator.world
    # Every kind of chat, with entities, replies, forwards, media, polls, reactions and service messages.
    chats = [c for c in world.chat_ids() if world.chats[c].count < 10_000]
    decoded_again: list[int] = []

    class Counted(workers.FastReader):
        def __init__(self, data: bytes) -> None:
            decoded_again.append(len(data))
            super().__init__(data)

    vaults = {}
    for in_process in (False, True):
        out = tmp_path / f"vault-{'process' if in_process else 'workers'}"
        runner = make_runner(out=out, render_in_process=in_process)
        assert runner.connect().result(WAIT)
        runner.list_dialogs().result(WAIT)
        with monkeypatch.context() as patch:
            if in_process:
                # A render job decodes its reply's bytes only when it was read lean (for a worker): rendering in
                # this process renders the messages as the source read them, whole, once.
                patch.setattr(workers, "FastReader", Counted)
            final = runner.start_export(ExportRequest(tuple(ChatSelection(c) for c in chats))).result(WAIT)
        assert final.state is RunState.DONE, final.errors
        assert final.messages_done == sum(world.chats[c].count for c in chats)
        vaults[in_process] = vault_bytes(out)
    assert vaults[True] == vaults[False]
    assert len(vaults[True]) > 2 * len(chats)  # notes, result.json files and the index notes
    assert decoded_again == [], "no render job decoded a reply again"

"""Several data centers: files on another DC fetched through an exported authorization, FILE_MIGRATE followed,
a fresh login on the wrong DC moved by PHONE_MIGRATE, all through real Telethon and real key exchanges."""

from __future__ import annotations

import collections
import dataclasses
import itertools

import pytest

from tests.support.runners import running_emulator
from tests.support.settings import WAIT, engine_settings
from tests.support.waiting import wait_for
from tobs_tui.emulator.credentials import DEMO_API_HASH, DEMO_API_ID
from tobs_tui.emulator.world import World
from tobs_tui.engine import ChatSelection, EngineRunner, ExportRequest
from tobs_tui.engine.snapshot import RunState


@pytest.fixture
def two_dcs():
    with running_emulator(world=World.synthetic(1, scale="test"), dcs=(2, 4)) as emu:
        yield emu


def media_chats(dialogs) -> list:
    """Every chat but the 10,000-message supergroup: some 350 files, plenty for both DCs, in a few seconds."""
    return [d for d in dialogs if d.title != "Ten Thousand"]


def make_runner(emu, tmp_path, session: str, *, media: bool = True) -> EngineRunner:
    runner = EngineRunner(
        engine_settings(tmp_path / "vault", media=media),
        session=session,
        api_id=DEMO_API_ID,
        api_hash=DEMO_API_HASH,
    )
    runner.start()
    return runner


def test_media_on_the_second_dc_come_through_an_exported_authorization(two_dcs, tmp_path):
    emu = two_dcs
    runner = make_runner(emu, tmp_path, emu.session_string())
    try:
        assert runner.connect().result(WAIT) is True
        dialogs = runner.list_dialogs().result(WAIT)
        final = runner.start_export(
            ExportRequest(chats=tuple(ChatSelection(d.chat_id) for d in media_chats(dialogs)))
        ).result(WAIT)
    finally:
        runner.stop()
    assert final.state is RunState.DONE, final.errors
    assert final.media.files_failed == 0 and final.media.files_done > 0
    counts = collections.Counter((r.dc, r.method, r.error) for r in emu.log.records)
    assert counts[(4, "GetFileRequest", None)] > 0 and counts[(2, "GetFileRequest", None)] > 0
    assert counts[(2, "ExportAuthorizationRequest", None)] >= 1
    assert counts[(4, "ImportAuthorizationRequest", None)] >= 1
    assert counts[(4, "SetClientDHParamsRequest", None)] >= 1
    assert counts[(2, "GetFileRequest", "FILE_MIGRATE_4")] > 0
    # One connection per DC carries all its parts: the borrowed sender is shared, not one per part.
    assert len({r.conn_id for r in emu.log.records if r.dc == 4}) == 1
    # The snapshot says which DC the parts came from, as the request log does.
    by_dc = {d.dc: d for d in final.media.by_dc}
    assert set(by_dc) == {2, 4}
    for dc in (2, 4):
        assert by_dc[dc].done == counts[(dc, "GetFileRequest", None)] and by_dc[dc].in_flight == 0
    assert sum(d.bytes for d in by_dc.values()) == sum(r.bytes for r in emu.log.records)
    # Parts run against both DCs at once: consecutive parts from different DCs, answered within 50 ms, are common.
    parts = sorted((r.t, r.dc) for r in emu.log.records if r.method == "GetFileRequest" and r.error is None)
    both = sum(1 for (t, dc), (t2, dc2) in itertools.pairwise(parts) if dc != dc2 and t2 - t < 0.05)
    assert both > len(parts) // 10, (both, len(parts))


def test_a_dropped_media_dc_connection_reconnects_without_a_new_login(two_dcs, tmp_path):
    emu = two_dcs
    runner = make_runner(emu, tmp_path, emu.session_string())
    try:
        assert runner.connect().result(WAIT) is True
        dialogs = runner.list_dialogs().result(WAIT)
        future = runner.start_export(ExportRequest(chats=tuple(ChatSelection(d.chat_id) for d in media_chats(dialogs))))
        assert wait_for(lambda: emu.log.count(method="GetFileRequest", dc=4) >= 20, step=0.01)
        emu.drop_connections(dc=4)
        final = future.result(WAIT)
    finally:
        runner.stop()
    assert final.state is RunState.DONE, final.errors
    assert final.media.files_failed == 0
    after = [r for r in emu.log.records if r.dc == 4]
    conns = {r.conn_id for r in after if r.method == "GetFileRequest"}
    assert len(conns) >= 2, "the media DC's connection was dropped and made again"
    # The exported authorization belongs to the key, which outlives the connection: no second import, no login.
    assert emu.log.count(method="ImportAuthorizationRequest") == 1
    assert emu.log.count(method="SendCodeRequest") == 0


def test_a_fresh_login_on_the_wrong_dc_is_moved_by_phone_migrate(two_dcs, tmp_path):
    emu = two_dcs
    world = emu.world
    runner = make_runner(emu, tmp_path, emu.session_string(authorized=False, dc=4), media=False)
    try:
        assert runner.connect().result(WAIT) is False
        runner.send_code(world.twofa_phone).result(WAIT)
        assert runner.sign_in(world.demo_code).result(WAIT) == "password_needed"
        runner.check_password(world.twofa_password).result(WAIT)
        assert runner.list_dialogs().result(WAIT)
    finally:
        runner.stop()
    assert emu.log.count(method="SendCodeRequest", dc=4, error="PHONE_MIGRATE_2") == 1
    assert emu.log.count(method="SetClientDHParamsRequest", dc=2) == 1  # a new key on the account's DC
    assert emu.log.count(method="SendCodeRequest", dc=2, error=None) == 1
    assert emu.log.count(method="GetDialogsRequest", dc=2, error=None) >= 1
    assert emu.log.count(method="GetDialogsRequest", dc=4) == 0


def test_get_config_lists_every_dc(two_dcs):
    from telethon import TelegramClient, functions
    from telethon.sessions import StringSession

    async def config():
        client = TelegramClient(StringSession(two_dcs.session_string()), DEMO_API_ID, DEMO_API_HASH)
        await client.connect()
        try:
            return await client(functions.help.GetConfigRequest())
        finally:
            await client.disconnect()

    import asyncio

    result = asyncio.run(config())
    assert result.this_dc == 2
    assert [(o.id, o.ip_address, o.port) for o in result.dc_options] == [
        (2, "127.0.0.1", two_dcs.port_of(2)),
        (4, "127.0.0.1", two_dcs.port_of(4)),
    ]


def ipv6_runner(emu, tmp_path, session: str) -> EngineRunner:
    settings = engine_settings(tmp_path / "vault", media=True)
    settings = dataclasses.replace(settings, network=dataclasses.replace(settings.network, ipv6=True))
    runner = EngineRunner(settings, session=session, api_id=DEMO_API_ID, api_hash=DEMO_API_HASH)
    runner.start()
    return runner


def test_with_ipv6_on_every_dc_is_dialled_at_its_ipv6_address(tmp_path):
    """[network] ipv6: the DCs Telegram lists at IPv6 addresses are dialled there, media DCs included."""
    with running_emulator(world=World.synthetic(1, scale="test"), dcs=(2, 4), ipv6=True) as emu:
        runner = ipv6_runner(emu, tmp_path, emu.session_string())
        try:
            assert runner.connect().result(WAIT) is True
            dialogs = runner.list_dialogs().result(WAIT)
            chats = tuple(ChatSelection(d.chat_id) for d in media_chats(dialogs))
            final = runner.start_export(ExportRequest(chats=chats)).result(WAIT)
        finally:
            runner.stop()
        assert final.state is RunState.DONE, final.errors
        assert final.media.files_failed == 0 and final.media.files_done > 0
        assert {r.dc for r in emu.log.records if r.method == "GetFileRequest" and r.error is None} == {2, 4}
        assert emu.log.records and all(r.client.startswith("::1") for r in emu.log.records), "an IPv4 connection"


def test_with_ipv6_on_a_session_of_another_server_keeps_its_address(two_dcs, tmp_path):
    """A session made over IPv4 with a server that is not one of Telegram's (here the emulator) stays there:
    Telethon would move it to Telegram's own DC 2 at its IPv6 address."""
    emu = two_dcs
    runner = ipv6_runner(emu, tmp_path, emu.session_string())
    try:
        assert runner.connect().result(WAIT) is True
        assert runner.list_dialogs().result(WAIT)
    finally:
        runner.stop()
    assert emu.log.records and all(r.client.startswith("127.0.0.1") for r in emu.log.records)

"""QR login when the code is scanned around its refresh: auth.exportLoginToken, asked for the next code, answers
loginTokenSuccess, loginTokenMigrateTo (the account lives on another DC: switch there, auth.importLoginToken) or
SESSION_PASSWORD_NEEDED instead of a new token, and the login finishes there rather than crashing."""

from __future__ import annotations

import pytest

from tests.integration.engine.test_qr_login import log_in_with_phone, scan
from tests.support.runners import running_emulator
from tests.support.settings import WAIT, engine_settings
from tobs_tui.emulator.credentials import DEMO_API_HASH, DEMO_API_ID
from tobs_tui.emulator.world import World
from tobs_tui.engine import EngineRunner
from tobs_tui.engine.telegram.login import QrCode


@pytest.fixture
def two_dcs():
    with running_emulator(world=World.synthetic(1, scale="test"), dcs=(2, 4)) as emu:
        yield emu


@pytest.fixture
def start_runner(tmp_path):
    runners: list[EngineRunner] = []

    def start(session: str) -> EngineRunner:
        runner = EngineRunner(
            engine_settings(tmp_path / "vault"), session=session, api_id=DEMO_API_ID, api_hash=DEMO_API_HASH
        )
        runner.start()
        runners.append(runner)
        return runner

    yield start
    for runner in runners:
        runner.stop()


def scanned_after_the_wait_gave_up(runner: EngineRunner, scanner: str, monkeypatch) -> QrCode:
    """Draw a code, let the wait end for a refresh, have it scanned then, and ask for the next code."""
    from tobs_tui.engine.telegram import login

    assert runner.connect().result(WAIT) is False
    first = runner.qr_code().result(WAIT)
    # A moment's wait instead of the token's 30 s: the wait gives up "just before the code expires".
    monkeypatch.setattr(login, "QR_REFRESH_MARGIN_S", 29.0)
    assert runner.qr_wait().result(WAIT) == "refresh"
    scan(scanner, first.url)
    return runner.qr_code().result(WAIT)


def test_a_code_scanned_at_refresh_time_logs_in(emulator, start_runner, monkeypatch):
    runner = start_runner(emulator.session_string(authorized=False))
    code = scanned_after_the_wait_gave_up(runner, emulator.session_string(authorized=True), monkeypatch)
    assert code.outcome == "ok"
    assert runner.qr_wait().result(WAIT) == "ok"
    assert runner.list_dialogs().result(WAIT)
    assert runner._client._no_updates, "nothing is waited for any more: updates are off again"


def test_a_code_of_a_2fa_account_scanned_at_refresh_time_asks_for_the_password(emulator, start_runner, monkeypatch):
    world = emulator.world
    scanner = log_in_with_phone(emulator, world.twofa_phone, world.twofa_password)
    runner = start_runner(emulator.session_string(authorized=False))
    code = scanned_after_the_wait_gave_up(runner, scanner, monkeypatch)
    assert code.outcome == "password_needed"
    assert runner.qr_wait().result(WAIT) == "password_needed"
    runner.check_password(world.twofa_password).result(WAIT)
    assert runner.list_dialogs().result(WAIT)


def test_a_code_scanned_at_refresh_time_for_an_account_on_another_dc_imports_the_token_there(
    two_dcs, start_runner, monkeypatch
):
    emu = two_dcs
    runner = start_runner(emu.session_string(authorized=False, dc=4))
    code = scanned_after_the_wait_gave_up(runner, emu.session_string(authorized=True), monkeypatch)
    assert code.outcome == "ok"
    assert runner.qr_wait().result(WAIT) == "ok"
    assert runner.list_dialogs().result(WAIT)
    assert emu.log.count(method="ImportLoginTokenRequest", dc=2, error=None) == 1
    assert emu.log.count(method="GetDialogsRequest", dc=2, error=None) >= 1
    assert emu.log.count(method="GetDialogsRequest", dc=4) == 0


def test_a_2fa_account_on_another_dc_scanned_at_refresh_time_asks_for_the_password_there(
    two_dcs, start_runner, monkeypatch
):
    emu = two_dcs
    world = emu.world
    scanner = log_in_with_phone(emu, world.twofa_phone, world.twofa_password)
    runner = start_runner(emu.session_string(authorized=False, dc=4))
    code = scanned_after_the_wait_gave_up(runner, scanner, monkeypatch)
    assert code.outcome == "password_needed"
    assert runner.qr_wait().result(WAIT) == "password_needed"
    runner.check_password(world.twofa_password).result(WAIT)
    assert runner.list_dialogs().result(WAIT)
    assert emu.log.count(method="ImportLoginTokenRequest", dc=2, error="SESSION_PASSWORD_NEEDED") == 1
    assert emu.log.count(method="CheckPasswordRequest", dc=4) == 0  # the password goes where the account is


def test_a_code_scanned_while_waiting_for_an_account_on_another_dc_logs_in_there(two_dcs, start_runner):
    """The usual case, through Telethon's own QRLogin.wait: the emulator answers it with loginTokenMigrateTo too."""
    emu = two_dcs
    runner = start_runner(emu.session_string(authorized=False, dc=4))
    assert runner.connect().result(WAIT) is False
    code = runner.qr_code().result(WAIT)
    waiting = runner.qr_wait()
    scan(emu.session_string(authorized=True), code.url)
    assert waiting.result(WAIT) == "ok"
    assert runner.list_dialogs().result(WAIT)
    assert emu.log.count(method="ImportLoginTokenRequest", dc=2, error=None) == 1

"""QR login through the emulator's login-token flow: the code is "scanned" by another logged-in Telethon client
(auth.acceptLoginToken), refreshed before it expires, and followed by the 2FA password when the account has one."""

from __future__ import annotations

import asyncio
import base64
import time

import pytest
from telethon import TelegramClient, functions
from telethon.sessions import StringSession

from tests.support.settings import WAIT, engine_settings
from tobs_tui.emulator.credentials import DEMO_API_HASH, DEMO_API_ID
from tobs_tui.engine import EngineRunner


def token_of(url: str) -> bytes:
    assert url.startswith("tg://login?token=")
    text = url.removeprefix("tg://login?token=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def scan(session: str, url: str) -> None:
    """Another Telegram app, already logged in, accepts the code. As on Telegram, the waiting client must be
    listening before the code is scanned: the app draws the code and starts waiting at once, a person then
    takes seconds to scan it, and here a moment's pause stands in for that."""
    time.sleep(0.3)

    async def accept() -> None:
        client = TelegramClient(StringSession(session), DEMO_API_ID, DEMO_API_HASH, receive_updates=False)
        await client.connect()
        try:
            await client(functions.auth.AcceptLoginTokenRequest(token_of(url)))
        finally:
            await client.disconnect()

    asyncio.run(accept())


def log_in_with_phone(emulator, phone: str, password: str | None) -> str:
    """A session that logged in with this phone (the scanning app's account decides whether 2FA follows)."""

    async def run() -> str:
        client = TelegramClient(StringSession(emulator.session_string(authorized=False)), DEMO_API_ID, DEMO_API_HASH)
        await client.connect()
        try:
            await client.send_code_request(phone)
            try:
                await client.sign_in(phone, emulator.world.demo_code)
            except Exception:
                await client.sign_in(password=password)
            return client.session.save()
        finally:
            await client.disconnect()

    return asyncio.run(run())


@pytest.fixture
def qr_runner(emulator, tmp_path):
    runner = EngineRunner(
        engine_settings(tmp_path / "vault"),
        session=emulator.session_string(authorized=False),
        api_id=DEMO_API_ID,
        api_hash=DEMO_API_HASH,
    )
    runner.start()
    yield runner
    runner.stop()


def test_a_scanned_qr_code_logs_in(emulator, qr_runner):
    assert qr_runner.connect().result(WAIT) is False
    code = qr_runner.qr_code().result(WAIT)
    waiting = qr_runner.qr_wait()
    scan(emulator.session_string(authorized=True), code.url)
    assert waiting.result(WAIT) == "ok"
    assert qr_runner.list_dialogs().result(WAIT)
    assert emulator.log.count(method="AcceptLoginTokenRequest", error=None) == 1


def test_a_qr_code_is_refreshed_before_it_expires(emulator, qr_runner, monkeypatch):
    from tobs_tui.engine.telegram import login

    assert qr_runner.connect().result(WAIT) is False
    first = qr_runner.qr_code().result(WAIT)
    # Wait only a moment instead of the token's 30 s: what matters is that the wait ends in time to redraw.
    monkeypatch.setattr(login, "QR_REFRESH_MARGIN_S", 29.0)
    assert qr_runner.qr_wait().result(WAIT) == "refresh"
    second = qr_runner.qr_code().result(WAIT)
    assert second.url != first.url and second.expires >= first.expires
    waiting = qr_runner.qr_wait()
    scan(emulator.session_string(authorized=True), second.url)
    assert waiting.result(WAIT) == "ok"


def test_a_qr_login_of_an_account_with_2fa_asks_for_the_password(emulator, qr_runner):
    world = emulator.world
    scanner = log_in_with_phone(emulator, world.twofa_phone, world.twofa_password)
    assert qr_runner.connect().result(WAIT) is False
    code = qr_runner.qr_code().result(WAIT)
    waiting = qr_runner.qr_wait()
    scan(scanner, code.url)
    assert waiting.result(WAIT) == "password_needed"
    qr_runner.check_password(world.twofa_password).result(WAIT)
    assert qr_runner.list_dialogs().result(WAIT)


def test_a_qr_code_dropped_unscanned_stops_the_updates_and_the_phone_login_goes_on(emulator, qr_runner):
    """The login screen goes back from the QR code to the phone number: the wait is cancelled, the client
    stops taking updates (a QR login needs them, nothing else does), and logging in with a code still works."""
    assert qr_runner.connect().result(WAIT) is False
    qr_runner.qr_code().result(WAIT)
    waiting = qr_runner.qr_wait()
    time.sleep(0.3)
    assert waiting.cancel()
    client = qr_runner._client
    deadline = time.monotonic() + WAIT
    while not client._no_updates and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client._no_updates, "the client still takes updates after the QR code was dropped"
    assert qr_runner.send_code(emulator.world.demo_phone).result(WAIT) is None
    assert qr_runner.sign_in(emulator.world.demo_code).result(WAIT) == "ok"

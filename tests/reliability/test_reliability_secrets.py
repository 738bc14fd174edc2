"""Secrets never leave: a full login and export (media on, through a SOCKS5 proxy with a password) with DEBUG
logging to the log file, the exported files and the dashboard's screen captures never contain the auth key (hex,
base64, session string), the api hash, the login code, the 2FA password or the proxy's password; the session file
holding the key is private."""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
import sqlite3
import stat
import time
from pathlib import Path

import pytest
from telethon.crypto import AuthKey
from telethon.sessions import StringSession

from tests.support.proxies import RunningProxy, running_proxy
from tests.support.settings import WAIT, engine_settings
from tobs_tui import cli
from tobs_tui.config import Settings, settings_with
from tobs_tui.engine import ChatSelection, EngineRunner, ExportRequest
from tobs_tui.engine.snapshot import RunState
from tobs_tui.engine.telegram.client import open_session
from tobs_tui.engine.telegram.login import LoginError

API_ID = 611335
API_HASH = "5ec7e7a9b1c2d3e4f5a6b7c8d9e0f1a2"  # shaped like a real one, and unlike anything else in a run
PROXY_PASSWORD = "proxy-pw-7Qx2Lm9Vb4"


def proxied(settings: Settings, proxy: RunningProxy) -> Settings:
    return settings_with(settings, "network", proxy=f"socks5://alice:{PROXY_PASSWORD}@127.0.0.1:{proxy.port}")


def secret_forms(session_string: str, code: str, password: str) -> dict[str, list[bytes]]:
    """Every form a secret could leak in, as bytes to search files for."""
    key = StringSession(session_string).auth_key.key
    forms = {
        "auth key": [
            key,
            key.hex().encode(),
            key.hex().upper().encode(),
            base64.b64encode(key),
            base64.urlsafe_b64encode(key),
            base64.b64encode(key).rstrip(b"="),
            base64.urlsafe_b64encode(key).rstrip(b"="),
            # any 32-byte stretch of the key in hex or base64 (a truncated dump is still a leak)
            key[64:96].hex().encode(),
            base64.b64encode(key[66:96]),
        ],
        "session string": [session_string.encode()],
        "api hash": [API_HASH.encode(), API_HASH.upper().encode()],
        "2FA password": [password.encode()],
        "proxy password": [PROXY_PASSWORD.encode()],
    }
    forms["login code"] = [code.encode()]
    return forms


def leaks(data: bytes, forms: dict[str, list[bytes]], *, code_as_number: bool) -> list[str]:
    found = []
    for name, needles in forms.items():
        for needle in needles:
            if name == "login code" and code_as_number:
                # A 5-digit code is also part of bigger numbers (ids, sizes, timestamps): look for it alone.
                if re.search(rb"(?<![0-9])" + re.escape(needle) + rb"(?![0-9])", data):
                    found.append(name)
            elif needle in data:
                found.append(name)
    return sorted(set(found))


def files_under(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in sorted(root.rglob("*")) if p.is_file()]


@pytest.mark.slow
def test_full_login_and_export_with_debug_logs_leak_no_secret(emulator, tmp_path, capfd):
    world = emulator.world
    fresh = emulator.session_string(authorized=False)
    # A session file made the way the app makes one, holding the key the login will authorise.
    session_path = Path(os.environ["HOME"]) / ".local" / "share" / "tobs-tui" / "account.session"
    previous_umask = os.umask(0o022)  # a typical umask: files would be world-readable unless made private
    with contextlib.ExitStack() as stack:
        stack.callback(os.umask, previous_umask)
        session = open_session(session_path)
        parsed = StringSession(fresh)
        session.set_dc(parsed.dc_id, parsed.server_address, parsed.port)
        session.auth_key = AuthKey(parsed.auth_key.key)
        session.save()
        session.close()
        proxy = stack.enter_context(running_proxy("socks5", "alice", PROXY_PASSWORD))
        vault = tmp_path / "vault"
        settings = proxied(engine_settings(vault, media=True), proxy)
        settings = settings_with(settings, "telegram", api_hash=API_HASH, phone=world.twofa_phone)
        handlers = cli.setup_logging("DEBUG", secrets=settings.secrets())
        try:
            runner = EngineRunner(settings, session=session_path, api_id=API_ID, api_hash=API_HASH)
            runner.start()
            try:
                assert runner.connect().result(WAIT) is False
                runner.send_code(world.twofa_phone).result(WAIT)
                with pytest.raises(LoginError):
                    runner.sign_in("99999").result(WAIT)
                assert runner.sign_in(world.demo_code).result(WAIT) == "password_needed"
                with pytest.raises(LoginError):
                    runner.check_password(world.twofa_password + "x").result(WAIT)
                runner.check_password(world.twofa_password).result(WAIT)
                dialogs = runner.list_dialogs().result(WAIT)
                final = runner.start_export(
                    ExportRequest(chats=tuple(ChatSelection(d.chat_id) for d in dialogs))
                ).result(WAIT)
            finally:
                runner.stop()
            assert final.state is RunState.DONE, final.errors
            logging.getLogger("tobs_tui.reliability").debug("end of the secrets run")
        finally:
            cli.teardown_logging(handlers)

    forms = secret_forms(fresh, world.demo_code, world.twofa_password)
    log_dir = cli.log_file_path().parent
    logs = files_under(log_dir)
    assert logs and sum(p.stat().st_size for p in logs) > 10_000, "the DEBUG log should hold the whole run"
    assert b"end of the secrets run" in cli.log_file_path().read_bytes()
    for path in logs:
        assert leaks(path.read_bytes(), forms, code_as_number=True) == [], path
    out, err = capfd.readouterr()
    assert leaks((out + err).encode(), forms, code_as_number=True) == []
    exported = files_under(vault)
    assert any("/media/" in p.as_posix() for p in exported)
    for path in exported:
        # Media bytes are random: a 5-digit ASCII number turns up in them by chance, so the code is looked for
        # in the text files only; the other secrets are long enough to look for everywhere.
        text_file = path.suffix in (".md", ".json", ".jsonl")
        found = leaks(
            path.read_bytes(),
            forms if text_file else {k: v for k, v in forms.items() if k != "login code"},
            code_as_number=True,
        )
        assert found == [], path
    # The key is in the session file, which nobody else may read; the log dir is private as well.
    for path in [session_path, *session_path.parent.glob(session_path.name + "-*")]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(session_path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(log_dir.stat().st_mode) == 0o700
    # The session keeps the key, not the account's people: no user or chat the export met (usernames, phone
    # numbers) is cached in it.
    with contextlib.closing(sqlite3.connect(session_path)) as db:
        assert db.execute("SELECT count(*) FROM entities").fetchone() == (0,)


@pytest.mark.slow
async def test_dashboard_screens_never_show_secrets(emulator, tmp_path):
    from tobs_tui.ui.app import TobsApp

    world = emulator.world
    fresh = emulator.session_string(authorized=False)
    shots: list[str] = []
    with running_proxy("socks5", "alice", PROXY_PASSWORD) as proxy:
        settings = proxied(settings_with(Settings(), "export", output_dir=str(tmp_path / "vault")), proxy)
        # Not the demo (whose login screen shows the public demo credentials as a hint): a real first login.
        app = TobsApp(settings, session=fresh, api_id=API_ID, api_hash=API_HASH)
        try:
            await capture_screens(app, world, shots)
        finally:
            if app.runner is not None:  # before the emulator stops, or its client keeps redialling
                app.runner.stop()
    assert "two-step" in shots[0] and "wrong" in shots[2]
    assert f"SOCKS5 proxy 127.0.0.1:{proxy.port} (user alice, password hidden)" in shots[0].replace(
        "&#160;", " "
    )  # the captures really show the screens
    forms = secret_forms(fresh, world.demo_code, world.twofa_password)
    for shot in shots:
        # SVG text escapes some characters; the secrets here are plain hex, digits, letters and dashes.
        assert leaks(shot.encode(), forms, code_as_number=True) == []


async def capture_screens(app, world, shots: list[str]) -> None:
    from textual.widgets import Input

    from tobs_tui.ui.screens.chats import ChatsScreen
    from tobs_tui.ui.screens.login import LoginScreen

    async def until(pilot, condition, what: str) -> None:
        deadline = time.monotonic() + 90
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await pilot.pause(0.05)

    async def submit(pilot, field: str, value: str) -> None:
        app.screen.query_one(field, Input).value = value
        app.screen.query_one(field, Input).focus()
        await pilot.press("enter")

    async with app.run_test(size=(140, 42)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.step == "phone", "login")
        await submit(pilot, "#phone", world.twofa_phone)
        await until(pilot, lambda: app.screen.step == "code", "the code step")
        await submit(pilot, "#code", world.demo_code)
        await until(pilot, lambda: app.screen.step == "password", "the password step")
        shots.append(app.export_screenshot())
        app.screen.query_one("#password", Input).value = world.twofa_password + "x"
        app.screen.query_one("#password", Input).focus()
        await pilot.pause()
        shots.append(app.export_screenshot())  # a typed password is masked
        await pilot.press("enter")
        await until(pilot, lambda: "wrong" in str(app.screen.query_one("#login-error").render()), "the error")
        shots.append(app.export_screenshot())
        await submit(pilot, "#password", world.twofa_password)
        await until(pilot, lambda: isinstance(app.screen, ChatsScreen), "the chat list")
        await pilot.pause(0.5)
        shots.append(app.export_screenshot())
        for key in ("f3", "f4", "f5", "f6"):
            await pilot.press(key)
            await pilot.pause(0.3)
            shots.append(app.export_screenshot())


@pytest.mark.parametrize(
    "proxy",
    [
        f"socks5://alice:{PROXY_PASSWORD}@127.0.0.1:99999",  # a bad port
        f"http://alice:{PROXY_PASSWORD}@",  # no host
        "tg://proxy?port=443&secret=dd0123456789abcdef0123456789abcdef",  # no server
        "tg://proxy?server=h&port=443&secret=dd0123456789abcdef0123456789abcdefff",  # a secret of the wrong length
    ],
)
def test_a_proxy_flag_that_cannot_be_used_is_said_without_its_password_or_secret(tmp_path, capsys, proxy):
    from tobs_tui import cli

    code = cli.main(["export", "--all", "--emulator", "--proxy", proxy, "--out", str(tmp_path / "v")])
    out = capsys.readouterr()
    said = out.out + out.err
    assert code == 2 and said.count("\n") == 1, said
    assert PROXY_PASSWORD not in said and "0123456789abcdef0123" not in said, said
    assert "***" in said

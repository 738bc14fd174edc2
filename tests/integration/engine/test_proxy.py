"""Exports through a real proxy (pproxy on loopback) in front of the emulator, and one sentence when it fails."""

from __future__ import annotations

import base64
import dataclasses
import os
import socket
import threading

import psutil
import pytest

from tests.support.proxies import running_proxy
from tests.support.runners import running_emulator
from tests.support.settings import WAIT, engine_settings
from tobs_tui.emulator.credentials import DEMO_API_HASH, DEMO_API_ID
from tobs_tui.emulator.world import World
from tobs_tui.engine import ChatSelection, EngineRunner, ExportRequest
from tobs_tui.engine.snapshot import RunState

PASSWORD = "pw-9f3c1a77e2"


def proxied_runner(emulator, tmp_path, proxy_url: str, *, media: bool = False, **export) -> EngineRunner:
    settings = engine_settings(tmp_path / "vault", media=media, **export)
    settings = dataclasses.replace(settings, network=dataclasses.replace(settings.network, proxy=proxy_url))
    runner = EngineRunner(
        settings, session=emulator.session_string(authorized=True), api_id=DEMO_API_ID, api_hash=DEMO_API_HASH
    )
    runner.start()
    return runner


@pytest.mark.parametrize(
    ("kind", "user", "link"),
    [("socks5", "alice", False), ("socks4", "", False), ("http", "bob", False), ("socks5", "carol", True)],
)
def test_an_export_runs_through_the_proxy_and_every_connection_comes_from_it(emulator, tmp_path, kind, user, link):
    password = PASSWORD if user else ""
    with running_proxy(kind, user, password) as proxy:
        credentials = f"{user}:{password}@" if user else ""
        url = f"{kind}://{credentials}127.0.0.1:{proxy.port}"
        if link:  # as Telegram shares a SOCKS proxy
            url = f"tg://socks?server=127.0.0.1&port={proxy.port}&user={user}&pass={password}"
        runner = proxied_runner(emulator, tmp_path, url, media=True)
        try:
            assert runner.connect().result(WAIT) is True
            dialogs = runner.list_dialogs().result(WAIT)
            chat = min((d for d in dialogs if d.message_estimate), key=lambda d: d.message_estimate or 0)
            final = runner.start_export(ExportRequest(chats=(ChatSelection(chat.chat_id),))).result(WAIT)
            assert final.state is RunState.DONE, final.errors
            assert final.messages_done > 0
            # While the client is still connected: the emulator's clients are the proxy's outgoing sockets.
            clients = {r.client for r in emulator.log.records}
            assert clients and clients <= proxy.client_addresses(emulator.port)
            ours = psutil.Process(os.getpid()).net_connections(kind="tcp")
            assert not [c for c in ours if c.raddr and c.raddr.port == emulator.port], "a direct connection"
        finally:
            runner.stop()


def test_a_stopped_proxy_is_one_sentence_naming_it(emulator, tmp_path):
    with running_proxy("socks5", "alice", PASSWORD) as proxy:
        port = proxy.port
    runner = proxied_runner(emulator, tmp_path, f"socks5://alice:{PASSWORD}@127.0.0.1:{port}")
    try:
        with pytest.raises(ConnectionError) as e:
            runner.connect().result(WAIT)
    finally:
        runner.stop()
    assert str(e.value) == (
        f"The SOCKS5 proxy 127.0.0.1:{port} refused the connection (nothing listens there); start it or check "
        "[network] proxy in the config or --proxy."
    )
    assert emulator.log.records == []


def test_a_wrong_proxy_password_is_one_sentence_without_it(emulator, tmp_path):
    with running_proxy("socks5", "alice", PASSWORD) as proxy:
        runner = proxied_runner(emulator, tmp_path, f"socks5://alice:wrong-{PASSWORD}@127.0.0.1:{proxy.port}")
        try:
            with pytest.raises(ConnectionError) as e:
                runner.connect().result(WAIT)
        finally:
            runner.stop()
    text = str(e.value)
    assert text.startswith(f"The SOCKS5 proxy 127.0.0.1:{proxy.port} closed the connection during its handshake")
    assert "user name or password" in text and PASSWORD not in text and "\n" not in text
    assert emulator.log.records == []


def test_a_proxy_that_never_answers_is_one_sentence(emulator, tmp_path):
    # A listening socket that is never accepted from: the TCP handshake completes, the SOCKS one never does.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        runner = proxied_runner(emulator, tmp_path, f"socks5://127.0.0.1:{port}", request_timeout_s=3)
        try:
            with pytest.raises(ConnectionError) as e:
                runner.connect().result(WAIT)
        finally:
            runner.stop()
    assert str(e.value).startswith(f"The SOCKS5 proxy 127.0.0.1:{port} did not answer within 5 s")


def test_export_with_a_dead_proxy_flag_exits_2_with_the_sentence(tmp_path, capsys):
    from tests.support.proxies import free_port
    from tobs_tui import cli

    port = free_port()
    url = f"socks5://alice:{PASSWORD}@127.0.0.1:{port}"
    code = cli.main(["export", "--emulator", "lan", "--all", "--out", str(tmp_path / "v"), "--proxy", url])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err == (
        f"The SOCKS5 proxy 127.0.0.1:{port} refused the connection (nothing listens there); start it or check "
        "[network] proxy in the config or --proxy.\n"
    )
    assert PASSWORD not in cli.log_file_path().read_text()
    assert not [t for t in threading.enumerate() if t.name == "tobs-engine"], "the engine thread was stopped"


MT_SECRET = "7a6b5c4d3e2f10293847566574839201"


def _base64url(secret: str) -> str:
    return base64.urlsafe_b64encode(bytes.fromhex(secret)).decode().rstrip("=")


@pytest.mark.parametrize(
    ("secret", "written"),
    [
        (MT_SECRET, str),
        ("dd" + MT_SECRET, str),
        ("dd" + MT_SECRET, str.upper),  # hex is case-free
        ("dd" + MT_SECRET, _base64url),  # as Telegram's apps may share it
        ("dd" + MT_SECRET[2:], str),  # a plain secret whose first byte is 0xdd: no padding, all 16 bytes its key
    ],
)
def test_an_export_runs_through_the_emulators_mtproxy(tmp_path, secret, written):
    with running_emulator(world=World.synthetic(1, scale="test"), mtproxy_secret=secret) as emu:
        link = emu.mtproxy_link().replace(f"secret={secret}", f"secret={written(secret)}")
        runner = proxied_runner(emu, tmp_path, link)
        try:
            assert runner.connect().result(WAIT) is True
            dialogs = runner.list_dialogs().result(WAIT)
            chat = min((d for d in dialogs if d.message_estimate), key=lambda d: d.message_estimate or 0)
            final = runner.start_export(ExportRequest(chats=(ChatSelection(chat.chat_id),))).result(WAIT)
        finally:
            runner.stop()
        assert final.state is RunState.DONE, final.errors
        assert final.messages_done > 0
        transports = {r.transport for r in emu.log.records}
        assert transports == {"mtproxy-padded" if len(secret) == 34 else "mtproxy"}


def test_a_wrong_mtproxy_secret_is_one_sentence_without_it(tmp_path):
    with running_emulator(world=World.synthetic(1, scale="test"), mtproxy_secret="dd" + MT_SECRET) as emu:
        wrong = "dd" + MT_SECRET[::-1]
        link = emu.mtproxy_link().replace(MT_SECRET, MT_SECRET[::-1])
        runner = proxied_runner(emu, tmp_path, link, request_timeout_s=5)
        try:
            with pytest.raises(ConnectionError) as e:
                runner.connect().result(WAIT)
        finally:
            runner.stop()
        assert emu.log.records == []
    text = str(e.value)
    assert text.startswith(f"The MTProxy 127.0.0.1:{emu.mtproxy_port} took the connection but Telegram never answered")
    assert wrong not in text and MT_SECRET[::-1] not in text

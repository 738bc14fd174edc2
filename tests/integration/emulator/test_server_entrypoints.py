"""Session files, the `tobs-tui emulator` command and start_subprocess, opened with plain Telethon."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys

import pytest
from telethon import TelegramClient
from telethon.sessions import StringSession

from tobs_tui.emulator import start_subprocess

API_ID, API_HASH = 1, "emulator"  # the emulator accepts any api id and hash


async def _me_id(session) -> int:
    client = TelegramClient(session, API_ID, API_HASH)
    await client.connect()
    try:
        return (await client.get_me()).id
    finally:
        await client.disconnect()


@pytest.mark.parametrize("name", ["emu.session", "emu.txt"])
async def test_session_file_is_private_and_opens_with_plain_telethon(shared_emu, tmp_path, name):
    path = shared_emu.write_session(tmp_path / "sub" / name)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [name]  # no temp file left behind
    session = str(path) if name.endswith(".session") else StringSession(path.read_text().strip())
    assert await _me_id(session) == shared_emu.world.self_user_id


async def test_cli_prints_the_address_writes_the_session_and_stops_on_ctrl_c(tmp_path):
    out = tmp_path / "emu.session"
    cmd = [sys.executable, "-m", "tobs_tui", "emulator", "--profile", "lan", "--port", "0", "--session-out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "listening on 127.0.0.1:" in line
        assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
        assert await _me_id(str(out)) > 0
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "emulator stopped" in rest
    assert "Traceback" not in err


def test_cli_rejects_a_missing_world_file_in_one_sentence(tmp_path):
    cmd = [sys.executable, "-m", "tobs_tui", "emulator", "--port", "0", "--world", str(tmp_path / "nope.toml")]
    cmd += ["--session-out", str(tmp_path / "s.txt")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "nope.toml" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "s.txt").exists()


def test_cli_mtproxy_secret_prints_the_link_and_a_bad_one_is_one_sentence(tmp_path):
    base = [sys.executable, "-m", "tobs_tui", "emulator", "--profile", "lan", "--port", "0"]
    base += ["--session-out", str(tmp_path / "s.txt")]
    done = subprocess.run([*base, "--mtproxy-secret", "ee1234"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("The MTProxy secret must be 32 hexadecimal digits")
    assert len(done.stderr.strip().splitlines()) == 1

    secret = "dd" + "0f" * 16
    proc = subprocess.Popen([*base, "--mtproxy-secret", secret], stdout=subprocess.PIPE, text=True)
    try:
        assert "listening on 127.0.0.1:" in proc.stdout.readline()
        line = proc.stdout.readline()
        assert re.fullmatch(
            rf"MTProxy on 127\.0\.0\.1:(\d+): tg://proxy\?server=127\.0\.0\.1&port=\1&secret={secret}\n", line
        )
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=15)


def test_cli_dcs_prints_each_dc_and_a_bad_list_is_one_sentence(tmp_path):
    base = [sys.executable, "-m", "tobs_tui", "emulator", "--profile", "lan", "--port", "0"]
    base += ["--session-out", str(tmp_path / "s.txt")]
    for bad in ("2,2", "2,x", "9"):
        done = subprocess.run([*base, "--dcs", bad], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert done.stderr.startswith("The data centers must be distinct numbers from 1 to 5")
        assert len(done.stderr.strip().splitlines()) == 1
    proc = subprocess.Popen([*base, "--dcs", "2,4"], stdout=subprocess.PIPE, text=True)
    try:
        assert "(DC 2, profile lan" in proc.stdout.readline()
        assert re.fullmatch(r"DC 4 on 127\.0\.0\.1:\d+\n", proc.stdout.readline())
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=15)


async def test_start_subprocess_serves_from_another_process():
    handle = start_subprocess(profile="lan", seed=1)
    try:
        assert handle.host == "127.0.0.1" and handle.port > 0
        assert handle.process.pid != os.getpid()
        assert await _me_id(StringSession(handle.session_string)) > 0
    finally:
        handle.stop()
    assert handle.process.returncode == 0

"""Links and odd files at the session and config paths: nothing is written (or chmod-ed) through a link, a named
pipe never hangs a read, a read-only config is left alone, a symlinked config keeps its link; and only a session at
one of Telegram's production addresses is moved to the other address family (a test DC's session stays put)."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from telethon.sessions import StringSession

from tobs_tui.config import ConfigError, load_settings, save_settings, settings_with
from tobs_tui.engine.telegram.client import PRODUCTION_DCS, CredentialsError, address_family, open_session

pytestmark = pytest.mark.skipif(os.name != "posix", reason="symbolic links, hard links and named pipes as on POSIX")

CONFIG = '# my settings\n[telegram]\napi_id = 12345\napi_hash = "0123456789abcdef0123456789abcdef"\n'


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def without_hanging(call: Callable[[], object], fifo: Path, seconds: float = 10.0) -> object:
    """call() in a thread; a call stuck opening `fifo` for reading is let go (a writer opens and closes it) and the
    test fails, instead of hanging the run."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as e:
            outcome["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(seconds)
        pytest.fail(f"hung on the named pipe {fifo}")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("value")


# ---------------------------------------------------------------- the session file


@pytest.fixture
def outside(tmp_path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


def test_a_session_symlink_to_a_text_file_is_refused_and_the_file_keeps_its_mode(tmp_path, outside):
    victim = outside / "victim.txt"
    victim.write_bytes(b"VICTIM\n")
    victim.chmod(0o644)
    (tmp_path / "a.session").symlink_to(victim)
    with pytest.raises(CredentialsError, match="is a symbolic link") as e:
        open_session(str(tmp_path / "a.session"))
    assert str(e.value).count(". ") == 0 and str(e.value).endswith(".")  # one sentence
    assert mode(victim) == 0o644 and victim.read_bytes() == b"VICTIM\n"


def test_a_dangling_session_symlink_creates_nothing_where_it_points(tmp_path, outside):
    (tmp_path / "b.session").symlink_to(outside / "created.session")
    with pytest.raises(CredentialsError, match="is a symbolic link"):
        open_session(str(tmp_path / "b.session"))
    assert list(outside.iterdir()) == []
    assert (tmp_path / "b.session").is_symlink()


def test_a_session_symlink_to_another_database_leaves_it_untouched(tmp_path, outside):
    other = outside / "other.session"
    db = sqlite3.connect(other)
    db.execute("create table t(x)")
    db.commit()
    db.close()
    other.chmod(0o644)
    (tmp_path / "c.session").symlink_to(other)
    with pytest.raises(CredentialsError, match="is a symbolic link"):
        open_session(str(tmp_path / "c.session"))
    db = sqlite3.connect(other)
    assert [r[0] for r in db.execute("select name from sqlite_master")] == ["t"]
    db.close()
    assert mode(other) == 0o644


def test_a_hard_linked_session_file_is_refused_and_the_other_name_keeps_its_mode(tmp_path, outside):
    victim = outside / "victim.txt"
    victim.write_bytes(b"V4\n")
    victim.chmod(0o644)
    os.link(victim, tmp_path / "d.session")
    with pytest.raises(CredentialsError, match="hard-linked"):
        open_session(str(tmp_path / "d.session"))
    assert mode(victim) == 0o644 and victim.read_bytes() == b"V4\n"


def test_a_named_pipe_at_the_session_path_is_refused_by_what_it_is(tmp_path):
    fifo = tmp_path / "e.session"
    os.mkfifo(fifo)
    with pytest.raises(CredentialsError, match="not a regular file"):
        without_hanging(lambda: open_session(str(fifo)), fifo)


def test_a_new_session_file_is_created_0600_whatever_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        session = open_session(str(tmp_path / "new" / "me.session"))
    finally:
        os.umask(old)
    session.save()
    session.close()
    assert mode(tmp_path / "new" / "me.session") == 0o600


def test_an_existing_session_file_of_its_own_opens_and_is_made_0600(tmp_path):
    path = tmp_path / "me.session"
    first = open_session(str(path))
    first.save()
    first.close()
    path.chmod(0o644)
    again = open_session(str(path))
    again.close()
    assert mode(path) == 0o600


# ---------------------------------------------------------------- test DCs and the address family

# Telegram's test DCs use the ids 1-3 in the production networks: TDLib has them built in at these addresses.
TEST_DCS = [(1, "149.154.175.10"), (2, "149.154.167.40"), (3, "149.154.175.117")]
TEST_DCS_V6 = [(1, "2001:b28:f23d:f001::e"), (2, "2001:67c:4e8:f002::e"), (3, "2001:b28:f23d:f003::e")]


@pytest.mark.parametrize(("dc", "address", "ipv6"), [(*t, True) for t in TEST_DCS] + [(*t, False) for t in TEST_DCS_V6])
def test_a_test_dc_session_keeps_its_address_and_family(dc, address, ipv6):
    s = StringSession()
    s.set_dc(dc, address, 443)
    assert address_family(s, ipv6) is (not ipv6)
    assert (s.dc_id, s.server_address, s.port) == (dc, address, 443)


@pytest.mark.parametrize(
    ("dc", "address"),
    [(2, "149.154.167.50"), (1, "149.154.175.53"), (4, "2001:067c:04e8:f004:0000:0000:0000:000a")],
)
def test_a_session_at_a_production_address_from_get_config_moves_to_the_other_family(dc, address):
    ipv6 = ":" not in address
    s = StringSession()
    s.set_dc(dc, address, 443)
    assert address_family(s, ipv6) is ipv6
    assert (s.dc_id, s.server_address) == (dc, PRODUCTION_DCS[dc][int(ipv6)])


def test_a_production_address_of_another_dc_is_not_taken_for_this_one():
    s = StringSession()
    s.set_dc(4, PRODUCTION_DCS[2][0], 443)
    assert address_family(s, True) is False
    assert (s.dc_id, s.server_address) == (4, PRODUCTION_DCS[2][0])


# ---------------------------------------------------------------- the config file


def save_one_change(path: Path) -> Path:
    return save_settings(settings_with(load_settings(path), "workers", media_download_workers=3), path)


def test_a_named_pipe_as_the_config_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    # TOBS_CONFIG, as doctor, `config show` and an export read it.
    with pytest.raises(ConfigError, match="it is a named pipe, not a regular file") as e:
        without_hanging(lambda: load_settings(env={"TOBS_CONFIG": str(fifo)}), fifo)
    assert len(e.value.messages) == 1
    with pytest.raises(ConfigError, match="named pipe"):
        without_hanging(
            lambda: save_settings(settings_with(load_settings(None, env={}), "ui", refresh_hz=3), fifo), fifo
        )
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_the_null_device_still_reads_as_an_empty_config():
    assert load_settings(Path(os.devnull)).file_keys == frozenset()


def test_a_read_only_config_is_not_overwritten(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    path.chmod(0o400)
    with pytest.raises(ConfigError, match="read-only") as e:
        save_one_change(path)
    assert str(path) in str(e.value) and "chmod u+w" in str(e.value)
    assert path.read_text() == CONFIG and mode(path) == 0o400
    assert not list(tmp_path.glob(".config.toml.*"))  # no temp file left


def test_a_symlinked_config_keeps_its_link_and_its_target_gets_the_change(tmp_path):
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "config.toml"
    real.write_text(CONFIG)
    real.chmod(0o600)
    link = tmp_path / "conf" / "config.toml"
    link.parent.mkdir()
    link.symlink_to(os.path.relpath(real, link.parent))
    assert save_one_change(link) == link
    assert link.is_symlink() and link.resolve() == real.resolve()
    text = real.read_text()
    assert text.startswith("# my settings") and "media_download_workers = 3" in text
    assert mode(real) == 0o600
    assert sorted(p.name for p in dotfiles.iterdir()) == ["config.toml"]
    assert sorted(p.name for p in link.parent.iterdir()) == ["config.toml"]


def test_a_dangling_config_symlink_is_refused_and_nothing_is_created(tmp_path):
    link = tmp_path / "config.toml"
    link.symlink_to(tmp_path / "gone" / "config.toml")
    with pytest.raises(ConfigError, match="does not exist"):
        save_settings(settings_with(load_settings(None, env={}), "ui", refresh_hz=3), link)
    assert link.is_symlink() and not (tmp_path / "gone").exists()


async def test_the_settings_panel_says_a_read_only_config_was_not_saved(tmp_path, monkeypatch):
    from textual.widgets import Input, Label

    from tests.ui.test_ui_snapshots import offline_app

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    path.chmod(0o400)
    app = offline_app(config_path=path)
    async with app.run_test(size=(140, 40)) as pilot:
        await app.switch_mode("settings")
        await pilot.pause()
        app.screen.query_one("#concurrency", Input).value = "7"
        await pilot.press("ctrl+s")
        await pilot.pause()
        whole = " ".join(str(app.screen.query_one("#settings-result", Label).render()).split())
    assert "not saved" in whole and "read-only" in whole, whole
    assert path.read_text() == CONFIG and mode(path) == 0o400

"""[network] ipv6 and a session made over the other family: it stays on its own data center."""

from __future__ import annotations

import os

import pytest
from telethon.crypto import AuthKey
from telethon.sessions import SQLiteSession

from tobs_tui.engine.telegram.client import PRODUCTION_DCS, PRODUCTION_PORT, address_family


def session(tmp_path, dc: int, address: str) -> SQLiteSession:
    s = SQLiteSession(str(tmp_path / "me"))
    s.set_dc(dc, address, 443)
    s.auth_key = AuthKey(os.urandom(256))
    s.save()
    return s


@pytest.mark.parametrize("dc", sorted(PRODUCTION_DCS))
@pytest.mark.parametrize("ipv6", [True, False])
def test_a_production_dcs_session_moves_to_the_same_dcs_other_address(tmp_path, dc, ipv6):
    before = session(tmp_path, dc, PRODUCTION_DCS[dc][int(not ipv6)])
    key = before.auth_key.key
    assert address_family(before, ipv6) is ipv6
    after = SQLiteSession(str(tmp_path / "me"))  # as saved
    assert (after.dc_id, after.server_address, after.port) == (dc, PRODUCTION_DCS[dc][int(ipv6)], PRODUCTION_PORT)
    assert after.auth_key.key == key, "the login is kept"


@pytest.mark.parametrize(("address", "ipv6"), [("127.0.0.1", True), ("::1", False), ("10.1.2.3", True)])
def test_another_servers_session_keeps_its_family(tmp_path, address, ipv6):
    s = session(tmp_path, 2, address)
    assert address_family(s, ipv6) is (":" in address)
    assert SQLiteSession(str(tmp_path / "me")).server_address == address


@pytest.mark.parametrize("ipv6", [True, False])
def test_a_new_session_or_the_same_family_is_left_as_it_is(tmp_path, ipv6):
    assert address_family(SQLiteSession(str(tmp_path / "new")), ipv6) is ipv6
    s = session(tmp_path, 4, PRODUCTION_DCS[4][int(ipv6)])
    assert address_family(s, ipv6) is ipv6
    assert SQLiteSession(str(tmp_path / "me")).server_address == PRODUCTION_DCS[4][int(ipv6)]

"""Builds the Telethon client the engine uses: the session (StringSession or a 0600 `.session` file),
api credentials, the proxy, and `flood_sleep_threshold=0` so every FloodWait reaches our own policy."""

from __future__ import annotations

import errno
import ipaddress
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

from telethon import TelegramClient
from telethon.network.connection import (
    ConnectionTcpMTProxyIntermediate,
    ConnectionTcpMTProxyRandomizedIntermediate,
)
from telethon.sessions import SQLiteSession, StringSession
from telethon.sessions.abstract import Session

from tobs_tui.network import Proxy


class CredentialsError(Exception):
    """The api id / hash needed to talk to Telegram are missing (one clear sentence)."""


def is_session_path(session: str | Path) -> bool:
    """A Path, or a string naming a `.session` file, is a file session; any other string is a StringSession."""
    if isinstance(session, Path):
        return True
    return session.endswith(".session") or os.sep in session


class _StringSession(StringSession):
    """A StringSession that, like our file sessions, keeps no entity cache (see open_session)."""

    def process_entities(self, tlo) -> None:
        return None


def session_file(session: str | Path) -> Path:
    """The file a file session lives in: Telethon names it "<name>.session"."""
    path = Path(session).expanduser()
    return path if path.suffix == ".session" else path.with_name(path.name + ".session")


def _refuse_unsafe(path: Path) -> bool:
    """Whether a file is already at `path`; raises one sentence if what is there is not a file of our own.

    The session holds the auth key: a link would have the key written, and the mode set, on a file somewhere else
    (another program's database, a dangling link's target), so nothing at the path is followed."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(st.st_mode):
        raise CredentialsError(
            f"The session file {path} is a symbolic link, which tobs-tui does not write through; remove the link or "
            "set telegram.session_path to the file itself."
        )
    if stat.S_ISDIR(st.st_mode):
        raise CredentialsError(f"The session file {path} is a folder; point session_path at a file and log in again.")
    if not stat.S_ISREG(st.st_mode):
        raise CredentialsError(
            f"The session file {path} is not a regular file (a pipe, socket or device); remove it or set "
            "telegram.session_path to another file."
        )
    if st.st_nlink > 1:
        raise CredentialsError(
            f"The session file {path} is hard-linked to another file, which would get the auth key too; move it away "
            "(or copy it to a file of its own) and run `tobs-tui` again."
        )
    return True


# POSIX flags (elsewhere the lstat check stands alone): a link planted since the check is not followed, and a pipe
# planted since then does not hang the open (a regular file ignores O_NONBLOCK).
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def open_session(session: str | Path) -> Session:
    """Open the session; a file session is created with mode 0600 (it holds the auth key).

    Neither kind caches entities: Telethon would otherwise store every user and chat of every reply in the
    session (one row each, per history page), and the engine resolves peers from its own dialog list."""
    if not is_session_path(session):
        return _StringSession(session)
    path = session_file(session)
    exists = _refuse_unsafe(path)
    if not exists:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Open it ourselves first, never following a link: SQLite would create it with the umask's mode (often 0644),
    # and O_EXCL makes a link planted since the check fail rather than be followed.
    flags = os.O_RDWR | _NOFOLLOW | _NONBLOCK | (0 if exists else os.O_CREAT | os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        _refuse_unsafe(path)  # something appeared there meanwhile: name it
        raise CredentialsError(
            f"The session file {path} appeared while tobs-tui was creating it; run `tobs-tui` again."
        ) from None
    except OSError as e:
        if e.errno == errno.ELOOP:  # O_NOFOLLOW met a link planted since the check
            _refuse_unsafe(path)
        reason = e.strerror or type(e).__name__
        raise CredentialsError(
            f"Cannot open the session file {path} ({reason}); check its folder's permissions or set "
            "telegram.session_path to another file."
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:  # swapped for something else since the check
            _refuse_unsafe(path)
            raise CredentialsError(f"The session file {path} changed while tobs-tui opened it; run `tobs-tui` again.")
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # through the descriptor: the file just checked, not whatever the path names now
        else:
            os.chmod(path, 0o600)
    finally:
        os.close(fd)
    try:
        file_session = SQLiteSession(str(path))
    except sqlite3.DatabaseError as e:
        raise CredentialsError(
            f"The session file {path} is not a Telegram session ({e}); move it away and run `tobs-tui` to log in again."
        ) from None
    file_session.save_entities = False
    return file_session


def _mtproxy_key(secret: str) -> bytes:
    """The 16-byte key of a secret in network.mtproxy_secret's form (lowercase hex, a padded one with its dd)."""
    return bytes.fromhex(secret)[-16:]


class _MTProxy(ConnectionTcpMTProxyIntermediate):
    """Telethon's MTProxy transport with the secret as tobs-tui read it: Telethon's own reading takes a leading
    "dd" for the padding mark whatever the secret's length, so a plain secret whose first byte is 0xdd (one
    in 256) lost a byte of its key, and an uppercase "DD" was kept as part of it."""

    normalize_secret = staticmethod(_mtproxy_key)


class _PaddedMTProxy(ConnectionTcpMTProxyRandomizedIntermediate):
    """The same, with random padding (a dd secret)."""

    normalize_secret = staticmethod(_mtproxy_key)


# Telegram's production data centers at their IPv4 and IPv6 addresses, as Telegram's own client library has them
# built in (TDLib, ConnectionCreator); port 443 serves both.
PRODUCTION_DCS = {
    1: ("149.154.175.50", "2001:b28:f23d:f001::a"),
    2: ("149.154.167.51", "2001:67c:4e8:f002::a"),
    3: ("149.154.175.100", "2001:b28:f23d:f003::a"),
    4: ("149.154.167.91", "2001:67c:4e8:f004::a"),
    5: ("149.154.171.5", "2001:b28:f23f:f005::a"),
}
PRODUCTION_PORT = 443
# Every address a session of a production DC may hold: the built-in ones above, and the ones help.getConfig hands
# out, which Telethon stores on a switch of DC (as a capture of Telegram's answer lists them, e.g. gotd/td
# telegram/dcs/prod.go). Telegram's test DCs sit in the same networks (149.154.167.40, 149.154.175.10, ...), so
# only an exact address says "production"; one not listed keeps its family, which is safe (nothing is moved).
_CONFIG_ADDRESSES = {1: ("149.154.175.53", "149.154.175.59"), 2: ("149.154.167.50",), 5: ("91.108.56.173",)}
_PRODUCTION_ADDRESSES = {
    dc: frozenset(ipaddress.ip_address(a) for a in (*PRODUCTION_DCS[dc], *_CONFIG_ADDRESSES.get(dc, ())))
    for dc in PRODUCTION_DCS
}


def is_production_address(dc_id: int, address: str) -> bool:
    """Whether `address` (either family, any spelling) is one of production DC `dc_id`'s own addresses."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip in _PRODUCTION_ADDRESSES.get(dc_id, frozenset())


def address_family(session: Session, ipv6: bool) -> bool:
    """Whether to dial IPv6 for this session, asked for `ipv6`; re-points a session of a production DC at the
    same DC's address of the family asked for.

    Telethon meets a session whose address is of the other family by moving it to DC 2 with the key it has,
    which logs out an account whose home is another DC. A session at one of Telegram's own production addresses
    is moved to the same DC's other address (the key stays valid there); any other server (a test DC, whose ids
    are 1-5 too, the emulator) keeps its address and the family it was made with: a test account's key means
    nothing to production."""
    address = session.server_address
    if not address or (":" in address) == ipv6:
        return ipv6
    if is_production_address(session.dc_id, address):
        session.set_dc(session.dc_id, PRODUCTION_DCS[session.dc_id][int(ipv6)], PRODUCTION_PORT)
        session.save()
        return ipv6
    return ":" in address


def proxy_arguments(proxy: Proxy | None) -> dict[str, Any]:
    """Telethon's own proxy support: python-socks for SOCKS and HTTP, its MTProxy connection classes."""
    if proxy is None:
        return {}
    if proxy.kind == "mtproxy":
        # A dd secret asks for random padding, which only the padded intermediate transport carries.
        kind = _PaddedMTProxy if proxy.randomized_padding else _MTProxy
        return {"connection": kind, "proxy": (proxy.host, proxy.port, proxy.secret)}
    return {
        "proxy": {
            "proxy_type": proxy.kind,
            "addr": proxy.host,
            "port": proxy.port,
            "username": proxy.username or None,
            "password": proxy.password or None,
            "rdns": True,
        }
    }


def build_client(
    session: str | Path, api_id: int, api_hash: str, proxy: Proxy | None = None, *, ipv6: bool = False
) -> TelegramClient:
    """The client for the engine's own loop (call from inside that loop). `ipv6`: dial the data centers at their
    IPv6 addresses (Telegram's list has both; a session made over IPv4 keeps its home DC's IPv4 address)."""
    if not api_id or not api_hash:
        raise CredentialsError(
            "No Telegram api_id/api_hash configured; get them at https://my.telegram.org and set "
            "telegram.api_id and telegram.api_hash in the config (or use --emulator)."
        )
    # Telethon keeps help.getConfig (the DC addresses) on the class, across clients: a new client (the demo's
    # emulator, then a real account) must ask its own server again rather than dial the last one's DCs.
    TelegramClient._config = None
    opened = open_session(session)
    ipv6 = address_family(opened, ipv6)
    return TelegramClient(
        opened,
        int(api_id),
        api_hash,
        # Every FloodWait must pass through FloodWaitPolicy and become a visible event.
        flood_sleep_threshold=0,
        # The exporter reads history; live updates would only add traffic and GetDifference calls.
        receive_updates=False,
        # Our own wrapper retries with a timeout and reconnect; Telethon's inner retries stay for 500s.
        request_retries=3,
        raise_last_call_error=True,  # a 500 or -503 left after its retries is raised as itself, for source.call
        connection_retries=5,
        retry_delay=1,
        auto_reconnect=True,
        use_ipv6=ipv6,
        **proxy_arguments(proxy),
    )

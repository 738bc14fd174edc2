"""A local Telegram DC: a real MTProto server on loopback serving a synthetic world.

``Emulator`` runs it on a background thread; ``start_subprocess`` runs it in its own process.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tobs_tui.emulator.handshake import register_public_key
from tobs_tui.emulator.profiles import Behaviour, Profile, get_profile
from tobs_tui.emulator.requestlog import Record, RequestLog
from tobs_tui.emulator.server import DC_ID, DcServer, ServerThread
from tobs_tui.emulator.sessionfile import session_string, write_session
from tobs_tui.emulator.transports import check_mtproxy_secret

# Telegram's production DCs are 1 to 5.
KNOWN_DCS = range(1, 6)


def check_dcs(dcs: tuple[int, ...] | str) -> tuple[int, ...]:
    """The DC ids (a tuple, or text such as "2,4"), first the account's: distinct, each 1..5; ValueError says
    what is wrong."""
    shown = dcs if isinstance(dcs, str) else ",".join(map(str, dcs))
    try:
        ids = tuple(int(x) for x in dcs.split(",")) if isinstance(dcs, str) else tuple(dcs)
    except ValueError:
        ids = ()
    if not ids or len(set(ids)) != len(ids) or any(dc not in KNOWN_DCS for dc in ids):
        raise ValueError(
            f"The data centers must be distinct numbers from 1 to 5, the account's first (e.g. 2,4); got {shown!r}."
        )
    return ids


if TYPE_CHECKING:
    from tobs_tui.emulator.world import World

__all__ = ["Emulator", "EmulatorProcess", "Profile", "Record", "RequestLog", "check_dcs", "start_subprocess"]

LOOPBACK = "127.0.0.1"
LOOPBACK_IPV6 = "::1"


class Emulator:
    """The emulated DCs on their own thread and asyncio loop; usable from any thread or loop (or none)."""

    def __init__(
        self,
        profile: str = "lan",
        seed: int = 1,
        world: World | str | Path | None = None,
        overrides: dict[str, Any] | None = None,
        mtproxy_secret: str | None = None,
        dcs: tuple[int, ...] = (DC_ID,),
        ipv6: bool = False,
    ) -> None:
        """`mtproxy_secret` (hex, see check_mtproxy_secret) also opens an MTProxy port in front of the DCs.
        `dcs`: the data centers served, each on its own port; the account and its login live on the first, files
        are spread over all of them (docs/EMULATOR.md). `ipv6`: listen on ::1 instead, and list the DCs as IPv6
        addresses (Telegram lists both kinds; a client set to use IPv6 takes those)."""
        self.loopback = LOOPBACK_IPV6 if ipv6 else LOOPBACK
        # Imported on first use: the world and its handlers are the heavy part of the package.
        from tobs_tui.emulator.api import Api
        from tobs_tui.emulator.world import World

        if world is None:
            world = World.synthetic(seed)
        elif isinstance(world, str | Path):
            world = World.load(world)
        self.dcs = check_dcs(dcs)
        register_public_key()  # so a client here that meets a DC without a key accepts ours
        world.file_dcs = self.dcs
        self.world = world
        self.api = Api(world)
        self.seed = seed
        self.log = RequestLog()
        self._overrides = overrides
        self._behaviour = Behaviour(get_profile(profile, overrides), seed)
        secret = check_mtproxy_secret(mtproxy_secret) if mtproxy_secret is not None else None
        self._servers = {
            dc: DcServer(self.api, self._behaviour, self.log, dc_id=dc, mtproxy_secret=secret if dc == dcs[0] else None)
            for dc in self.dcs
        }
        self._server = self._servers[self.dcs[0]]
        self._thread = ServerThread(*self._servers.values())
        self._authorized_key = os.urandom(256)
        self._authorized_key_id = self._server.add_key(self._authorized_key)
        self.api.authorize(self._authorized_key_id)
        self.host = ""
        self.port = 0
        self.mtproxy_port = 0

    @property
    def profile(self) -> Profile:
        return self._behaviour.profile

    def start(self, port: int = 0) -> Emulator:
        """Listen on 127.0.0.1 or ::1 (only: the emulator is never reachable from the network); 0 picks a free
        port."""
        self._thread.start(self.loopback, port)
        self.host, self.port = self._server.host, self._server.port
        self.mtproxy_port = self._server.mtproxy_port
        self.api.dcs = [(dc, server.host, server.port) for dc, server in self._servers.items()]
        return self

    def port_of(self, dc: int) -> int:
        """The port DC `dc` listens on."""
        return self._servers[dc].port

    def mtproxy_link(self) -> str:
        """The tg://proxy link of the MTProxy port (only with `mtproxy_secret`), as Telegram apps share one."""
        secret = self._server.mtproxy_secret
        if secret is None or not self.mtproxy_port:
            raise RuntimeError("This emulator has no MTProxy port: give mtproxy_secret and start it.")
        return f"tg://proxy?server={self.host}&port={self.mtproxy_port}&secret={secret}"

    def stop(self) -> None:
        self._thread.stop()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def session_string(self, authorized: bool = True, dc: int | None = None) -> str:
        """A Telethon StringSession for the account's DC: logged in, or a fresh key that must sign in first.
        `dc` names another DC for a fresh key (its login answers PHONE_MIGRATE to the account's DC)."""
        server = self._server if dc is None else self._servers[dc]
        if authorized:
            if server is not self._server:
                raise ValueError("A logged-in session is for the account's own DC; leave dc out.")
            key = self._authorized_key
        else:
            key = os.urandom(256)
            server.add_key(key)
        return session_string(server.dc_id, server.host, server.port, key)

    def write_session(self, path: str | Path) -> Path:
        """Write the logged-in session (SQLite if ``path`` ends in .session, else StringSession text), mode 0600."""
        return write_session(path, self._server.dc_id, self.host, self.port, self._authorized_key)

    def script(
        self,
        method: str,
        nth: int = 1,
        *,
        error: str | None = None,
        action: str | None = None,
        peer: int | None = None,
    ) -> None:
        """Fault the ``nth`` matching call of ``method`` from now on: an rpc error or a connection action."""
        self._behaviour.script(method, nth, error=error, action=action, peer=peer)

    def set_profile(self, profile: str, overrides: dict[str, Any] | None = None) -> None:
        """Switch behaviour live (buckets start full); applied between requests on the server loop."""
        new = get_profile(profile, overrides)
        self._thread.call(lambda: self._behaviour.set_profile(new))

    def drop_connections(self, dc: int | None = None) -> None:
        """Close every client connection (of one DC, or all), as a network blip would."""
        for server in self._servers.values() if dc is None else (self._servers[dc],):
            self._thread.call(server.drop_connections)


_ADDRESS_LINE = re.compile(r"listening on ([0-9.]+):(\d+)")


class EmulatorProcess:
    """An emulator running in a child process (``python -m tobs_tui.emulator.cli``); ``stop()`` ends it."""

    def __init__(self, process: subprocess.Popen[str], host: str, port: int, session_string: str) -> None:
        self.process = process
        self.host = host
        self.port = port
        self.session_string = session_string

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # the same clean stop as Ctrl-C
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_subprocess(
    profile: str = "lan", seed: int = 1, world_path: str | Path | None = None, timeout: float = 60.0
) -> EmulatorProcess:
    """Start the emulator in its own process (so it does not share the caller's GIL) and wait until it listens."""
    with tempfile.TemporaryDirectory(prefix="tobs-emu-") as tmp:
        session_path = Path(tmp) / "emulator.txt"
        cmd = [sys.executable, "-m", "tobs_tui.emulator.cli", "--profile", profile, "--port", "0"]
        cmd += ["--seed", str(seed), "--session-out", str(session_path)]
        if world_path is not None:
            cmd += ["--world", str(world_path)]
        process = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        try:
            line = _read_line(process, timeout)
            match = _ADDRESS_LINE.search(line)
            if match is None:
                raise RuntimeError(f"The emulator process did not start: {line.strip() or 'no output'}")
            text = session_path.read_text(encoding="ascii").strip()
        except BaseException:
            process.kill()
            process.wait()
            raise
    return EmulatorProcess(process, match.group(1), int(match.group(2)), text)


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not result:
        raise TimeoutError(f"The emulator process printed no address within {timeout:.0f} s.")
    return result[0]

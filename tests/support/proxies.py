"""A real SOCKS5/SOCKS4/HTTP proxy (pproxy, a test dependency) in its own process on loopback."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil


@dataclass
class RunningProxy:
    process: subprocess.Popen
    port: int

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def client_addresses(self, to_port: int) -> set[str]:
        """ "host:port" of each open connection the proxy made to `to_port` (what the server sees as the client)."""
        return {
            f"{c.laddr.ip}:{c.laddr.port}"
            for c in psutil.Process(self.process.pid).net_connections(kind="tcp")
            if c.raddr and c.raddr.port == to_port
        }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_proxy(kind: str = "socks5", user: str = "", password: str = "") -> Iterator[RunningProxy]:
    """pproxy listening on 127.0.0.1; with `user`, it asks for that user name and password on every connection."""
    port = free_port()
    auth = f"#{user}:{password}" if user else ""
    # --auth 0: check the password on every connection (pproxy otherwise trusts an address that logged in once).
    cmd = [sys.executable, "-m", "pproxy", "-l", f"{kind}://127.0.0.1:{port}{auth}", "--auth", "0"]
    proxy = RunningProxy(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), port)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proxy.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"pproxy did not start on port {port}") from None
                time.sleep(0.05)
        yield proxy
    finally:
        proxy.stop()

"""The emulator's request log: one frozen record per RPC the server answered (or chose not to answer)."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from telethon.tl.tlobject import TLObject

# Bounded so a long benchmark cannot grow the log without limit; tests look at far fewer records.
DEFAULT_MAX_RECORDS = 200_000

_SCALARS = (int, str, bool, float, type(None))


@dataclass(frozen=True, slots=True)
class Record:
    """One request as the server saw it; ``error`` is the rpc_error text or the fault action taken."""

    t: float  # time.time() when the request was decided
    method: str  # Telethon request class name, wrappers removed ("GetHistoryRequest")
    conn_id: int
    peer: int | None  # marked peer id the request targets, when it targets one
    params: dict[str, Any] = field(hash=False)
    error: str | None = None  # "FLOOD_WAIT_3", "FILE_REFERENCE_EXPIRED", "drop_before_reply", ...
    bytes: int = 0  # upload.File payload bytes sent
    client: str = ""  # "host:port" the connection came from (a proxy's, when the client used one)
    transport: str = ""  # "tcp-full", or "mtproxy" / "mtproxy-padded" through the emulated MTProxy
    dc: int = 0  # the data center that answered


def request_params(request: TLObject) -> dict[str, Any]:
    """The request's scalar fields, plus one level into nested TL objects ("location.id")."""
    params: dict[str, Any] = {}
    for name, value in vars(request).items():
        if isinstance(value, _SCALARS):
            params[name] = value
        elif isinstance(value, TLObject):
            params[name] = type(value).__name__
            for sub, subvalue in vars(value).items():
                if isinstance(subvalue, _SCALARS):
                    params[f"{name}.{sub}"] = subvalue
    return params


class RequestLog:
    """Thread-safe: the server thread appends, tests read from their own thread."""

    def __init__(self, max_records: int = DEFAULT_MAX_RECORDS) -> None:
        self._records: deque[Record] = deque(maxlen=max_records)
        self._lock = threading.Lock()

    def add(self, record: Record) -> None:
        with self._lock:
            self._records.append(record)

    @property
    def records(self) -> list[Record]:
        with self._lock:
            return list(self._records)

    def count(
        self, method: str | None = None, peer: int | None = None, error: str | None = None, dc: int | None = None
    ) -> int:
        """How many records match every filter given (``None`` matches anything)."""
        return len(self.find(method=method, peer=peer, error=error, dc=dc))

    def find(
        self, method: str | None = None, peer: int | None = None, error: str | None = None, dc: int | None = None
    ) -> list[Record]:
        return [
            r
            for r in self.records
            if (method is None or r.method == method)
            and (peer is None or r.peer == peer)
            and (error is None or r.error == error)
            and (dc is None or r.dc == dc)
        ]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

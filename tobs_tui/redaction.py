"""Secrets this process knows, which every log record is cleaned of (cli.SecretRedactor): those in the config
from the start, those typed at a login (the api hash, the phone number, the 2FA password) from when they are
given to the engine. No log line is meant to hold one; this is what keeps a slip out of the log file."""

from __future__ import annotations

import threading

MIN_LENGTH = 4  # shorter text would be replaced everywhere it happens to occur

_lock = threading.Lock()
_known: frozenset[str] = frozenset()


def add(*secrets: str | None) -> None:
    """Clean these out of every log record from now on."""
    global _known
    new = {s for s in secrets if s and len(s) >= MIN_LENGTH}
    if new - _known:
        with _lock:
            _known = _known | new


def known() -> frozenset[str]:
    return _known

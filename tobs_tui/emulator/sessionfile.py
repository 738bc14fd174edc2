"""Telethon sessions that point at the emulator: a StringSession text, or a SQLite ``.session`` file (mode 0600)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from telethon.crypto import AuthKey
from telethon.sessions import SQLiteSession, StringSession


def session_string(dc_id: int, host: str, port: int, key: bytes) -> str:
    session = StringSession()
    session.set_dc(dc_id, host, port)
    session.auth_key = AuthKey(key)
    return session.save()


def write_session(path: str | Path, dc_id: int, host: str, port: int, key: bytes) -> Path:
    """Write the session atomically with mode 0600: SQLite if ``path`` ends in .session, else the string."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temp name keeps the .session suffix so SQLiteSession does not append another one.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".session")
    try:
        if path.suffix == ".session":
            os.close(fd)
            os.unlink(tmp)  # SQLiteSession must create the database itself
            sqlite = SQLiteSession(tmp)
            sqlite.set_dc(dc_id, host, port)
            sqlite.auth_key = AuthKey(key)
            sqlite.close()
            os.chmod(tmp, 0o600)
        else:
            with os.fdopen(fd, "w", encoding="ascii") as f:  # mkstemp already made it 0600
                f.write(session_string(dc_id, host, port, key) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path

"""Telegram RPC errors the emulator answers with (the server writes them as rpc_error)."""

from __future__ import annotations


class RpcError(Exception):
    """A Telegram error: HTTP-like ``code`` and the upper-case ``message`` Telethon maps to an exception."""

    def __init__(self, code: int, message: str):
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message

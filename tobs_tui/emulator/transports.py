"""How MTProto packets travel on one connection: TCP-full framing (a DC's own port), or the obfuscated
intermediate transport an MTProxy speaks, keyed by the proxy's secret."""

from __future__ import annotations

import asyncio
import hashlib
import re
import struct
from zlib import crc32

from telethon.crypto import AESModeCTR

MAX_PACKET = 4 * 1024 * 1024
_INTERMEDIATE = b"\xee\xee\xee\xee"
_PADDED = b"\xdd\xdd\xdd\xdd"
_SECRET = re.compile(r"(dd)?[0-9a-f]{32}")
_FAKE_TLS = re.compile(r"ee[0-9a-f]{32}(?:[0-9a-f]{2})*")  # ee, the key, then the hex of the domain it mimics


class TransportClosed(Exception):
    """The client sent something this transport cannot carry; the connection ends."""


def check_mtproxy_secret(text: str) -> str:
    """The secret in lowercase hex: 32 digits, or "dd" and 32 for random padding; ValueError says what is wrong."""
    secret = text.strip().lower()
    if _FAKE_TLS.fullmatch(secret):
        raise ValueError(
            "The MTProxy secret must be 32 hexadecimal digits, or dd and 32 for random padding; a secret starting "
            "with ee (fake-TLS) is not supported, so use e.g. dd followed by `openssl rand -hex 16`."
        )
    if not _SECRET.fullmatch(secret):
        raise ValueError(
            f"The MTProxy secret must be 32 hexadecimal digits, or dd and 32 for random padding (got {len(secret)} "
            "characters); e.g. dd followed by `openssl rand -hex 16`."
        )
    return secret


class FullTransport:
    """TCP-full: length, sequence number, payload, CRC32 of them, both ways."""

    name = "tcp-full"

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self._send_counter = 0

    async def read(self) -> bytes:
        header = await self._reader.readexactly(8)
        length, _seq = struct.unpack("<ii", header)
        if length < 12 or length > MAX_PACKET:
            raise TransportClosed
        rest = await self._reader.readexactly(length - 8)
        if crc32(header + rest[:-4]) != struct.unpack("<I", rest[-4:])[0]:
            raise TransportClosed
        return rest[:-4]

    def frame(self, payload: bytes) -> bytes:
        frame = struct.pack("<ii", len(payload) + 12, self._send_counter) + payload
        self._send_counter += 1
        return frame + struct.pack("<I", crc32(frame))


class ObfuscatedTransport:
    """The MTProxy side of the obfuscated transport: a 64-byte header whose AES-CTR keys are mixed with the
    secret, then intermediate packets (a length, the payload; up to 3 bytes of random padding with a dd secret).

    A header that does not decrypt to a known tag (a wrong secret, or a dd secret's client without padding)
    closes the connection, as an MTProxy does."""

    def __init__(self, reader: asyncio.StreamReader, secret: str) -> None:
        self._reader = reader
        self._key = bytes.fromhex(secret[-32:])
        self._padded_only = len(secret) == 34  # dd and the key; a 32-digit key may start with dd too
        self._decrypt: AESModeCTR | None = None
        self._encrypt: AESModeCTR | None = None
        self.padded = False
        self.dc_id = 0
        self.name = "mtproxy"

    async def handshake(self) -> None:
        header = await self._reader.readexactly(64)
        self._decrypt = AESModeCTR(hashlib.sha256(header[8:40] + self._key).digest(), header[40:56])
        back = header[8:56][::-1]
        self._encrypt = AESModeCTR(hashlib.sha256(back[:32] + self._key).digest(), back[32:48])
        plain = self._decrypt.encrypt(header)  # CTR: the same call both ways; it moves the stream past the header
        tag = plain[56:60]
        if tag not in (_INTERMEDIATE, _PADDED) or (self._padded_only and tag != _PADDED):
            raise TransportClosed
        self.padded = tag == _PADDED
        self.dc_id = int.from_bytes(plain[60:62], "little", signed=True)
        self.name = "mtproxy-padded" if self.padded else "mtproxy"

    async def read(self) -> bytes:
        assert self._decrypt is not None, "handshake() first"
        (length,) = struct.unpack("<i", self._decrypt.encrypt(await self._reader.readexactly(4)))
        if length < 4 or length > MAX_PACKET:
            raise TransportClosed
        packet = self._decrypt.encrypt(await self._reader.readexactly(length))
        extra = len(packet) % 4 if self.padded else 0
        return packet[: len(packet) - extra]

    def frame(self, payload: bytes) -> bytes:
        assert self._encrypt is not None, "handshake() first"
        return self._encrypt.encrypt(struct.pack("<i", len(payload)) + payload)

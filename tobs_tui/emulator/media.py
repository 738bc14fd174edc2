"""Deterministic file bytes for the emulator's media: any byte range is computed directly, nothing is stored."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

BLOCK_SIZE = 4096

# A real file signature at byte 0 so exported files look like what their mime type says.
MAGIC: dict[str, bytes] = {
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "video/mp4": b"\x00\x00\x00\x18ftypmp42",
    "audio/ogg": b"OggS\x00\x02",
    "audio/mpeg": b"ID3\x04\x00",
    "image/webp": b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    "application/pdf": b"%PDF-1.7\n",
    "application/zip": b"PK\x03\x04",
}


@dataclass(frozen=True, slots=True)
class MediaFile:
    """One downloadable byte stream: a document, or one size of a photo."""

    key: bytes
    size: int
    mime_type: str = ""

    def block(self, index: int) -> bytes:
        """The ``index``-th 4 KiB block (shorter at the end of the file)."""
        start = index * BLOCK_SIZE
        if start >= self.size:
            return b""
        data = hashlib.shake_128(self.key + index.to_bytes(8, "little")).digest(BLOCK_SIZE)
        if index == 0:
            magic = MAGIC.get(self.mime_type, b"")
            data = magic + data[len(magic) :]
        return data[: min(BLOCK_SIZE, self.size - start)]

    def read(self, offset: int, limit: int) -> bytes:
        """Bytes ``[offset, offset + limit)`` clipped to the file; empty past the end, as Telegram answers."""
        end = min(offset + limit, self.size)
        if offset >= end:
            return b""
        first, last = offset // BLOCK_SIZE, (end - 1) // BLOCK_SIZE
        data = b"".join(self.block(i) for i in range(first, last + 1))
        skip = offset - first * BLOCK_SIZE
        return data[skip : skip + (end - offset)]

    def sha256(self) -> str:
        """Hex sha256 of the whole file, streamed block by block."""
        digest = hashlib.sha256()
        for index in range((self.size + BLOCK_SIZE - 1) // BLOCK_SIZE):
            digest.update(self.block(index))
        return digest.hexdigest()


def media_key(seed: int, media_id: int, variant: str = "") -> bytes:
    """The PRNG key of one stream; ``variant`` is the photo size type ('' for the file itself)."""
    return b"tobs-media:%d:%d:%s" % (seed, media_id, variant.encode())

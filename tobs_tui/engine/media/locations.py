"""Where Telegram serves a message's file, in the 1 MiB parts upload.getFile allows, and how many parts of
one file go in flight at once."""

from __future__ import annotations

from dataclasses import dataclass

from telethon.tl import types

PART_SIZE = 1024 * 1024  # upload.getFile: at most 1 MiB, and no request may cross a 1 MiB boundary


def parts_in_flight_for(size: int | None, parts_per_file: int) -> int:
    """A file of one part (or of unknown size) is one request at a time; a larger one up to parts_per_file."""
    if size is None or size <= PART_SIZE:
        return 1
    return max(1, min(parts_per_file, -(-size // PART_SIZE)))


@dataclass(frozen=True)
class FileLocation:
    """Where Telegram serves a file: the largest photo size or the document itself."""

    media_id: int
    access_hash: int
    file_reference: bytes
    thumb_size: str  # the photo size type; "" for a document
    is_photo: bool
    dc_id: int
    size: int | None

    def input(self):
        if self.is_photo:
            return types.InputPhotoFileLocation(self.media_id, self.access_hash, self.file_reference, self.thumb_size)
        return types.InputDocumentFileLocation(self.media_id, self.access_hash, self.file_reference, "")


def _size_bytes(photo_size) -> int | None:
    if isinstance(photo_size, types.PhotoSize):
        return photo_size.size
    if isinstance(photo_size, types.PhotoSizeProgressive):
        return max(photo_size.sizes) if photo_size.sizes else None
    return None  # stripped, cached and path sizes are inline previews, not downloads


def file_location(media) -> FileLocation | None:
    """The download location of a message's photo (largest size) or document; None when it has no file."""
    if isinstance(media, types.MessageMediaPhoto) and isinstance(media.photo, types.Photo):
        photo = media.photo
        sizes = [(n, s) for s in photo.sizes if (n := _size_bytes(s)) is not None]
        if not sizes:
            return None
        size, best = max(sizes, key=lambda pair: pair[0])
        return FileLocation(photo.id, photo.access_hash, photo.file_reference, best.type, True, photo.dc_id, size)
    if isinstance(media, types.MessageMediaDocument) and isinstance(media.document, types.Document):
        doc = media.document
        return FileLocation(doc.id, doc.access_hash, doc.file_reference, "", False, doc.dc_id, doc.size)
    return None


def part_end(part: int, size: int | None) -> int:
    end = (part + 1) * PART_SIZE
    return end if size is None else min(end, size)

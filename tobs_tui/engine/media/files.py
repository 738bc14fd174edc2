"""The media stage's disk work, run on the pools: a file's "<name>.part" opened with the parts an earlier run
made durable, each part written and recorded, the finished file hashed and renamed into place, and a file
stored once reused by a hard link."""

from __future__ import annotations

import errno
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from tobs_tui.engine.media.locations import PART_SIZE, part_end
from tobs_tui.engine.media.stage import MediaItem
from tobs_tui.engine.runtime.threads import pool_side
from tobs_tui.engine.vault.filenames import open_for_writing, safe_path
from tobs_tui.engine.vault.store import MediaRecord
from tobs_tui.engine.vault.vault import Vault, fsync_dir, pwrite_all, write_error

_LINK_REFUSED = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES}


class DownloadFailed(Exception):
    """A file could not be downloaded; str() is one sentence for the user (stored as the reason)."""


@dataclass
class Transfer:
    """One file on its way to disk; touched only on the engine loop."""

    chat_id: int
    msg_id: int
    rel: str  # vault-relative target
    name: str
    size: int | None
    done_parts: set[int]
    bytes_done: int
    parts_in_flight: int = 0
    fd: int | None = None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(PART_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


class MediaFiles:
    """Every method runs on a pool thread (`@pool_side`); the downloader on the loop hands them its work."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self.store = vault.store
        self.root = vault.root

    @pool_side
    def intact(self, record: MediaRecord) -> bool:
        try:
            return safe_path(self.root, record.path).stat().st_size == record.size
        except (OSError, ValueError):
            return False

    @pool_side
    def link(self, rel: str, source_rel: str) -> str:
        if rel == source_rel:
            return rel
        root = self.root
        source, target = safe_path(root, source_rel), safe_path(root, rel)
        try:
            # This message's own download, left half done by an earlier run (parked, failed, killed), is not
            # needed any more: without this its ".part" would stay in the vault for good.
            stale = target.with_name(target.name + ".part")
            if stale.exists():
                stale.unlink()
            if target.exists() and os.path.samefile(source, target):
                return rel
            self._make_dirs(target.parent)
            tmp = target.with_name(target.name + ".link")
            if tmp.exists():
                tmp.unlink()
            os.link(source, tmp)
            os.replace(tmp, target)
            fsync_dir(target.parent)
            return rel
        except OSError as exc:
            if exc.errno in _LINK_REFUSED:
                return source_rel  # no hard links here: the embed points at the one stored copy
            raise write_error(exc, root) from exc

    def _make_dirs(self, directory: Path) -> None:
        for parent in self.vault.make_dirs(directory):
            fsync_dir(parent)

    @pool_side
    def open_part(self, chat_id: int, item: MediaItem, rel: str, size: int | None) -> Transfer:
        """Open "<name>.part", keeping the parts an earlier run made durable; the state DB then says exactly
        which parts the file holds."""
        target = safe_path(self.root, rel)
        part_path = target.with_name(target.name + ".part")
        previous = self.store.media_record(chat_id, item.msg_id)
        same_file = previous is not None and previous.media_id == item.media_id and previous.size == size
        recorded = self.store.media_parts(rel) if same_file else set()
        try:
            self._make_dirs(target.parent)
            if (
                size is not None
                and recorded == set(range(-(-size // PART_SIZE)))
                and not part_path.exists()
                and target.exists()
                and target.stat().st_size == size
            ):
                # Renamed into place just before a crash, before the state DB said so: finish it from there.
                os.replace(target, part_path)
            fd = open_for_writing(part_path, os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            raise write_error(exc, self.root) from exc
        try:
            have = os.fstat(fd).st_size
            kept = {p for p in recorded if part_end(p, size) <= have}
            if not kept:
                os.ftruncate(fd, 0)  # whatever is there belongs to no recorded part
            got = sum(part_end(p, size) - p * PART_SIZE for p in kept)
            self.store.start_media(
                MediaRecord(chat_id, item.msg_id, item.media_id, item.kind, rel, size, got, "partial"), kept
            )
        except OSError as exc:
            os.close(fd)
            raise write_error(exc, self.root) from exc
        except BaseException:
            os.close(fd)
            raise
        return Transfer(chat_id, item.msg_id, rel, rel.rsplit("/", 1)[-1], size, kept, got, fd=fd)

    @pool_side
    def write_part(self, transfer: Transfer, part: int, data: bytes) -> None:
        """On the critical pool: the part is durable before it is recorded, so a recorded part is never lost."""
        assert transfer.fd is not None
        try:
            pwrite_all(transfer.fd, data, part * PART_SIZE)
            os.fdatasync(transfer.fd)
        except OSError as exc:
            raise write_error(exc, self.root) from exc
        self.store.add_media_part(transfer.chat_id, transfer.msg_id, transfer.rel, part, len(data))
        transfer.done_parts.add(part)
        transfer.bytes_done += len(data)

    @pool_side
    def finish_part(self, transfer: Transfer) -> str:
        """On the standard pool (NORMAL): the SHA-256 of the finished file."""
        assert transfer.fd is not None
        if os.fstat(transfer.fd).st_size != transfer.bytes_done:
            raise DownloadFailed("The partial file changed on disk while it was being downloaded.")
        target = safe_path(self.root, transfer.rel)
        return sha256_of(target.with_name(target.name + ".part"))

    @pool_side
    def commit_file(self, transfer: Transfer, done: MediaRecord) -> None:
        """On the critical pool: the finished file takes its name, then the state DB says so."""
        target = safe_path(self.root, transfer.rel)
        try:
            assert transfer.fd is not None
            os.fsync(transfer.fd)
            os.replace(target.with_name(target.name + ".part"), target)
            fsync_dir(target.parent)
        except OSError as exc:
            raise write_error(exc, self.root) from exc
        self.store.finish_media(done)

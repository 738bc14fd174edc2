"""The media stage's disk work, run on the pools: a file's "<name>.part" opened with the parts an earlier run
made durable, each part written and recorded, the finished file hashed and renamed into place, and a file
stored once reused by a hard link.

The vault is the user's: a name the engine has not written before is only used when nothing is there (nor at
its "<name>.part" and, for videos with thumbnails on, "<name>.thumb.jpg"); else the file takes the first free
"<stem> (n)<ext>" and the state DB records that path. What the state DB says is the engine's own:

* a row `done` or `lost` at a path: the file there (downloaded, then maybe deleted or changed by hand);
* a row `partial` or `failed` at a path: its "<path>.part", recorded *before* the part file is created, so a
  crash in between leaves a row that claims it and never a part file nobody claims;
* a row `lost` whose reason is `REFETCHING`: the engine's file there is being downloaded again, and its
  "<path>.part" is the engine's too."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path

from tobs_tui.engine.media.locations import PART_SIZE, part_end
from tobs_tui.engine.media.stage import MediaItem
from tobs_tui.engine.runtime.threads import pool_side
from tobs_tui.engine.vault.filenames import UnsafePathError, numbered_name, open_for_writing, safe_path, tagged_name
from tobs_tui.engine.vault.store import MediaRecord
from tobs_tui.engine.vault.vault import Vault, fsync_dir, pwrite_all, write_error

_LINK_REFUSED = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES}
PART_SUFFIX = ".part"
THUMB_SUFFIX = ".thumb.jpg"
# The reason of a `lost` row while the engine downloads its own file at that path again: the path stays (the
# notes link it) and its "<path>.part" is the engine's.
REFETCHING = "The file was deleted or changed by hand; it is being downloaded again."
_WROTE = frozenset({"done", "lost"})  # the engine wrote the file at the row's path
_IN_PROGRESS = frozenset({"partial", "failed"})  # the row's "<path>.part" is the engine's
_MAX_NUMBERED = 1000


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
    # The target is the engine's own file, downloaded again: it is replaced, and the path never changes.
    own_target: bool = False
    wanted: str = ""  # the name the file was asked for, when a file already there made it take another
    # Where a file changed by hand at the engine's own path went when its download came back (own_target only).
    set_aside: str = ""


def side(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(PART_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    """A file's bytes as a run can tell them apart without reading them: the same inode, unchanged since. Not
    ctime: each hard link made to a file stored once changes it."""
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _own_name(path: str, rel: str, msg_id: int) -> bool:
    """`path` is this message's own file at `rel` (or a numbered name next to it), not another message's file it
    points at (a file stored once where hard links are refused)."""
    head, _, name = path.rpartition("/")
    return path == rel or (head == rel.rpartition("/")[0] and name.startswith(f"{msg_id}_"))


class MediaFiles:
    """Every method runs on a pool thread (`@pool_side`); the downloader on the loop hands them its work."""

    def __init__(self, vault: Vault, *, thumbnail_kinds: Collection[str] = ()) -> None:
        self.vault = vault
        self.store = vault.store
        self.root = vault.root
        self._thumbnail_kinds = frozenset(thumbnail_kinds)
        # SHA-256 of files read (or written) in this run, by _identity: a file stored once and reused for many
        # messages is read once, not once a message.
        self._digests: dict[tuple[int, int, int, int], str] = {}

    @pool_side
    def intact(self, record: MediaRecord) -> bool:
        """The record's file still holds the downloaded bytes. Checked by their SHA-256, not by the size alone:
        the downloader also asks this of an earlier download before it hard-links the file for another message,
        and a file of the same size put at that name (by hand, or a hard link to a file outside the vault) would
        otherwise become the new message's file too."""
        return self._holds(record.path, record.size, record.sha256)

    def _holds(self, rel: str, size: int | None, sha256: str | None) -> bool:
        """A regular file at `rel` (no link at its name) of `size` bytes whose SHA-256 is `sha256`."""
        try:
            fd = os.open(self._at(rel), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, ValueError, UnsafePathError):
            return False
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size != size:
                return False
            if not sha256:
                # Nothing to check the bytes against: a file with other names may be anyone's, so only one
                # whose single name is this one is taken as it is.
                return st.st_nlink == 1
            key = _identity(st)
            digest = self._digests.get(key)
            if digest is None:
                with open(fd, "rb", closefd=False) as f:
                    digest = self._digests[key] = hashlib.file_digest(f, "sha256").hexdigest()
            return digest == sha256
        finally:
            os.close(fd)

    def _check_source(self, item: MediaItem, source_rel: str) -> None:
        """Before a hard link to `source_rel` is made for another message: it still holds the bytes its row
        recorded (intact() said so a moment ago, or this run downloaded it; this catches a change since)."""
        rows = [r for r in self.store.done_media(item.media_id) if r.path == source_rel] if item.media_id else []
        if not any(self._holds(source_rel, r.size, r.sha256) for r in rows[:1]):
            raise DownloadFailed(
                f"{source_rel} no longer holds the file downloaded there, so it was not reused; run the export"
                " again to download the file anew."
            )

    # -- names -------------------------------------------------------------------------------------
    def _at(self, rel: str) -> Path:
        """Where `rel` is, every folder on the way checked for links (safe_path); the name itself is not: a link
        there is someone else's and is judged where the name is used. The engine never writes through one: a
        new name is taken only where nothing is (free_name, O_EXCL), a file goes into place by rename, which
        replaces a link and never follows it, and a file changed by hand is set aside first."""
        head, _, name = rel.rpartition("/")
        if name in ("", ".", "..") or "\\" in name or "\x00" in name:
            raise UnsafePathError(f"{rel!r} is not a safe vault-relative path")
        return (safe_path(self.root, head) if head else self.root) / name

    def _sides(self, kind: str) -> tuple[str, ...]:
        """The names next to a file the engine also writes: its part file, and a video's thumbnail."""
        return (PART_SUFFIX, THUMB_SUFFIX) if kind in self._thumbnail_kinds else (PART_SUFFIX,)

    def free_name(self, rel: str, sides: tuple[str, ...], *, first: int = 1) -> str:
        """`rel` when nothing (file, folder or link) is at it or its side names, else the first free
        "<stem> (n)<ext>" next to it."""
        head, _, name = rel.rpartition("/")
        folder = safe_path(self.root, head) if head else self.root
        for n in range(first, _MAX_NUMBERED):
            candidate = name if n == 1 else numbered_name(name, n)
            if not any(os.path.lexists(folder / (candidate + s)) for s in ("", *sides)):
                return f"{head}/{candidate}" if head else candidate
        raise DownloadFailed(f"Every name for {name} up to ({_MAX_NUMBERED - 1}) is taken by files of yours.")

    def _drop_part(self, rel: str) -> None:
        """The engine's own "<rel>.part" (the state DB claims it), of a download that is no longer needed."""
        part = side(self._at(rel), PART_SUFFIX)
        if os.path.isfile(part) and not os.path.islink(part):
            part.unlink()

    def _unclaim(self, chat_id: int, msg_id: int, previous: MediaRecord | None) -> None:
        """The message's row as it was before a claim on a name that turned out taken."""
        if previous is None:
            self.store.forget_media(chat_id, msg_id)
        else:
            self.store.upsert_media(previous)

    def _make_dirs(self, directory: Path) -> None:
        for parent in self.vault.make_dirs(directory):
            fsync_dir(parent)

    # -- a file stored once --------------------------------------------------------------------------
    @pool_side
    def link(self, chat_id: int, item: MediaItem, rel: str, source_rel: str) -> tuple[str, str]:
        """The same Telegram file is on disk at `source_rel`: a hard link for this message, at `rel` (or the
        next free name); `source_rel` itself where hard links are refused. Returns the path used, and where a
        file changed by hand at the engine's own path was set aside ("" when none was)."""
        root = self.root
        previous = self.store.media_record(chat_id, item.msg_id)
        own = False
        try:
            if previous is not None and (previous.status in _IN_PROGRESS or previous.reason == REFETCHING):
                # This message's own download, left half done by an earlier run (parked, failed, killed), is not
                # needed any more: without this its ".part" would stay in the vault for good.
                self._drop_part(previous.path)
            if rel == source_rel:
                return rel, ""
            if (
                previous is not None
                and previous.status in _WROTE
                and previous.media_id == item.media_id
                and _own_name(previous.path, rel, item.msg_id)
            ):
                rel, own = previous.path, True  # the engine's own file, deleted or changed by hand: replaced
            source = safe_path(root, source_rel)
            self._check_source(item, source_rel)
            if own:
                target = self._at(rel)
                if os.path.isfile(target) and not os.path.islink(target) and os.path.samefile(source, target):
                    return rel, ""
                self._make_dirs(target.parent)
                tmp = self.vault.tmp_dir / f"{os.getpid()}-{item.msg_id}-{os.urandom(6).hex()}.link"
                os.link(source, tmp)  # first: where hard links are refused nothing of the person's is moved
                aside = self._set_aside_if_changed(rel, target, source)
                os.replace(tmp, target)
                fsync_dir(target.parent)
                return rel, aside
            elif self._same_file(rel, source):
                return rel, ""  # the same bytes are there already (a link made before the state was lost, or a copy)
            else:
                self._make_dirs(safe_path(root, rel).parent)
                for _ in range(3):
                    rel = self.free_name(rel, (PART_SUFFIX,))
                    target = safe_path(root, rel)
                    try:
                        os.link(source, target)  # never over anything: a name taken meanwhile is EEXIST
                        break
                    except FileExistsError:
                        continue
                else:
                    raise DownloadFailed(f"Files of yours kept taking the name {target.name}.")
            fsync_dir(target.parent)
            return rel, ""
        except OSError as exc:
            if exc.errno in _LINK_REFUSED:
                return source_rel, ""  # no hard links here: the embed points at the one stored copy
            raise write_error(exc, root) from exc

    # -- a download ------------------------------------------------------------------------------------
    @pool_side
    def open_part(self, chat_id: int, item: MediaItem, rel: str, size: int | None) -> Transfer:
        """Open the download's "<name>.part", keeping the parts an earlier run made durable; the state DB then says
        exactly which parts the file holds. A name the state DB does not claim is used only when nothing is there,
        and the row naming it is written before its part file is created."""
        wanted = rel
        previous = self.store.media_record(chat_id, item.msg_id)
        sides = self._sides(item.kind)
        own_target = own_part = False
        recorded: set[int] = set()
        if previous is not None and previous.media_id == item.media_id:
            if previous.status in _IN_PROGRESS:
                rel, own_part = previous.path, True
            elif previous.status in _WROTE and _own_name(previous.path, rel, item.msg_id):
                rel, own_target = previous.path, True
                own_part = previous.status == "lost" and previous.reason == REFETCHING
            if own_part and previous.size == size:
                recorded = self.store.media_parts(rel)
        # A lost file is downloaded again at its path (the notes link it), its row saying so meanwhile.
        status, reason = ("lost", REFETCHING) if own_target else ("partial", None)

        def transfer(path: str, parts: set[int], got: int, fd: int) -> Transfer:
            return Transfer(
                chat_id,
                item.msg_id,
                path,
                path.rsplit("/", 1)[-1],
                size,
                parts,
                got,
                fd=fd,
                own_target=own_target,
                wanted=wanted if path != wanted else "",
            )

        def record(path: str, parts: set[int], got: int) -> None:
            row = MediaRecord(chat_id, item.msg_id, item.media_id, item.kind, path, size, got, status, None, reason)
            self.store.start_media(row, parts)

        fd: int | None = None
        try:
            if previous is not None and previous.media_id != item.media_id and previous.status in _IN_PROGRESS:
                self._drop_part(previous.path)  # the message holds another file now (edited): no use any more
            target = self._at(rel)
            part_path = side(target, PART_SUFFIX)
            self._make_dirs(target.parent)
            if not own_part:
                if own_target and os.path.lexists(part_path):
                    raise DownloadFailed(
                        f"A file of yours is at {part_path.name}, the name this file is downloaded under before it"
                        " takes its own; it was left alone, so move or rename it and run the export again."
                    )
                fd, rel = self._create_part(
                    rel,
                    sides,
                    fixed=own_target,
                    record=lambda path: record(path, set(), 0),
                    undo=lambda: self._unclaim(chat_id, item.msg_id, previous),
                )
                return transfer(rel, set(), 0, fd)
            if (
                size is not None
                and recorded == set(range(-(-size // PART_SIZE)))
                and not os.path.lexists(part_path)
                and not os.path.islink(target)
                and target.is_file()
                and target.stat().st_size == size
            ):
                # Renamed into place just before a crash, before the state DB said so: finish it from there.
                os.replace(target, part_path)
            fd = open_for_writing(part_path, os.O_RDWR | os.O_CREAT)
            have = os.fstat(fd).st_size
            kept = {p for p in recorded if part_end(p, size) <= have}
            if not kept:
                os.ftruncate(fd, 0)  # whatever is there belongs to no recorded part
            got = sum(part_end(p, size) - p * PART_SIZE for p in kept)
            if not own_target and os.path.lexists(target):
                # A file of the user's took the name while this download was unfinished: it goes on under the
                # next free name, the state DB naming that first.
                rel = self.free_name(rel, sides, first=2)
                record(rel, kept, got)
                target = self._at(rel)
                os.rename(part_path, side(target, PART_SUFFIX))
                fsync_dir(target.parent)
            else:
                record(rel, kept, got)
        except OSError as exc:
            if fd is not None:
                os.close(fd)
            raise write_error(exc, self.root) from exc
        except BaseException:
            if fd is not None:
                os.close(fd)
            raise
        return transfer(rel, kept, got, fd)

    def _create_part(self, rel: str, sides: tuple[str, ...], *, fixed: bool, record, undo) -> tuple[int, str]:
        """A new part file under a name nothing is at: the row claiming it first, then the file (O_EXCL), so a
        crash between the two leaves a row that claims the name, never a file of the engine's nobody claims.
        A name taken between the look and the open is the user's: the claim on it is undone (`undo`) before
        anything else, so no later run takes their file for a part file of its own."""
        for _ in range(3):
            name = rel if fixed else self.free_name(rel, sides)
            record(name)
            try:
                fd = open_for_writing(side(safe_path(self.root, name), PART_SUFFIX), os.O_RDWR | os.O_CREAT | os.O_EXCL)
            except FileExistsError:
                undo()
                if fixed:
                    break
                continue  # the next free name
            return fd, name
        raise DownloadFailed(f"Files of yours kept taking the name {rel.rsplit('/', 1)[-1]}{PART_SUFFIX}.")

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
        return sha256_of(side(self._at(transfer.rel), PART_SUFFIX))

    @pool_side
    def _same_file(self, rel: str, source: Path) -> bool:
        """A regular file at `rel` that is `source` or holds its bytes."""
        path = self._at(rel)
        try:
            st, src = os.lstat(path), os.stat(source)
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode) or st.st_size != src.st_size:
            return False
        return os.path.samestat(st, src) or sha256_of(path) == sha256_of(source)

    def _same_bytes(self, rel: str, done: MediaRecord) -> bool:
        """A regular file (not a symlink) at `rel` holding exactly the downloaded bytes: nothing is written to it."""
        path = self._at(rel)
        try:
            st = os.lstat(path)
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode) or st.st_size != done.size or not done.sha256:
            return False
        return sha256_of(path) == done.sha256

    def _set_aside_if_changed(self, rel: str, target: Path, part_path: Path) -> str:
        """Before the engine's own file downloaded again replaces what is at its path: what is there now is the
        engine's when it is the start of the download (the file cut short), and is replaced; anything else (other
        bytes, a link, a folder) was put there by hand, and is kept under "<stem> (changed by hand)<ext>", whose
        vault path is returned."""
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            return ""
        if stat.S_ISREG(st.st_mode) and st.st_size <= os.stat(part_path).st_size:
            with open(target, "rb") as mine, open(part_path, "rb") as new:
                while chunk := mine.read(PART_SIZE):
                    if new.read(len(chunk)) != chunk:
                        break
                else:
                    return ""
        head, _, name = rel.rpartition("/")
        aside = self.free_name(
            f"{head}/{tagged_name(name, 'changed by hand')}" if head else tagged_name(name, "changed by hand"), ()
        )
        os.rename(target, safe_path(self.root, aside))
        return aside

    def commit_file(self, transfer: Transfer, done: MediaRecord) -> MediaRecord:
        """On the critical pool: the finished file takes its name, then the state DB says so. Returns the row,
        whose path is another free name when something of the user's took the name during the download."""
        target = self._at(transfer.rel)
        part_path = side(target, PART_SUFFIX)
        try:
            assert transfer.fd is not None
            os.fsync(transfer.fd)
            for name in (transfer.wanted, transfer.rel):
                if name and not transfer.own_target and self._same_bytes(name, done):
                    # The very bytes are already at the name asked for (the engine's own file whose row a lost
                    # state did not bring back, or the user's copy of it): used as they are, nothing replaced.
                    os.unlink(part_path)
                    done = replace(done, path=name)
                    self.store.finish_media(done)
                    if name != transfer.rel:
                        self.store.forget_media_parts(transfer.rel)
                    transfer.rel = name
                    return done
            if transfer.own_target:
                transfer.set_aside = self._set_aside_if_changed(transfer.rel, target, part_path)
            elif os.path.lexists(target):
                transfer.rel = self.free_name(transfer.rel, self._sides(done.kind), first=2)
                self.store.start_media(
                    replace(done, path=transfer.rel, status="partial", sha256=None), transfer.done_parts
                )
                target = self._at(transfer.rel)
            os.replace(part_path, target)
            fsync_dir(target.parent)
            if done.sha256:  # its bytes were just hashed: a reuse of it in this run need not read them again
                self._digests[_identity(os.fstat(transfer.fd))] = done.sha256
        except OSError as exc:
            raise write_error(exc, self.root) from exc
        done = replace(done, path=transfer.rel)
        self.store.finish_media(done)
        return done

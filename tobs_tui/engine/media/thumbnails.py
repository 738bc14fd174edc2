"""Video thumbnails: ffmpeg's first frame as "<name>.thumb.jpg" next to the video, made on the standard pool
(LOW) after the file is committed. Nothing already at that name is replaced: a file of the user's stays (the
video's own name was chosen with that name free), and so does the thumbnail of an earlier download of it."""

from __future__ import annotations

import errno
import os
import subprocess

from tobs_tui.engine.media.files import THUMB_SUFFIX
from tobs_tui.engine.runtime.threads import pool_side
from tobs_tui.engine.vault.filenames import UnsafePathError, safe_path
from tobs_tui.engine.vault.vault import Vault, fsync_dir

THUMBNAIL_KINDS = frozenset({"video", "round", "animation"})


class Thumbnailer:
    def __init__(self, vault: Vault, ffmpeg: str) -> None:
        self.vault = vault
        self.ffmpeg = ffmpeg

    @pool_side
    def make(self, rel: str) -> str | None:
        """ffmpeg's first frame as `<name>.thumb.jpg` next to the video; returns a sentence when it failed."""
        source = safe_path(self.vault.root, rel)
        try:
            target = safe_path(self.vault.root, rel + THUMB_SUFFIX)
        except UnsafePathError as exc:
            return f"No thumbnail for {source.name}: {exc}"
        tmp = _new_temp(self.vault.tmp_dir)
        try:
            done = subprocess.run(
                [
                    self.ffmpeg,
                    "-nostdin",
                    "-loglevel",
                    "error",
                    "-y",
                    "-i",
                    str(source),
                    "-frames:v",
                    "1",
                    "-vf",
                    "scale=320:-2",
                    tmp,
                ],
                capture_output=True,
                timeout=120,
                check=False,
            )
            if done.returncode != 0 or os.path.getsize(tmp) == 0:
                return f"No thumbnail for {source.name}: ffmpeg could not read it."
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            if not _place_new(tmp, target):
                return f"No thumbnail for {source.name}: {target.name} is there already and was left alone."
            fsync_dir(target.parent)
            return None
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"No thumbnail for {source.name}: {exc}."
        finally:
            if tmp:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass


def _new_temp(folder: os.PathLike[str]) -> str:
    """An empty file for ffmpeg to write into (it keeps the file's mode), made as the media files are: 0644
    less the umask. mkstemp's 0600 would leave the thumbnail readable by its owner only, unlike the video."""
    while True:
        tmp = os.path.join(folder, f"{os.getpid()}-{os.urandom(6).hex()}.jpg")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644))
        except FileExistsError:
            continue
        return tmp


def _place_new(tmp: str, target: os.PathLike[str]) -> bool:
    """`tmp` under the name `target` unless something (a file, folder or link) is there: a hard link never
    replaces a name. False when the name was taken; `tmp` stays for the caller to remove."""
    try:
        os.link(tmp, target)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES):
            raise
    # No hard links on this file system: look, then rename (a name taken in between is the only window).
    if os.path.lexists(target):
        return False
    os.replace(tmp, target)
    return True

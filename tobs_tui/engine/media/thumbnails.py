"""Video thumbnails: ffmpeg's first frame as "<name>.thumb.jpg" next to the video, made on the standard pool
(LOW) after the file is committed."""

from __future__ import annotations

import os
import subprocess
import tempfile

from tobs_tui.engine.runtime.threads import pool_side
from tobs_tui.engine.vault.filenames import safe_path
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
        target = safe_path(self.vault.root, rel + ".thumb.jpg")
        fd, tmp = tempfile.mkstemp(dir=self.vault.tmp_dir, suffix=".jpg")
        os.close(fd)
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
            os.replace(tmp, target)
            tmp = ""
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

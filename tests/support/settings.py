"""Settings for a test export, and how long any one engine future may take on a loaded 2-core machine."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tobs_tui.config import Settings

WAIT = 180  # seconds


def engine_settings(out: Path, *, media: bool = False, **export_changes) -> Settings:
    base = Settings()
    export = dataclasses.replace(base.export, output_dir=out, download_media=media, **export_changes)
    workers = dataclasses.replace(base.workers, max_threads=4)
    return dataclasses.replace(base, export=export, workers=workers, ui=dataclasses.replace(base.ui, refresh_hz=4.0))

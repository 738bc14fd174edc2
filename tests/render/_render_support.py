"""Plain helpers the renderer tests import (conftest modules are not importable by name across test folders)."""

from __future__ import annotations

import datetime


def when(day: int = 5, hour: int = 12, minute: int = 3, month: int = 3) -> datetime.datetime:
    return datetime.datetime(2024, month, day, hour, minute, tzinfo=datetime.timezone.utc)

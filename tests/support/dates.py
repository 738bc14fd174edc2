"""A fixed message date for the renderer tests."""

from __future__ import annotations

import datetime


def when(day: int = 5, hour: int = 12, minute: int = 3, month: int = 3) -> datetime.datetime:
    return datetime.datetime(2024, month, day, hour, minute, tzinfo=datetime.UTC)

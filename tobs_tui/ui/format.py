"""How numbers from engine snapshots read on screen: one place, and "—" whenever a value is unknown."""

from __future__ import annotations

import time

DASH = "—"


def count(n: int | None) -> str:
    return DASH if n is None else f"{n:,}"


def short_count(n: int | None) -> str:
    """A count in at most 6 characters, for a column too narrow for every digit: 9,999, then 12.3k, 987.7k, 12.0M."""
    if n is None:
        return DASH
    if abs(n) < 10_000:
        return f"{n:,}"
    value = float(n)
    for unit in ("k", "M", "B"):
        value /= 1000
        if round(abs(value), 1) < 1000:
            return f"{value:.1f}{unit}"
    return f"{value / 1000:,.1f}T"


def count_of(done: int | None, expected: int | None, width: int | None = None) -> str:
    """`done / expected`, every digit when it fits in `width` cells (or no width is given), else the short counts:
    a number is shortened, never cut."""
    whole = f"{count(done)} / {count(expected)}"
    if width is None or len(whole) <= width:
        return whole
    return f"{short_count(done)} / {short_count(expected)}"


def rate(per_s: float | None, unit: str = "/s") -> str:
    if per_s is None:
        return DASH
    if per_s >= 10_000:
        return f"{per_s / 1000:,.1f}k{unit}"
    if per_s >= 100:
        return f"{per_s:,.0f}{unit}"
    return f"{per_s:,.1f}{unit}"


def size(n: float | None) -> str:
    if n is None:
        return DASH
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(value) < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def mb_per_s(per_s: float | None) -> str:
    """Bytes per second in at most 10 characters: 1.25 MB/s, 123.5 MB/s, then 12.35 GB/s."""
    if per_s is None:
        return DASH
    value = per_s / 1e6
    for unit in ("MB/s", "GB/s", "TB/s"):
        if round(abs(value), 2) < 100:
            return f"{value:.2f} {unit}"
        if round(abs(value), 1) < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:,.1f} PB/s"


def duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return DASH
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


def millis(ms: float | None) -> str:
    if ms is None or ms != ms:
        return DASH
    return f"{ms:,.0f} ms" if ms >= 10 else f"{ms:.1f} ms"


def clock(wall: float) -> str:
    """Local wall-clock time of an engine event."""
    return time.strftime("%H:%M:%S", time.localtime(wall))

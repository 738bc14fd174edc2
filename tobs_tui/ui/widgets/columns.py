"""Column widths for the line-drawn tables on a terminal of any width: shrink first, then give way by priority."""

from __future__ import annotations

from collections.abc import Sequence


def fit_columns(
    total: int,
    widths: Sequence[tuple[str, int]],
    *,
    flexible: str,
    flexible_min: int,
    shrink: Sequence[tuple[str, int]] = (),
    give_way: Sequence[str] = (),
) -> dict[str, int]:
    """Each column's width on a line of `total` cells (one space between columns); 0 for a column that gave way.

    The `flexible` column takes what is left but keeps `flexible_min`. When that does not fit, the `shrink`
    columns narrow to their minimums first, then the `give_way` columns go in order (and what that frees
    goes back to the shrunk columns first).
    """
    width = dict(widths)
    shown = [name for name, _ in widths]

    def needed() -> int:
        return sum(width[n] for n in shown if n != flexible) + flexible_min + len(shown) - 1

    for name, least in shrink:
        if needed() > total:
            width[name] -= min(width[name] - least, needed() - total)
    for name in give_way:
        if needed() <= total:
            break
        shown.remove(name)
    # Room left once columns went goes back to what shrank first, up to its usual width.
    usual = dict(widths)
    for name, _ in shrink:
        if name in shown:
            width[name] += max(0, min(usual[name] - width[name], total - needed()))
    width[flexible] = max(flexible_min, total - (needed() - flexible_min))
    return {name: width[name] if name in shown else 0 for name, _ in widths}


def fit_title(title: str, width: int) -> str:
    """A column heading cut to its column with an ellipsis rather than mid-word."""
    return title if len(title) <= width else title[: max(0, width - 1)] + "…"

"""Column widths for the line-drawn tables on a terminal of any width: shrink first, then give way by priority."""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len, set_cell_size


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
    columns narrow to their minimums first, in order, then the `give_way` columns go in order (and what that frees
    goes back to the shrunk columns first, the last one shrunk first).
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
    for name, _ in reversed(shrink):
        if name in shown:
            width[name] += max(0, min(usual[name] - width[name], total - needed()))
    width[flexible] = max(flexible_min, total - (needed() - flexible_min))
    return {name: width[name] if name in shown else 0 for name, _ in widths}


def fit_title(title: str, width: int) -> str:
    """A column heading cut to its column with an ellipsis rather than mid-word."""
    return title if len(title) <= width else title[: max(0, width - 1)] + "…"


def cut(text: str, width: int) -> str:
    """`text` in `width` cells, ending with an ellipsis when it does not fit."""
    if cell_len(text) <= width:
        return text
    return set_cell_size(text, max(0, width - 1)) + "…" if width > 0 else ""


def cut_middle(text: str, width: int) -> str:
    """`text` in `width` cells with an ellipsis in the middle when it does not fit: its start and its end stay, so
    "Queued chat number 12" and "… number 13" still read apart in a narrow column."""
    length = cell_len(text)
    if length <= width:
        return text
    if width < 8:
        return cut(text, width)
    head = set_cell_size(text, width - 1 - (width - 1) // 2).rstrip()
    room = width - 1 - cell_len(head)
    tail = ""
    # The end, a character at a time, as far as it fits (a wide character may leave a cell over: padded after).
    for char in reversed(text):
        if cell_len(char + tail) > room:
            break
        tail = char + tail
    return set_cell_size(head + "…" + tail.lstrip(), width)

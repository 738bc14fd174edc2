"""The footer, with only whole keys in it: on a narrow terminal the keys needed least step out first.

F1 (help) and the command palette list every key, so the footer keeps F1 always; then the screen's own keys in
their order, then Quit, then the keys that switch screens. A key that does not fit whole is not shown, never cut.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

PALETTE = "-command-palette"


def key_width(key: FooterKey) -> int:
    """Cells a key takes in the footer: " f1 Help " (the palette's key adds its separator and right padding)."""
    width = cell_len(key.key_display) + 2
    if key.description:
        width += cell_len(key.description) + 1
    return width + 2 if key.has_class(PALETTE) else width


def rank(key: FooterKey) -> int:
    """Which keys stay first: help, the screen's own, quit, then switching screens."""
    action = key.action.removeprefix("app.")
    if action == "help":
        return 0
    if action == "quit":
        return 2
    if action.startswith("switch_mode"):
        return 3
    return 1


def fit(keys: Iterable[FooterKey], width: int) -> None:
    """Show the keys that fit whole in `width` cells, by rank (in their order within a rank); hide the rest."""
    keys = list(keys)
    room = width - sum(key_width(k) for k in keys if k.has_class(PALETTE))
    fits = True
    for key in sorted((k for k in keys if not k.has_class(PALETTE)), key=rank):  # sorted() is stable
        fits = fits and key_width(key) <= room
        if fits:
            room -= key_width(key)
        if key.display != fits:
            key.display = fits


class KeyFooter(Footer):
    """A Footer whose keys are always whole (see the module's docstring)."""

    def compose(self) -> ComposeResult:
        widgets: list[Widget] = list(super().compose())
        fit((w for w in widgets if isinstance(w, FooterKey)), self.size.width or self.app.size.width)
        yield from widgets

    def on_resize(self) -> None:
        fit(self.query(FooterKey), self.size.width)

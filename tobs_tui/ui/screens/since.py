"""Asks for the "since" date of the selected chats: only messages from that day on are exported."""

from __future__ import annotations

from datetime import date

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


def parse_since(text: str) -> date | None:
    """ "" means the whole history; otherwise an ISO date. Raises ValueError with one clear sentence."""
    text = text.strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date; write it as YYYY-MM-DD, e.g. 2024-01-31, or leave it empty."
        ) from None
    if day > date.today():
        raise ValueError(f"{day.isoformat()} is in the future; pick today or an earlier day.")
    return day


class SinceScreen(ModalScreen[tuple[date | None] | None]):
    """Dismisses with (date or None for "everything"), or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, current: date | None = None) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Export messages since (YYYY-MM-DD; empty = whole history):")
            yield Input(self.current.isoformat() if self.current else "", placeholder="2024-01-31", id="since")
            yield Label("", id="since-error", classes="field-error")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        try:
            day = parse_since(event.value)
        except ValueError as e:
            self.query_one("#since-error", Label).update(str(e))
            return
        self.dismiss((day,))

    def action_cancel(self) -> None:
        self.dismiss(None)

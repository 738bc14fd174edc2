"""Recent engine events, newest first: throttle start/end, FloodWait with its wait, errors, chats done.

In a box that scrolls and takes the focus (Tab, then the arrows and page keys), so a long sentence never pushes
the others out of reach at 80x24.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tobs_tui.engine import EngineEvent, EventKind
from tobs_tui.terminal import terminal_text
from tobs_tui.ui import format as fmt

EVENT_LOOK = {
    EventKind.THROTTLE_START: ("▲ throttled", "bold yellow"),
    EventKind.THROTTLE_END: ("▼ healthy", "green"),
    EventKind.FLOOD_WAIT: ("‖ FloodWait", "bold magenta"),
    EventKind.TAKEOUT_PENDING: ("… takeout", "yellow"),
    EventKind.TAKEOUT_REFUSED: ("✗ takeout", "yellow"),
    EventKind.CHAT_STARTED: ("▶ started", "cyan"),
    EventKind.CHAT_DONE: ("✓ done", "green"),
    EventKind.CHAT_PARKED: ("‖ parked", "yellow"),
    EventKind.ERROR: ("✗ error", "bold red"),
    EventKind.INFO: ("• info", "dim"),
    EventKind.VAULT: ("✎ vault", "cyan"),
}


def event_line(event: EngineEvent) -> Text:
    label, style = EVENT_LOOK.get(event.kind, (event.kind.value, ""))
    line = Text(fmt.clock(event.wall), style="dim")
    line.append("  ")
    line.append(f"{label:<13}", style=style)
    line.append(terminal_text(event.message))
    if event.kind is EventKind.FLOOD_WAIT and event.seconds is not None and f"{event.seconds:g}" not in event.message:
        line.append(f" (waiting {event.seconds:g}s)", style="magenta")
    return line


class ScrollingText(VerticalScroll, can_focus=True):
    """Text in a box of its own height that scrolls when the text is taller: a Tab stop, so the arrow, page, Home
    and End keys scroll it too."""

    DEFAULT_CSS = """
    ScrollingText { height: 1fr; scrollbar-size-vertical: 1; }
    ScrollingText > Static { height: auto; }
    """

    def __init__(self, text: RenderableType = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._text = text

    def compose(self) -> ComposeResult:
        yield Static(self._text)

    def update(self, text: RenderableType) -> None:
        self._text = text
        self.query_one(Static).update(text)

    @property
    def text(self) -> RenderableType:
        return self._text


class EventLog(ScrollingText):
    """The last events, newest on top; redrawn only when the history changed."""

    def __init__(self, limit: int = 100, *, id: str | None = None) -> None:
        super().__init__("No events yet.", id=id)
        self.limit = limit
        self._version = -1

    def show(self, events: Iterable[EngineEvent], version: int) -> None:
        if version == self._version:
            return
        self._version = version
        recent = list(events)[-self.limit :]
        # The box's height is fixed by the layout (1fr), whatever it shows: only what scrolls inside it changes.
        if not recent:
            self.update("No events yet.")
            return
        self.update(Text("\n").join(event_line(e) for e in reversed(recent)))

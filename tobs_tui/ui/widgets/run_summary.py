"""The one-line headline of a run: state, totals, rates, ETA, requests in flight, FloodWaits, throttle."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tobs_tui.engine import EngineSnapshot, RunState
from tobs_tui.ui import format as fmt

STATE_LOOK = {
    RunState.IDLE: ("○ idle", "dim"),
    RunState.RUNNING: ("● running", "bold green"),
    RunState.PAUSED: ("❚❚ paused", "bold yellow"),
    RunState.CANCELLING: ("… cancelling", "bold yellow"),
    RunState.DONE: ("✓ done", "bold green"),
    RunState.FAILED: ("✗ failed", "bold red"),
    RunState.CANCELLED: ("■ cancelled", "yellow"),
}
GAP = "   "  # between two items of the headline


def summary_items(snap: EngineSnapshot | None) -> list[Text]:
    """The headline's items, each a label with its value: a line breaks only between two items."""
    if snap is None:
        return [Text("○ no engine snapshot yet", style="dim")]
    label, style = STATE_LOOK.get(snap.state, (snap.state.value, ""))
    items = [Text(label, style=style)]

    def item(name: str, value: str, value_style: str = "bold") -> None:
        items.append(Text.assemble((f"{name} ", "dim"), (value, value_style)))

    expected = fmt.count(snap.messages_expected) if snap.messages_expected else fmt.DASH
    item("messages", f"{fmt.count(snap.messages_done)} / {expected}")
    item("rate", f"{fmt.rate(snap.msgs_per_s, ' msgs/s')}  {fmt.mb_per_s(snap.bytes_per_s)}")
    item("ETA", fmt.duration(snap.eta_s))
    item("in flight", f"{snap.requests_in_flight} / {snap.concurrency_limit}")
    item("FloodWaits", fmt.count(snap.flood_waits), "bold magenta" if snap.flood_waits else "bold")
    throttled = snap.throttle.is_throttled
    item("server", "throttled" if throttled else "healthy", "bold yellow" if throttled else "green")
    if snap.takeout != "off":
        item("takeout", snap.takeout)
    return items


def summary_text(snap: EngineSnapshot | None, width: int = 0) -> Text:
    """The headline; with a `width`, its lines break between items, never between a label and its value."""
    text = Text()
    used = 0
    for i, item in enumerate(summary_items(snap)):
        if i and width and used + len(GAP) + item.cell_len > width:
            text.append("\n")
            used = 0
        elif i:
            text.append(GAP)
            used += len(GAP)
        text.append_text(item)
        used += item.cell_len
    return text


class RunSummary(Static):
    DEFAULT_CSS = "RunSummary { height: auto; padding: 0 1; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(summary_text(None), id=id)
        self._shown: EngineSnapshot | None = None
        self._lines = 1

    def show(self, snap: EngineSnapshot | None, *, force: bool = False) -> None:
        if snap is self._shown and not force:
            return
        self._shown = snap
        text = summary_text(snap, self.content_region.width)
        # While the number of lines stays the same, so does the height: repaint without relaying out the screen,
        # which would repaint every widget on it four times a second.
        lines = text.plain.count("\n") + 1
        self.update(text, layout=force or lines != self._lines)
        self._lines = lines

    def on_resize(self) -> None:
        self.show(self._shown, force=True)

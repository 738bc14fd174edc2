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


def summary_text(snap: EngineSnapshot | None) -> Text:
    if snap is None:
        return Text("○ no engine snapshot yet", style="dim")
    label, style = STATE_LOOK.get(snap.state, (snap.state.value, ""))
    text = Text()
    text.append(label, style=style)

    def item(name: str, value: str, value_style: str = "bold") -> None:
        text.append("   ")
        text.append(f"{name} ", style="dim")
        text.append(value, style=value_style)

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
    return text


class RunSummary(Static):
    DEFAULT_CSS = "RunSummary { height: auto; padding: 0 1; }"

    def __init__(self, *, id: str | None = None) -> None:
        initial = summary_text(None)
        super().__init__(initial, id=id)
        self._shown: EngineSnapshot | None = None
        self._cells = initial.cell_len

    def show(self, snap: EngineSnapshot | None) -> None:
        if snap is self._shown:
            return
        self._shown = snap
        text = summary_text(snap)
        # While the old and the new line both fit, the height stays one line: repaint without relaying out the
        # screen, which would repaint every widget on it four times a second.
        width = self.content_region.width
        fits = width > 0 and max(self._cells, text.cell_len) <= width
        self._cells = text.cell_len
        self.update(text, layout=not fits)

"""Per-chat progress: one bar per chat or topic with its own msgs/s, MB/s and ETA from the snapshot."""

from __future__ import annotations

from rich.progress_bar import ProgressBar as RichBar
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from tobs_tui.engine.snapshot import ChatProgress, ChatState
from tobs_tui.ui import format as fmt

STATE_STYLE = {
    ChatState.QUEUED: ("queued", "dim"),
    ChatState.RUNNING: ("running", "bold cyan"),
    ChatState.DONE: ("done", "green"),
    ChatState.FAILED: ("failed", "bold red"),
    ChatState.PARKED: ("parked", "yellow"),
    ChatState.CANCELLED: ("cancelled", "yellow"),
}
# Running chats first, then waiting ones, finished last: the eye lands on what is moving.
STATE_ORDER = {
    ChatState.RUNNING: 0, ChatState.QUEUED: 1, ChatState.PARKED: 2,
    ChatState.FAILED: 3, ChatState.CANCELLED: 4, ChatState.DONE: 5,
}


def chat_table(chats: tuple[ChatProgress, ...], bar_width: int = 24) -> Table:
    table = Table(expand=True, box=None, padding=(0, 1), show_edge=False, header_style="bold")
    table.add_column("Chat", ratio=3, no_wrap=True, overflow="ellipsis")
    table.add_column("State", width=9, no_wrap=True)
    table.add_column("Progress", width=bar_width, no_wrap=True)
    table.add_column("Messages", justify="right", no_wrap=True)
    table.add_column("msgs/s", justify="right", width=8, no_wrap=True)
    table.add_column("Media", justify="right", width=9, no_wrap=True)
    table.add_column("MB/s", justify="right", width=10, no_wrap=True)
    table.add_column("ETA", justify="right", width=8, no_wrap=True)
    for chat in sorted(chats, key=lambda c: (STATE_ORDER.get(c.state, 9), c.title.casefold())):
        label, style = STATE_STYLE.get(chat.state, (chat.state.value, ""))
        expected = max(chat.messages_expected, chat.messages_done)
        done_style = "green" if chat.state is ChatState.DONE else "cyan"
        bar = RichBar(total=expected or None, completed=chat.messages_done, width=bar_width,
                      complete_style=done_style, finished_style="green")
        title = Text(chat.title)
        if chat.error:
            title.append(f"  {chat.error}", style="red")
        running = chat.state is ChatState.RUNNING
        table.add_row(
            title,
            Text(label, style=style),
            bar,
            f"{fmt.count(chat.messages_done)} / {fmt.count(chat.messages_expected) if chat.messages_expected else fmt.DASH}",
            fmt.rate(chat.msgs_per_s, "") if running else fmt.DASH,
            fmt.size(chat.bytes_done) if chat.bytes_done or chat.bytes_expected else fmt.DASH,
            fmt.mb_per_s(chat.bytes_per_s) if running else fmt.DASH,
            fmt.duration(chat.eta_s) if running else fmt.DASH,
        )
    return table


class ChatProgressList(Static):
    """The per-chat rows of the dashboard."""

    DEFAULT_CSS = "ChatProgressList { height: auto; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("No export yet: pick chats on the Chats screen (F2) and press Enter.", id=id)
        self._shown: tuple[ChatProgress, ...] | None = None

    def show(self, chats: tuple[ChatProgress, ...]) -> None:
        if chats == self._shown:
            return
        self._shown = chats
        if chats:
            self.update(chat_table(chats))

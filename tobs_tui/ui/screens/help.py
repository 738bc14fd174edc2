"""Every key in one place, grouped by screen."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = (
    (
        "Everywhere",
        (
            ("F1 / ?", "this help"),
            ("F2 … F6", "Chats, Dashboard, Pools, Throttle, Settings"),
            ("F7", "pause / resume the export"),
            ("F8", "cancel the export (the next run continues it)"),
            ("Ctrl+P", "command palette: every action by name"),
            ("Ctrl+Q", "quit (asks first while an export runs)"),
        ),
    ),
    (
        "Chats",
        (
            (
                "type, Backspace",
                "filter by title, @username or id (the filter then has the keys; Enter or Esc returns)",
            ),
            ("↑ ↓ PgUp PgDn", "move (also while typing in the filter)"),
            ("Space", "select / unselect the chat or topic"),
            ("Ctrl+A / Ctrl+N", "select all shown / none"),
            ("→ / ←", "show / hide a forum's topics"),
            ("Ctrl+T", "cycle the type filter"),
            ("Ctrl+S", "sort by the next column (click a header to sort by it)"),
            ("Ctrl+O", "media on / off for the selection"),
            ("Ctrl+D", "export only messages since a date"),
            ("Ctrl+R", "reload the chat list"),
            ("Enter", "start exporting the selection"),
        ),
    ),
    (
        "Settings",
        (
            ("Ctrl+A", "apply to the running export"),
            ("Ctrl+S", "apply and save to the config file"),
        ),
    ),
)


def keys_table() -> Table:
    table = Table(box=None, show_header=False, padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for group, rows in KEYS:
        table.add_row(f"[bold underline]{group}[/]", "")
        for key, what in rows:
            table.add_row(key, what)
        table.add_row("", "")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(keys_table())

    def on_mount(self) -> None:
        self.query_one("#help").border_title = "Keys"
        self.query_one("#help").border_subtitle = "Esc to close"

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)

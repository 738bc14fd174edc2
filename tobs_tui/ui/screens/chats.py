"""Chat selection: every dialog, instant filter, type filter, sort, multi-select, forum topics, options."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Header, Input, Label, Select

from tobs_tui.engine import ChatKind, ChatSelection, ExportRequest, NotConnectedError
from tobs_tui.terminal import terminal_text
from tobs_tui.ui.bridge import EngineBridge, NotStartedError
from tobs_tui.ui.messages import ExportRequested
from tobs_tui.ui.screens.since import SinceScreen
from tobs_tui.ui.widgets.dialog_table import SORTABLE, DialogTable
from tobs_tui.ui.widgets.key_footer import KeyFooter

KIND_FILTERS: tuple[tuple[str, frozenset[ChatKind] | None], ...] = (
    ("All chats", None),
    ("People", frozenset({ChatKind.USER})),
    ("Bots", frozenset({ChatKind.BOT})),
    ("Groups", frozenset({ChatKind.GROUP, ChatKind.SUPERGROUP, ChatKind.FORUM})),
    ("Channels", frozenset({ChatKind.CHANNEL})),
    ("Forums", frozenset({ChatKind.FORUM})),
)


class ChatsScreen(Screen):
    """The chat list does not follow snapshots; the app reloads it when an export finishes."""

    BINDINGS = [
        Binding("enter", "start", "Export", priority=False),
        Binding("ctrl+a", "select_all", "All", priority=True),
        Binding("ctrl+n", "select_none", "None", priority=True, show=False),
        Binding("ctrl+o", "toggle_media", "Media", priority=True),
        Binding("ctrl+d", "since", "Since", priority=True),
        Binding("ctrl+t", "next_kind", "Type", priority=True, show=False),
        Binding("ctrl+s", "next_sort", "Sort", priority=True, show=False),
        Binding("ctrl+r", "reload", "Reload", priority=True, show=False),
        Binding("up", "cursor(-1)", show=False),
        Binding("down", "cursor(1)", show=False),
        Binding("pageup", "page(-1)", show=False),
        Binding("pagedown", "page(1)", show=False),
        Binding("escape", "focus_table", show=False),
    ]

    def __init__(self, engine: EngineBridge) -> None:
        super().__init__()
        self.engine = engine

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with Horizontal(id="chat-filters"):
            yield Input(placeholder="Filter: type part of a title, @username or id", id="filter", select_on_focus=False)
            yield Select(
                [(label, i) for i, (label, _) in enumerate(KIND_FILTERS)], value=0, allow_blank=False, id="kind"
            )
        yield DialogTable(id="dialogs")
        yield Label("Loading your chats…", id="chat-status")
        yield KeyFooter()

    @property
    def table(self) -> DialogTable:
        return self.query_one(DialogTable)

    def _still_shown(self) -> DialogTable | None:
        """The chat table, or None once it is gone. A worker that awaited the engine can wake while the screen
        is being taken down (the app closing removes its widgets before it stops the screen's workers): what it
        brought then has nowhere to go, and looking for the table would end the app with an error."""
        tables = self.query(DialogTable)
        return tables.first() if tables else None

    def on_mount(self) -> None:
        self.table.focus()
        if self.engine.authorized:
            self.load_dialogs()

    @work(exclusive=True, group="dialogs")
    async def load_dialogs(self) -> None:
        self._say("Loading your chats…")
        try:
            dialogs = await self.engine.list_dialogs()
        except Exception as e:
            # As text, not markup: the error may quote Telegram ("[Errno 2]", a title).
            self._say(Text(terminal_text(f"Could not load your chats: {e} Press Ctrl+R to retry.")))
            return
        if (table := self._still_shown()) is None:
            return
        table.set_dialogs(dialogs)
        self._update_status()

    def on_screen_resume(self) -> None:
        # An export may have committed more since the list was loaded; the state DB says how far (no request
        # to Telegram), so a running or stopped export's chats never read "never".
        if self.engine.authorized and self.table.dialog_count:
            self._refresh_last_export()

    @work(exclusive=True, group="last-export")
    async def _refresh_last_export(self) -> None:
        try:
            last_ids = await self.engine.exported_last_ids()
        except Exception as e:
            self.notify(terminal_text(f"Could not read the export state: {e}"), severity="warning", markup=False)
            return
        if (table := self._still_shown()) is not None:
            table.set_last_exported(last_ids)

    @work(group="topics")
    async def _load_topics(self, chat_id: int) -> None:
        try:
            topics = await self.engine.list_topics(chat_id)
        except Exception as e:
            self.notify(terminal_text(f"Could not load the topics: {e}"), severity="error", markup=False)
            return
        if (table := self._still_shown()) is None:
            return
        table.set_topics(chat_id, topics)
        self._update_status()

    # -- filter, sort, type ---------------------------------------------------------------------

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.table.set_filter(event.value)
        self._update_status()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        self.table.focus()

    def on_key(self, event: events.Key) -> None:
        # Typing anywhere on the list goes to the filter, Backspace too: the list itself only needs arrows
        # and Space. The status line says which of the two has the keys.
        if self.focused is not self.table:
            return
        filter_input = self.query_one("#filter", Input)
        if event.key == "backspace":
            filter_input.focus()
            filter_input.action_delete_left()
        elif event.is_printable and event.character not in (" ", "?"):
            filter_input.focus()
            filter_input.insert_text_at_cursor(event.character or "")
        else:
            return
        event.stop()
        event.prevent_default()

    def on_descendant_focus(self) -> None:
        # Until the list loads, the line says it is loading; focus also moves while the screen is taken down.
        if (table := self._still_shown()) is not None and table.dialog_count:
            self._update_status()

    def on_descendant_blur(self) -> None:
        if (table := self._still_shown()) is not None and table.dialog_count:
            self._update_status()

    @on(Select.Changed, "#kind")
    def _kind_changed(self, event: Select.Changed) -> None:
        self.table.set_kind_filter(KIND_FILTERS[int(event.value)][1])
        self._update_status()

    def action_next_kind(self) -> None:
        select = self.query_one("#kind", Select)
        select.value = (int(select.value) + 1) % len(KIND_FILTERS)

    def action_next_sort(self) -> None:
        table = self.table
        table.sort_by(SORTABLE[(SORTABLE.index(table.sort_column) + 1) % len(SORTABLE)])
        self._update_status()

    def action_cursor(self, delta: int) -> None:
        self.table.action_cursor(delta)

    def action_page(self, direction: int) -> None:
        self.table.action_page(direction)

    def action_focus_table(self) -> None:
        self.table.focus()

    def action_reload(self) -> None:
        self.load_dialogs()

    # -- selection and options ------------------------------------------------------------------

    @on(DialogTable.SelectionChanged)
    def _selection_changed(self) -> None:
        self._update_status()

    @on(DialogTable.CountsWanted)
    def _counts_wanted(self, event: DialogTable.CountsWanted) -> None:
        if self.engine.authorized:
            self._load_counts(event.chat_ids)

    @work(group="counts")
    async def _load_counts(self, chat_ids: tuple[int, ...]) -> None:
        try:
            counts = await self.engine.message_counts(chat_ids)
        except (NotStartedError, NotConnectedError):
            return  # logged out meanwhile: the rows keep their "—"
        if (table := self._still_shown()) is not None:
            table.set_counts(counts)

    @on(DialogTable.TopicsWanted)
    def _topics_wanted(self, event: DialogTable.TopicsWanted) -> None:
        self._load_topics(event.chat_id)

    def action_select_all(self) -> None:
        self.table.select_all()

    def action_select_none(self) -> None:
        self.table.select_none()

    def action_toggle_media(self) -> None:
        table = self.table
        keys = list(table.selected) or ([table.row_key(table.current)] if table.current else [])
        if not keys:
            return
        # One press sets every chosen row the same way: on unless they all are on already.
        all_on = all(table.selected.get(k) is not None and table.selected[k].media for k in keys)
        table.set_options(media=not all_on)

    @work(exclusive=True, group="since")
    async def action_since(self) -> None:
        table = self.table
        current = next((o.since for o in table.selected.values() if o.since), None)
        answer = await self.app.push_screen_wait(SinceScreen(current))
        if answer is not None:
            table.set_options(since=answer[0])

    def _update_status(self) -> None:
        table = self.table
        picked = len(table.selected)
        no_media = sum(1 for o in table.selected.values() if not o.media)
        dated = sum(1 for o in table.selected.values() if o.since)
        parts = [f"{table.visible_count:,} of {table.dialog_count:,} chats shown", f"{picked:,} selected"]
        if no_media:
            parts.append(f"{no_media:,} without media")
        if dated:
            parts.append(f"{dated:,} with a since date")
        parts.append(self._keys_hint(picked))
        self._say(" · ".join(parts))

    def _say(self, status: str | Text) -> None:
        """The status line under the table; there is none while the screen is taken down."""
        for label in self.query("#chat-status").results(Label):
            label.update(status)

    def _keys_hint(self, picked: int) -> str:
        """What the keys do where the focus is now."""
        if self.focused is not None and self.focused.id == "filter":
            return "typing filters (Space too) · Enter or Esc: back to the list to select"
        if self.focused is self.table:
            return "Space selects · type to filter · Enter exports" + (" the selection" if picked else "")
        return "Esc: back to the list"

    # -- start ------------------------------------------------------------------------------------

    def chat_selections(self) -> list[ChatSelection]:
        """The selected rows as the engine's ChatSelection list (topics grouped under their chat)."""
        grouped: dict[int, list] = {}
        for (chat_id, topic_id), opts in self.table.selected.items():
            grouped.setdefault(chat_id, []).append((topic_id, opts))
        out = []
        for chat_id, picks in grouped.items():
            whole = next((o for t, o in picks if t is None), None)
            opts = whole or picks[0][1]
            topic_ids = None if whole else tuple(sorted(t for t, _ in picks))
            out.append(ChatSelection(chat_id, topic_ids=topic_ids, download_media=opts.media, since=opts.since))
        return out

    def action_start(self) -> None:
        if not self.table.selected:
            self.notify(
                "Select chats first: Space marks the chat under the cursor, Ctrl+A marks all shown.", severity="warning"
            )
            return
        self.post_message(ExportRequested(ExportRequest(tuple(self.chat_selections()))))

    def commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand(
            "Select all shown chats", "Mark every chat the filter shows (Ctrl+A)", self.action_select_all
        )
        yield SystemCommand("Select no chats", "Clear the selection (Ctrl+N)", self.action_select_none)
        yield SystemCommand(
            "Media on/off", "Download media for the selection or not (Ctrl+O)", self.action_toggle_media
        )
        yield SystemCommand("Since date", "Export only messages from a date on (Ctrl+D)", self.action_since)
        yield SystemCommand("Reload chats", "Fetch the chat list again (Ctrl+R)", self.action_reload)
        yield SystemCommand("Start export", "Export the selected chats (Enter)", self.action_start)

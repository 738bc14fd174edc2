"""The chat list: a virtual table over every dialog, drawn line by line so 10,000 rows stay instant.

Filtering and sorting work on precomputed keys and only the visible lines are ever rendered.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tobs_tui.engine import ChatKind, DialogInfo, TopicInfo
from tobs_tui.terminal import terminal_text
from tobs_tui.ui import format as fmt
from tobs_tui.ui.widgets.columns import cut, cut_middle, fit_columns, fit_title

# Single-cell symbols that common monospace fonts carry, so columns line up in every terminal.
KIND_ICON = {
    ChatKind.USER: "☺",
    ChatKind.BOT: "⚙",
    ChatKind.GROUP: "⚇",
    ChatKind.SUPERGROUP: "⚇",
    ChatKind.CHANNEL: "⚑",
    ChatKind.FORUM: "▤",
}
KIND_COLOR = {
    ChatKind.USER: "#7fb4ff",
    ChatKind.BOT: "#b0b0b0",
    ChatKind.GROUP: "#8fd18f",
    ChatKind.SUPERGROUP: "#8fd18f",
    ChatKind.CHANNEL: "#f0b050",
    ChatKind.FORUM: "#d08fe0",
}

RowKey = tuple[int, "int | None"]  # (chat_id, topic_id or None for the whole chat)


@dataclass(frozen=True)
class RowOptions:
    """What the user chose for one selected row."""

    media: bool = True
    since: date | None = None


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    width: int  # 0 = takes the remaining width
    align: str = "left"


COLUMNS = (
    Column("sel", "", 2),
    Column("kind", "", 3),
    Column("title", "Title", 0),
    Column("username", "Username", 18),
    Column("messages", "Messages", 11, "right"),
    Column("unread", "Unread", 8, "right"),
    Column("export", "Last export", 13),
    Column("media", "Media", 6),
    Column("since", "Since", 11),
)
SORTABLE = ("kind", "title", "username", "messages", "unread", "export")
TITLE_MIN = 16
# On a narrow terminal the username narrows first (cut with "…"), then "Last export" to its usual width (its count
# shortened: "12.3M new"), then columns give way in this order.
SHRINK = (("username", 12), ("export", 13))
GIVE_WAY = ("unread", "username", "since", "export")


def last_export_short(d: DialogInfo) -> str:
    """last_export_text in at most 13 cells."""
    new = d.new_since_export
    return f"{fmt.short_count(new)} new" if new and d.ids_per_chat else last_export_text(d)


def last_export_text(d: DialogInfo) -> str:
    new = d.new_since_export
    if new is None:
        return "never"
    if new == 0:
        return "up to date"
    return f"{new:,} new" if d.ids_per_chat else "has new"


def _sort_value(d: DialogInfo, column: str):
    if column == "kind":
        return (d.kind.value, d.title.lower())
    if column == "title":
        return d.title.lower()
    if column == "username":
        return ((d.username or "\uffff").lower(),)
    if column == "messages":
        estimate = d.message_estimate
        return -1 if estimate is None else estimate
    if column == "unread":
        return d.unread
    if column == "export":
        new = d.new_since_export
        return -1 if new is None else new
    raise ValueError(column)


class DialogTable(ScrollView, can_focus=True):
    """All dialogs with instant filter, type filter, sort, multi-select and forum topics."""

    DEFAULT_CSS = """
    DialogTable { height: 1fr; overflow-x: hidden; }
    DialogTable > .dialog-table--header { text-style: bold; background: $panel; }
    DialogTable > .dialog-table--cursor { background: $accent 40%; }
    DialogTable > .dialog-table--selected { color: $success; text-style: bold; }
    DialogTable > .dialog-table--topic { color: $text-muted; }
    DialogTable > .dialog-table--dim { color: $text-muted; }
    """
    COMPONENT_CLASSES = {
        "dialog-table--header",
        "dialog-table--cursor",
        "dialog-table--selected",
        "dialog-table--topic",
        "dialog-table--dim",
    }
    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("space", "toggle", "Select"),
        Binding("right", "expand", "Topics", show=False),
        Binding("left", "collapse", "Collapse", show=False),
    ]

    cursor = reactive(0, repaint=True, layout=False)

    class SelectionChanged(Message):
        def __init__(self, table: DialogTable) -> None:
            super().__init__()
            self.table = table

    class CountsWanted(Message):
        """Rows on screen whose chats' sizes their ids cannot tell (private chats, bots, basic groups)."""

        def __init__(self, chat_ids: tuple[int, ...]) -> None:
            super().__init__()
            self.chat_ids = chat_ids

    class TopicsWanted(Message):
        """A forum row was expanded and its topics are not loaded yet."""

        def __init__(self, chat_id: int) -> None:
            super().__init__()
            self.chat_id = chat_id

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._dialogs: list[DialogInfo] = []
        self._haystack: dict[int, str] = {}
        self._sorted: list[DialogInfo] = []
        self._rows: list[tuple[DialogInfo, TopicInfo | None]] = []
        self._matched: list[DialogInfo] = []
        self._chat_rows = 0
        self.topics: dict[int, list[TopicInfo]] = {}
        self.expanded: set[int] = set()
        self.selected: dict[RowKey, RowOptions] = {}
        self.filter_text = ""
        self.kind_filter: frozenset[ChatKind] | None = None
        self.sort_column = "messages"
        self.sort_reverse = True
        self._counts_asked: set[int] = set()
        self._counts_pending: set[int] = set()
        self._widest = {"username": 0, "export": 0}  # the longest text of these columns, over every dialog

    # -- data ---------------------------------------------------------------------------------

    @property
    def dialog_count(self) -> int:
        return len(self._dialogs)

    @property
    def visible_count(self) -> int:
        """Chats shown by the filters (topic rows not counted)."""
        return self._chat_rows

    def set_dialogs(self, dialogs: list[DialogInfo]) -> None:
        self._dialogs = list(dialogs)
        # One lowercase string per dialog: a keystroke is then a substring test per dialog.
        self._haystack = {d.chat_id: f"{d.title}\t@{d.username or ''}\t{d.chat_id}".casefold() for d in self._dialogs}
        self._widest = {
            "username": max((len(d.username) + 1 for d in self._dialogs if d.username), default=0),
            "export": max((len(last_export_text(d)) for d in self._dialogs), default=0),
        }
        known = {d.chat_id for d in self._dialogs}
        self.selected = {k: v for k, v in self.selected.items() if k[0] in known}
        self._resort()

    def set_counts(self, counts: dict[int, int]) -> None:
        """Message counts fetched for shown rows. Rows keep their places (no resort under the reader's eyes)."""
        fresh = {
            d.chat_id: replace(d, message_count=counts[d.chat_id])
            for d in self._dialogs
            if d.chat_id in counts and d.message_count != counts[d.chat_id]
        }
        if not fresh:
            return

        def swap(d: DialogInfo) -> DialogInfo:
            return fresh.get(d.chat_id, d)

        self._dialogs = [swap(d) for d in self._dialogs]
        self._sorted = [swap(d) for d in self._sorted]
        self._matched = [swap(d) for d in self._matched]
        self._rows = [(swap(d), topic) for d, topic in self._rows]
        self.refresh()

    def _want_count(self, d: DialogInfo) -> None:
        # Called while drawing a row: collect the shown chats without a size and ask for them once, together.
        if d.ids_per_chat or d.message_count is not None or d.chat_id in self._counts_asked:
            return
        if not self._counts_pending:
            self.call_later(self._ask_counts)
        self._counts_pending.add(d.chat_id)

    def _ask_counts(self) -> None:
        wanted = tuple(self._counts_pending - self._counts_asked)
        self._counts_asked |= self._counts_pending
        self._counts_pending = set()
        if wanted:
            self.post_message(self.CountsWanted(wanted))

    def set_last_exported(self, last_ids: dict[int, int]) -> None:
        """Committed ids from the state DB (an export moved on since the list was loaded)."""
        self.set_dialogs([replace(d, last_exported_id=last_ids.get(d.chat_id)) for d in self._dialogs])

    def set_topics(self, chat_id: int, topics: list[TopicInfo]) -> None:
        self.topics[chat_id] = list(topics)
        self.expanded.add(chat_id)
        self._rebuild()

    def set_filter(self, text: str) -> None:
        needle = text.strip().casefold()
        # Typing one more character only narrows the last result: search that instead of every dialog.
        narrowing = bool(self.filter_text) and needle.startswith(self.filter_text)
        self.filter_text = needle
        self._rebuild(narrowing)

    def set_kind_filter(self, kinds: frozenset[ChatKind] | None) -> None:
        self.kind_filter = kinds
        self._rebuild()

    def sort_by(self, column: str) -> None:
        if column not in SORTABLE:
            return
        if column == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column = column
            self.sort_reverse = column in ("messages", "unread", "export")
        self._resort()

    def _resort(self) -> None:
        self._sorted = sorted(self._dialogs, key=lambda d: _sort_value(d, self.sort_column), reverse=self.sort_reverse)
        self._rebuild()

    def _rebuild(self, narrowing: bool = False) -> None:
        needle = self.filter_text
        kinds = self.kind_filter
        hay = self._haystack
        candidates = self._matched if narrowing else self._sorted
        if kinds is not None and not narrowing:
            candidates = [d for d in candidates if d.kind in kinds]
        matched = [d for d in candidates if needle in hay[d.chat_id]] if needle else candidates
        self._matched = matched
        expanded = self.expanded
        if expanded:
            rows: list[tuple[DialogInfo, TopicInfo | None]] = []
            for d in matched:
                rows.append((d, None))
                if d.chat_id in expanded:
                    rows.extend((d, topic) for topic in self.topics.get(d.chat_id, ()))
        else:
            rows = [(d, None) for d in matched]
        chats = len(matched)
        self._rows = rows
        self._chat_rows = chats
        self.virtual_size = Size(self.size.width, len(rows) + 1)
        self.cursor = min(self.cursor, max(0, len(rows) - 1))
        self.refresh()

    # -- selection ------------------------------------------------------------------------------

    @property
    def current(self) -> tuple[DialogInfo, TopicInfo | None] | None:
        if not self._rows:
            return None
        return self._rows[self.cursor]

    @staticmethod
    def row_key(row: tuple[DialogInfo, TopicInfo | None]) -> RowKey:
        d, topic = row
        return (d.chat_id, topic.topic_id if topic else None)

    def toggle(self, row: tuple[DialogInfo, TopicInfo | None]) -> None:
        key = self.row_key(row)
        if key in self.selected:
            del self.selected[key]
        else:
            self.selected[key] = RowOptions()
            if key[1] is None:
                # The whole chat includes its topics: drop separate topic picks.
                for k in [k for k in self.selected if k[0] == key[0] and k[1] is not None]:
                    del self.selected[k]
            else:
                self.selected.pop((key[0], None), None)
        self._selection_changed()

    def select_all(self) -> None:
        for d, topic in self._rows:
            if topic is None:
                self.selected.setdefault((d.chat_id, None), RowOptions())
        self._selection_changed()

    def select_none(self) -> None:
        self.selected.clear()
        self._selection_changed()

    def set_options(self, *, media: bool | None = None, since: date | bool | None = False) -> None:
        """Change options of every selected row (or the cursor row when nothing is selected)."""
        keys = list(self.selected) or ([self.row_key(self.current)] if self.current else [])
        for key in keys:
            opts = self.selected.get(key, RowOptions())
            if media is not None:
                opts = replace(opts, media=media)
            if since is not False:
                opts = replace(opts, since=since)
            self.selected[key] = opts
        self._selection_changed()

    def _selection_changed(self) -> None:
        self.refresh()
        self.post_message(self.SelectionChanged(self))

    # -- keys and mouse -------------------------------------------------------------------------

    def watch_cursor(self, value: int) -> None:
        body = self.scrollable_content_region.height - 1
        if body <= 0:
            return
        top = int(self.scroll_y)
        if value < top:
            self.scroll_to(y=value, animate=False, immediate=True)
        elif value >= top + body:
            self.scroll_to(y=value - body + 1, animate=False, immediate=True)

    def action_cursor(self, delta: int) -> None:
        if self._rows:
            self.cursor = max(0, min(len(self._rows) - 1, self.cursor + delta))

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.scrollable_content_region.height - 2))

    def action_jump(self, where: int) -> None:
        if self._rows:
            self.cursor = 0 if where == 0 else len(self._rows) - 1

    def action_toggle(self) -> None:
        if self.current:
            self.toggle(self.current)
            self.action_cursor(1)

    def action_expand(self) -> None:
        row = self.current
        if row is None or row[1] is not None or not row[0].is_forum:
            return
        chat_id = row[0].chat_id
        if chat_id in self.topics:
            self.expanded.add(chat_id)
            self._rebuild()
        else:
            self.post_message(self.TopicsWanted(chat_id))

    def action_collapse(self) -> None:
        row = self.current
        if row is None:
            return
        chat_id = row[0].chat_id
        if chat_id in self.expanded:
            self.expanded.discard(chat_id)
            self._rebuild()
            self.cursor = next(i for i, r in enumerate(self._rows) if r[0].chat_id == chat_id and r[1] is None)

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            column = self._column_at(event.x)
            if column:
                self.sort_by(column)
            return
        index = int(self.scroll_y) + event.y - 1
        if 0 <= index < len(self._rows):
            self.cursor = index
            if event.chain == 2 or event.x < 2:
                self.toggle(self._rows[index])

    def _column_at(self, x: int) -> str | None:
        pos = 0
        for column, width in zip(COLUMNS, self._widths()):
            if not width:
                continue
            if pos <= x < pos + width + 1:
                return column.key
            pos += width + 1
        return None

    # -- drawing --------------------------------------------------------------------------------

    def _usual_width(self, column: Column, total: int) -> int:
        """A column's width when there is room: the username and "Last export" widen to their longest text (the
        username up to a fifth of the line), so a wide terminal shows them whole."""
        widest = self._widest.get(column.key, 0)
        if widest <= column.width:
            return column.width
        if column.key == "username":
            return min(widest, max(column.width, total // 5))
        return widest

    def _widths(self) -> list[int]:
        total = self.scrollable_content_region.width
        fitted = fit_columns(
            total,
            [(c.key, self._usual_width(c, total)) for c in COLUMNS],
            flexible="title",
            flexible_min=TITLE_MIN,
            shrink=SHRINK,
            give_way=GIVE_WAY,
        )
        return [fitted[c.key] for c in COLUMNS]

    def _cells(self, row: tuple[DialogInfo, TopicInfo | None], widths: list[int]) -> list[str]:
        """The row's texts, each fitting its column: titles cut in the middle, usernames at the end (with "…"),
        counts shortened."""
        texts = self._texts(row)
        d, topic = row
        for i, (column, width) in enumerate(zip(COLUMNS, widths)):
            if cell_len(texts[i]) <= width:
                continue
            if column.key == "title":
                texts[i] = cut_middle(texts[i], width)
            elif column.key == "messages" and topic is None:
                texts[i] = fmt.short_count(d.message_estimate)
            elif column.key == "unread" and topic is None:
                texts[i] = fmt.short_count(d.unread)
            elif column.key == "export" and topic is None:
                texts[i] = last_export_short(d)
        return texts

    def _texts(self, row: tuple[DialogInfo, TopicInfo | None]) -> list[str]:
        d, topic = row
        opts = self.selected.get(self.row_key(row))
        picked = opts is not None or (topic is not None and (d.chat_id, None) in self.selected)
        mark = "●" if picked else "○"
        if topic is not None:
            return [
                mark,
                "",
                f"   └ {terminal_text(topic.title)}",
                "",
                "",
                "",
                "",
                self._media_text(opts),
                self._since_text(opts),
            ]
        arrow = ""
        if d.is_forum:
            arrow = "▾ " if d.chat_id in self.expanded else "▸ "
        return [
            mark,
            KIND_ICON.get(d.kind, "?"),
            arrow + terminal_text(d.title),
            f"@{d.username}" if d.username else "",
            fmt.count(d.message_estimate),
            fmt.count(d.unread) if d.unread else "",
            last_export_text(d),
            self._media_text(opts),
            self._since_text(opts),
        ]

    @staticmethod
    def _media_text(opts: RowOptions | None) -> str:
        if opts is None:
            return ""
        return "on" if opts.media else "off"

    @staticmethod
    def _since_text(opts: RowOptions | None) -> str:
        if opts is None:
            return ""
        return opts.since.isoformat() if opts.since else "all"

    def _line(self, cells: list[str], widths: list[int], style: Style, kind: ChatKind | None = None) -> Strip:
        # One segment per column: each cell is placed on its own, which keeps columns straight everywhere.
        segments = []
        for column, width, text in zip(COLUMNS, widths, cells):
            if not width:
                continue
            if column.align == "right" and len(text) < width:
                text = " " * (width - len(text)) + text
            cell_style = style
            if column.key == "kind" and kind is not None:
                cell_style = style + Style(color=KIND_COLOR[kind])
            segments.append(Segment(set_cell_size(cut(text, width), width), cell_style))  # never cut silently
            segments.append(Segment(" ", style))
        return Strip(segments[:-1])

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        widths = self._widths()
        base = self.rich_style
        if y == 0:
            titles = []
            for column in COLUMNS:
                arrow = ""
                if column.key == self.sort_column:
                    arrow = " ▼" if self.sort_reverse else " ▲"
                titles.append(column.title + arrow)
            titles = [fit_title(t, w) for t, w in zip(titles, widths)]
            style = base + self.get_component_rich_style("dialog-table--header")
            return self._line(titles, widths, style).extend_cell_length(width, style)
        index = int(self.scroll_y) + y - 1
        if index >= len(self._rows):
            return Strip.blank(width, base)
        row = self._rows[index]
        if row[1] is None:
            self._want_count(row[0])
        style = base
        if row[1] is not None:
            style += self.get_component_rich_style("dialog-table--topic")
        if self.row_key(row) in self.selected:
            style += self.get_component_rich_style("dialog-table--selected")
        if index == self.cursor:
            style += self.get_component_rich_style("dialog-table--cursor")
        return self._line(self._cells(row, widths), widths, style, row[0].kind).extend_cell_length(width, style)

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(event.size.width, len(self._rows) + 1)

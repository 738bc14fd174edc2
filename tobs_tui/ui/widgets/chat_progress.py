"""Per-chat progress: one line per chat or topic with its bar, msgs/s, MB/s and ETA from the snapshot.

Drawn line by line (only the visible rows), because an export of every dialog has hundreds of rows
and the dashboard redraws them up to four times a second.
"""

from __future__ import annotations

import re

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tobs_tui.engine import ChatProgress, ChatState
from tobs_tui.terminal import terminal_text
from tobs_tui.ui import format as fmt
from tobs_tui.ui.widgets.columns import cut, cut_middle, fit_columns, fit_title

STATE_LOOK = {
    ChatState.QUEUED: ("queued", Style(dim=True)),
    ChatState.RUNNING: ("running", Style(color="cyan", bold=True)),
    ChatState.DONE: ("done", Style(color="green")),
    ChatState.FAILED: ("failed", Style(color="red", bold=True)),
    ChatState.PARKED: ("parked", Style(color="yellow")),
    ChatState.CANCELLED: ("cancelled", Style(color="yellow")),
}
PAUSED_LOOK = ("paused", Style(color="yellow", bold=True))
# Running chats first, then waiting ones, finished last: the eye lands on what is moving.
STATE_ORDER = {
    ChatState.RUNNING: 0,
    ChatState.QUEUED: 1,
    ChatState.PARKED: 2,
    ChatState.FAILED: 3,
    ChatState.CANCELLED: 4,
    ChatState.DONE: 5,
}
# (title, width, right-aligned); width 0 takes what is left. Every value fits its width whole: "Messages" widens for
# long counts where there is room and shows short counts ("987.7k / 1.0M") where there is not; fmt.mb_per_s never
# takes more than 10 cells.
COLUMNS = (
    ("Chat", 0, False),
    ("State", 9, False),
    ("Progress", 24, False),
    ("Messages", 17, True),
    ("msgs/s", 8, True),
    ("Written", 9, True),
    ("MB/s", 10, True),
    ("ETA", 8, True),
)
CHAT_MIN = 16  # the title keeps at least this much
BAR_MIN = 6  # the bar shrinks to this before any column goes
# On a narrow terminal, columns give way in this order (the title, messages and ETA always stay).
GIVE_WAY = ("Written", "MB/s", "msgs/s", "State", "Progress")
BAR_DONE = Style(color="cyan")
BAR_FINISHED = Style(color="green")
BAR_LEFT = Style(color="grey35")
HEADER = Style(bold=True)
NO_EXPORT = "No export yet: pick chats on the Chats screen (F2) and press Enter."
REASON_LOOK = {ChatState.FAILED: Style(color="red"), ChatState.PARKED: Style(color="yellow")}
# What a short reason leads with: the error Telegram named ("(BAD_REQUEST)"), or the wait it asked for.
TELEGRAM_CODE = re.compile(r"\(([A-Z][A-Z0-9_]{2,})\)")
WAIT = re.compile(r"\bwait of ([0-9][0-9.,]* ?[a-z]+)")


MESSAGES_MIN = 17  # "Messages" narrows to this (short counts) before any column goes; the usual width


def column_widths(total: int, messages: int = MESSAGES_MIN) -> list[int]:
    """Each column's width on a line of `total` cells; 0 for a column that gave way (bar first, then "Messages" to
    its usual width, then GIVE_WAY). `messages` is the width the widest count pair takes with every digit."""
    fitted = fit_columns(
        total,
        [(title, max(width, messages) if title == "Messages" else width) for title, width, _ in COLUMNS],
        flexible="Chat",
        flexible_min=CHAT_MIN,
        shrink=[("Progress", BAR_MIN), ("Messages", MESSAGES_MIN)],
        give_way=GIVE_WAY,
    )
    return [fitted[title] for title, _, _ in COLUMNS]


def order(chats: tuple[ChatProgress, ...]) -> list[ChatProgress]:
    return sorted(chats, key=lambda c: (STATE_ORDER.get(c.state, 9), c.title.casefold()))


def look(chat: ChatProgress, paused: bool) -> tuple[str, Style | None]:
    """The state word and its style; a chat that would be running says "paused" while the run is."""
    if paused and chat.state is ChatState.RUNNING:
        return PAUSED_LOOK
    return STATE_LOOK.get(chat.state, (chat.state.value, None))


def messages_text(chat: ChatProgress, width: int | None = None) -> str:
    """Done / expected, every digit when it fits in `width` cells, else short counts."""
    return fmt.count_of(chat.messages_done, chat.messages_expected or None, width)


def cells(chat: ChatProgress, paused: bool = False, messages_width: int | None = None) -> list[str]:
    running = chat.state is ChatState.RUNNING and not paused
    return [
        terminal_text(chat.title),
        look(chat, paused)[0],
        "",  # the bar, drawn separately
        messages_text(chat, messages_width),
        fmt.rate(chat.msgs_per_s, "") if running else fmt.DASH,
        fmt.size(chat.bytes_done) if chat.bytes_done or chat.bytes_expected else fmt.DASH,
        fmt.mb_per_s(chat.bytes_per_s) if running else fmt.DASH,
        fmt.duration(chat.eta_s) if running else fmt.DASH,
    ]


def short_reason(error: str) -> str:
    """The gist of the engine's sentence for a one-line row: the error Telegram named or the wait it asked for
    first, then the sentence as far as it fits (the whole one is in the recent events)."""
    error = terminal_text(error)
    for pattern, lead in ((WAIT, "wait "), (TELEGRAM_CODE, "")):
        found = pattern.search(error)
        if found:
            return f"{lead}{found.group(1)}: {error}"
    return error


def bar(chat: ChatProgress, width: int) -> list[Segment]:
    expected = max(chat.messages_expected, chat.messages_done)
    if expected <= 0:
        return [Segment("╌" * width, BAR_LEFT)]
    filled = round(width * chat.messages_done / expected)
    style = BAR_FINISHED if filled >= width else BAR_DONE
    return [Segment("━" * filled, style), Segment("━" * (width - filled), BAR_LEFT)]


class ChatProgressList(ScrollView):
    """The per-chat rows of the dashboard."""

    DEFAULT_CSS = "ChatProgressList { height: 1fr; overflow-x: hidden; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: tuple[ChatProgress, ...] | None = None
        self._rows: list[ChatProgress] = []
        self._paused = False
        self._empty = NO_EXPORT
        self._empty_lines: tuple[int, list[str]] = (-1, [])  # the empty text wrapped at a width
        self._messages_width = MESSAGES_MIN  # the widest "done / expected" with every digit
        self._fitted: tuple[tuple[int, int], list[int]] = ((-1, -1), [])

    def show(self, chats: tuple[ChatProgress, ...], *, paused: bool = False, empty: str = "") -> None:
        """The chats' rows; with none, the `empty` sentence (what the run is at), or that no export ran yet."""
        empty = terminal_text(empty) if empty else NO_EXPORT
        if empty != self._empty:
            self._empty = empty
            self._empty_lines = (-1, [])
            if not chats:
                self.refresh()
        if chats == self._shown and paused == self._paused:
            return
        if paused != self._paused:
            self._paused = paused
            self._rows = []  # every running row changes its words: draw them all again
        self._shown = chats
        rows = order(chats)
        widest = max((len(messages_text(c)) for c in rows), default=MESSAGES_MIN)
        if widest != self._messages_width:
            self._messages_width = widest
            self._rows = []  # the columns move: draw every line again
        if len(rows) == len(self._rows) and self._rows:
            # Same rows: repaint only the visible lines whose chat changed (the running few, usually), so the
            # lines of queued and finished chats are not drawn again four times a second.
            width = self.scrollable_content_region.width
            first = int(self.scroll_y)
            last = min(len(rows), first + self.scrollable_content_region.height - 1)  # - 1: the header line
            changed = [i for i in range(first, last) if rows[i] != self._rows[i]]
            self._rows = rows
            for i in changed:
                self.refresh(Region(0, i - first + 1, width, 1))  # + 1: the header line
            return
        if len(chats) != len(self._rows):
            # Grow with the number of chats (the stylesheet caps it); a relayout only when that changes.
            self.styles.height = len(chats) + 1 + self.styles.gutter.height
        self._rows = rows
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._rows) + 1)
        self.refresh()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        """The pointer on a row whose title is cut shows the whole title; on a failed or parked one, its whole
        sentence too."""
        offset = event.get_content_offset(self)
        index = -1 if offset is None or offset.y < 1 else int(self.scroll_y) + offset.y - 1  # 0: the header line
        chat = self._rows[index] if 0 <= index < len(self._rows) else None
        self.tooltip = None if chat is None else self.whole(chat)

    def whole(self, chat: ChatProgress) -> str | None:
        """What the row of `chat` does not show whole: its title when cut, and its error; None when nothing."""
        title = terminal_text(chat.title)
        cut_title = cell_len(title) > self._widths()[0]
        parts = [title] if cut_title or chat.error else []
        if chat.error:
            parts.append(terminal_text(chat.error))
        return "\n".join(parts) or None

    def _wrapped_empty(self, width: int) -> list[str]:
        """The empty sentence on the box's lines, at word breaks; the last line shown ends with "…" if it goes on."""
        if self._empty_lines[0] != width:
            lines = [line.plain for line in Text(self._empty).wrap(self.app.console, max(1, width))]
            self._empty_lines = (width, lines)
        lines = self._empty_lines[1]
        rows = max(1, self.scrollable_content_region.height)
        if len(lines) > rows:
            lines = [*lines[: rows - 1], cut(" ".join(lines[rows - 1 :]), width)]
        return lines

    def _widths(self) -> list[int]:
        key = (self.scrollable_content_region.width, self._messages_width)
        if self._fitted[0] != key:
            self._fitted = (key, column_widths(*key))
        return self._fitted[1]

    @staticmethod
    def _cell(text: str, width: int, right: bool) -> str:
        if right and cell_len(text) < width:
            text = " " * (width - cell_len(text)) + text
        return set_cell_size(cut(text, width), width)  # never cut silently

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        widths = self._widths()
        if not self._rows:
            lines = self._wrapped_empty(width)
            text = lines[y] if y < len(lines) else ""
            return Strip([Segment(set_cell_size(text, width), base + Style(dim=True))])
        if y == 0:
            header = [
                Segment(self._cell(fit_title(t, w), w, r) + " ", base + HEADER)
                for (t, _, r), w in zip(COLUMNS, widths)
                if w
            ]
            return Strip(header).adjust_cell_length(width, base)
        index = int(self.scroll_y) + y - 1
        if index >= len(self._rows):
            return Strip.blank(width, base)
        chat = self._rows[index]
        segments: list[Segment] = []
        texts = cells(chat, self._paused, widths[3])
        texts[0] = cut_middle(texts[0], widths[0])  # its start and its end: rows of like titles still read apart
        # A failed or parked row says why where its bar and rates would be (they stand still), keeping its
        # messages at the end; the whole sentence is in the recent events and in the row's tooltip.
        reason = short_reason(chat.error) if chat.error and chat.state is not ChatState.RUNNING else None
        for (_, _, right), w, text, k in zip(COLUMNS, widths, texts, range(len(COLUMNS))):
            if not w:
                continue
            if reason is not None and k >= 2:
                if k == min(j for j in range(2, len(widths)) if widths[j]):  # the first column after State
                    span = sum(cw + 1 for cw in widths[2:] if cw) - 1
                    messages = texts[3]
                    room = max(0, span - cell_len(messages) - 2)
                    style = base + REASON_LOOK.get(chat.state, REASON_LOOK[ChatState.FAILED])
                    segments.append(Segment(set_cell_size(cut(reason, room), room + 2), style))
                    segments.append(Segment(messages + " ", base))
                continue
            if k == 2:
                segments.extend(bar(chat, w))
            else:
                state_style = look(chat, self._paused)[1] if k == 1 else None
                style = base + state_style if state_style else base
                segments.append(Segment(self._cell(text, w, right), style))
            segments.append(Segment(" ", base))
        return Strip(segments).adjust_cell_length(width, base)

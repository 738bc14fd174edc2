"""One worker pool (critical, standard) or the media queue: its numbers and a live queue-depth sparkline."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline, Static

from tobs_tui.engine import MediaStats, PoolStats
from tobs_tui.ui import format as fmt

POOL_BLURB = {
    "critical": "HIGH priority: note writes and network-bound I/O",
    "standard": "NORMAL / LOW: hashing, transcoding, cleanup",
    "media": "media downloads (parts in flight per file)",
}


def pool_table(stats: PoolStats | None, media: MediaStats | None = None) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim")
    table.add_column(justify="right")
    table.add_column(style="dim")
    table.add_column(justify="right")
    if stats is not None:
        rows = [
            ("workers", fmt.count(stats.workers), "busy", fmt.count(stats.busy)),
            ("queued", fmt.count(stats.queued), "completed", fmt.count(stats.completed)),
            ("failed", fmt.count(stats.failed), "wait p50", fmt.millis(stats.wait_p50_ms)),
            ("wait p95", fmt.millis(stats.wait_p95_ms), "mean run", fmt.millis(stats.mean_run_ms)),
        ]
    elif media is not None:
        # The media queue is not a pool of ours when the engine reports only MediaStats.
        rows = [
            ("workers", fmt.count(media.workers), "busy", fmt.count(media.files_in_flight)),
            ("queued", fmt.count(media.files_queued), "completed", fmt.count(media.files_done)),
            ("failed", fmt.count(media.files_failed), "wait p50", fmt.DASH),
        ]
    else:
        rows = [
            ("workers", fmt.DASH, "busy", fmt.DASH),
            ("queued", fmt.DASH, "completed", fmt.DASH),
            ("failed", fmt.DASH, "wait p50", fmt.DASH),
            ("wait p95", fmt.DASH, "mean run", fmt.DASH),
        ]
    if media is not None:
        expected = fmt.size(media.bytes_expected) if media.bytes_expected else fmt.DASH
        rows += [
            ("parts in flight", fmt.count(media.parts_in_flight), "skipped", fmt.count(media.files_skipped)),
            ("bytes", f"{fmt.size(media.bytes_done)} of {expected}", "rate", fmt.mb_per_s(media.bytes_per_s)),
        ]
        # Which data center the parts came from: the account's own, and those files live on.
        rows += [
            (f"DC {d.dc} parts", f"{fmt.count(d.done)} done", "in flight", fmt.count(d.in_flight)) for d in media.by_dc
        ]
    for row in rows:
        table.add_row(*row)
    return table


class PoolNumbers(Vertical):
    """The blurb and the numbers: the panel never gets shorter than they are (its min-height follows their
    height), so a row more (a data center, a wrapped value) makes the pools' box scroll rather than go unseen."""

    def on_resize(self, event: events.Resize) -> None:
        panel = self.parent
        if isinstance(panel, PoolPanel):
            panel.styles.min_height = event.size.height + panel.styles.gutter.height


class PoolPanel(Horizontal):
    """Numbers on the left, the queue depth over time filling the rest of the row."""

    DEFAULT_CSS = """
    PoolPanel { height: 1fr; border: round $primary; padding: 0 1; }
    PoolPanel > PoolNumbers { width: auto; min-width: 60; max-width: 100%; height: auto; }
    PoolPanel .pool-blurb { color: $text-muted; margin-bottom: 1; }
    PoolPanel .pool-numbers { height: auto; }
    PoolPanel > Sparkline { width: 1fr; height: 1fr; margin-left: 2; }
    """

    def __init__(self, name: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.pool_name = name
        self.border_title = f"{name} pool" if name != "media" else "media queue"
        self._shown: tuple | None = None
        self._rows = pool_table(None).row_count  # what compose shows first

    def compose(self) -> ComposeResult:
        with PoolNumbers():
            yield Label(POOL_BLURB.get(self.pool_name, ""), classes="pool-blurb")
            yield Static(pool_table(None), classes="pool-numbers")
        yield Sparkline([], summary_function=max)

    def show(
        self, stats: PoolStats | None, depths: Sequence[float], version: int, media: MediaStats | None = None
    ) -> None:
        key = (stats, media, version)
        if key == self._shown:
            return
        self._shown = key
        table = pool_table(stats, media)
        # The numbers' height changes only with their row count: otherwise no relayout of the screen per snapshot.
        self.query_one(".pool-numbers", Static).update(table, layout=table.row_count != self._rows)
        self._rows = table.row_count
        self.query_one(Sparkline).data = list(depths)
        peak = max(depths, default=0)
        self.border_subtitle = f"queue depth, peak {peak:,.0f}" if depths else "queue depth"

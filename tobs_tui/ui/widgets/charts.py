"""Charts with axes (plotext): throughput over time, and request latency against the throttle threshold."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence

from rich.text import Text
from textual import work
from textual.app import RenderResult
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

from tobs_tui.engine import EngineEvent, EventKind, LatencySample, ThrottleStats
from tobs_tui.ui.history import RatePoint

_ONE_BUILD = threading.Lock()
REDRAW_EVERY_S = 1.0  # plotext builds a whole chart in Python: once a second keeps the UI thread light
SHORT_CHART = 12  # below this many rows a chart leaves out its axis name: its rows go to the plot
# Below this many columns the latency chart's legend and FloodWait labels would cover its line: the legend goes to
# the box's bottom border and a FloodWait is its vertical mark alone (the detector beside lists each one).
NARROW_CHART = 60
THROTTLED = "#e68c28"
NARROW_LEGEND = f"[{THROTTLED}]━[/] throttled  [green]─[/] baseline  [red]─[/] 3x"


def thin(points: Sequence, limit: int) -> list:
    """Every k-th point so at most `limit` remain (the chart is only so many cells wide), keeping the last."""
    if len(points) <= limit:
        return list(points)
    step = len(points) / limit
    picked = [points[int(i * step)] for i in range(limit - 1)]
    picked.append(points[-1])
    return picked


class ChartBase(PlotextPlot):
    """Redraws only for new data, at most once per REDRAW_EVERY_S, and builds the chart on a worker thread.

    plotext draws in pure Python (tens of ms for a full chart); building it off the event loop keeps
    keypresses flowing while an export runs. The newest data is always drawn in the end.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._version: Hashable = -1
        self._drawn_at = float("-inf")
        self._pending: tuple[Hashable, Callable[[], tuple]] | None = None
        self._timer_set = False
        self._built: tuple[tuple[int, int], Text] | None = None  # (size built for, chart)
        self._asked = 0  # builds asked for: a build that finds a newer one asked for leaves it the work
        self._last_data: tuple = ()

    def offer(self, version: Hashable, take: Callable[[], tuple]) -> None:
        """Draw the data `take` copies out (on the UI thread, when the chart is next built) if `version` is new.

        Nothing is copied per snapshot: between two builds only the newest offer is kept, and taken once.
        """
        if version == self._version:
            return
        self._pending = (version, take)
        wait = REDRAW_EVERY_S - (time.monotonic() - self._drawn_at)
        if wait <= 0:
            self._flush()
        elif not self._timer_set:
            self._timer_set = True
            self.set_timer(wait, self._flush)

    def _flush(self) -> None:
        self._timer_set = False
        if self._pending is None:
            return
        version, take = self._pending
        self._pending = None
        data = take()
        self._version, self._drawn_at = version, time.monotonic()
        self._last_data = data
        self._rebuild()

    def _rebuild(self) -> None:
        self._asked += 1
        self._build(
            self._last_data,
            (self.size.width, self.size.height),
            self._get_plotext_theme_name(self.app.theme),
            self._asked,
        )

    @work(thread=True, exclusive=True, group="chart")
    def _build(self, data: tuple, size: tuple[int, int], theme: str, asked: int) -> None:
        """`theme`: the plotext theme's name; `asked`: this build's number.

        A build the next one replaced (`exclusive` only marks a thread cancelled: it runs on) stops before it
        starts, and builds run one at a time (plotext is not known to be safe on two threads). Without this, on
        a loaded machine an older build could finish last and show the older data over the newer one."""
        with _ONE_BUILD:
            if asked != self._asked:
                return
            chart = self._chart(data, size, theme)
        try:
            self.app.call_from_thread(self._show_built, asked, size, chart)
        except RuntimeError:  # the app closed while this chart was built: there is nothing to show it on
            return

    def _chart(self, data: tuple, size: tuple[int, int], theme: str) -> Text:
        plt = Plot()  # a fresh figure per build: the UI thread never sees one half drawn
        # The size the UI thread read: this thread never reads the widget (while the app closes, its context
        # is gone, and reading the size raised LookupError from a build still running).
        self.draw(plt, size, *data)
        plt.plotsize(*size)
        plt._set_size(*size)  # as PlotextPlot.render does: plotsize alone does not always take
        plt.theme(theme)
        return Text.from_ansi(plt.build())

    def _show_built(self, asked: int, size: tuple[int, int], chart: Text) -> None:
        if asked != self._asked:
            return  # a newer build is on its way: the older picture is not shown over it
        self._built = (size, chart)
        self.refresh()

    def on_resize(self) -> None:
        if self._last_data:
            self._rebuild()

    def render(self) -> RenderResult:
        if self._built is None:
            return Text("")
        return self._built[1]

    def draw(self, plt: Plot, size: tuple[int, int], *data) -> None:
        """Draw `data` on `plt` for a chart of `size` (width, height), on the build thread."""
        raise NotImplementedError


class ThroughputChart(ChartBase):
    """Messages/s (left axis) and MB/s (right axis) over engine time."""

    def show(self, points: Sequence[RatePoint], version: Hashable) -> None:
        self.offer(version, lambda: (list(points),))

    def draw(self, plt: Plot, size: tuple[int, int], points: list[RatePoint]) -> None:
        width, height = size
        points = thin(points, max(20, width * 2))
        plt.clear_figure()
        # The box's border names the chart (the dashboard's "Throughput"): every row inside is the plot's.
        if height >= SHORT_CHART:
            plt.xlabel("seconds")
        if not points:
            plt.title("Throughput — waiting for the first snapshot of an export")
        else:
            xs = [p.t for p in points]
            # MB/s first: with few media the two curves coincide, and messages/s is the one to see.
            plt.plot(xs, [p.bytes_per_s / 1e6 for p in points], label="MB/s (right)", color="magenta", yside="right")
            plt.plot(xs, [p.msgs_per_s for p in points], label="msgs/s", color="cyan")


class LatencyChart(ChartBase):
    """Every recent request's latency, the baseline and 3x threshold, throttled spans and FloodWaits."""

    def show(
        self,
        samples: Sequence[LatencySample],
        stats: ThrottleStats | None,
        events: Sequence[EngineEvent],
        version: Hashable,
    ) -> None:
        self.offer(version, lambda: (list(samples), stats, list(events)))

    @staticmethod
    def narrow(width: int) -> bool:
        return 0 < width < NARROW_CHART  # 0: not laid out (drawn on its own, as in the tests)

    def on_resize(self) -> None:
        self.border_subtitle = NARROW_LEGEND if self.narrow(self.size.width) else ""
        super().on_resize()

    def draw(
        self,
        plt: Plot,
        size: tuple[int, int],
        samples: list[LatencySample],
        stats: ThrottleStats | None,
        events: list[EngineEvent],
    ) -> None:
        samples = thin(samples, max(40, size[0] * 2))
        legend = not self.narrow(size[0])
        plt.clear_figure()
        plt.title("Request latency (ms)")
        plt.xlabel("seconds")
        if not samples:
            plt.title("Request latency — no requests measured yet")
            return
        xs = [s.t for s in samples]
        ys = [s.ms for s in samples]
        x0, x1 = xs[0], xs[-1]
        top = max(ys)
        right = max(x1, x0 + 1)
        if stats is not None:
            top = max(top, stats.threshold_ms * 1.15)
            # Throttled spans as a bar along the x axis (no latency is 0 ms, and the legend sits at the top),
            # clipped to the plotted x range so nothing leaves the plot. A line glyph like the frame's: block
            # glyphs come from fallback fonts of other widths and drift in the SVG/PNG exports.
            spans = [(max(start, x0), x1 if end is None else min(end, x1)) for start, end in stats.spans]
            for i, (start, end) in enumerate(s for s in spans if s[1] >= x0):
                label = "throttled" if i == 0 and legend else None
                plt.plot([start, end], [0, 0], color=(230, 140, 40), marker="━", label=label)
            # Baseline and threshold as lines across the whole plot, named in the legend.
            if stats.baseline_latency_ms > 0:
                label = "baseline" if legend else None
                plt.plot([x0, right], [stats.baseline_latency_ms] * 2, color="green", marker="─", label=label)
            if stats.threshold_ms > 0:
                label = "3x threshold" if legend else None
                plt.plot([x0, right], [stats.threshold_ms] * 2, color="red", marker="─", label=label)
        plt.plot(xs, ys, color="cyan", marker="hd", label="latency" if legend else None)
        for event in events:
            if event.kind is EventKind.FLOOD_WAIT and x0 <= event.t <= x1:
                plt.vline(event.t, "magenta")
                if legend:
                    label = f"FW {event.seconds:g}s" if event.seconds is not None else "FW"
                    plt.text(label, x=event.t, y=top * 0.92, color="magenta", alignment="left")
        plt.ylim(0, top)
        plt.xlim(x0, right)

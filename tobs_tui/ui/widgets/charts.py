"""Charts with axes (plotext): throughput over time, and request latency against the throttle threshold."""

from __future__ import annotations

from collections.abc import Sequence

from textual_plotext import PlotextPlot

from tobs_tui.engine.snapshot import EngineEvent, EventKind, LatencySample, ThrottleStats
from tobs_tui.ui.history import RatePoint


class ThroughputChart(PlotextPlot):
    """Messages/s (left axis) and MB/s (right axis) over engine time."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._version = -1

    def show(self, points: Sequence[RatePoint], version: int) -> None:
        if version == self._version:
            return
        self._version = version
        plt = self.plt
        plt.clear_figure()
        plt.title("Throughput")
        plt.xlabel("seconds")
        if not points:
            plt.title("Throughput — waiting for the first snapshot of an export")
        else:
            xs = [p.t for p in points]
            # MB/s first: with few media the two curves coincide, and messages/s is the one to see.
            plt.plot(xs, [p.bytes_per_s / 1e6 for p in points], label="MB/s (right)", color="magenta", yside="right")
            plt.plot(xs, [p.msgs_per_s for p in points], label="msgs/s", color="cyan")
        self.refresh()


class LatencyChart(PlotextPlot):
    """Every recent request's latency, the baseline and 3x threshold, throttled spans and FloodWaits."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._version = -1

    def show(
        self,
        samples: Sequence[LatencySample],
        stats: ThrottleStats | None,
        events: Sequence[EngineEvent],
        version: int,
    ) -> None:
        if version == self._version:
            return
        self._version = version
        plt = self.plt
        plt.clear_figure()
        plt.title("Request latency (ms)")
        plt.xlabel("seconds")
        if not samples:
            plt.title("Request latency — no requests measured yet")
            self.refresh()
            return
        xs = [s.t for s in samples]
        ys = [s.ms for s in samples]
        x0, x1 = xs[0], xs[-1]
        top = max(ys)
        if stats is not None:
            top = max(top, stats.threshold_ms * 1.15)
            # Shade throttled spans first so the latency line is drawn over them.
            for start, end in stats.spans:
                end = x1 if end is None else end
                if end < x0:
                    continue
                start = max(start, x0)
                plt.plot([start, end], [top, top], fillx=True, color=(96, 64, 16), marker="hd")
            if stats.baseline_latency_ms > 0:
                plt.hline(stats.baseline_latency_ms, "green")
                plt.text("baseline", x=x0, y=stats.baseline_latency_ms, color="green", alignment="left")
            if stats.threshold_ms > 0:
                plt.hline(stats.threshold_ms, "red")
                plt.text("3x threshold", x=x0, y=stats.threshold_ms, color="red", alignment="left")
        plt.plot(xs, ys, color="cyan", marker="hd", label="latency")
        for event in events:
            if event.kind is EventKind.FLOOD_WAIT and x0 <= event.t <= x1:
                plt.vline(event.t, "magenta")
                label = f"FW {event.seconds:g}s" if event.seconds is not None else "FW"
                plt.text(label, x=event.t, y=top * 0.92, color="magenta", alignment="left")
        plt.ylim(0, top)
        plt.xlim(x0, max(x1, x0 + 1))
        self.refresh()

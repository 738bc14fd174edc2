"""The latency chart as text: reference lines across the plot, throttled spans and FloodWaits inside it."""

from __future__ import annotations

import re

from textual_plotext.plot import Plot

from tobs_tui.engine.snapshot import EngineEvent, EventKind, LatencySample, ThrottleStats
from tobs_tui.ui.widgets.charts import LatencyChart

WIDTH, HEIGHT = 80, 24


def chart_rows(samples, stats, events) -> list[str]:
    plt = Plot()
    LatencyChart().draw(plt, (WIDTH, HEIGHT), samples, stats, events)
    plt.plotsize(WIDTH, HEIGHT)
    plt._set_size(WIDTH, HEIGHT)
    plt.theme("clear")
    return re.sub(r"\x1b\[[0-9;]*m", "", plt.build()).splitlines()


def plot_box(rows: list[str]) -> tuple[int, int, int, int]:
    """(top row, bottom row, left column, right column) of the plot frame."""
    top = next(i for i, r in enumerate(rows) if "┌" in r)
    bottom = next(i for i, r in enumerate(rows) if "└" in r)
    return top, bottom, rows[top].index("┌"), rows[top].index("┐")


def test_baseline_threshold_spans_and_flood_waits_stay_in_the_plot():
    samples = [
        LatencySample(t=float(t), ms=30.0 if t < 40 or t > 70 else 400.0, method="GetHistory") for t in range(20, 100)
    ]
    # A span that began before the window and one still going: both clipped to what is plotted.
    stats = ThrottleStats(
        avg_latency_ms=120,
        baseline_latency_ms=50,
        threshold_ms=150,
        is_throttled=True,
        sample_count=80,
        spans=((5.0, 30.0), (45.0, None)),
    )
    events = [EngineEvent(t=60.0, wall=0.0, kind=EventKind.FLOOD_WAIT, message="wait", seconds=12)]
    rows = chart_rows(samples, stats, events)
    top, bottom, left, right = plot_box(rows)
    inside = [r[left + 1 : right] for r in rows[top + 1 : bottom]]
    outside = [r[:left] + r[right + 1 :] for r in rows]
    assert not any("━" in r for r in outside), "throttled spans never leave the plot"
    bar = next(r for r in inside if "━━━" in r)
    assert bar.count("━") >= (right - left) * 0.6, "spans from 20 s to 30 s and 45 s to the end"
    # Lines across the whole width (a label at the left edge alone does not count).
    full = [r for r in inside if r.count("─") >= (right - left) * 0.6]
    assert len(full) >= 2, "baseline and 3x threshold drawn across the plot"
    assert any("FW 12s" in r for r in inside)
    assert sum("│" in r for r in inside) >= (bottom - top) // 2, "the FloodWait is a vertical marker"

"""The bench's picture: how req/s, p99 and rows/s grow with work, one line per server (matplotlib, Agg)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: render to a file only (before pyplot is imported)

import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter, ScalarFormatter

from tooling.bench.report import ServerCost, SweepPoint


@dataclass(frozen=True)
class Panel:
    title: str
    x_label: str
    sweep: Callable[[ServerCost], Sequence[SweepPoint]]
    x: Callable[[SweepPoint], float]
    y: Callable[[SweepPoint], float]
    y_scale: str
    """``linear`` from 0 where the values stay within a factor of a few (req/s over connections: a log axis
    would show no tick there), ``log`` where they span decades."""


PANELS = (
    Panel("req/s (1 row per request)", "connections", lambda cost: cost.by_connections,
          lambda point: point.connections, lambda point: point.result.rps, "linear"),
    Panel("p99 ms (1 row per request)", "connections", lambda cost: cost.by_connections,
          lambda point: point.connections, lambda point: point.result.p99_ms, "log"),
    Panel("rows/s (main connections)", "rows per request", lambda cost: cost.by_rows,
          lambda point: point.rows, lambda point: point.rows_per_second, "log"),
)  # fmt: skip


def write_plot(costs: Sequence[ServerCost], path: Path) -> None:
    """The three panels side by side as a PNG at ``path``, one line per server. Log x axes: the sweeps grow
    by factors of 4 to 10."""
    figure, all_axes = plt.subplots(1, len(PANELS), figsize=(15, 4.8), layout="constrained")
    for axes, panel in zip(all_axes, PANELS, strict=True):
        measured_x: set[float] = set()
        for cost in costs:
            points = panel.sweep(cost)
            axes.plot([panel.x(p) for p in points], [panel.y(p) for p in points], marker="o", label=cost.name)
            measured_x.update(panel.x(p) for p in points)
        axes.set(xscale="log", yscale=panel.y_scale, xlabel=panel.x_label, title=panel.title)
        if panel.y_scale == "linear":
            axes.set_ylim(bottom=0)
        # Ticks at the sweep's own points, as plain numbers: 1, 16, 64, 256 rather than powers of ten.
        axes.set_xticks(sorted(measured_x))
        for axis in (axes.xaxis, axes.yaxis):
            axis.set_major_formatter(ScalarFormatter())
            axis.set_minor_formatter(NullFormatter())
        axes.grid(True, which="both", alpha=0.3)
    all_axes[-1].legend(fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)

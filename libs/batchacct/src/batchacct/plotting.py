"""PNG files of :mod:`batchacct.charts` data, drawn with matplotlib.

matplotlib is imported, and its non-interactive Agg backend chosen, only when a chart is drawn:
importing this module changes nothing.
"""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

from batchacct import extras
from batchacct.charts import Chart

if TYPE_CHECKING:
    from matplotlib.axes import Axes

FIGURE_SIZE_INCHES = (11.0, 6.0)
DPI = 100


def _thousands(value: float, _position: int | None = None) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 or value == int(value) else f"{value:,.1f}"


def _bin_widths_days(starts: list[date]) -> list[float]:
    """The width of each time bin in days (the last repeats the one before it)."""
    if len(starts) < 2:
        return [1.0] * len(starts)
    widths = [float((b - a).days) for a, b in pairwise(starts)]
    return [*widths, widths[-1]]


def _draw_time_stacked(ax: Axes, chart: Chart) -> None:
    starts = [date.fromisoformat(str(x)) for x in chart["x"]]
    widths = [w * 0.9 for w in _bin_widths_days(starts)]
    bottoms = [0.0] * len(starts)
    for series in chart["series"]:
        ax.bar(
            starts,  # type: ignore[arg-type]
            series["values"],
            width=widths,
            bottom=bottoms,
            align="edge",
            label=series["label"],
        )
        bottoms = [b + v for b, v in zip(bottoms, series["values"], strict=True)]


def _draw_time_lines(ax: Axes, chart: Chart) -> None:
    starts = [date.fromisoformat(str(x)) for x in chart["x"]]
    for index, series in enumerate(chart["series"]):
        if index == 0:
            widths = [w * 0.9 for w in _bin_widths_days(starts)]
            ax.bar(
                starts,  # type: ignore[arg-type]
                series["values"],
                width=widths,
                align="edge",
                alpha=0.6,
                label=series["label"],
            )
        else:
            # A count at each bin start (an instant), not over the bin: points joined by lines.
            ax.plot(
                starts,  # type: ignore[arg-type]
                series["values"],
                marker="o",
                markersize=3,
                linewidth=2,
                color="tab:red",
                label=series["label"],
            )


def _draw_histogram(ax: Axes, chart: Chart) -> None:
    edges = [float(x) for x in chart["x"]]
    widths = [b - a for a, b in pairwise(edges)]
    for series in chart["series"]:
        ax.bar(
            edges[:-1],
            series["values"],
            width=widths,
            align="edge",
            edgecolor="white",
            label=series["label"],
        )
    ax.set_xlim(edges[0], edges[-1])


def _draw_bars(ax: Axes, chart: Chart) -> None:
    labels = [str(x) for x in chart["x"]]
    for series in chart["series"]:
        bars = ax.bar(labels, series["values"], label=series["label"])
        ax.bar_label(bars, fmt="%.1f", padding=2, fontsize=8)
    if chart["unit"] == "%":
        top = max((v for s in chart["series"] for v in s["values"]), default=100.0)
        ax.set_ylim(0, max(100.0, top) * 1.1)
        ax.axhline(100, color="grey", linestyle="--", linewidth=1)
    if len(labels) > 6:
        ax.tick_params(axis="x", labelrotation=45)
        for tick in ax.get_xticklabels():
            tick.set_horizontalalignment("right")


def render_png(chart: Chart, path: Path) -> Path:
    """Draw ``chart`` into the PNG file ``path`` (its directory must exist); returns ``path``."""
    extras.require("matplotlib", "plots", "drawing PNG plots")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=FIGURE_SIZE_INCHES, dpi=DPI, layout="constrained")
    try:
        ax.set_title(chart["title"], fontsize=14, fontweight="bold")
        ax.set_xlabel(chart["x_label"])
        ax.set_ylabel(chart["y_label"])
        ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
        ax.grid(axis="y", alpha=0.3)
        if not chart["series"]:
            ax.text(
                0.5, 0.5, "no jobs match the filters", ha="center", va="center", fontsize=14,
                transform=ax.transAxes,
            )  # fmt: skip
            ax.set_xticks([])
            ax.set_yticks([])
        elif chart["kind"] == "histogram":
            _draw_histogram(ax, chart)
        elif chart["kind"] == "bar":
            _draw_bars(ax, chart)
        else:
            if chart["kind"] == "stacked":
                _draw_time_stacked(ax, chart)
            else:
                _draw_time_lines(ax, chart)
            locator = mdates.AutoDateLocator(minticks=3, maxticks=12)  # type: ignore[no-untyped-call]
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
            starts = [date.fromisoformat(str(x)) for x in chart["x"]]
            last_width = _bin_widths_days(starts)[-1]
            ax.set_xlim(starts[0], starts[-1] + timedelta(days=last_width))  # type: ignore[arg-type]
        if chart["series"] and (len(chart["series"]) > 1 or chart["kind"] == "stacked"):
            ax.legend(
                loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, title=_legend_title(chart)
            )
        if chart["notes"]:
            # A figure-level x label: the constrained layout keeps room for it.
            fig.supxlabel(
                "   ·   ".join(chart["notes"]), x=0.01, ha="left", fontsize=8, color="dimgray"
            )
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path


def _legend_title(chart: Chart) -> str | None:
    return "VO" if chart["kind"] == "stacked" else None

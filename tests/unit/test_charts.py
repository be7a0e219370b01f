"""Chart helpers and PNG drawing without a database (the data is written by hand)."""

from __future__ import annotations

import struct
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from batchacct import charts
from batchacct.charts import Chart, histogram_width, time_unit_for
from batchacct.job_filters import JobFilters
from batchacct.plotting import render_png

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("span", "unit"),
    [
        (timedelta(days=1), "day"),
        (timedelta(days=92), "day"),
        (timedelta(days=93), "week"),
        (timedelta(days=732), "week"),
        (timedelta(days=733), "month"),
    ],
)
def test_time_unit_by_range(span: timedelta, unit: str) -> None:
    assert time_unit_for(T0, T0 + span) == unit


@pytest.mark.parametrize(
    ("largest", "narrowest", "width"),
    [
        (0, 60, 60),
        (1380, 60, 60),  # 23 minutes: 24 one-minute bins
        (1440, 60, 300),  # 24 minutes needs a 25th bin
        (10800, 900, 900),  # 3 h in quarter hours: 13 bins
        (30 * 86400, 60, 2 * 86400),
        (10_000 * 86400, 60, 417 * 86400),  # beyond the nice widths: whole days
    ],
)
def test_histogram_width(largest: int, narrowest: int, width: int) -> None:
    assert histogram_width(largest, narrowest) == width
    assert largest < width * 24


@pytest.mark.parametrize("name", list(charts.CHARTS))
def test_every_chart_counts_the_filtered_jobs_only(name: str) -> None:
    """Each chart's first query (its bounds) selects with the shared job filters."""
    filters = JobFilters(site="S", invalid_only=True)
    query, params = next(charts.CHARTS[name].plan(filters))
    text = query.as_string(None)
    assert '"site" = %(filter_site)s AND account_valid = false' in text
    assert params == {"filter_site": "S"}


def chart(kind: str, x: list[str | float], series: dict[str, list[float]]) -> Chart:
    return Chart(
        name="test",
        title=f"A {kind} chart",
        x_label="x (unit)",
        y_label="y (unit)",
        unit="%" if kind == "bar" else "hours",
        kind=kind,  # type: ignore[typeddict-item]
        x=x,
        series=[{"label": label, "values": values} for label, values in series.items()],
        notes=["a note"],
    )


@pytest.mark.parametrize(
    "data",
    [
        chart("stacked", ["2024-01-01", "2024-02-01", "2024-03-01"], {"a": [1, 2, 3], "b": [3000, 2, 1]}),
        chart("line", ["2024-01-01", "2024-01-02"], {"started": [5, 6], "running": [1, 2]}),
        chart("histogram", [0.0, 0.25, 0.5], {"jobs": [10, 3]}),
        chart("bar", ["atlas", "cms"], {"CPU efficiency": [75.0, 112.5]}),
        chart("stacked", [], {}),
        chart("line", ["2024-01-01"], {"started": [5], "running": [1]}),
    ],
)  # fmt: skip
def test_render_png(tmp_path: Path, data: Chart) -> None:
    path = render_png(data, tmp_path / "chart.png")
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", raw[16:24]) == (1100, 600)


def test_importing_plotting_does_not_load_matplotlib() -> None:
    code = "import sys, batchacct.plotting, batchacct.cli; print('matplotlib' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"

"""Chart data: usage over time, distributions and efficiency, computed in PostgreSQL.

Every chart is one function returning a :class:`Chart`, a plain JSON-ready dict of the same
shape for all charts; ``batchacct plot`` draws it (:mod:`batchacct.plotting`) and the API
serves it as JSON. The numbers are summed, binned and counted by the database (``GROUP BY``,
``width_bucket``, ``generate_series``): no job record is loaded into Python.

A chart is written once, as a *plan*: a generator that yields ``(query, params)`` and receives
the rows, so the same code runs on a blocking connection (the CLI) and an async one (the API).
The jobs are chosen by :class:`batchacct.job_filters.JobFilters`, as the reports' are (with
``invalid_only``, a chart counts only the jobs whose account failed validation).

Units: times are UTC; time bins are calendar days, ISO weeks (starting Monday) or months, by
end time (as APEL accounts a job); CPU and wall time are hours; normalised time is HS06-hours.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, TypedDict

import psycopg
from psycopg import sql

from batchacct.job_filters import JobFilters, ParameterError, Params

ChartKind = Literal["stacked", "bar", "line", "histogram"]
TimeUnit = Literal["day", "week", "month"]

NO_VO = "(no VO)"
OTHER_VOS = "other VOs"
MAX_STACKED_VOS = 10  # the largest VOs get a series each; the rest are summed as "other VOs"
MAX_EFFICIENCY_VOS = 25
MAX_HISTOGRAM_BINS = 24
DAY_BINS_UP_TO = timedelta(days=92)
WEEK_BINS_UP_TO = timedelta(days=2 * 366)
MICROSECOND = timedelta(microseconds=1)

# Histogram bin widths, in seconds, from which the narrowest giving at most MAX_HISTOGRAM_BINS
# bins is chosen.
NICE_WIDTHS_SECONDS = (
    60,
    5 * 60,
    10 * 60,
    15 * 60,
    30 * 60,
    3600,
    2 * 3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    2 * 86400,
    7 * 86400,
    14 * 86400,
    28 * 86400,
)

_STEP: dict[TimeUnit, str] = {"day": "1 day", "week": "7 days", "month": "1 month"}
_BIN_LABEL: dict[TimeUnit, str] = {
    "day": "day (UTC)",
    "week": "week (UTC, from Monday)",
    "month": "month (UTC)",
}


class Series(TypedDict):
    label: str
    values: list[float]


class Chart(TypedDict):
    """One chart's data. ``x``: ISO dates (bin starts) for time charts, bin edges for
    histograms (one more than the values), labels for bar charts."""

    name: str
    title: str
    x_label: str
    y_label: str
    unit: str
    kind: ChartKind
    x: list[str | float]
    series: list[Series]
    notes: list[str]


Query = tuple[sql.Composed, Params]
Rows = list[tuple[Any, ...]]
Plan = Generator[Query, Rows, Chart]


@dataclass(frozen=True)
class ChartSpec:
    name: str
    title: str
    kind: ChartKind
    plan: Callable[[JobFilters], Plan]


# --- Helpers ------------------------------------------------------------------------------------


def time_unit_for(first: datetime, last: datetime) -> TimeUnit:
    """Day bins up to about three months, weeks up to two years, months beyond."""
    span = last - first
    if span <= DAY_BINS_UP_TO:
        return "day"
    if span <= WEEK_BINS_UP_TO:
        return "week"
    return "month"


def histogram_width(largest_seconds: float, narrowest: int = 60) -> int:
    """The narrowest nice bin width (s), at least ``narrowest``, whose bins [0, w), [w, 2w), ...
    (at most MAX_HISTOGRAM_BINS of them) hold ``largest_seconds``."""
    for width in NICE_WIDTHS_SECONDS:
        if width >= narrowest and math.floor(largest_seconds / width) + 1 <= MAX_HISTOGRAM_BINS:
            return width
    days = math.ceil((largest_seconds + 1) / MAX_HISTOGRAM_BINS / 86400)
    return days * 86400


def _time_range(
    filters: JobFilters, first_seen: datetime, last_seen: datetime
) -> tuple[datetime, datetime]:
    """The [first, last] instants to bin: the filters' range, else what the data covers."""
    first = filters.since if filters.since is not None else first_seen
    last = filters.until - MICROSECOND if filters.until is not None else last_seen
    return first, max(first, last)


def _bins_cte(unit: TimeUnit) -> tuple[sql.SQL, Params]:
    """``bins(bin)``: every bin start (UTC, without zone) from %(first)s to %(last)s."""
    query = sql.SQL(
        "bins AS (SELECT generate_series("
        " date_trunc(%(unit)s::text, %(first)s::timestamptz AT TIME ZONE 'UTC'),"
        " date_trunc(%(unit)s::text, %(last)s::timestamptz AT TIME ZONE 'UTC'),"
        " %(step)s::interval) AS bin)"
    )
    return query, {"unit": unit, "step": _STEP[unit]}


def _iso_date(value: datetime) -> str:
    return value.date().isoformat()


def _vo_label(vo: str | None) -> str:
    return NO_VO if vo is None else vo


def _empty(spec: ChartSpec, x_label: str, y_label: str, unit: str, notes: list[str]) -> Chart:
    return _chart(spec, x_label, y_label, unit, [], [], ["no jobs match the filters", *notes])


def _chart(
    spec: ChartSpec,
    x_label: str,
    y_label: str,
    unit: str,
    x: Sequence[str | float],
    series: list[Series],
    notes: list[str],
) -> Chart:
    return Chart(
        name=spec.name,
        title=spec.title,
        x_label=x_label,
        y_label=y_label,
        unit=unit,
        kind=spec.kind,
        x=list(x),
        series=series,
        notes=notes,
    )


def _stack_by_vo(bins: list[datetime], rows: Rows) -> list[Series]:
    """Series per VO from (bin, vo, value) rows: the largest VOs first, the rest summed."""
    position = {b: i for i, b in enumerate(bins)}
    by_vo: dict[str | None, list[float]] = {}
    for bin_start, vo, value in rows:
        values = by_vo.setdefault(vo, [0.0] * len(bins))
        values[position[bin_start]] += float(value)
    ranked = sorted(by_vo.items(), key=lambda item: (-sum(item[1]), item[0] or ""))
    series = [Series(label=_vo_label(vo), values=values) for vo, values in ranked[:MAX_STACKED_VOS]]
    rest = ranked[MAX_STACKED_VOS:]
    if rest:
        summed = [sum(values[i] for _vo, values in rest) for i in range(len(bins))]
        series.append(Series(label=f"{OTHER_VOS} ({len(rest)})", values=summed))
    return series


# --- The charts -----------------------------------------------------------------------------------


def _hours_by_vo_plan(
    spec: ChartSpec, filters: JobFilters, column: str, unit_name: str, what: str
) -> Plan:
    where, params = filters.where()
    bounds: Rows = yield (
        sql.SQL(
            "SELECT count(*), min(end_time), max(end_time),"
            " count(*) FILTER (WHERE {column} IS NULL),"
            " coalesce(sum(cpu_duration) FILTER (WHERE {column} IS NULL), 0)::float8 / 3600"
            " FROM job_records WHERE {where}"
        ).format(column=sql.Identifier(column), where=where),
        params,
    )
    jobs, first_end, last_end, jobs_without_value, cpu_hours_without_value = bounds[0]
    y_label = f"{what} ({unit_name})"
    if jobs == 0:
        return _empty(spec, "end time (UTC)", y_label, unit_name, [])
    first, last = _time_range(filters, first_end, last_end)
    unit = time_unit_for(first, last)
    bins_cte, bins_params = _bins_cte(unit)
    rows: Rows = yield (
        sql.SQL(
            "WITH {bins}, usage AS ("
            " SELECT date_trunc(%(unit)s::text, end_time AT TIME ZONE 'UTC') AS bin, vo,"
            "  sum({column})::float8 / 3600 AS hours"
            " FROM job_records WHERE {where} AND {column} IS NOT NULL GROUP BY 1, 2)"
            " SELECT bins.bin, usage.vo, usage.hours FROM bins"
            " LEFT JOIN usage ON usage.bin = bins.bin ORDER BY bins.bin, usage.vo"
        ).format(bins=bins_cte, column=sql.Identifier(column), where=where),
        {**params, **bins_params, "first": first, "last": last},
    )
    bins = sorted({row[0] for row in rows})
    series = _stack_by_vo(bins, [row for row in rows if row[2] is not None])
    total = sum(sum(s["values"]) for s in series)
    notes = [
        f"{jobs:,} jobs, {total:,.1f} {unit_name} in total, binned by {unit} of end time (UTC)"
    ]
    if jobs_without_value:
        notes.append(
            f"{jobs_without_value:,} jobs without a benchmark are not included"
            f" ({cpu_hours_without_value:,.1f} CPU hours)"
        )
    return _chart(
        spec, _BIN_LABEL[unit], y_label, unit_name, [_iso_date(b) for b in bins], series, notes
    )


def _cpu_hours_by_vo_plan(filters: JobFilters) -> Plan:
    return (
        yield from _hours_by_vo_plan(
            CHARTS["cpu_hours_by_vo"], filters, "cpu_duration", "hours", "CPU time"
        )
    )


def _normalised_hours_by_vo_plan(filters: JobFilters) -> Plan:
    return (
        yield from _hours_by_vo_plan(
            CHARTS["normalised_hours_by_vo"],
            filters,
            "normalised_cpu_duration",
            "HS06-hours",
            "normalised CPU time",
        )
    )


def _histogram(
    spec: ChartSpec,
    filters: JobFilters,
    seconds_expr: sql.Composable,
    only: sql.Composable,
    largest: float,
    what: str,
    notes: list[str],
    in_hours: bool = False,
) -> Plan:
    """Bins [0, w), [w, 2w), ... of ``seconds_expr`` over the jobs matching ``only``: edges in
    hours (``in_hours``, bins of at least 15 minutes), else minutes for bins under an hour."""
    width = histogram_width(largest, narrowest=900 if in_hours else 60)
    bins = math.floor(largest / width) + 1
    where, params = filters.where()
    rows: Rows = yield (
        sql.SQL(
            "SELECT greatest(width_bucket({seconds}::float8, 0, %(top)s, %(bins)s), 1) AS bucket,"
            " count(*) FROM job_records WHERE {where} AND {only} GROUP BY 1"
        ).format(seconds=seconds_expr, where=where, only=only),
        {**params, "top": float(width * bins), "bins": bins},
    )
    counts = [0.0] * bins
    for bucket, count in rows:
        counts[min(bucket, bins) - 1] += count
    unit_seconds, unit_name = (3600, "hours") if in_hours or width >= 3600 else (60, "minutes")
    edges = [round(i * width / unit_seconds, 6) for i in range(bins + 1)]
    return _chart(
        spec,
        f"{what} ({unit_name})",
        "jobs",
        "jobs",
        edges,
        [Series(label="jobs", values=counts)],
        [f"bin width: {width / unit_seconds:g} {unit_name}", *notes],
    )


def _wall_time_distribution_plan(filters: JobFilters) -> Plan:
    spec = CHARTS["wall_time_distribution"]
    where, params = filters.where()
    bounds: Rows = yield (
        sql.SQL("SELECT count(*), max(wall_duration) FROM job_records WHERE {}").format(where),
        params,
    )
    jobs, largest = bounds[0]
    if jobs == 0:
        return _empty(spec, "wall time (hours)", "jobs", "jobs", [])
    return (
        yield from _histogram(
            spec,
            filters,
            sql.SQL("wall_duration"),
            sql.SQL("TRUE"),
            float(largest),
            "wall time",
            [f"{jobs:,} jobs"],
            in_hours=True,
        )
    )


WAIT_SECONDS = sql.SQL("greatest(extract(epoch FROM start_time - submit_time), 0)")


def _wait_time_distribution_plan(filters: JobFilters) -> Plan:
    spec = CHARTS["wait_time_distribution"]
    where, params = filters.where()
    bounds: Rows = yield (
        sql.SQL(
            "SELECT count(*) FILTER (WHERE submit_time IS NOT NULL),"
            " count(*) FILTER (WHERE submit_time IS NULL),"
            " count(*) FILTER (WHERE start_time < submit_time),"
            " max({wait}) FROM job_records WHERE {where}"
        ).format(wait=WAIT_SECONDS, where=where),
        params,
    )
    with_submit, without_submit, started_before_submit, largest = bounds[0]
    notes = [f"{with_submit:,} jobs with a submit time"]
    if without_submit:
        notes.append(f"{without_submit:,} jobs without a submit time are not included")
    if started_before_submit:
        notes.append(
            f"{started_before_submit:,} jobs started before their submit time (clock skew):"
            " counted as no wait"
        )
    if with_submit == 0:
        return _empty(spec, "wait time (hours)", "jobs", "jobs", notes[1:])
    return (
        yield from _histogram(
            spec,
            filters,
            WAIT_SECONDS,
            sql.SQL("submit_time IS NOT NULL"),
            float(largest),
            "wait time, start − submit",
            notes,
        )
    )


def _jobs_started_and_running_plan(filters: JobFilters) -> Plan:
    spec = CHARTS["jobs_started_and_running"]
    where, params = filters.where()
    bounds: Rows = yield (
        sql.SQL("SELECT count(*), min(start_time), max(end_time) FROM job_records WHERE {}").format(
            where
        ),
        params,
    )
    jobs, first_start, last_end = bounds[0]
    if jobs == 0:
        return _empty(spec, "time (UTC)", "jobs", "jobs", [])
    first, last = _time_range(filters, first_start, last_end)
    unit = time_unit_for(first, last)
    bins_cte, bins_params = _bins_cte(unit)
    # Running at edge t: start <= t < end. Each job adds 1 from the first edge at or after its
    # start and removes it at the first edge at or after its end; the running count at an edge is
    # the sum of the changes at or before it.
    first_edge_at_or_after = (
        "CASE WHEN date_trunc(%(unit)s::text, {t}) = {t} THEN {t}"
        " ELSE date_trunc(%(unit)s::text, {t}) + %(step)s::interval END"
    )
    rows: Rows = yield (
        sql.SQL(
            "WITH {bins},"
            " jobs AS (SELECT start_time AT TIME ZONE 'UTC' AS started,"
            "  end_time AT TIME ZONE 'UTC' AS ended FROM job_records WHERE {where}),"
            " changes AS ("
            "  SELECT {start_edge} AS edge, count(*) AS change FROM jobs GROUP BY 1"
            "  UNION ALL"
            "  SELECT {end_edge}, -count(*) FROM jobs GROUP BY 1),"
            " change_per_edge AS (SELECT edge, sum(change) AS change FROM changes GROUP BY edge),"
            " started_per_bin AS ("
            "  SELECT date_trunc(%(unit)s::text, started) AS bin, count(*) AS started"
            "  FROM jobs GROUP BY 1)"
            " SELECT bins.bin, coalesce(started_per_bin.started, 0),"
            "  (SELECT coalesce(sum(c.change), 0) FROM change_per_edge c WHERE c.edge <= bins.bin)"
            " FROM bins LEFT JOIN started_per_bin ON started_per_bin.bin = bins.bin"
            " ORDER BY bins.bin"
        ).format(
            bins=bins_cte,
            where=where,
            start_edge=sql.SQL(first_edge_at_or_after.format(t="started")),
            end_edge=sql.SQL(first_edge_at_or_after.format(t="ended")),
        ),
        {**params, **bins_params, "first": first, "last": last},
    )
    return _chart(
        spec,
        _BIN_LABEL[unit],
        "jobs",
        "jobs",
        [_iso_date(row[0]) for row in rows],
        [
            Series(label=f"jobs started in the {unit}", values=[float(r[1]) for r in rows]),
            Series(label=f"jobs running at the {unit}'s start", values=[float(r[2]) for r in rows]),
        ],
        [
            f"{jobs:,} jobs; running: start <= t < end, at each bin start (UTC)",
            "only jobs that have ended (and match the filters) are counted: the latest points"
            " miss the jobs still running",
        ],
    )


def _cpu_efficiency_by_vo_plan(filters: JobFilters) -> Plan:
    spec = CHARTS["cpu_efficiency_by_vo"]
    where, params = filters.where()
    rows: Rows = yield (
        sql.SQL(
            "SELECT vo, count(*), sum(cpu_duration)::float8,"
            " sum(wall_duration::float8 * coalesce(processors, 1)),"
            " count(*) FILTER (WHERE processors IS NULL)"
            " FROM job_records WHERE {} GROUP BY vo"
        ).format(where),
        params,
    )
    y_label = "CPU time / (wall time × processors) (%)"
    if not rows:
        return _empty(spec, "VO", y_label, "%", [])
    ranked = sorted(rows, key=lambda row: (-row[3], row[0] or ""))
    shown = [row for row in ranked[:MAX_EFFICIENCY_VOS] if row[3] > 0]
    cpu_total = sum(row[2] for row in rows)
    core_wall_total = sum(row[3] for row in rows)
    jobs = sum(row[1] for row in rows)
    notes = [f"{jobs:,} jobs"]
    if core_wall_total > 0:
        notes.append(f"all VOs: {100 * cpu_total / core_wall_total:.1f} %")
    without_processors = sum(row[4] for row in rows)
    if without_processors:
        notes.append(f"{without_processors:,} jobs without a processor count: counted as 1")
    if len(ranked) > len(shown):
        notes.append(f"{len(ranked) - len(shown)} more VOs (least core-wall time) not shown")
    return _chart(
        spec,
        "VO",
        y_label,
        "%",
        [_vo_label(row[0]) for row in shown],
        [Series(label="CPU efficiency", values=[round(100 * row[2] / row[3], 3) for row in shown])],
        notes,
    )


CHARTS: dict[str, ChartSpec] = {
    spec.name: spec
    for spec in (
        ChartSpec("cpu_hours_by_vo", "CPU hours by VO", "stacked", _cpu_hours_by_vo_plan),
        ChartSpec(
            "normalised_hours_by_vo",
            "Normalised CPU time by VO (HS06-hours)",
            "stacked",
            _normalised_hours_by_vo_plan,
        ),
        ChartSpec(
            "wall_time_distribution",
            "Wall time of jobs",
            "histogram",
            _wall_time_distribution_plan,
        ),
        ChartSpec(
            "wait_time_distribution",
            "Wait time of jobs (start − submit)",
            "histogram",
            _wait_time_distribution_plan,
        ),
        ChartSpec(
            "jobs_started_and_running",
            "Jobs started and jobs running",
            "line",
            _jobs_started_and_running_plan,
        ),
        ChartSpec(
            "cpu_efficiency_by_vo",
            "CPU efficiency by VO",
            "bar",
            _cpu_efficiency_by_vo_plan,
        ),
    )
}


def _spec(name: str) -> ChartSpec:
    try:
        return CHARTS[name]
    except KeyError:
        raise ParameterError("name", f"unknown chart; charts: {', '.join(CHARTS)}", name) from None


# --- Running a plan -----------------------------------------------------------------------------


def compute(conn: psycopg.Connection[Any], name: str, filters: JobFilters | None = None) -> Chart:
    """Chart ``name`` on a blocking connection; raises :class:`ParameterError` (``name``: an
    unknown chart, or the bad filter)."""
    plan = _spec(name).plan((filters or JobFilters()).checked())
    try:
        query, params = next(plan)
        while True:
            rows = conn.execute(query, params).fetchall()
            query, params = plan.send(rows)
    except StopIteration as done:
        chart: Chart = done.value
        return chart


async def compute_async(
    conn: psycopg.AsyncConnection[Any], name: str, filters: JobFilters | None = None
) -> Chart:
    """Chart ``name`` on an async connection; raises :class:`ParameterError` (``name``: an
    unknown chart, or the bad filter)."""
    plan = _spec(name).plan((filters or JobFilters()).checked())
    try:
        query, params = next(plan)
        while True:
            cur = await conn.execute(query, params)
            rows = await cur.fetchall()
            query, params = plan.send(rows)
    except StopIteration as done:
        chart: Chart = done.value
        return chart


def cpu_hours_by_vo(conn: psycopg.Connection[Any], filters: JobFilters | None = None) -> Chart:
    """CPU hours per VO and time bin (stacked)."""
    return compute(conn, "cpu_hours_by_vo", filters)


def normalised_hours_by_vo(
    conn: psycopg.Connection[Any], filters: JobFilters | None = None
) -> Chart:
    """Normalised CPU time (HS06-hours) per VO and time bin (stacked); jobs without a
    benchmark are counted in the notes."""
    return compute(conn, "normalised_hours_by_vo", filters)


def wall_time_distribution(
    conn: psycopg.Connection[Any], filters: JobFilters | None = None
) -> Chart:
    """Histogram of wall time."""
    return compute(conn, "wall_time_distribution", filters)


def wait_time_distribution(
    conn: psycopg.Connection[Any], filters: JobFilters | None = None
) -> Chart:
    """Histogram of start − submit, over the jobs with a submit time."""
    return compute(conn, "wait_time_distribution", filters)


def jobs_started_and_running(
    conn: psycopg.Connection[Any], filters: JobFilters | None = None
) -> Chart:
    """Jobs started per bin and jobs running at each bin start."""
    return compute(conn, "jobs_started_and_running", filters)


def cpu_efficiency_by_vo(conn: psycopg.Connection[Any], filters: JobFilters | None = None) -> Chart:
    """CPU time / (wall time × processors) per VO, in %."""
    return compute(conn, "cpu_efficiency_by_vo", filters)

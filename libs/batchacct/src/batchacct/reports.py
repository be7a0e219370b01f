"""Accounting reports over the job records: LoadLeveler's ``llsummary`` rebuilt.

Four report types, each computed by PostgreSQL (GROUP BY, or a keyset-limited page of jobs):

- ``short``: per section value (a user, a VO, a day ...), jobs, CPU, wall and normalised CPU
  hours, and CPU efficiency, with a TOTAL row;
- ``long``: one row per job, ordered by end time, at most ``limit`` rows per call;
- ``extended``: ``long`` plus each job's usage per execution host, and every execution host's
  usage over all the selected jobs. Only the host list is known, so a job's wall and CPU time
  are split evenly across its host list entries (a host listed twice, e.g. once per slot, gets
  two shares);
- ``throughput``: per section value, jobs, jobs per hour over the period, and average, minimum
  and maximum turnaround (end - submit) and wait (start - submit) times of the jobs that have a
  submit time (the others are counted).

Units: short reports in hours (normalised: HS06-hours of CPU), job rows and throughput times in
seconds (normalised: HS06-seconds of CPU), every time UTC, efficiency in percent. A job without a
benchmark adds nothing to the normalised sums and is counted in ``jobs_without_benchmark``.

A short report filtered at most by site, VO and whole UTC days reads the daily rollup
(:mod:`batchacct.report_rollup`) instead of the job records: the same sums, a few hundred rows a
day instead of every job.

The jobs are chosen by :class:`batchacct.job_filters.JobFilters`, as the charts' are. Every
identifier in the SQL comes from the whitelists below; every value is a parameter.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.abc import Params
from psycopg.rows import dict_row
from pydantic import BaseModel, Field, PlainSerializer
from rich.table import Table

from batchacct import report_rollup
from batchacct.job_filters import Condition, JobFilters, ParameterError, comma_list

ReportType = Literal["short", "long", "extended", "throughput"]
REPORT_TYPES: tuple[ReportType, ...] = ("short", "long", "extended", "throughput")

# Section name -> SQL expression over job_records. Only these expressions reach the SQL text.
SECTIONS: dict[str, sql.Composable] = {
    "user": sql.Identifier("local_user_id"),
    "group": sql.Identifier("local_user_group"),
    "vo": sql.Identifier("vo"),
    "account": sql.Identifier("account"),
    "queue": sql.Identifier("queue"),
    "submit_host": sql.Identifier("submit_host"),
    "machine": sql.Identifier("machine_name"),
    "day": sql.SQL("to_char(end_time AT TIME ZONE 'UTC', 'YYYY-MM-DD')"),
    # ISO 8601 week (Monday to Sunday) of the end time: 2024-12-30 is in 2025-W01.
    "week": sql.SQL("to_char(end_time AT TIME ZONE 'UTC', 'IYYY-\"W\"IW')"),
    "month": sql.SQL("to_char(end_time AT TIME ZONE 'UTC', 'YYYY-MM')"),
}
# llsummary's default sections: user, class (our queue), group and account.
DEFAULT_SECTIONS = ("user", "queue", "group", "account")
DEFAULT_JOB_LIMIT = 1000
TOTAL = "TOTAL"
HOST_SPLIT_NOTE = (
    "Only each job's execution host list is recorded: its wall and CPU time are split evenly"
    " across the entries of that list (a host listed once per slot gets one share per slot)."
)
# The order of the long and extended reports: the job records' end-time index.
JOB_ORDER = ("end_time", "site", "local_job_id", "machine_name")
# Wall time times cores: what CPU time is compared with for efficiency.
CORE_WALL = sql.SQL("wall_duration * greatest(coalesce(processors, 1), 1)")


# An SQL query with its parameters (the report's own queries name them).
Query = tuple[sql.Composed, Params]


# --- Parameters ---------------------------------------------------------------------------------


def parse_sections(text: str | None) -> list[str]:
    """The ``--by`` sections, in the order given; ``None`` or blank: the defaults."""
    if text is None or not text.strip():
        return list(DEFAULT_SECTIONS)
    return comma_list(text, list(SECTIONS), "by", "section")


JobKey = tuple[datetime, str, str, str]


@dataclass(frozen=True)
class ReportRequest:
    report_type: ReportType = "short"
    sections: Sequence[str] = DEFAULT_SECTIONS
    filters: JobFilters = field(default_factory=JobFilters)
    # long and extended: at most this many jobs, after ``after`` (end_time, site, job id, machine).
    limit: int = DEFAULT_JOB_LIMIT
    after: JobKey | None = None

    def checked(self) -> ReportRequest:
        if self.report_type not in REPORT_TYPES:
            raise ParameterError(
                "type", f"unknown report type; allowed: {', '.join(REPORT_TYPES)}", self.report_type
            )
        unknown = [name for name in self.sections if name not in SECTIONS]
        if unknown or not self.sections:
            raise ParameterError("by", f"allowed sections: {', '.join(SECTIONS)}", unknown)
        if self.limit < 1:
            raise ParameterError("limit", "must be at least 1", self.limit)
        return ReportRequest(
            self.report_type, tuple(self.sections), self.filters.checked(), self.limit, self.after
        )


# --- Output models ------------------------------------------------------------------------------


def _iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


UtcDatetime = Annotated[datetime, PlainSerializer(_iso_utc, return_type=str)]


class FiltersOut(BaseModel):
    site: str | None
    user: str | None
    vo: str | None
    queue: str | None
    account: str | None
    host: str | None = Field(description="submit host, machine name or execution host")
    since: UtcDatetime | None = Field(description="end_time >= since")
    until: UtcDatetime | None = Field(description="end_time < until")
    invalid_only: bool = Field(description="only jobs whose account failed validation")


class ShortRow(BaseModel):
    name: str | None = Field(description="the section's value (TOTAL for the total); null: none")
    jobs: int
    cpu_hours: float
    wall_hours: float
    normalised_cpu_hs06_hours: float = Field(
        description="normalised CPU time in HS06-hours; jobs without a benchmark add 0"
    )
    jobs_without_benchmark: int
    cpu_efficiency_percent: float | None = Field(
        description="100 × CPU / (wall × processors); null when there is no wall time"
    )


class ShortSection(BaseModel):
    section: str
    rows: list[ShortRow]
    total: ShortRow


class ShortReport(BaseModel):
    report: Literal["short"] = "short"
    filters: FiltersOut
    sections: list[ShortSection]


class ThroughputRow(BaseModel):
    name: str | None
    jobs: int
    jobs_per_hour: float | None = Field(description="jobs / hours of the report's period")
    jobs_with_submit_time: int
    jobs_without_submit_time: int = Field(description="not in the turnaround and wait times")
    turnaround_avg_seconds: float | None = Field(description="end - submit")
    turnaround_min_seconds: float | None
    turnaround_max_seconds: float | None
    wait_avg_seconds: float | None = Field(description="start - submit")
    wait_min_seconds: float | None
    wait_max_seconds: float | None


class ThroughputSection(BaseModel):
    section: str
    rows: list[ThroughputRow]
    total: ThroughputRow


class ThroughputReport(BaseModel):
    report: Literal["throughput"] = "throughput"
    filters: FiltersOut
    period_start: UtcDatetime | None = Field(description="since, else the first end time")
    period_end: UtcDatetime | None = Field(description="until, else the last end time")
    period_hours: float | None
    sections: list[ThroughputSection]


class HostShare(BaseModel):
    host: str
    wall_seconds: float
    cpu_seconds: float


class JobRow(BaseModel):
    site: str
    local_job_id: str
    machine_name: str
    submit_host: str | None
    queue: str | None
    local_user_id: str | None
    local_user_group: str | None
    vo: str | None
    account: str | None
    submit_time: UtcDatetime | None
    start_time: UtcDatetime
    end_time: UtcDatetime
    wall_seconds: int
    cpu_seconds: int
    processors: int | None
    normalised_cpu_hs06_seconds: int | None = Field(description="null: no benchmark")
    cpu_efficiency_percent: float | None
    hosts: list[HostShare] | None = Field(
        None, description="extended only: the job's time split evenly across its host list"
    )


class HostTotal(BaseModel):
    host: str
    jobs: int
    wall_seconds: float
    cpu_seconds: float


class JobReport(BaseModel):
    report: Literal["long", "extended"]
    filters: FiltersOut
    limit: int
    jobs: list[JobRow] = Field(description="ordered by end time, site, job id, machine")
    truncated: bool = Field(description="more jobs match than were returned")
    next_cursor: str | None = Field(None, description="API only: pass as cursor= to continue")
    host_totals: list[HostTotal] | None = Field(
        None, description="extended only: every execution host's share over all selected jobs"
    )
    jobs_without_exec_hosts: int | None = Field(
        None, description="extended only: selected jobs with no execution host recorded"
    )
    host_split_note: str | None = None


Report = ShortReport | ThroughputReport | JobReport


# --- Queries ------------------------------------------------------------------------------------


def _grouped(section: str, measures: Sequence[sql.Composable], filters: JobFilters) -> Query:
    """One row per value of ``section`` plus the total (``is_total``), all in one GROUP BY."""
    key = SECTIONS[section]
    where, params = filters.where()
    query = sql.SQL(
        "SELECT {key} AS section_value, GROUPING({key}) = 1 AS is_total, {measures}"
        " FROM job_records WHERE {where}"
        " GROUP BY GROUPING SETS (({key}), ())"
        " ORDER BY is_total, section_value NULLS LAST"
    ).format(key=key, measures=sql.SQL(", ").join(measures), where=where)
    return query, params


SHORT_MEASURES = (
    sql.SQL("count(*) AS jobs"),
    sql.SQL("coalesce(sum(cpu_duration), 0)::bigint AS cpu_seconds"),
    sql.SQL("coalesce(sum(wall_duration), 0)::bigint AS wall_seconds"),
    sql.SQL("coalesce(sum(normalised_cpu_duration), 0)::bigint AS normalised_cpu_seconds"),
    sql.SQL("count(*) FILTER (WHERE normalised_cpu_duration IS NULL) AS jobs_without_benchmark"),
    sql.SQL("coalesce(sum({}), 0)::bigint AS core_wall_seconds").format(CORE_WALL),
)
_TURNAROUND = sql.SQL("extract(epoch FROM end_time - submit_time)")
_WAIT = sql.SQL("extract(epoch FROM start_time - submit_time)")
THROUGHPUT_MEASURES = (
    sql.SQL("count(*) AS jobs"),
    sql.SQL("count(submit_time) AS jobs_with_submit_time"),
    *(
        sql.SQL("{}({})::float8 AS {}").format(sql.SQL(fn), expr, sql.Identifier(f"{name}_{fn}"))
        for name, expr in (("turnaround", _TURNAROUND), ("wait", _WAIT))
        for fn in ("avg", "min", "max")
    ),
)


def _period_query(filters: JobFilters) -> Query:
    where, params = filters.where()
    query = sql.SQL(
        "SELECT min(end_time) AS first_end, max(end_time) AS last_end FROM job_records WHERE {}"
    ).format(where)
    return query, params


def _jobs_query(request: ReportRequest) -> Query:
    extra: list[Condition] = []
    if request.after is not None:
        keys = [f"after_{column}" for column in JOB_ORDER]
        extra.append(
            (
                sql.SQL("({}) > ({})").format(
                    sql.SQL(", ").join(map(sql.Identifier, JOB_ORDER)),
                    sql.SQL(", ").join(map(sql.Placeholder, keys)),
                ),
                dict(zip(keys, request.after, strict=True)),
            )
        )
    where, params = request.filters.where(*extra)
    query = sql.SQL(
        "SELECT site, local_job_id, machine_name, submit_host, queue, local_user_id,"
        " local_user_group, vo, account, submit_time, start_time, end_time,"
        " wall_duration, cpu_duration, processors, normalised_cpu_duration, exec_hosts,"
        " cpu_duration * 100.0 / nullif({core_wall}, 0) AS efficiency"
        " FROM job_records WHERE {where} ORDER BY {order} LIMIT %(limit)s"
    ).format(
        core_wall=CORE_WALL,
        where=where,
        order=sql.SQL(", ").join(map(sql.Identifier, JOB_ORDER)),
    )
    return query, {**params, "limit": request.limit + 1}


def _host_totals_query(filters: JobFilters) -> Query:
    """Each execution host's share of the selected jobs: a job's time split evenly over the
    entries of its host list, summed per host."""
    where, params = filters.where()
    query = sql.SQL(
        "SELECT host, count(*) AS jobs,"
        " sum(wall_duration * entries_of_host / entries)::float8 AS wall_seconds,"
        " sum(cpu_duration * entries_of_host / entries)::float8 AS cpu_seconds"
        " FROM (SELECT j.wall_duration, j.cpu_duration,"
        "       cardinality(j.exec_hosts)::numeric AS entries, h.host, count(*) AS entries_of_host"
        "       FROM job_records j CROSS JOIN LATERAL unnest(j.exec_hosts) AS h(host)"
        "       WHERE {where}"
        "       GROUP BY j.site, j.local_job_id, j.end_time, j.machine_name, h.host) per_job_host"
        " GROUP BY host ORDER BY host"
    ).format(where=where)
    return query, params


def _hostless_query(filters: JobFilters) -> Query:
    where, params = filters.where()
    query = sql.SQL(
        "SELECT count(*) FILTER (WHERE cardinality(exec_hosts) = 0) AS jobs"
        " FROM job_records WHERE {}"
    ).format(where)
    return query, params


def plan(request: ReportRequest) -> dict[str, Query]:
    """Every query the report needs, by name; none depends on another's result."""
    queries: dict[str, Query] = {}
    if request.report_type == "short":
        for section in request.sections:
            queries[section] = (
                report_rollup.grouped(section, request.filters)
                if report_rollup.answers(request.filters)
                else _grouped(section, SHORT_MEASURES, request.filters)
            )
    elif request.report_type == "throughput":
        queries["period"] = _period_query(request.filters)
        for section in request.sections:
            queries[section] = _grouped(section, THROUGHPUT_MEASURES, request.filters)
    else:
        queries["jobs"] = _jobs_query(request)
        if request.report_type == "extended":
            queries["host_totals"] = _host_totals_query(request.filters)
            queries["hostless"] = _hostless_query(request.filters)
    return queries


# --- Running ------------------------------------------------------------------------------------

Rows = list[dict[str, Any]]
READ_ONLY_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"


def run(conn: psycopg.Connection[Any], request: ReportRequest) -> Report:
    """Run the report's queries in one read-only snapshot and build the report."""
    request = request.checked()
    results: dict[str, Rows] = {}
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute(READ_ONLY_SNAPSHOT)
        for name, (query, params) in plan(request).items():
            cur.execute(query, params)
            results[name] = cur.fetchall()
    return build(request, results)


async def run_async(conn: AsyncConnection[Any], request: ReportRequest) -> Report:
    """:func:`run` on an asynchronous connection (the API's)."""
    request = request.checked()
    results: dict[str, Rows] = {}
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(READ_ONLY_SNAPSHOT)
        for name, (query, params) in plan(request).items():
            await cur.execute(query, params)
            results[name] = await cur.fetchall()
    return build(request, results)


def _hours(seconds: int) -> float:
    return round(seconds / 3600, 4)


def _percent(numerator: float, denominator: float) -> float | None:
    return round(100 * numerator / denominator, 2) if denominator else None


def _short_row(row: Mapping[str, Any]) -> ShortRow:
    return ShortRow(
        name=TOTAL if row["is_total"] else row["section_value"],
        jobs=row["jobs"],
        cpu_hours=_hours(row["cpu_seconds"]),
        wall_hours=_hours(row["wall_seconds"]),
        normalised_cpu_hs06_hours=_hours(row["normalised_cpu_seconds"]),
        jobs_without_benchmark=row["jobs_without_benchmark"],
        cpu_efficiency_percent=_percent(row["cpu_seconds"], row["core_wall_seconds"]),
    )


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _throughput_row(row: Mapping[str, Any], period_hours: float | None) -> ThroughputRow:
    return ThroughputRow(
        name=TOTAL if row["is_total"] else row["section_value"],
        jobs=row["jobs"],
        jobs_per_hour=round(row["jobs"] / period_hours, 4) if period_hours else None,
        jobs_with_submit_time=row["jobs_with_submit_time"],
        jobs_without_submit_time=row["jobs"] - row["jobs_with_submit_time"],
        turnaround_avg_seconds=_seconds(row["turnaround_avg"]),
        turnaround_min_seconds=_seconds(row["turnaround_min"]),
        turnaround_max_seconds=_seconds(row["turnaround_max"]),
        wait_avg_seconds=_seconds(row["wait_avg"]),
        wait_min_seconds=_seconds(row["wait_min"]),
        wait_max_seconds=_seconds(row["wait_max"]),
    )


def _host_shares(row: Mapping[str, Any]) -> list[HostShare]:
    hosts: list[str] = row["exec_hosts"]
    shares: dict[str, int] = {}
    for host in hosts:
        shares[host] = shares.get(host, 0) + 1
    return [
        HostShare(
            host=host,
            wall_seconds=round(row["wall_duration"] * count / len(hosts), 3),
            cpu_seconds=round(row["cpu_duration"] * count / len(hosts), 3),
        )
        for host, count in shares.items()
    ]


def _job_row(row: Mapping[str, Any], extended: bool) -> JobRow:
    efficiency = row["efficiency"]
    return JobRow(
        site=row["site"],
        local_job_id=row["local_job_id"],
        machine_name=row["machine_name"],
        submit_host=row["submit_host"],
        queue=row["queue"],
        local_user_id=row["local_user_id"],
        local_user_group=row["local_user_group"],
        vo=row["vo"],
        account=row["account"],
        submit_time=row["submit_time"],
        start_time=row["start_time"],
        end_time=row["end_time"],
        wall_seconds=row["wall_duration"],
        cpu_seconds=row["cpu_duration"],
        processors=row["processors"],
        normalised_cpu_hs06_seconds=row["normalised_cpu_duration"],
        cpu_efficiency_percent=None if efficiency is None else round(float(efficiency), 2),
        hosts=_host_shares(row) if extended else None,
    )


def build(request: ReportRequest, results: Mapping[str, Rows]) -> Report:
    """The report from the rows of the queries :func:`plan` gave."""
    filters = FiltersOut.model_validate(request.filters, from_attributes=True)
    if request.report_type == "short":
        short_sections = []
        for section in request.sections:
            rows = [_short_row(row) for row in results[section]]
            short_sections.append(ShortSection(section=section, rows=rows[:-1], total=rows[-1]))
        return ShortReport(filters=filters, sections=short_sections)
    if request.report_type == "throughput":
        period = results["period"][0]
        start = request.filters.since or period["first_end"]
        end = request.filters.until or period["last_end"]
        hours = (end - start).total_seconds() / 3600 if start and end else None
        throughput_sections = []
        for section in request.sections:
            rows_out = [_throughput_row(row, hours) for row in results[section]]
            throughput_sections.append(
                ThroughputSection(section=section, rows=rows_out[:-1], total=rows_out[-1])
            )
        return ThroughputReport(
            filters=filters,
            period_start=start,
            period_end=end,
            period_hours=None if hours is None else round(hours, 4),
            sections=throughput_sections,
        )
    extended = request.report_type == "extended"
    job_rows = results["jobs"]
    report = JobReport(
        report="extended" if extended else "long",
        filters=filters,
        limit=request.limit,
        jobs=[_job_row(row, extended) for row in job_rows[: request.limit]],
        truncated=len(job_rows) > request.limit,
    )
    if extended:
        report.host_totals = [HostTotal.model_validate(row) for row in results["host_totals"]]
        report.jobs_without_exec_hosts = results["hostless"][0]["jobs"]
        report.host_split_note = HOST_SPLIT_NOTE
    return report


def last_job_key(report: JobReport) -> JobKey | None:
    """The keyset position after the report's last job (for the next page), if it was cut."""
    if not report.truncated or not report.jobs:
        return None
    last = report.jobs[-1]
    return (last.end_time, last.site, last.local_job_id, last.machine_name)


# --- Output: CSV and tables ---------------------------------------------------------------------

SHORT_HEADINGS = {
    "name": "Name",
    "jobs": "Jobs",
    "cpu_hours": "CPU hours",
    "wall_hours": "Wall hours",
    "normalised_cpu_hs06_hours": "Normalised CPU (HS06-hours)",
    "jobs_without_benchmark": "Jobs without benchmark",
    "cpu_efficiency_percent": "CPU efficiency %",
}
THROUGHPUT_HEADINGS = {
    "name": "Name",
    "jobs": "Jobs",
    "jobs_per_hour": "Jobs/hour",
    "jobs_with_submit_time": "With submit time",
    "jobs_without_submit_time": "Without submit time",
    "turnaround_avg_seconds": "Turnaround avg (s)",
    "turnaround_min_seconds": "Turnaround min (s)",
    "turnaround_max_seconds": "Turnaround max (s)",
    "wait_avg_seconds": "Wait avg (s)",
    "wait_min_seconds": "Wait min (s)",
    "wait_max_seconds": "Wait max (s)",
}
JOB_HEADINGS = {
    "site": "Site",
    "local_job_id": "Job id",
    "local_user_id": "User",
    "local_user_group": "Group",
    "vo": "VO",
    "account": "Account",
    "queue": "Queue",
    "submit_host": "Submit host",
    "machine_name": "Machine",
    "submit_time": "Submitted (UTC)",
    "start_time": "Started (UTC)",
    "end_time": "Ended (UTC)",
    "wall_seconds": "Wall (s)",
    "cpu_seconds": "CPU (s)",
    "processors": "Processors",
    "normalised_cpu_hs06_seconds": "Normalised CPU (HS06-s)",
    "cpu_efficiency_percent": "CPU efficiency %",
}
HOST_HEADINGS = {
    "host": "Exec host",
    "wall_seconds": "Host wall (s)",
    "cpu_seconds": "Host CPU (s)",
}
HOST_TOTAL_HEADINGS = {
    "host": "Exec host",
    "jobs": "Jobs",
    "wall_seconds": "Wall (s, split evenly)",
    "cpu_seconds": "CPU (s, split evenly)",
}
NUMERIC = {
    "jobs",
    "cpu_hours",
    "wall_hours",
    "normalised_cpu_hs06_hours",
    "jobs_without_benchmark",
    "cpu_efficiency_percent",
    "jobs_per_hour",
    "jobs_with_submit_time",
    "jobs_without_submit_time",
    "wall_seconds",
    "cpu_seconds",
    "processors",
    "normalised_cpu_hs06_seconds",
    *(f"{n}_{f}_seconds" for n in ("turnaround", "wait") for f in ("avg", "min", "max")),
}


def _cell(value: object) -> str:
    """A value as CSV and tables show it: UTC times with Z, empty for null."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _iso_utc(value)
    return str(value)


def _table_cell(key: str, value: object) -> str:
    if key == "name" and value is None:
        return "(none)"
    if isinstance(value, float) and key.endswith(("_hours", "_percent")):
        return f"{value:,.2f}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return _cell(value)


def _sectioned(report: ShortReport | ThroughputReport) -> Iterable[tuple[str, BaseModel, bool]]:
    for section in report.sections:
        for row in section.rows:
            yield section.section, row, False
        yield section.section, section.total, True


def to_csv(report: Report) -> str:
    """CSV: short and throughput one row per section value with a ``section`` column (TOTAL rows
    included); long one row per job; extended one row per job and execution host (a job without
    hosts: one row with the host columns empty)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if isinstance(report, ShortReport | ThroughputReport):
        headings = SHORT_HEADINGS if isinstance(report, ShortReport) else THROUGHPUT_HEADINGS
        writer.writerow(["section", *headings])
        for section, row, _total in _sectioned(report):
            row_values = row.model_dump()
            writer.writerow([section, *(_cell(row_values[k]) for k in headings)])
        return out.getvalue()
    extended = report.report == "extended"
    host_columns = ["exec_host", "host_wall_seconds", "host_cpu_seconds"] if extended else []
    writer.writerow([*JOB_HEADINGS, *host_columns])
    for job in report.jobs:
        job_values = [_cell(getattr(job, k)) for k in JOB_HEADINGS]
        if not extended:
            writer.writerow(job_values)
        elif not job.hosts:
            writer.writerow([*job_values, "", "", ""])
        else:
            for share in job.hosts:
                writer.writerow(
                    [*job_values, share.host, _cell(share.wall_seconds), _cell(share.cpu_seconds)]
                )
    return out.getvalue()


def _table(
    title: str, headings: Mapping[str, str], rows: Iterable[tuple[BaseModel, bool]]
) -> Table:
    table = Table(title=title)
    for key, heading in headings.items():
        table.add_column(heading, justify="right" if key in NUMERIC else "left", overflow="fold")
    listed = list(rows)
    for index, (row, is_total) in enumerate(listed):
        values = row.model_dump()
        before_total = index + 1 < len(listed) and listed[index + 1][1]
        table.add_row(
            *(_table_cell(k, values[k]) for k in headings),
            style="bold" if is_total else None,
            end_section=before_total,
        )
    return table


def tables(report: Report) -> list[Table]:
    """The report as rich tables: one per section, or the jobs (and, extended, the hosts)."""
    if isinstance(report, ShortReport):
        return [
            _table(
                f"short report by {s.section} (hours; normalised CPU in HS06-hours)",
                SHORT_HEADINGS,
                [*((r, False) for r in s.rows), (s.total, True)],
            )
            for s in report.sections
        ]
    if isinstance(report, ThroughputReport):
        period = f"{_cell(report.period_start)} to {_cell(report.period_end)}"
        return [
            _table(
                f"throughput by {s.section}, {period} (times in seconds)",
                THROUGHPUT_HEADINGS,
                [*((r, False) for r in s.rows), (s.total, True)],
            )
            for s in report.sections
        ]
    shown = f"{len(report.jobs)} jobs" + (
        f", first {report.limit} only" if report.truncated else ""
    )
    result = [
        _table(f"{report.report} report ({shown})", JOB_HEADINGS, ((j, False) for j in report.jobs))
    ]
    if report.report == "extended":
        per_job = Table(title="per execution host, each job's time split evenly over its host list")
        for heading in ("Job id", *HOST_HEADINGS.values()):
            per_job.add_column(
                heading, justify="left" if heading in ("Job id", "Exec host") else "right"
            )
        for job in report.jobs:
            for share in job.hosts or []:
                per_job.add_row(
                    job.local_job_id,
                    share.host,
                    _table_cell("wall_seconds", share.wall_seconds),
                    _table_cell("cpu_seconds", share.cpu_seconds),
                )
        result.append(per_job)
        result.append(
            _table(
                f"execution hosts over all selected jobs ({report.jobs_without_exec_hosts} jobs"
                " without execution hosts)",
                HOST_TOTAL_HEADINGS,
                ((h, False) for h in report.host_totals or []),
            )
        )
    return result

"""Reports without a database: parameters, the SQL they make, and the output formats."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from psycopg import sql
from rich.console import Console

from batchacct import reports
from batchacct.job_filters import JobFilters, ParameterError
from batchacct.reports import ReportRequest


def test_sections_default_order_and_spaces() -> None:
    assert reports.parse_sections(None) == ["user", "queue", "group", "account"]
    assert reports.parse_sections("  ") == ["user", "queue", "group", "account"]
    assert reports.parse_sections(" month, vo ,week,") == ["month", "vo", "week"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("user,colour", "unknown section(s) 'colour'; allowed: user, group, vo"),
        ("vo,VO", "unknown section(s) 'VO'"),
        ("vo,month,vo", "section(s) repeated: vo"),
        ("local_user_id", "unknown section(s)"),  # sections, not column names
        ("user); DROP TABLE job_records; --", "unknown section(s)"),
        ("us\x00er", "unknown section(s)"),
    ],
)
def test_bad_sections(text: str, message: str) -> None:
    with pytest.raises(ParameterError) as err:
        reports.parse_sections(text)
    assert err.value.param == "by"
    assert message in err.value.message
    assert err.value.value == text


# --- The job filters (batchacct.job_filters: the reports' and the charts') ----------------------


@pytest.mark.parametrize("name", ["site", "user", "vo", "queue", "account", "host"])
def test_filters_refuse_nul_and_long_text(name: str) -> None:
    nul: dict[str, Any] = {name: "a\x00b"}
    with pytest.raises(ParameterError, match="NUL") as err:
        JobFilters(**nul).checked()
    assert err.value.param == name
    with pytest.raises(ParameterError, match="at most 512") as err:
        JobFilters(**{**nul, name: "x" * 513}).checked()
    assert err.value.param == name


def test_filter_times_are_utc_and_ordered() -> None:
    plus_two = timezone(timedelta(hours=2))
    checked = JobFilters(
        since=datetime(2025, 1, 1), until=datetime(2025, 1, 2, 2, 0, tzinfo=plus_two)
    ).checked()
    assert checked.since == datetime(2025, 1, 1, tzinfo=UTC)
    assert checked.until == datetime(2025, 1, 2, tzinfo=UTC)
    assert checked.until is not None and checked.until.tzinfo == UTC
    for since, until in ((datetime(2025, 1, 2), datetime(2025, 1, 1)), (checked.since,) * 2):
        with pytest.raises(ParameterError, match="must be after since") as err:
            JobFilters(since=since, until=until).checked()
        assert err.value.param == "until"


def test_filter_sql_is_named_parameters() -> None:
    hostile = "x'; DROP TABLE job_records; --"
    where, params = JobFilters(vo=hostile, host="h", since=datetime(2025, 1, 1)).where()
    assert where.as_string(None) == (
        '"vo" = %(filter_vo)s'
        " AND (submit_host = %(filter_host)s OR machine_name = %(filter_host)s"
        " OR %(filter_host)s = ANY(exec_hosts))"
        " AND end_time >= %(filter_since)s"
    )
    assert params == {
        "filter_vo": hostile,
        "filter_host": "h",  # once, however many times the condition names it
        "filter_since": datetime(2025, 1, 1),
    }


def test_no_filter_selects_every_job() -> None:
    where, params = JobFilters().where()
    assert (where.as_string(None), params) == ("TRUE", {})
    where, params = JobFilters(site="S").where((sql.SQL("jobs > %(min_jobs)s"), {"min_jobs": 1}))
    assert where.as_string(None) == '"site" = %(filter_site)s AND jobs > %(min_jobs)s'
    assert params == {"filter_site": "S", "min_jobs": 1}


def test_invalid_only_is_a_fixed_condition() -> None:
    where, params = JobFilters(invalid_only=True).where()
    assert where.as_string(None) == "account_valid = false"
    assert params == {}


# --- Report requests and their SQL ----------------------------------------------------------------


def test_request_checks() -> None:
    with pytest.raises(ParameterError, match="at least 1"):
        ReportRequest("long", limit=0).checked()
    with pytest.raises(ParameterError, match="unknown report type"):
        ReportRequest("summary", limit=1).checked()  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="allowed sections"):
        ReportRequest("short", sections=("colour",)).checked()


def test_values_are_parameters_never_sql_text() -> None:
    hostile = "x' OR '1'='1"
    request = ReportRequest(
        "throughput",
        ("week", "user"),
        JobFilters(
            site=hostile, user=hostile, vo=hostile, queue=hostile, account=hostile, host=hostile
        ),
    ).checked()
    queries = reports.plan(request)
    assert list(queries) == ["period", "week", "user"]
    for query, params in queries.values():
        text = query.as_string(None)
        assert hostile not in text
        assert params == {
            f"filter_{name}": hostile for name in ("site", "user", "vo", "queue", "account", "host")
        }
    week_sql = queries["week"][0].as_string(None)
    assert "IYYY" in week_sql and "AT TIME ZONE 'UTC'" in week_sql
    assert "GROUPING SETS" in week_sql


def test_long_query_is_keyset_limited() -> None:
    after = (datetime(2025, 1, 1, tzinfo=UTC), "SITE", "42", "m1")
    request = ReportRequest("long", limit=10, after=after, filters=JobFilters(vo="atlas"))
    ((name, (query, params)),) = reports.plan(request.checked()).items()
    text = query.as_string(None)
    assert name == "jobs"
    assert (
        '("end_time", "site", "local_job_id", "machine_name") > (%(after_end_time)s,'
        " %(after_site)s, %(after_local_job_id)s, %(after_machine_name)s)"
    ) in text
    assert text.endswith("LIMIT %(limit)s")
    assert params == {
        "filter_vo": "atlas",
        "after_end_time": after[0],
        "after_site": "SITE",
        "after_local_job_id": "42",
        "after_machine_name": "m1",
        "limit": 11,  # one more than asked tells whether more exist
    }
    extended = reports.plan(ReportRequest("extended").checked())
    assert list(extended) == ["jobs", "host_totals", "hostless"]


def _short_row(name: str | None, is_total: bool = False, **values: int) -> dict[str, Any]:
    row = {
        "section_value": name,
        "is_total": is_total,
        "jobs": 1,
        "cpu_seconds": 0,
        "wall_seconds": 0,
        "normalised_cpu_seconds": 0,
        "jobs_without_benchmark": 0,
        "core_wall_seconds": 0,
    }
    return {**row, **values}


SHORT_RESULTS = {
    "vo": [
        _short_row("atlas", cpu_seconds=7200, wall_seconds=3600, core_wall_seconds=14400),
        _short_row(None, cpu_seconds=0, normalised_cpu_seconds=0, jobs_without_benchmark=1),
        _short_row(
            None,
            True,
            jobs=2,
            cpu_seconds=7200,
            wall_seconds=3600,
            normalised_cpu_seconds=90000,
            jobs_without_benchmark=1,
            core_wall_seconds=14400,
        ),
    ]
}


def test_short_build_csv_json_and_table() -> None:
    request = ReportRequest("short", ("vo",)).checked()
    report = reports.build(request, SHORT_RESULTS)
    assert isinstance(report, reports.ShortReport)
    (section,) = report.sections
    atlas, no_vo = section.rows
    assert (atlas.cpu_hours, atlas.wall_hours, atlas.cpu_efficiency_percent) == (2.0, 1.0, 50.0)
    assert no_vo.name is None and no_vo.cpu_efficiency_percent is None  # no wall time
    assert section.total.name == "TOTAL"
    assert section.total.normalised_cpu_hs06_hours == 25.0

    rows = list(csv.reader(io.StringIO(reports.to_csv(report))))
    assert rows[0] == [
        "section",
        "name",
        "jobs",
        "cpu_hours",
        "wall_hours",
        "normalised_cpu_hs06_hours",
        "jobs_without_benchmark",
        "cpu_efficiency_percent",
    ]
    assert rows[2] == ["vo", "", "1", "0.0", "0.0", "0.0", "1", ""]
    assert rows[3][:3] == ["vo", "TOTAL", "2"]

    data = json.loads(report.model_dump_json())
    assert data["sections"][0]["total"]["normalised_cpu_hs06_hours"] == 25.0

    console = Console(record=True, width=200)
    for table in reports.tables(report):
        console.print(table)
    text = console.export_text()
    assert "Normalised CPU (HS06-hours)" in text
    assert "(none)" in text and "TOTAL" in text and "50.00" in text


def _job_row(**values: Any) -> dict[str, Any]:
    end = datetime(2025, 1, 1, tzinfo=UTC)
    row: dict[str, Any] = {
        "site": "S",
        "local_job_id": "1",
        "machine_name": "m",
        "submit_host": None,
        "queue": None,
        "local_user_id": "u",
        "local_user_group": None,
        "vo": None,
        "account": None,
        "submit_time": None,
        "start_time": end - timedelta(seconds=1000),
        "end_time": end,
        "wall_duration": 1000,
        "cpu_duration": 500,
        "processors": None,
        "normalised_cpu_duration": None,
        "exec_hosts": [],
        "efficiency": 50,
    }
    return {**row, **values}


def test_extended_build_and_csv() -> None:
    request = ReportRequest("extended", limit=1).checked()
    results = {
        "jobs": [
            _job_row(exec_hosts=["a", "b", "a"]),
            _job_row(local_job_id="2"),  # the one over the limit
        ],
        "host_totals": [{"host": "a", "jobs": 1, "wall_seconds": 666.667, "cpu_seconds": 333.333}],
        "hostless": [{"jobs": 0}],
    }
    report = reports.build(request, results)
    assert isinstance(report, reports.JobReport)
    assert report.truncated and len(report.jobs) == 1
    (job,) = report.jobs
    assert [(h.host, h.wall_seconds, h.cpu_seconds) for h in job.hosts or []] == [
        ("a", 666.667, 333.333),
        ("b", 333.333, 166.667),
    ]
    rows = list(csv.DictReader(io.StringIO(reports.to_csv(report))))
    assert [(r["exec_host"], r["host_wall_seconds"]) for r in rows] == [
        ("a", "666.667"),
        ("b", "333.333"),
    ]
    assert rows[0]["end_time"] == "2025-01-01T00:00:00Z"
    assert rows[0]["submit_time"] == ""
    assert reports.last_job_key(report) == (datetime(2025, 1, 1, tzinfo=UTC), "S", "1", "m")
    console = Console(record=True, width=250)
    for table in reports.tables(report):
        console.print(table)
    assert "split evenly" in console.export_text()


def test_long_csv_has_no_host_columns() -> None:
    report = reports.build(ReportRequest("long").checked(), {"jobs": [_job_row()]})
    header = next(csv.reader(io.StringIO(reports.to_csv(report))))
    assert "exec_host" not in header and header[:2] == ["site", "local_job_id"]
    assert isinstance(report, reports.JobReport) and report.jobs[0].hosts is None

"""Reports without a database: parameters, the SQL they make, and the output formats."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from rich.console import Console

from batchacct import reports
from batchacct.reports import ReportFilters, ReportParameterError, ReportRequest


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
    with pytest.raises(ReportParameterError) as err:
        reports.parse_sections(text)
    assert err.value.param == "by"
    assert message in err.value.message
    assert err.value.value == text


@pytest.mark.parametrize("name", ["site", "user", "vo", "queue", "account", "host"])
def test_filters_refuse_nul_and_long_text(name: str) -> None:
    nul: dict[str, Any] = {name: "a\x00b"}
    with pytest.raises(ReportParameterError, match="NUL") as err:
        ReportFilters(**nul).checked()
    assert err.value.param == name
    with pytest.raises(ReportParameterError, match="at most 512") as err:
        ReportFilters(**{**nul, name: "x" * 513}).checked()
    assert err.value.param == name


def test_filter_times_are_utc_and_ordered() -> None:
    plus_two = timezone(timedelta(hours=2))
    checked = ReportFilters(
        since=datetime(2025, 1, 1), until=datetime(2025, 1, 2, 2, 0, tzinfo=plus_two)
    ).checked()
    assert checked.since == datetime(2025, 1, 1, tzinfo=UTC)
    assert checked.until == datetime(2025, 1, 2, tzinfo=UTC)
    assert checked.until is not None and checked.until.tzinfo == UTC
    for since, until in ((datetime(2025, 1, 2), datetime(2025, 1, 1)), (checked.since,) * 2):
        with pytest.raises(ReportParameterError, match="must be after since") as err:
            ReportFilters(since=since, until=until).checked()
        assert err.value.param == "until"


def test_request_checks() -> None:
    with pytest.raises(ReportParameterError, match="at least 1"):
        ReportRequest("long", limit=0).checked()
    with pytest.raises(ReportParameterError, match="unknown report type"):
        ReportRequest("summary", limit=1).checked()  # type: ignore[arg-type]
    with pytest.raises(ReportParameterError, match="allowed sections"):
        ReportRequest("short", sections=("colour",)).checked()


def test_values_are_parameters_never_sql_text() -> None:
    hostile = "x' OR '1'='1"
    request = ReportRequest(
        "throughput",
        ("week", "user"),
        ReportFilters(
            site=hostile, user=hostile, vo=hostile, queue=hostile, account=hostile, host=hostile
        ),
    ).checked()
    queries = reports.plan(request)
    assert list(queries) == ["period", "week", "user"]
    for query, params in queries.values():
        text = query.as_string(None)
        assert hostile not in text
        assert params.count(hostile) == 8  # five columns, host three times
    week_sql = queries["week"][0].as_string(None)
    assert "IYYY" in week_sql and "AT TIME ZONE 'UTC'" in week_sql
    assert "GROUPING SETS" in week_sql


def test_long_query_is_keyset_limited() -> None:
    after = (datetime(2025, 1, 1, tzinfo=UTC), "SITE", "42", "m1")
    request = ReportRequest("long", limit=10, after=after, filters=ReportFilters(vo="atlas"))
    ((name, (query, params)),) = reports.plan(request.checked()).items()
    text = query.as_string(None)
    assert name == "jobs"
    assert '("end_time", "site", "local_job_id", "machine_name") > (%s, %s, %s, %s)' in text
    assert text.endswith("LIMIT %s")
    assert params == ["atlas", *after, 11]  # one more than asked tells whether more exist
    extended = reports.plan(ReportRequest("extended").checked())
    assert list(extended) == ["jobs", "host_totals", "hostless"]


def test_invalid_only_is_a_fixed_condition() -> None:
    where, params = ReportFilters(invalid_only=True).where()
    assert where.as_string(None) == "WHERE account_valid = false"
    assert params == []


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

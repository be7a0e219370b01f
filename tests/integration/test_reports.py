"""Reports (``batchacct report``, ``GET /api/v1/reports/{type}``) against the real PostgreSQL.

Four jobs whose every figure is worked out by hand below; they straddle a year, an ISO week and a
month boundary (UTC), include a 4-core job, a job without a benchmark and a job without a submit
time.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from batchacct import db, reports, stack
from batchacct.cli import main
from batchacct.job_filters import JobFilters
from batchacct.tokens import create_token

from .conftest import TEMPLATE_DB
from .test_api import insert_job, make_client

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r".*install `httpx2`")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration


def _job(
    job_id: str,
    end: datetime,
    wall: int,
    cpu: int,
    *,
    queued: int | None,
    **fields: Any,
) -> dict[str, Any]:
    start = end - timedelta(seconds=wall)
    return {
        "local_job_id": job_id,
        "end_time": end,
        "start_time": start,
        "wall_duration": wall,
        "cpu_duration": cpu,
        "submit_time": None if queued is None else start - timedelta(seconds=queued),
        **fields,
    }


# J1: Sunday 2024-12-29 (ISO week 2024-W52), 1 core, waited 600 s, turnaround 4200 s.
# J2: Monday 2024-12-30 (2025-W01, still December), 4 cores: 14400 / (7200 × 4) = 50 %.
# J3: 2025-01-01 (2025-W01, January), no benchmark, no submit time, three execution hosts.
# J4: 2025-01-31 (2025-W05), processors unknown (counted as 1), no execution host, an account
#     that failed validation (J3 has no account: account_valid NULL, not invalid).
JOBS = [
    _job(
        "J1",
        datetime(2024, 12, 29, 23, 30, tzinfo=UTC),
        3600,
        3600,
        queued=600,
        local_user_id="alice",
        local_user_group="g1",
        vo="atlas",
        account="acc1",
        queue="short",
        submit_host="ce1",
        machine_name="m1",
        processors=1,
        service_level=10.0,
        normalised_cpu_duration=36000,
        exec_hosts=["wn1"],
        account_valid=True,
    ),
    _job(
        "J2",
        datetime(2024, 12, 30, 0, 30, tzinfo=UTC),
        7200,
        14400,
        queued=1800,
        local_user_id="alice",
        local_user_group="g1",
        vo="atlas",
        account="acc1",
        queue="long",
        submit_host="ce1",
        machine_name="m1",
        processors=4,
        service_level=10.0,
        normalised_cpu_duration=144000,
        exec_hosts=["wn1", "wn1", "wn2", "wn2"],
        account_valid=True,
    ),
    _job(
        "J3",
        datetime(2025, 1, 1, 0, 0, tzinfo=UTC),
        1800,
        900,
        queued=None,
        local_user_id="bob",
        local_user_group="g2",
        vo="cms",
        account=None,
        queue="short",
        submit_host="ce2",
        machine_name="m1",
        processors=1,
        exec_hosts=["wn3", "wn4", "wn5"],
    ),
    _job(
        "J4",
        datetime(2025, 1, 31, 23, 59, 59, tzinfo=UTC),
        3600,
        1800,
        queued=0,
        local_user_id="bob",
        local_user_group="g2",
        vo="cms",
        account="acc2",
        queue="short",
        submit_host="ce2",
        machine_name="m2",
        processors=None,
        service_level=10.0,
        normalised_cpu_duration=18000,
        exec_hosts=[],
        account_valid=False,  # acc2 is not bob's
    ),
]


@pytest.fixture(scope="module")
def report_db(stack_info: stack.StackInfo) -> Iterator[str]:
    """One database holding the four jobs, for every test here (they only read)."""
    name = "t_reports_" + uuid.uuid4().hex[:12]
    base = stack_info.database_url.rsplit("/", 1)[0]
    create = sql.SQL("CREATE DATABASE {} TEMPLATE {}")
    with db.connect(base + "/postgres", autocommit=True) as admin:
        admin.execute(create.format(sql.Identifier(name), sql.Identifier(TEMPLATE_DB)))
    url = f"{base}/{name}"
    with db.connect(url, autocommit=True) as conn:
        for job in JOBS:
            insert_job(conn, **job)
    yield url
    with db.connect(base + "/postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def api(report_db: str) -> Iterator[TestClient]:
    token = create_token(report_db, "reports-read", ["read"])
    with make_client(report_db) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


@pytest.fixture
def conn(report_db: str) -> Iterator[psycopg.Connection]:
    with db.connect(report_db, autocommit=True) as c:
        yield c


def _report(
    conn: psycopg.Connection, report_type: reports.ReportType = "short", **kw: Any
) -> reports.Report:
    sections = kw.pop("sections", ("user",))
    limit = kw.pop("limit", 1000)
    request = reports.ReportRequest(report_type, sections, JobFilters(**kw), limit=limit)
    return reports.run(conn, request)


def _short(conn: psycopg.Connection, section: str, **kw: Any) -> dict[str | None, dict[str, Any]]:
    report = _report(conn, sections=(section,), **kw)
    assert isinstance(report, reports.ShortReport)
    (only,) = report.sections
    rows = [*only.rows, only.total]
    return {row.name: row.model_dump(exclude={"name"}) for row in rows}


# --- short --------------------------------------------------------------------------------------


def test_short_by_user_hand_computed(conn: psycopg.Connection) -> None:
    by_user = _short(conn, "user")
    # alice: CPU 3600 + 14400 = 5 h; wall 3 h; 180000 HS06-s = 50 HS06-h;
    # efficiency 18000 / (3600 × 1 + 7200 × 4) = 55.56 %.
    assert by_user["alice"] == {
        "jobs": 2,
        "cpu_hours": 5.0,
        "wall_hours": 3.0,
        "normalised_cpu_hs06_hours": 50.0,
        "jobs_without_benchmark": 0,
        "cpu_efficiency_percent": 55.56,
    }
    # bob: J3 has no benchmark (adds 0, counted); J4's unknown processors count as 1.
    assert by_user["bob"] == {
        "jobs": 2,
        "cpu_hours": 0.75,
        "wall_hours": 1.5,
        "normalised_cpu_hs06_hours": 5.0,
        "jobs_without_benchmark": 1,
        "cpu_efficiency_percent": 50.0,
    }
    assert by_user["TOTAL"] == {
        "jobs": 4,
        "cpu_hours": 5.75,
        "wall_hours": 4.5,
        "normalised_cpu_hs06_hours": 55.0,
        "jobs_without_benchmark": 1,
        "cpu_efficiency_percent": 54.76,  # 20700 / 37800
    }
    assert list(by_user) == ["alice", "bob", "TOTAL"]


@pytest.mark.parametrize(
    ("section", "expected_jobs"),
    [
        # UTC weeks are ISO weeks: Sunday 2024-12-29 is 2024-W52, Monday 2024-12-30 is 2025-W01.
        ("week", {"2024-W52": 1, "2025-W01": 2, "2025-W05": 1}),
        ("month", {"2024-12": 2, "2025-01": 2}),
        ("day", {"2024-12-29": 1, "2024-12-30": 1, "2025-01-01": 1, "2025-01-31": 1}),
        ("group", {"g1": 2, "g2": 2}),
        ("vo", {"atlas": 2, "cms": 2}),
        ("account", {"acc1": 2, "acc2": 1, None: 1}),  # no account: its own row, last
        ("queue", {"long": 1, "short": 3}),
        ("submit_host", {"ce1": 2, "ce2": 2}),
        ("machine", {"m1": 3, "m2": 1}),
    ],
)
def test_short_sections(
    conn: psycopg.Connection, section: str, expected_jobs: dict[str | None, int]
) -> None:
    rows = _short(conn, section)
    assert {name: row["jobs"] for name, row in rows.items() if name != "TOTAL"} == expected_jobs
    assert list(rows)[:-1] == list(expected_jobs)
    assert rows["TOTAL"]["jobs"] == 4


def test_short_week_and_month_sums(conn: psycopg.Connection) -> None:
    weeks = _short(conn, "week")
    # 2025-W01: J2 and J3: CPU 15300 s = 4.25 h; efficiency 15300 / (28800 + 1800) = 50 %.
    assert weeks["2025-W01"]["cpu_hours"] == 4.25
    assert weeks["2025-W01"]["cpu_efficiency_percent"] == 50.0
    assert weeks["2025-W01"]["normalised_cpu_hs06_hours"] == 40.0
    months = _short(conn, "month")
    assert months["2024-12"]["wall_hours"] == 3.0
    assert months["2025-01"]["wall_hours"] == 1.5


def test_several_sections_one_table_each(conn: psycopg.Connection) -> None:
    report = _report(conn, sections=("vo", "month"))
    assert isinstance(report, reports.ShortReport)
    assert [s.section for s in report.sections] == ["vo", "month"]
    assert all(s.total.jobs == 4 for s in report.sections)


@pytest.mark.parametrize(
    ("filters", "expected_users"),
    [
        ({"site": "SITE-A"}, {"alice": 2, "bob": 2}),
        ({"site": "SITE-B"}, {}),
        ({"user": "bob"}, {"bob": 2}),
        ({"vo": "atlas"}, {"alice": 2}),
        ({"queue": "long"}, {"alice": 1}),
        ({"account": "acc2"}, {"bob": 1}),
        ({"host": "wn3"}, {"bob": 1}),  # an execution host
        ({"host": "ce1"}, {"alice": 2}),  # a submit host
        ({"host": "m2"}, {"bob": 1}),  # a machine
        # since is inclusive, until exclusive (end times).
        ({"since": datetime(2024, 12, 30, 0, 30, tzinfo=UTC)}, {"alice": 1, "bob": 2}),
        ({"until": datetime(2025, 1, 31, 23, 59, 59, tzinfo=UTC)}, {"alice": 2, "bob": 1}),
        # A date without a time zone is UTC.
        ({"since": datetime(2025, 1, 1), "until": datetime(2025, 1, 2)}, {"bob": 1}),
        ({"invalid_only": True}, {"bob": 1}),
        ({"invalid_only": True, "user": "alice"}, {}),
        # Text that looks like SQL is only ever a value.
        ({"user": "x' OR '1'='1"}, {}),
        ({"vo": "atlas; DROP TABLE job_records; --"}, {}),
    ],
)
def test_filters(
    conn: psycopg.Connection, filters: dict[str, Any], expected_users: dict[str, int]
) -> None:
    rows = _short(conn, "user", **filters)
    assert {n: r["jobs"] for n, r in rows.items() if n != "TOTAL"} == expected_users
    assert rows["TOTAL"]["jobs"] == sum(expected_users.values())


def test_empty_selection_has_a_zero_total(conn: psycopg.Connection) -> None:
    rows = _short(conn, "vo", vo="nobody")
    assert rows == {
        "TOTAL": {
            "jobs": 0,
            "cpu_hours": 0.0,
            "wall_hours": 0.0,
            "normalised_cpu_hs06_hours": 0.0,
            "jobs_without_benchmark": 0,
            "cpu_efficiency_percent": None,
        }
    }


# --- throughput ---------------------------------------------------------------------------------


def test_throughput_hand_computed(conn: psycopg.Connection) -> None:
    report = _report(
        conn,
        "throughput",
        sections=("vo",),
        since=datetime(2024, 12, 29, tzinfo=UTC),
        until=datetime(2025, 2, 2, tzinfo=UTC),
    )
    assert isinstance(report, reports.ThroughputReport)
    assert report.period_hours == 35 * 24
    (vo,) = report.sections
    atlas, cms = vo.rows
    assert atlas.model_dump() == {
        "name": "atlas",
        "jobs": 2,
        "jobs_per_hour": 0.0024,  # 2 / 840
        "jobs_with_submit_time": 2,
        "jobs_without_submit_time": 0,
        "turnaround_avg_seconds": 6600.0,  # (4200 + 9000) / 2
        "turnaround_min_seconds": 4200.0,
        "turnaround_max_seconds": 9000.0,
        "wait_avg_seconds": 1200.0,
        "wait_min_seconds": 600.0,
        "wait_max_seconds": 1800.0,
    }
    # J3 has no submit time: counted, not in the times.
    assert (cms.jobs, cms.jobs_with_submit_time, cms.jobs_without_submit_time) == (2, 1, 1)
    assert (cms.turnaround_avg_seconds, cms.wait_max_seconds) == (3600.0, 0.0)
    total = vo.total
    assert (total.name, total.jobs, total.jobs_without_submit_time) == ("TOTAL", 4, 1)
    assert total.turnaround_avg_seconds == 5600.0  # (4200 + 9000 + 3600) / 3
    assert (total.wait_avg_seconds, total.wait_min_seconds) == (800.0, 0.0)


def test_throughput_period_defaults_to_the_end_times(conn: psycopg.Connection) -> None:
    report = _report(conn, "throughput", sections=("user",), user="alice")
    assert isinstance(report, reports.ThroughputReport)
    assert report.period_start == JOBS[0]["end_time"]
    assert report.period_end == JOBS[1]["end_time"]
    assert report.period_hours == 1.0
    assert report.sections[0].total.jobs_per_hour == 2.0


def test_throughput_without_any_submit_time(conn: psycopg.Connection) -> None:
    report = _report(conn, "throughput", sections=("user",), host="wn3")
    assert isinstance(report, reports.ThroughputReport)
    total = report.sections[0].total
    assert (total.jobs, total.jobs_without_submit_time, total.turnaround_avg_seconds) == (
        1,
        1,
        None,
    )
    assert total.jobs_per_hour is None  # a period of one instant has no rate


# --- long and extended --------------------------------------------------------------------------


def test_long_one_row_per_job(conn: psycopg.Connection) -> None:
    report = _report(conn, "long")
    assert isinstance(report, reports.JobReport)
    assert [j.local_job_id for j in report.jobs] == ["J1", "J2", "J3", "J4"]
    assert not report.truncated
    j2, j3 = report.jobs[1], report.jobs[2]
    assert (j2.processors, j2.cpu_efficiency_percent, j2.normalised_cpu_hs06_seconds) == (
        4,
        50.0,
        144000,
    )
    assert (j2.local_user_group, j2.account, j2.submit_host, j2.machine_name) == (
        "g1",
        "acc1",
        "ce1",
        "m1",
    )
    assert j2.submit_time == datetime(2024, 12, 29, 22, 0, tzinfo=UTC)  # start 22:30 - 1800 s
    assert (j3.normalised_cpu_hs06_seconds, j3.submit_time, j3.hosts) == (None, None, None)


def test_long_limit(conn: psycopg.Connection) -> None:
    report = _report(conn, "long", limit=3)
    assert isinstance(report, reports.JobReport)
    assert len(report.jobs) == 3
    assert report.truncated
    assert reports.last_job_key(report) == (JOBS[2]["end_time"], "SITE-A", "J3", "m1")


def test_extended_splits_time_evenly_over_the_host_list(conn: psycopg.Connection) -> None:
    report = _report(conn, "extended")
    assert isinstance(report, reports.JobReport)
    hosts = {j.local_job_id: [h.model_dump() for h in j.hosts or []] for j in report.jobs}
    assert hosts["J1"] == [{"host": "wn1", "wall_seconds": 3600.0, "cpu_seconds": 3600.0}]
    # Four slots on two hosts: half each.
    assert hosts["J2"] == [
        {"host": "wn1", "wall_seconds": 3600.0, "cpu_seconds": 7200.0},
        {"host": "wn2", "wall_seconds": 3600.0, "cpu_seconds": 7200.0},
    ]
    assert [h["wall_seconds"] for h in hosts["J3"]] == [600.0, 600.0, 600.0]
    assert hosts["J4"] == []
    totals = {h.host: (h.jobs, h.wall_seconds, h.cpu_seconds) for h in report.host_totals or []}
    assert totals == {
        "wn1": (2, 7200.0, 10800.0),
        "wn2": (1, 3600.0, 7200.0),
        "wn3": (1, 600.0, 300.0),
        "wn4": (1, 600.0, 300.0),
        "wn5": (1, 600.0, 300.0),
    }
    assert report.jobs_without_exec_hosts == 1
    assert report.host_split_note == reports.HOST_SPLIT_NOTE


# --- CLI ----------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(report_db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("BATCHACCT_DATABASE_URL", report_db)
    monkeypatch.setenv("BATCHACCT_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("BATCHACCT_HOME", str(tmp_path))


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["report", *argv])
    out, err = capsys.readouterr()
    code = exit_info.value.code
    assert isinstance(code, int)
    return code, out, err


@pytest.mark.usefixtures("cli_env")
def test_cli_table_csv_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "--by", "user,month")
    assert code == 0
    assert "short report by user" in out and "short report by month" in out
    assert "TOTAL" in out and "HS06-hours" in out and "55.56" in out

    code, out, _ = _cli(capsys, "--by", "vo", "--csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["name"] for r in rows] == ["atlas", "cms", "TOTAL"]
    assert rows[-1] == {
        "section": "vo",
        "name": "TOTAL",
        "jobs": "4",
        "cpu_hours": "5.75",
        "wall_hours": "4.5",
        "normalised_cpu_hs06_hours": "55.0",
        "jobs_without_benchmark": "1",
        "cpu_efficiency_percent": "54.76",
    }

    code, out, _ = _cli(capsys, "--throughput", "--by", "user", "--json", "--user", "alice")
    assert code == 0
    data = json.loads(out)
    assert data["report"] == "throughput"
    assert data["period_start"] == "2024-12-29T23:30:00Z"
    assert data["sections"][0]["total"]["wait_avg_seconds"] == 1200.0


@pytest.mark.usefixtures("cli_env")
def test_cli_long_and_extended(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "--long", "--limit", "2", "--json")
    assert code == 0
    data = json.loads(out)
    assert [j["local_job_id"] for j in data["jobs"]] == ["J1", "J2"]
    assert data["truncated"] is True

    code, out, _ = _cli(capsys, "--extended", "--csv", "--host", "wn3")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["local_job_id"], r["exec_host"], r["host_cpu_seconds"]) for r in rows] == [
        ("J3", "wn3", "300.0"),
        ("J3", "wn4", "300.0"),
        ("J3", "wn5", "300.0"),
    ]
    assert rows[0]["normalised_cpu_hs06_seconds"] == ""  # no benchmark

    code, out, _ = _cli(capsys, "--long", "--invalid-only", "--csv")
    assert code == 0
    assert [r["local_job_id"] for r in csv.DictReader(io.StringIO(out))] == ["J4"]

    code, out, _ = _cli(capsys, "--extended")
    assert code == 0
    assert "split evenly" in out and "wn5" in out


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--by", "user,colour"], "--by: unknown section(s) 'colour'"),
        (["--by", "vo,vo"], "--by: section(s) repeated: vo"),
        (["--since", "2025-02-01", "--until", "2025-01-01"], "--until: must be after since"),
        (["--limit", "0"], "--limit: must be at least 1"),
    ],
)
def test_cli_bad_parameters(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = _cli(capsys, *argv)
    assert code == 2
    assert message in err
    assert out == ""


def test_cli_bad_date(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "--since", "yesterday-ish")
    assert code == 2
    assert "is not a date" in err


# --- API ----------------------------------------------------------------------------------------


def test_api_short(api: TestClient) -> None:
    response = api.get("/api/v1/reports/short", params={"by": "user,week", "site": "SITE-A"})
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["report"] == "short"
    user, week = data["sections"]
    assert user["total"]["cpu_efficiency_percent"] == 54.76
    assert [r["name"] for r in week["rows"]] == ["2024-W52", "2025-W01", "2025-W05"]
    assert data["filters"]["site"] == "SITE-A"


def test_api_default_sections(api: TestClient) -> None:
    data = api.get("/api/v1/reports/short").json()
    assert [s["section"] for s in data["sections"]] == list(reports.DEFAULT_SECTIONS)


def test_api_throughput(api: TestClient) -> None:
    response = api.get(
        "/api/v1/reports/throughput",
        params={"by": "vo", "since": "2024-12-29", "until": "2025-02-02T00:00:00Z"},
    )
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["period_hours"] == 840
    assert data["sections"][0]["total"]["turnaround_avg_seconds"] == 5600.0


def test_api_long_pages_with_a_cursor(api: TestClient) -> None:
    first = api.get("/api/v1/reports/long", params={"limit": 3}).json()
    assert [j["local_job_id"] for j in first["jobs"]] == ["J1", "J2", "J3"]
    assert first["jobs"][0]["end_time"] == "2024-12-29T23:30:00Z"
    assert first["next_cursor"]
    second = api.get(
        "/api/v1/reports/long", params={"limit": 3, "cursor": first["next_cursor"]}
    ).json()
    assert [j["local_job_id"] for j in second["jobs"]] == ["J4"]
    assert second["next_cursor"] is None and second["truncated"] is False


def test_api_invalid_only(api: TestClient) -> None:
    data = api.get("/api/v1/reports/long", params={"invalid_only": "true"}).json()
    assert [j["local_job_id"] for j in data["jobs"]] == ["J4"]
    assert data["filters"]["invalid_only"] is True
    bad = api.get("/api/v1/reports/long", params={"invalid_only": "perhaps"})
    assert bad.status_code == 422


def test_api_extended(api: TestClient) -> None:
    data = api.get("/api/v1/reports/extended", params={"host": "wn1"}).json()
    assert [j["local_job_id"] for j in data["jobs"]] == ["J1", "J2"]
    assert data["jobs"][1]["hosts"][1] == {
        "host": "wn2",
        "wall_seconds": 3600.0,
        "cpu_seconds": 7200.0,
    }
    assert data["host_split_note"]


@pytest.mark.parametrize(
    ("path", "params", "param", "message"),
    [
        ("short", {"by": "user,colour"}, "by", "unknown section(s) 'colour'"),
        ("short", {"by": "user;DROP TABLE job_records"}, "by", "unknown section(s)"),
        ("throughput", {"by": "vo,vo"}, "by", "repeated"),
        ("short", {"since": "not-a-date"}, "since", ""),
        ("short", {"since": "2025-02-01", "until": "2025-01-01"}, "until", "must be after since"),
        ("short", {"user": "al\x00ice"}, "user", "NUL"),
        ("short", {"host": "wn\x001"}, "host", "NUL"),
        ("long", {"limit": "0"}, "limit", ""),
        ("long", {"cursor": "garbage"}, "cursor", "invalid cursor"),
        ("short", {"vo": "x" * 600}, "vo", ""),
    ],
)
def test_api_bad_parameters(
    api: TestClient, path: str, params: dict[str, str], param: str, message: str
) -> None:
    response = api.get(f"/api/v1/reports/{path}", params=params)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"][-1] == param
    assert message in error["msg"]


def test_api_unknown_report_type(api: TestClient) -> None:
    response = api.get("/api/v1/reports/summary")
    assert response.status_code == 422
    assert "short" in response.text and "throughput" in response.text


def test_api_requires_a_read_token(report_db: str) -> None:
    admin_only = create_token(report_db, "reports-admin-only", ["admin"])
    with make_client(report_db) as client:
        assert client.get("/api/v1/reports/short").status_code == 401
        bad = client.get("/api/v1/reports/short", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401
        no_read = client.get(
            "/api/v1/reports/short", headers={"Authorization": f"Bearer {admin_only}"}
        )
        assert no_read.status_code == 403


def test_report_changes_no_rows(report_db: str) -> None:
    """The report leaves the job records as they were (it runs read-only)."""
    with db.connect(report_db, autocommit=True) as conn:
        before = conn.execute("SELECT count(*), sum(cpu_duration) FROM job_records").fetchone()
        _report(conn, "short", user="x'); DELETE FROM job_records; --")
        after = conn.execute("SELECT count(*), sum(cpu_duration) FROM job_records").fetchone()
    assert before == after == (4, 20700)

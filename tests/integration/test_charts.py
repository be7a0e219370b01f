"""Chart data, `batchacct plot` and /api/v1/charts against the real PostgreSQL.

Every expected number below is worked out by hand from the jobs inserted by ``charts_db``.
"""

from __future__ import annotations

import struct
import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from batchacct import charts, cli, db, stack
from batchacct.job_filters import JobFilters, ParameterError
from batchacct.tokens import create_token
from batchacct_api.app import create_app
from batchacct_api.settings import ApiSettings

from .conftest import TEMPLATE_DB
from .test_api import insert_job

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r".*install `httpx2`")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SITE_A = JobFilters(site="SITE-A")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def job(
    conn: psycopg.Connection, *, start: str, end: str, cpu: int, **fields: Any
) -> dict[str, Any]:
    start_time, end_time = at(start), at(end)
    wall = int((end_time - start_time).total_seconds())
    return insert_job(
        conn,
        start_time=start_time,
        end_time=end_time,
        wall_duration=wall,
        cpu_duration=cpu,
        **fields,
    )


def insert_charts_jobs(conn: psycopg.Connection) -> None:
    # SITE-A: four jobs around the January/February 2024 boundary (UTC).
    # A: atlas, 1 h wall on 2 cores, 2 CPU h, waited 30 min, 10 HS06-h.
    job(conn, start="2024-01-31T22:30", end="2024-01-31T23:30", cpu=7200, processors=2,
        submit_time=at("2024-01-31T22:00"), normalised_cpu_duration=36000)  # fmt: skip
    # B: atlas, 2 h wall on 1 core, ends 30 min into February, waited 2 h, 5 HS06-h.
    job(conn, start="2024-01-31T22:30", end="2024-02-01T00:30", cpu=3600, processors=1,
        submit_time=at("2024-01-31T20:30"), normalised_cpu_duration=18000)  # fmt: skip
    # C: cms, 3 h wall on 4 cores, 1.5 CPU h; no submit time, no benchmark.
    job(conn, start="2024-02-01T09:00", end="2024-02-01T12:00", cpu=5400, processors=4, vo="cms")
    # D: no VO, 30 min wall, processors unknown, no wait, 2.5 HS06-h.
    job(conn, start="2024-02-02T05:30", end="2024-02-02T06:00", cpu=1800, vo=None,
        submit_time=at("2024-02-02T05:30"), normalised_cpu_duration=9000, queue="long",
        exec_hosts=["wn17.example.org"])  # fmt: skip
    # SITE-B: jobs running across day edges (only for jobs_started_and_running).
    for start, end in (
        ("2024-01-30T12:00", "2024-02-02T12:00"),  # E: running at 01-31, 02-01, 02-02
        ("2024-02-01T00:00", "2024-02-01T06:00"),  # F: starts on the 02-01 edge: running at it
        ("2024-01-31T10:00", "2024-02-01T00:00"),  # G: ends on the 02-01 edge: not running at it
    ):
        job(conn, start=start, end=end, cpu=60, site="SITE-B", processors=1)


@pytest.fixture(scope="module")
def charts_db(stack_info: stack.StackInfo) -> Iterator[str]:
    """One database with the jobs above, shared by the tests that only read."""
    name = "t_charts_" + uuid.uuid4().hex[:12]
    base = stack_info.database_url.rsplit("/", 1)[0]
    with db.connect(base + "/postgres", autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(TEMPLATE_DB)
            )
        )
    url = f"{base}/{name}"
    with db.connect(url, autocommit=True) as conn:
        insert_charts_jobs(conn)
    yield url
    with db.connect(base + "/postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def conn(charts_db: str) -> Iterator[psycopg.Connection]:
    with db.connect(charts_db, autocommit=True) as c:
        # Bins are UTC whatever the session's time zone: B (00:30 UTC) is still January here.
        c.execute("SET TimeZone = 'America/New_York'")
        yield c


def values_by_label(chart: charts.Chart) -> dict[str, list[float]]:
    return {s["label"]: s["values"] for s in chart["series"]}


# --- Chart data ---------------------------------------------------------------------------------


def test_cpu_hours_by_vo_daily_bins_are_utc_and_stacked(conn: psycopg.Connection) -> None:
    chart = charts.cpu_hours_by_vo(conn, SITE_A)
    assert chart["kind"] == "stacked"
    assert chart["unit"] == "hours"
    assert chart["x"] == ["2024-01-31", "2024-02-01", "2024-02-02"]
    assert chart["x_label"] == "day (UTC)"
    # Largest VO first (the bottom of the stack).
    assert [s["label"] for s in chart["series"]] == ["atlas", "cms", "(no VO)"]
    assert values_by_label(chart) == {
        "atlas": [2.0, 1.0, 0.0],
        "cms": [0.0, 1.5, 0.0],
        "(no VO)": [0.0, 0.0, 0.5],
    }
    assert "4 jobs, 5.0 hours in total" in chart["notes"][0]


def test_cpu_hours_monthly_bins_cover_the_requested_range(conn: psycopg.Connection) -> None:
    filters = JobFilters(site="SITE-A", since=at("2022-01-01"), until=at("2024-06-01"))
    chart = charts.cpu_hours_by_vo(conn, filters)
    assert chart["x_label"] == "month (UTC)"
    assert len(chart["x"]) == 29  # 2022-01 .. 2024-05, empty months included
    assert chart["x"][0] == "2022-01-01"
    assert chart["x"][-1] == "2024-05-01"
    january = chart["x"].index("2024-01-01")
    assert chart["x"][january + 1] == "2024-02-01"
    values = values_by_label(chart)
    assert values["atlas"][january : january + 2] == [2.0, 1.0]
    assert values["cms"][january : january + 2] == [0.0, 1.5]
    assert sum(values["atlas"]) == 3.0


def test_weekly_bins_start_on_monday(conn: psycopg.Connection) -> None:
    filters = JobFilters(site="SITE-A", since=at("2023-12-01"), until=at("2024-06-01"))
    chart = charts.cpu_hours_by_vo(conn, filters)
    assert chart["x_label"] == "week (UTC, from Monday)"
    assert chart["x"][0] == "2023-11-27"  # the Monday of the week holding Dec 1
    week = chart["x"].index("2024-01-29")  # Jan 31 - Feb 2 are all in this week
    assert values_by_label(chart)["atlas"][week] == 3.0
    assert sum(sum(s["values"]) for s in chart["series"]) == 5.0


def test_normalised_hours_leave_out_jobs_without_benchmark(conn: psycopg.Connection) -> None:
    chart = charts.normalised_hours_by_vo(conn, SITE_A)
    assert chart["unit"] == "HS06-hours"
    assert values_by_label(chart) == {"atlas": [10.0, 5.0, 0.0], "(no VO)": [0.0, 0.0, 2.5]}
    assert any(
        "1 jobs without a benchmark are not included (1.5 CPU hours)" in n for n in chart["notes"]
    )


def test_wall_time_histogram_edges(conn: psycopg.Connection) -> None:
    chart = charts.wall_time_distribution(conn, SITE_A)
    # Walls 0.5, 1, 2 and 3 h: quarter-hour bins [0, 0.25), ... [3.0, 3.25).
    assert chart["kind"] == "histogram"
    assert chart["x_label"] == "wall time (hours)"
    assert chart["x"] == [i * 0.25 for i in range(14)]
    counts = chart["series"][0]["values"]
    assert len(counts) == 13
    assert {i: c for i, c in enumerate(counts) if c} == {2: 1, 4: 1, 8: 1, 12: 1}


def test_wait_time_histogram_counts_jobs_without_submit_time(conn: psycopg.Connection) -> None:
    chart = charts.wait_time_distribution(conn, SITE_A)
    # Waits 30 min, 2 h and 0 (C has no submit time): 10-minute bins up to 130 minutes.
    assert chart["x_label"] == "wait time, start − submit (minutes)"
    assert chart["x"] == [i * 10 for i in range(14)]
    counts = chart["series"][0]["values"]
    assert {i: c for i, c in enumerate(counts) if c} == {0: 1, 3: 1, 12: 1}
    assert "3 jobs with a submit time" in chart["notes"]
    assert "1 jobs without a submit time are not included" in chart["notes"]


def test_jobs_started_and_running_at_day_edges(conn: psycopg.Connection) -> None:
    chart = charts.jobs_started_and_running(conn, JobFilters(site="SITE-B"))
    assert chart["x"] == ["2024-01-30", "2024-01-31", "2024-02-01", "2024-02-02"]
    started, running = chart["series"]
    assert started["values"] == [1.0, 1.0, 1.0, 0.0]
    # start <= t < end: F (starting at 02-01 00:00) counts there, G (ending then) does not.
    assert running["values"] == [0.0, 1.0, 2.0, 1.0]


def test_cpu_efficiency_uses_every_processor(conn: psycopg.Connection) -> None:
    chart = charts.cpu_efficiency_by_vo(conn, SITE_A)
    # Ordered by core-wall time: cms 12 core-h, atlas 4, no VO 0.5.
    assert chart["x"] == ["cms", "atlas", "(no VO)"]
    # cms 1.5 / (3 × 4); atlas (2 + 1) / (1 × 2 + 2 × 1); no VO: processors unknown -> 1.
    assert chart["series"][0]["values"] == [12.5, 75.0, 100.0]
    assert "all VOs: 30.3 %" in chart["notes"]
    assert "1 jobs without a processor count: counted as 1" in chart["notes"]


def test_filters_select_the_jobs(conn: psycopg.Connection) -> None:
    by_host = charts.cpu_hours_by_vo(conn, JobFilters(host="wn17.example.org"))
    assert values_by_label(by_host) == {"(no VO)": [0.5]}
    by_queue = charts.cpu_efficiency_by_vo(conn, JobFilters(site="SITE-A", queue="short"))
    assert by_queue["x"] == ["cms", "atlas"]
    by_vo = charts.cpu_hours_by_vo(conn, JobFilters(site="SITE-A", vo="cms"))
    assert values_by_label(by_vo) == {"cms": [1.5]}
    window = JobFilters(site="SITE-A", since=at("2024-02-01"), until=at("2024-02-02"))
    assert values_by_label(charts.cpu_hours_by_vo(conn, window)) == {"atlas": [1.0], "cms": [1.5]}


def test_invalid_only_counts_the_jobs_whose_account_failed_validation(
    conn: psycopg.Connection,
) -> None:
    invalid_only = JobFilters(site="SITE-A", invalid_only=True)
    assert charts.cpu_hours_by_vo(conn, invalid_only)["series"] == []  # none failed
    with conn.transaction(force_rollback=True):
        conn.execute("UPDATE job_records SET account_valid = false WHERE vo = 'cms'")
        assert values_by_label(charts.cpu_hours_by_vo(conn, invalid_only)) == {"cms": [1.5]}


def test_no_matching_jobs_gives_an_empty_chart(conn: psycopg.Connection) -> None:
    for name in charts.CHARTS:
        chart = charts.compute(conn, name, JobFilters(site="nowhere"))
        assert chart["series"] == []
        assert chart["x"] == []
        assert chart["notes"][0] == "no jobs match the filters"


def test_bad_filters_are_refused(conn: psycopg.Connection) -> None:
    backwards = JobFilters(since=at("2024-02-01"), until=at("2024-01-01"))
    with pytest.raises(ParameterError, match="until: must be after since") as err:
        charts.compute(conn, "cpu_hours_by_vo", backwards)
    assert err.value.param == "until"
    with pytest.raises(ParameterError, match="name: unknown chart; charts: cpu_hours_by_vo") as err:
        charts.compute(conn, "pie")
    assert err.value.value == "pie"


# --- batchacct plot -----------------------------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def run_cli(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as done:
        cli.main(argv)
    code = done.value.code
    assert isinstance(code, int)
    return code


@pytest.fixture
def plot_env(
    charts_db: str, stack_info: stack.StackInfo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Path:
    monkeypatch.setenv("BATCHACCT_KAFKA_BOOTSTRAP_SERVERS", stack_info.bootstrap_servers)
    monkeypatch.setenv("BATCHACCT_DATABASE_URL", charts_db)
    monkeypatch.setenv("BATCHACCT_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    return tmp_path


def test_plot_writes_a_png(plot_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = plot_env / "cpu.png"
    assert run_cli(["plot", "cpu_hours_by_vo", "--site", "SITE-A", "--output", str(out)]) == 0
    assert png_size(out) == (1100, 600)
    assert out.stat().st_size > 10_000
    assert f"{out}: CPU hours by VO" in capsys.readouterr().out


def test_plot_all_writes_every_chart(plot_env: Path) -> None:
    out_dir = plot_env / "plots"
    out_dir.mkdir()
    argv = ["plot", "--all", "--output-dir", str(out_dir), "--since", "2024-01-01"]
    assert run_cli(argv) == 0
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(f"{n}.png" for n in charts.CHARTS)
    for path in out_dir.iterdir():
        assert png_size(path) == (1100, 600)


def test_plot_json(plot_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["plot", "cpu_efficiency_by_vo", "--site", "SITE-A", "--json"]) == 0
    assert '"x": ["cms", "atlas", "(no VO)"]' in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["plot"], "give a chart NAME or --all"),
        (["plot", "pie"], "invalid choice: 'pie'"),
        (["plot", "--all", "--output", "x.png"], "give --output-dir, not --output"),
        (["plot", "cpu_hours_by_vo", "--since", "yesterday"], "'yesterday' is not a date"),
        (
            ["plot", "cpu_hours_by_vo", "--since", "2024-02-01", "--until", "2024-01-01"],
            "--until: must be after since",
        ),
        (["plot", "cpu_hours_by_vo", "--output-dir", "no/such/dir"], "no such directory"),
    ],
)
def test_plot_refuses_bad_arguments(
    plot_env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert run_cli(argv) == 2
    assert message in capsys.readouterr().err


# --- /api/v1/charts -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chart_api(charts_db: str) -> Iterator[TestClient]:
    token = create_token(charts_db, "charts-read", ["read"])
    with TestClient(create_app(ApiSettings(database_url=charts_db))) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def test_api_lists_the_charts(chart_api: TestClient) -> None:
    response = chart_api.get("/api/v1/charts")
    assert response.status_code == 200
    items = response.json()["items"]
    assert [i["name"] for i in items] == list(charts.CHARTS)
    assert items[0] == {"name": "cpu_hours_by_vo", "title": "CPU hours by VO", "kind": "stacked"}


def test_api_serves_the_same_data_as_the_cli(chart_api: TestClient, charts_db: str) -> None:
    params = {"site": "SITE-A", "since": "2024-01-01T00:00:00", "until": "2024-03-01T00:00:00Z"}
    response = chart_api.get("/api/v1/charts/cpu_hours_by_vo", params=params)
    assert response.status_code == 200
    with db.connect(charts_db, autocommit=True) as c:
        expected = charts.cpu_hours_by_vo(
            c, JobFilters(site="SITE-A", since=at("2024-01-01"), until=at("2024-03-01"))
        )
    assert response.json() == expected
    histogram = chart_api.get("/api/v1/charts/wall_time_distribution", params={"site": "SITE-A"})
    assert histogram.json()["x"][:3] == [0.0, 0.25, 0.5]


@pytest.mark.parametrize(
    ("path", "params", "loc"),
    [
        ("/api/v1/charts/pie", {}, ["path", "name"]),
        ("/api/v1/charts/cpu_hours_by_vo", {"since": "last tuesday"}, ["query", "since"]),
        ("/api/v1/charts/cpu_hours_by_vo", {"site": "a\x00b"}, ["query", "site"]),
        ("/api/v1/charts/cpu_hours_by_vo", {"host": "h" * 600}, ["query", "host"]),
        (
            "/api/v1/charts/cpu_hours_by_vo",
            {"since": "2024-02-01", "until": "2024-01-01"},
            ["query", "until"],
        ),
    ],
)
def test_api_refuses_bad_requests(
    chart_api: TestClient, path: str, params: dict[str, str], loc: list[str]
) -> None:
    response = chart_api.get(path, params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


def test_api_charts_need_a_read_token(charts_db: str) -> None:
    with TestClient(create_app(ApiSettings(database_url=charts_db))) as client:
        assert client.get("/api/v1/charts").status_code == 401
        assert client.get("/api/v1/charts/cpu_hours_by_vo").status_code == 401
        client.headers["Authorization"] = "Bearer not-a-token"
        assert client.get("/api/v1/charts/cpu_hours_by_vo").status_code == 401


def test_api_empty_chart(chart_api: TestClient) -> None:
    response = chart_api.get("/api/v1/charts/jobs_started_and_running", params={"vo": "nobody"})
    assert response.status_code == 200
    assert response.json()["series"] == []
    # The reports' filters, invalid_only too: no job of charts_db failed validation.
    params = {"site": "SITE-A", "invalid_only": "true"}
    invalid_only = chart_api.get("/api/v1/charts/cpu_hours_by_vo", params=params)
    assert invalid_only.status_code == 200
    assert invalid_only.json()["notes"] == ["no jobs match the filters"]

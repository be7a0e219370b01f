"""The publisher as administrators run it: the batchacct-publisher service, `batchacct publish`
and `batchacct publications`, and GET /api/v1/publications."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from batchacct.cli import main as cli_main
from batchacct.publisher import Outputs, PublishOptions, publish
from batchacct_api.app import create_app
from batchacct_api.settings import ApiSettings
from batchacct_publisher.__main__ import main as publisher_main

from .conftest import Env
from .test_publisher import (
    NOW,
    expected_sync,
    load_site_data,
    read_queue,
    records_of,
    sync_totals,
)

with warnings.catch_warnings():
    # Starlette's TestClient prefers httpx2 (not a dependency here) and warns when it uses httpx.
    warnings.filterwarnings("ignore", message=r".*install `httpx2`")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration


@pytest.fixture
def conn(env: Env) -> Iterator[psycopg.Connection]:
    with env.connect() as c:
        yield c


def exit_code(exited: pytest.ExceptionInfo[SystemExit]) -> int:
    code = exited.value.code
    return code if isinstance(code, int) else 1


# --- batchacct-publisher -------------------------------------------------------------------------


def test_service_once_queues_and_records(
    env_vars: Env, conn: psycopg.Connection, tmp_path: Path
) -> None:
    load_site_data(conn)
    outgoing = tmp_path / "spool" / "outgoing"
    # Real clock: the test data's months (early 2026) are older than the current and previous
    # month, so summaries mode sends their sync records only; jobs mode sends the jobs.
    publisher_main(["--once", "--outgoing", str(outgoing), "--site", "SITE-A"])
    now = datetime.now(UTC)
    parsed = read_queue(outgoing, now=now)
    assert {m.kind for m in parsed.values()} == {"sync"}
    assert sync_totals(records_of(parsed, "sync")) == {
        k: v
        for k, v in expected_sync(conn, "infrastructure_type = 'grid'").items()
        if k[0] == "SITE-A"
    }
    jobs_mode = [
        "--mode",
        "jobs",
        "--jobs",
        "latest",
        "--message-version",
        "v0.4",
        "--withhold-dns",
    ]
    publisher_main(["--once", *jobs_mode, "--outgoing", str(tmp_path / "jobs")])
    jobs = records_of(read_queue(tmp_path / "jobs", now=now), "job")
    assert len(jobs) == 70 and {j["global_user_name"] for j in jobs} == {"withheld"}
    rows = conn.execute("SELECT count(DISTINCT run_id), count(*) FROM publications").fetchone()
    assert (
        rows is not None
        and rows[0] == 2
        and rows[1] == len(parsed) + len(read_queue(tmp_path / "jobs", now=now))
    )
    assert conn.execute("SELECT name FROM publisher_cursors").fetchall() == [("jobs",)]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--withhold-dns"], "not with summaries"),
        (["--mode", "jobs", "--message-version", "v0.2"], "jobs are sent as v0.3, v0.4"),
        (["--mode", "jobs", "--jobs", "gap", "--from", "2026-01-01"], "needs both dates"),
        ([], "nowhere to publish"),
    ],
)
def test_service_refuses_options_that_do_not_go_together(
    env_vars: Env,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    outgoing = ["--outgoing", str(tmp_path)] if argv else []
    with pytest.raises(SystemExit) as exited:
        publisher_main(["--once", *outgoing, *argv])
    assert exit_code(exited) == 2
    assert message in capsys.readouterr().err


def test_service_exits_when_postgres_or_kafka_is_unreachable(
    env_vars: Env,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("BATCHACCT_STARTUP_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("BATCHACCT_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    # Kafka is checked only when the Kafka output is asked for.
    publisher_main(["--once", "--outgoing", str(tmp_path)])
    with pytest.raises(SystemExit) as exited:
        publisher_main(["--once", "--kafka"])
    assert exit_code(exited) == 1
    assert "cannot reach the Kafka broker" in capsys.readouterr().err

    monkeypatch.setenv("BATCHACCT_DATABASE_URL", "postgresql://batchacct:s3cret@127.0.0.1:1/x")
    with pytest.raises(SystemExit) as exited:
        publisher_main(["--once", "--outgoing", str(tmp_path)])
    assert exit_code(exited) == 1
    err = capsys.readouterr().err
    assert "cannot reach PostgreSQL" in err and "s3cret" not in err


# --- batchacct publish / publications ----------------------------------------------------------


def test_cli_publish_resends_exactly_one_month(
    env_vars: Env, conn: psycopg.Connection, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    load_site_data(conn)
    outgoing = tmp_path / "outgoing"
    with pytest.raises(SystemExit) as exited:
        cli_main(["publish", "--site", "SITE-A", "--month", "2026-02", "--outgoing", str(outgoing)])
    assert exit_code(exited) == 0
    assert "dirq: 1 summary message" in capsys.readouterr().out
    parsed = read_queue(outgoing, now=datetime.now(UTC))
    periods = {(r["site"], r["year"], r["month"]) for m in parsed.values() for r in m.records}
    assert periods == {("SITE-A", 2026, 2)}
    summary_jobs = sum(r["number_of_jobs"] for r in records_of(parsed, "summary"))
    assert summary_jobs == 20 == sum(r["number_of_jobs"] for r in records_of(parsed, "sync"))

    with pytest.raises(SystemExit) as exited:
        cli_main(["publish", "--site", "SITE-A", "--month", "2026-02", "--dry-run"])
    assert exit_code(exited) == 0
    printed = capsys.readouterr()
    assert printed.out.startswith("APEL-summary-job-message: v0.2\n")
    assert "dry run: nothing queued or recorded" in printed.err

    with pytest.raises(SystemExit) as exited:
        cli_main(["publications", "--site", "SITE-A"])
    assert exit_code(exited) == 0
    table = capsys.readouterr().out
    assert f"publications ({len(parsed)} shown" in table and "2026-02" in table

    with pytest.raises(SystemExit) as exited:
        cli_main(["publish", "--site", "SITE-A", "--month", "2099-01", "--outgoing", str(outgoing)])
    assert exit_code(exited) == 2
    assert "has not begun" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        cli_main(["publish", "--site", "SITE-A", "--month", "2026-13", "--dry-run"])
    assert exit_code(exited) == 2


# --- GET /api/v1/publications -------------------------------------------------------------------


@pytest.fixture
def published(conn: psycopg.Connection, tmp_path: Path) -> int:
    """Two runs' publication rows (SITE-A and SITE-B messages); returns how many."""
    load_site_data(conn)
    publish(conn, PublishOptions(), Outputs(outgoing=tmp_path, fsync=False), now=NOW)
    publish(
        conn, PublishOptions(sites=("SITE-B",)), Outputs(outgoing=tmp_path, fsync=False), now=NOW
    )
    row = conn.execute("SELECT count(*) FROM publications").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    with TestClient(create_app(ApiSettings(database_url=env.database_url))) as c:
        yield c


def test_api_publications(
    client: TestClient, read_token: str, published: int, conn: psycopg.Connection
) -> None:
    assert client.get("/api/v1/publications").status_code == 401
    client.headers["Authorization"] = f"Bearer {read_token}"
    everything = client.get("/api/v1/publications", params={"limit": 1000}).json()
    assert len(everything["items"]) == published and everything["next_cursor"] is None
    item = everything["items"][0]
    assert item["status"] == "queued" and item["destination"] == "dirq"
    assert item["message_id"] and item["queued_at"].endswith("Z")

    pages, cursor = [], None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/publications", params=params).json()
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [i["id"] for p in pages for i in p] == [i["id"] for i in everything["items"]]
    assert all(len(p) <= 2 for p in pages) and len(pages) == (published + 1) // 2

    site_b = client.get("/api/v1/publications", params={"site": "SITE-B", "limit": 1000}).json()
    expected_b = conn.execute(
        "SELECT count(*) FROM publications WHERE 'SITE-B' = ANY(sites)"
    ).fetchone()
    assert expected_b is not None and len(site_b["items"]) == expected_b[0] > 0
    assert all(i["sites"] == ["SITE-B"] for i in site_b["items"])
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert client.get("/api/v1/publications", params={"since": future}).json()["items"] == []
    assert client.get("/api/v1/publications", params={"status": "rejected"}).json()["items"] == []

    for garbage in (
        {"limit": 0},
        {"limit": "many"},
        {"since": "yesterday"},
        {"status": "lost"},
        {"cursor": "not-a-cursor"},
        {"cursor": "eyJrIjoiZmlsZXMiLCJ2IjpbImEiLCJiIl19"},  # a files cursor
        {"site": "A\x00B"},
    ):
        response = client.get("/api/v1/publications", params=garbage)
        assert response.status_code == 422, (garbage, response.text)

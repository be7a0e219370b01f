"""The HTTP API against the real PostgreSQL (rows inserted with SQL, no mocks)."""

from __future__ import annotations

import base64
import itertools
import json
import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from batchacct import db, stack
from batchacct.tokens import create_token, token_hash
from batchacct_api.__main__ import main, settings_for_log
from batchacct_api.app import create_app
from batchacct_api.settings import ApiSettings

from .conftest import TEMPLATE_DB, Env

with warnings.catch_warnings():
    # Starlette's TestClient prefers httpx2 (not a dependency here) and warns when it uses httpx.
    warnings.filterwarnings("ignore", message=r".*install `httpx2`")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration

T0 = datetime(2024, 1, 30, 12, 0, tzinfo=UTC)
UNREACHABLE_DSN = "postgresql://postgres:s3cret@127.0.0.1:1/x"
_job_ids = itertools.count(1)


def insert_job(conn: psycopg.Connection, **fields: Any) -> dict[str, Any]:
    """Insert one job_records row; ``fields`` override sensible defaults. Returns the row."""
    end_time = fields.get("end_time", T0)
    wall = fields.get("wall_duration", 3600)
    row: dict[str, Any] = {
        "site": "SITE-A",
        "local_job_id": str(next(_job_ids)),
        "end_time": end_time,
        "machine_name": "ce01.example.org",
        "start_time": end_time - timedelta(seconds=wall),
        "wall_duration": wall,
        "cpu_duration": 3000,
        "infrastructure_type": "grid",
        "vo": "atlas",
        "local_user_id": "alice",
        "queue": "short",
        "source_format": "lsf",
        "source_file": "/var/log/lsb.acct",
        "source_line": 1,
        **fields,
    }
    conn.execute(
        sql.SQL("INSERT INTO job_records ({}) VALUES ({})").format(
            sql.SQL(", ").join(map(sql.Identifier, row)),
            sql.SQL(", ").join(sql.Placeholder() for _ in row),
        ),
        list(row.values()),
    )
    return row


def insert_quarantine(conn: psycopg.Connection, **fields: Any) -> int:
    row: dict[str, Any] = {
        "source_format": "lsf",
        "site": "SITE-A",
        "file": "/var/log/lsb.acct",
        "line": 1,
        "reason": "bad_field",
        "detail": "field 7 is not an integer",
        "raw": '"JOB_FINISH" "10.1" garbage',
        "raw_sha1": "0" * 40,
        **fields,
    }
    cur = conn.execute(
        sql.SQL("INSERT INTO quarantine ({}) VALUES ({}) RETURNING id").format(
            sql.SQL(", ").join(map(sql.Identifier, row)),
            sql.SQL(", ").join(sql.Placeholder() for _ in row),
        ),
        list(row.values()),
    )
    found = cur.fetchone()
    assert found is not None
    return int(found[0])


def make_client(database_url: str, **settings: Any) -> TestClient:
    return TestClient(create_app(ApiSettings(database_url=database_url, **settings)))


@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    with make_client(env.database_url) as c:
        yield c


@pytest.fixture
def api(client: TestClient, read_token: str) -> TestClient:
    """A client that sends a token with the read scope."""
    client.headers["Authorization"] = f"Bearer {read_token}"
    return client


@pytest.fixture
def conn(env: Env) -> Iterator[psycopg.Connection]:
    with env.connect() as c:
        yield c


NO_SCOPE_TOKEN = "no-scope-token"


@pytest.fixture(scope="module")
def shared_db(stack_info: stack.StackInfo) -> Iterator[str]:
    """One database for the tests that only read (a fresh one per test costs ~0.2 s).

    It holds one job, one quarantined line and a token without any scope.
    """
    name = "t_api_" + uuid.uuid4().hex[:12]
    base = stack_info.database_url.rsplit("/", 1)[0]
    create = sql.SQL("CREATE DATABASE {} TEMPLATE {}")
    with db.connect(base + "/postgres", autocommit=True) as admin:
        admin.execute(create.format(sql.Identifier(name), sql.Identifier(TEMPLATE_DB)))
    url = f"{base}/{name}"
    with db.connect(url, autocommit=True) as conn:
        insert_job(conn)
        insert_quarantine(conn)
        conn.execute(
            "INSERT INTO api_tokens (token_sha256, name, scopes) VALUES (%s, 'no-scope', '{}')",
            (token_hash(NO_SCOPE_TOKEN),),
        )
    yield url
    with db.connect(base + "/postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def shared_client(shared_db: str) -> Iterator[TestClient]:
    """A client without a token, on the shared database."""
    with make_client(shared_db) as c:
        yield c


@pytest.fixture(scope="module")
def shared_read_token(shared_db: str) -> str:
    return create_token(shared_db, "shared-read", ["read"])


@pytest.fixture
def shared_api(shared_client: TestClient, shared_read_token: str) -> Iterator[TestClient]:
    """The shared client, sending a token with the read scope for the duration of one test."""
    shared_client.headers["Authorization"] = f"Bearer {shared_read_token}"
    yield shared_client
    del shared_client.headers["Authorization"]


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def job_ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["local_job_id"] for item in response.json()["items"]]


# --- health, readiness, metrics -----------------------------------------------------------------


def test_health_ready_and_metrics(api: TestClient) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}
    assert api.get("/api/v1/jobs", params={"site": "X"}).status_code == 200
    assert api.get("/no/such/path/123").status_code == 404

    metrics = api.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = metrics.text
    assert 'batchacct_api_requests_total{method="GET",route="/api/v1/jobs",status="200"}' in text
    assert 'batchacct_api_requests_total{method="GET",route="other",status="404"}' in text
    assert 'batchacct_api_request_duration_seconds_count{method="GET",route="/readyz"}' in text
    assert "/no/such/path" not in text
    assert 'batchacct_build_info{service="api"' in text


def test_not_ready_and_503_when_database_unreachable() -> None:
    with make_client(UNREACHABLE_DSN, db_timeout=0.5) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"status": "not ready", "reason": "database unreachable"}
        # A query during the outage: 503 JSON, no traceback, no connection string.
        jobs = client.get("/api/v1/jobs", headers={"Authorization": "Bearer some-token"})
        assert jobs.status_code == 503
        assert jobs.json() == {"detail": "database unavailable, try again later"}
        # Without a token the request is refused before the database is needed.
        assert client.get("/api/v1/jobs").status_code == 401
        for response in (ready, jobs):
            assert "s3cret" not in response.text and "127.0.0.1" not in response.text


def test_connections_killed_by_the_server_are_replaced(
    api: TestClient, conn: psycopg.Connection
) -> None:
    insert_job(conn)
    assert len(api.get("/api/v1/jobs").json()["items"]) == 1
    killed = conn.execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE application_name = 'batchacct-api' AND datname = current_database()"
    ).fetchone()
    assert killed is not None and killed[0] >= 1
    assert len(api.get("/api/v1/jobs").json()["items"]) == 1
    assert api.get("/readyz").status_code == 200


def test_main_without_settings_exits_2(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BATCHACCT_DATABASE_URL", raising=False)
    monkeypatch.setenv("BATCHACCT_HOME", str(tmp_path))
    with pytest.raises(SystemExit) as exit_info:
        main(["--port", "0"])
    assert exit_info.value.code == 2
    assert "BATCHACCT_DATABASE_URL" in capsys.readouterr().err


def test_logged_settings_hide_the_password() -> None:
    settings = ApiSettings(
        database_url="postgresql://acct:s3cret@db.example.org:5433/acct?sslmode=require",
        kafka_config={"sasl.password": "kafka-s3cret"},
    )
    shown = settings_for_log(settings)
    assert "s3cret" not in json.dumps(shown)
    assert shown["database"] == {
        "host": "db.example.org",
        "port": "5433",
        "dbname": "acct",
        "user": "acct",
        "sslmode": "require",
    }


def test_metrics_and_health_need_no_token(client: TestClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.get(path).status_code == 200, path


# --- auth ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/jobs", "/api/v1/summaries", "/api/v1/quarantine", "/api/v1/openapi.json"]
)
def test_every_api_route_needs_a_read_token(
    shared_client: TestClient, shared_read_token: str, path: str
) -> None:
    client = shared_client
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}):
        missing = client.get(path, headers=headers)
        assert missing.status_code == 401, headers
        assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = client.get(path, headers={"Authorization": "Bearer not-a-token"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
    assert "not-a-token" not in wrong.text
    no_scope = client.get(path, headers={"Authorization": f"Bearer {NO_SCOPE_TOKEN}"})
    assert no_scope.status_code == 403
    assert "read" in no_scope.json()["detail"]
    ok = client.get(path, headers={"Authorization": f"Bearer {shared_read_token}"})
    assert ok.status_code == 200


def test_admin_token_can_read(client: TestClient, admin_token: str) -> None:
    response = client.get("/api/v1/jobs", headers={"Authorization": f"bearer {admin_token}"})
    assert response.status_code == 200


# --- jobs ---------------------------------------------------------------------------------------


def test_job_items_have_every_column_but_update_seq(
    api: TestClient, conn: psycopg.Connection
) -> None:
    insert_job(
        conn,
        local_job_id="42",
        fqans=["/atlas/Role=production", "/atlas"],
        exec_hosts=["wn1", "wn2"],
        submit_time=T0 - timedelta(hours=2),
        ce_timestamp=T0 - timedelta(hours=2),
        host_factor=2.5,
        service_level_type="HEPSPEC",
        service_level=10.0,
    )
    columns = [
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'job_records'"
        )
    ]
    response = api.get("/api/v1/jobs")
    assert response.status_code == 200
    body = response.json()
    assert body["next_cursor"] is None
    [item] = body["items"]
    assert set(item) == set(columns) - {"update_seq"}
    assert item["end_time"] == "2024-01-30T12:00:00Z"
    assert item["start_time"] == "2024-01-30T11:00:00Z"
    assert item["submit_time"] == "2024-01-30T10:00:00Z"
    assert item["updated_at"].endswith("Z")
    assert item["fqans"] == ["/atlas/Role=production", "/atlas"]
    assert item["exec_hosts"] == ["wn1", "wn2"]
    assert item["wall_duration"] == 3600 and item["host_factor"] == 2.5


def test_job_filters(api: TestClient, conn: psycopg.Connection) -> None:
    insert_job(conn, local_job_id="a1", end_time=T0)
    insert_job(conn, local_job_id="a2", end_time=T0 + timedelta(days=1), vo="cms")
    insert_job(conn, local_job_id="b1", site="SITE-B", local_user_id="bob")
    insert_job(conn, local_job_id="l1", infrastructure_type="local", vo=None, local_user_id="carl")

    def ids(**params: str) -> list[str]:
        return sorted(job_ids(api.get("/api/v1/jobs", params=params)))

    assert ids() == ["a1", "a2", "b1", "l1"]
    assert ids(site="SITE-B") == ["b1"]
    assert ids(local_job_id="a2") == ["a2"]
    assert ids(vo="cms") == ["a2"]
    assert ids(local_user_id="bob") == ["b1"]
    assert ids(infrastructure_type="local") == ["l1"]
    assert ids(infrastructure_type="grid", site="SITE-A") == ["a1", "a2"]
    assert ids(end_after=iso(T0 + timedelta(hours=1))) == ["a2"]
    # end_before is exclusive, end_after inclusive; a naive time is UTC.
    assert ids(end_before="2024-01-31T12:00:00") == ["a1", "b1", "l1"]
    assert ids(end_after="2024-01-31T12:00:00", end_before="2024-01-31T12:00:01") == ["a2"]
    # The same instant written with an offset.
    assert ids(end_after="2024-01-31T14:00:00+02:00") == ["a2"]
    assert ids(site="NOWHERE") == []


def test_pagination_returns_every_row_once_in_order(
    api: TestClient, conn: psycopg.Connection
) -> None:
    expected = []
    for i in range(25):
        # Groups of three share an end time, so the tie-breaking columns matter.
        row = insert_job(
            conn,
            local_job_id=f"job-{i:02d}",
            end_time=T0 + timedelta(minutes=i // 3, microseconds=7),
            site="SITE-A" if i % 2 else "SITE-B",
            machine_name=f"ce{i % 2}",
        )
        expected.append((row["end_time"], row["site"], row["local_job_id"], row["machine_name"]))
    expected.sort()

    seen: list[tuple[Any, ...]] = []
    pages = 0
    params: dict[str, Any] = {"limit": 10}
    while True:
        body = api.get("/api/v1/jobs", params=params).json()
        pages += 1
        seen += [
            (
                datetime.fromisoformat(it["end_time"]),
                it["site"],
                it["local_job_id"],
                it["machine_name"],
            )
            for it in body["items"]
        ]
        if body["next_cursor"] is None:
            break
        assert len(body["items"]) == 10
        params["cursor"] = body["next_cursor"]
    assert pages == 3
    assert seen == expected

    # A cursor combines with filters.
    first = api.get("/api/v1/jobs", params={"limit": 5, "site": "SITE-A"}).json()
    rest = api.get(
        "/api/v1/jobs", params={"limit": 100, "site": "SITE-A", "cursor": first["next_cursor"]}
    ).json()
    assert rest["next_cursor"] is None
    all_a = [k[2] for k in expected if k[1] == "SITE-A"]
    assert [i["local_job_id"] for i in first["items"] + rest["items"]] == all_a

    # A page that ends exactly at the last row has no next cursor.
    exact = api.get("/api/v1/jobs", params={"limit": 25}).json()
    assert len(exact["items"]) == 25 and exact["next_cursor"] is None


# --- summaries ----------------------------------------------------------------------------------


def unbenchmarked(item: dict[str, Any]) -> dict[str, Any]:
    """A summary item of jobs without a benchmark: no normalised time, all counted as missing."""
    return {
        **item,
        "normalised_wall_duration": 0,
        "normalised_cpu_duration": 0,
        "jobs_without_benchmark": item["jobs"],
    }


def test_summaries_by_vo_and_month(api: TestClient, conn: psycopg.Connection) -> None:
    jan, feb = datetime(2024, 1, 31, 23, 30, tzinfo=UTC), datetime(2024, 2, 1, 0, 30, tzinfo=UTC)
    insert_job(conn, vo="atlas", end_time=jan, wall_duration=100, cpu_duration=50)
    insert_job(conn, vo="atlas", end_time=jan, wall_duration=200, cpu_duration=150)
    insert_job(conn, vo="atlas", end_time=feb, wall_duration=300, cpu_duration=250)
    insert_job(conn, vo="cms", end_time=jan, wall_duration=400, cpu_duration=350)
    # 2024-02-01T00:30+02:00 is still January in UTC.
    insert_job(
        conn,
        vo="cms",
        end_time=datetime.fromisoformat("2024-02-01T00:30:00+02:00"),
        wall_duration=10,
        cpu_duration=5,
    )

    response = api.get("/api/v1/summaries", params={"group_by": "vo,month"})
    assert response.status_code == 200
    assert response.json() == {
        "group_by": ["vo", "month"],
        "items": [
            unbenchmarked(
                {
                    "vo": "atlas",
                    "month": "2024-01",
                    "jobs": 2,
                    "wall_duration": 300,
                    "cpu_duration": 200,
                }
            ),
            unbenchmarked(
                {
                    "vo": "atlas",
                    "month": "2024-02",
                    "jobs": 1,
                    "wall_duration": 300,
                    "cpu_duration": 250,
                }
            ),
            unbenchmarked(
                {
                    "vo": "cms",
                    "month": "2024-01",
                    "jobs": 2,
                    "wall_duration": 410,
                    "cpu_duration": 355,
                }
            ),
        ],
    }
    by_month = api.get("/api/v1/summaries", params={"group_by": " month ", "vo": "atlas"}).json()[
        "items"
    ]
    assert [(i["month"], i["jobs"]) for i in by_month] == [("2024-01", 2), ("2024-02", 1)]


def test_summaries_by_site_and_infrastructure_type(
    api: TestClient, conn: psycopg.Connection
) -> None:
    insert_job(conn, site="SITE-A", infrastructure_type="grid", wall_duration=10, cpu_duration=1)
    insert_job(conn, site="SITE-A", infrastructure_type="grid", wall_duration=20, cpu_duration=2)
    insert_job(conn, site="SITE-A", infrastructure_type="local", wall_duration=40, cpu_duration=4)
    insert_job(conn, site="SITE-B", infrastructure_type="local", wall_duration=80, cpu_duration=8)

    items = api.get("/api/v1/summaries", params={"group_by": "site,infrastructure_type"}).json()[
        "items"
    ]
    assert items == [
        unbenchmarked(
            {
                "site": "SITE-A",
                "infrastructure_type": "grid",
                "jobs": 2,
                "wall_duration": 30,
                "cpu_duration": 3,
            }
        ),
        unbenchmarked(
            {
                "site": "SITE-A",
                "infrastructure_type": "local",
                "jobs": 1,
                "wall_duration": 40,
                "cpu_duration": 4,
            }
        ),
        unbenchmarked(
            {
                "site": "SITE-B",
                "infrastructure_type": "local",
                "jobs": 1,
                "wall_duration": 80,
                "cpu_duration": 8,
            }
        ),
    ]
    total = api.get("/api/v1/summaries").json()
    assert total == {
        "group_by": [],
        "items": [unbenchmarked({"jobs": 4, "wall_duration": 150, "cpu_duration": 15})],
    }
    local = api.get(
        "/api/v1/summaries", params={"group_by": "site", "infrastructure_type": "local"}
    ).json()["items"]
    assert [(i["site"], i["wall_duration"]) for i in local] == [("SITE-A", 40), ("SITE-B", 80)]
    nothing = api.get("/api/v1/summaries", params={"site": "NOWHERE"}).json()["items"]
    assert nothing == [unbenchmarked({"jobs": 0, "wall_duration": 0, "cpu_duration": 0})]


def test_summaries_normalised_and_by_service_level(
    api: TestClient, conn: psycopg.Connection
) -> None:
    def job(level_type: str | None, level: float | None, wall: int, cpu: int) -> None:
        factor = None if level is None else (level / 250 if level_type == "si2k" else level)
        insert_job(
            conn,
            wall_duration=wall,
            cpu_duration=cpu,
            service_level_type=level_type,
            service_level=level,
            normalised_wall_duration=None if factor is None else round(wall * factor),
            normalised_cpu_duration=None if factor is None else round(cpu * factor),
        )

    job("HEPSPEC", 10.0, 100, 50)
    job("HEPSPEC", 10.0, 200, 100)
    job("si2k", 2500.0, 100, 100)
    job(None, None, 1000, 1000)
    params = {"group_by": "service_level_type,service_level"}
    # Whole months of APEL keys are read from the summaries table; a time range from the job
    # records. Both give the same answer.
    from_summaries = api.get("/api/v1/summaries", params=params).json()["items"]
    from_records = api.get(
        "/api/v1/summaries", params={**params, "end_after": "2000-01-01T00:00:00Z"}
    ).json()["items"]
    assert from_summaries == from_records
    by_level = {(i["service_level_type"], i["service_level"]): i for i in from_summaries}
    assert by_level[("HEPSPEC", 10.0)]["normalised_wall_duration"] == 3000
    assert by_level[("HEPSPEC", 10.0)]["normalised_cpu_duration"] == 1500
    assert by_level[("si2k", 2500.0)]["normalised_wall_duration"] == 1000
    missing = by_level[(None, None)]
    assert (missing["jobs_without_benchmark"], missing["normalised_wall_duration"]) == (1, 0)
    total = api.get("/api/v1/summaries").json()["items"]
    assert total[0]["jobs"] == 4
    assert total[0]["jobs_without_benchmark"] == 1
    assert total[0]["normalised_wall_duration"] == 4000


# --- quarantine ---------------------------------------------------------------------------------


def test_quarantine_listing(api: TestClient, conn: psycopg.Connection) -> None:
    ids = [
        insert_quarantine(conn, line=i, reason="bad_field" if i % 2 else "bad_time")
        for i in range(1, 8)
    ]
    body = api.get("/api/v1/quarantine", params={"reason": "bad_field"}).json()
    assert [i["line"] for i in body["items"]] == [1, 3, 5, 7]
    item = body["items"][0]
    assert set(item) == {
        "id",
        "source_format",
        "site",
        "file",
        "line",
        "reason",
        "detail",
        "raw",
        "received_at",
        "retries",
        "last_retry_at",
    }
    assert item["raw"] == '"JOB_FINISH" "10.1" garbage' and item["received_at"].endswith("Z")

    first = api.get("/api/v1/quarantine", params={"limit": 4}).json()
    rest = api.get("/api/v1/quarantine", params={"cursor": first["next_cursor"]}).json()
    assert [i["id"] for i in first["items"] + rest["items"]] == ids
    assert rest["next_cursor"] is None

    assert api.get("/api/v1/quarantine", params={"site": "SITE-B"}).json()["items"] == []
    assert len(api.get("/api/v1/quarantine", params={"source_format": "lsf"}).json()["items"]) == 7
    future = iso(datetime.now(UTC) + timedelta(hours=1))
    assert api.get("/api/v1/quarantine", params={"since": future}).json()["items"] == []
    past = "2000-01-01T00:00:00"
    assert len(api.get("/api/v1/quarantine", params={"since": past}).json()["items"]) == 7


# --- garbage in ---------------------------------------------------------------------------------


def _b64(data: Any) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


BAD_REQUESTS = [
    ("/api/v1/jobs", {"infrastructure_type": "cloud"}),
    ("/api/v1/jobs", {"infrastructure_type": "GRID"}),
    ("/api/v1/summaries", {"infrastructure_type": "grid'--"}),
    ("/api/v1/jobs", {"end_after": "yesterday"}),
    ("/api/v1/jobs", {"end_before": "2024-13-01"}),
    ("/api/v1/jobs", {"end_before": "2024-01-01T25:00:00"}),
    ("/api/v1/summaries", {"end_after": "2024-01-01T00:00:00+99:00"}),
    ("/api/v1/quarantine", {"since": "now()"}),
    ("/api/v1/jobs", {"limit": "0"}),
    ("/api/v1/jobs", {"limit": "-1"}),
    ("/api/v1/jobs", {"limit": "100000"}),
    ("/api/v1/jobs", {"limit": "1001"}),
    ("/api/v1/jobs", {"limit": "ten"}),
    ("/api/v1/quarantine", {"limit": "0"}),
    ("/api/v1/summaries", {"group_by": "vo,colour"}),
    ("/api/v1/summaries", {"group_by": "vo,vo"}),
    ("/api/v1/summaries", {"group_by": "vo; DROP TABLE job_records"}),
    ("/api/v1/summaries", {"group_by": "month)"}),
    ("/api/v1/summaries", {"group_by": "wall_duration"}),
    ("/api/v1/jobs", {"cursor": "garbage!"}),
    ("/api/v1/jobs", {"cursor": "éé"}),
    ("/api/v1/jobs", {"cursor": "x" * 5000}),
    ("/api/v1/jobs", {"cursor": _b64(b"\xff\xfe not json")}),
    ("/api/v1/jobs", {"cursor": _b64({})}),
    ("/api/v1/jobs", {"cursor": _b64([1, 2])}),
    ("/api/v1/jobs", {"cursor": _b64({"k": "jobs", "v": ["2024-01-01T00:00:00+00:00", "a"]})}),
    ("/api/v1/jobs", {"cursor": _b64({"k": "jobs", "v": ["not a time", "a", "b", "c"]})}),
    ("/api/v1/jobs", {"cursor": _b64({"k": "jobs", "v": ["2024-01-01T00:00:00", "a", "b", "c"]})}),
    ("/api/v1/jobs", {"cursor": _b64({"k": "jobs", "v": ["2024-01-01T00:00Z", 1, "b", "c"]})}),
    ("/api/v1/jobs", {"cursor": _b64({"k": "jobs", "v": ["2024-01-01T00:00Z", "\x00", "", ""]})}),
    ("/api/v1/jobs", {"cursor": _b64(b'{"k":"jobs","v":["2024-01-01T00:00Z","\\ud800","",""]}')}),
    ("/api/v1/jobs", {"cursor": _b64({"k": "quarantine", "v": [1]})}),
    ("/api/v1/jobs", {"cursor": _b64(b"[" * 1400)}),
    ("/api/v1/quarantine", {"cursor": _b64({"k": "quarantine", "v": ["1"]})}),
    ("/api/v1/quarantine", {"cursor": _b64({"k": "quarantine", "v": [True]})}),
    ("/api/v1/quarantine", {"cursor": _b64({"k": "quarantine", "v": [2**70]})}),
    ("/api/v1/jobs", {"site": "a\x00b"}),
    ("/api/v1/quarantine", {"reason": "\x00"}),
    ("/api/v1/jobs", {"vo": "v" * 10_000}),
]


@pytest.mark.parametrize(("path", "params"), BAD_REQUESTS)
def test_bad_input_is_a_clear_422(
    shared_api: TestClient, path: str, params: dict[str, str]
) -> None:
    response = shared_api.get(path, params=params)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail
    [name] = params
    assert any(name in err["loc"] and err["msg"] for err in detail), detail


def test_unknown_group_by_names_the_allowed_keys(shared_api: TestClient) -> None:
    response = shared_api.get("/api/v1/summaries", params={"group_by": "colour"})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert "colour" in error["msg"]
    for key in ("site", "vo", "local_user_id", "queue", "infrastructure_type", "month"):
        assert key in error["msg"]


INJECTIONS = [
    "x' OR '1'='1",
    "'; DROP TABLE job_records; --",
    '" OR ""="',
    "SITE-A' --",
    "%' OR 1=1 --",
    "\\'; SELECT pg_sleep(10); --",
]


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_looking_filters_match_nothing(
    shared_api: TestClient, shared_db: str, text: str
) -> None:
    api = shared_api
    for path, name in [
        ("/api/v1/jobs", "site"),
        ("/api/v1/jobs", "local_job_id"),
        ("/api/v1/jobs", "vo"),
        ("/api/v1/jobs", "local_user_id"),
        ("/api/v1/quarantine", "reason"),
        ("/api/v1/quarantine", "source_format"),
    ]:
        response = api.get(path, params={name: text})
        assert response.status_code == 200 and response.json()["items"] == [], (path, name)
    summary = api.get("/api/v1/summaries", params={"vo": text, "group_by": "vo"})
    assert summary.json()["items"] == []
    with db.connect(shared_db) as conn:
        assert conn.execute("SELECT count(*) FROM job_records").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM quarantine").fetchone() == (1,)

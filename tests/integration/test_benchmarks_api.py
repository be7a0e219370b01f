"""The benchmark routes of the HTTP API and the jobs-without-a-benchmark metric, against the
real PostgreSQL (jobs written through the real join)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from batchacct import benchmarks
from batchacct.join import JoinStore
from batchacct.tokens import create_token
from batchacct_api.app import create_app
from batchacct_api.settings import ApiSettings

from .conftest import Env
from .test_benchmarks import CE, END, SITE, batch_event, ce_event

with warnings.catch_warnings():
    # Starlette's TestClient prefers httpx2 (not a dependency here) and warns when it uses httpx.
    warnings.filterwarnings("ignore", message=r".*install `httpx2`")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration

URL = "/api/v1/benchmarks"
CE_BENCHMARK = {"site": SITE, "scope": "ce", "name": CE, "type": "hepspec", "value": 10.0}


@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    with TestClient(create_app(ApiSettings(database_url=env.database_url))) as c:
        yield c


@pytest.fixture
def conn(env: Env) -> Iterator[psycopg.Connection]:
    with env.connect() as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def stored_count(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM benchmarks").fetchone()
    assert row is not None
    return int(row[0])


def test_put_needs_the_admin_scope(
    client: TestClient, conn: psycopg.Connection, read_token: str, env: Env
) -> None:
    assert client.put(URL, json=CE_BENCHMARK).status_code == 401
    assert client.put(URL, json=CE_BENCHMARK, headers=bearer("not-a-token")).status_code == 401
    refused = client.put(URL, json=CE_BENCHMARK, headers=bearer(read_token))
    assert refused.status_code == 403 and "admin" in refused.json()["detail"]
    assert stored_count(conn) == 0
    # The admin scope alone is enough to store (reading needs the read scope).
    admin_only = create_token(env.database_url, "admin-only", ["admin"])
    assert client.put(URL, json=CE_BENCHMARK, headers=bearer(admin_only)).status_code == 200
    assert client.get(URL, headers=bearer(admin_only)).status_code == 403
    assert client.get(URL).status_code == 401
    assert client.get(URL + "/missing").status_code == 401


def test_put_versions_and_get_shows_the_history(
    client: TestClient, admin_token: str, read_token: str
) -> None:
    first = client.put(URL, json=[CE_BENCHMARK], headers=bearer(admin_token))
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["results"] == [
        {
            "site": SITE,
            "scope": "ce",
            "name": CE,
            "type": "HEPSPEC",
            "value": 10.0,
            "host_factor_reference": None,
            "outcome": "created",
            "valid_from": "1970-01-01T00:00:00Z",
        }
    ]
    assert body["jobs_renormalised"] is False
    assert body["renormalise_since"] == "1970-01-01T00:00:00Z"
    assert "batchacct renormalise --since" in body["note"]

    same = client.put(URL, json={**CE_BENCHMARK, "value": 10.0004}, headers=bearer(admin_token))
    assert same.json()["results"][0]["outcome"] == "unchanged"
    assert same.json()["renormalise_since"] is None
    changed = client.put(
        URL,
        json=[
            {**CE_BENCHMARK, "value": 12.5, "valid_from": "2026-03-01T00:00:00"},
            {"site": SITE, "scope": "site", "type": "si2k", "value": 2500},
        ],
        headers=bearer(admin_token),
    )
    assert changed.status_code == 200, changed.text
    assert [r["outcome"] for r in changed.json()["results"]] == ["versioned", "created"]
    assert changed.json()["renormalise_since"] == "1970-01-01T00:00:00Z"

    current = client.get(URL, headers=bearer(read_token)).json()["items"]
    assert [(b["scope"], b["value"], b["valid_until"]) for b in current] == [
        ("ce", 12.5, None),
        ("site", 2500.0, None),
    ]
    history = client.get(URL, params={"all_versions": "true"}, headers=bearer(read_token))
    versions = [
        (b["scope"], b["value"], b["valid_from"], b["valid_until"], b["source"])
        for b in history.json()["items"]
    ]
    assert versions == [
        ("ce", 10.0, "1970-01-01T00:00:00Z", "2026-03-01T00:00:00Z", "api:test-admin"),
        ("ce", 12.5, "2026-03-01T00:00:00Z", None, "api:test-admin"),
        ("site", 2500.0, "1970-01-01T00:00:00Z", None, "api:test-admin"),
    ]
    elsewhere = client.get(URL, params={"site": "OTHER"}, headers=bearer(read_token))
    assert elsewhere.json() == {"items": []}


GOOD = {"site": SITE, "scope": "site", "type": "HEPSPEC", "value": 9.0}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"{not json", "JSON decode error", id="not-json"),
        pytest.param(b'"HEPSPEC 10"', "valid dictionary", id="a-string"),
        pytest.param(b"[]", "at least 1", id="empty-list"),
        pytest.param(
            {**GOOD, "scope": "cluster"}, "site', 'ce', 'machine' or 'exec_host'", id="scope"
        ),
        pytest.param(
            {k: v for k, v in GOOD.items() if k != "value"}, "Field required", id="no-value"
        ),
        pytest.param({**GOOD, "value": -1}, "greater than 0", id="negative"),
        pytest.param({**GOOD, "value": "9"}, "valid number", id="value-as-text"),
        pytest.param(
            b'{"site": "S", "scope": "site", "type": "HEPSPEC", "value": NaN}', "finite", id="nan"
        ),
        pytest.param({**GOOD, "type": "HS06"}, "benchmark type 'HS06' is not one of", id="type"),
        pytest.param({**GOOD, "name": "x"}, "the site default has no scope value", id="site-named"),
        pytest.param({**GOOD, "scope": "ce"}, "a ce benchmark needs the ce", id="ce-unnamed"),
        pytest.param({**GOOD, "colour": "blue"}, "Extra inputs are not permitted", id="extra-key"),
        pytest.param({**GOOD, "valid_from": "soon"}, "datetime", id="bad-time"),
        pytest.param([GOOD, {**GOOD, "value": 10}], "entries 1 and 2 both give", id="duplicate"),
        pytest.param([CE_BENCHMARK, {**GOOD, "type": "x"}], "benchmark type 'x'", id="second-bad"),
    ],
)
def test_garbage_is_a_422_and_stores_nothing(
    client: TestClient,
    conn: psycopg.Connection,
    admin_token: str,
    body: Any,
    message: str,
) -> None:
    headers = bearer(admin_token)
    if isinstance(body, bytes):
        response = client.put(
            URL, content=body, headers={**headers, "Content-Type": "application/json"}
        )
    else:
        response = client.put(URL, json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert message in response.text, response.text
    assert stored_count(conn) == 0


def test_a_change_that_cannot_be_stored_is_a_422_and_stores_nothing(
    client: TestClient, conn: psycopg.Connection, admin_token: str
) -> None:
    headers = bearer(admin_token)
    first = {**GOOD, "valid_from": "2026-01-01T00:00:00Z"}
    assert client.put(URL, json=first, headers=headers).status_code == 200
    response = client.put(
        URL,
        json=[CE_BENCHMARK, {**GOOD, "value": 11, "valid_from": "2025-01-01T00:00:00Z"}],
        headers=headers,
    )
    assert response.status_code == 422
    assert "entry 2 (site): valid_from 2025-01-01" in response.json()["detail"][0]["msg"]
    assert stored_count(conn) == 1


def metric_lines(client: TestClient) -> list[str]:
    text = client.get("/metrics").text
    return re.findall(r"^batchacct_jobs_without_benchmark\{.*$", text, flags=re.MULTILINE)


def test_jobs_without_a_benchmark_in_the_api_and_the_metric(
    client: TestClient, conn: psycopg.Connection, admin_token: str, read_token: str
) -> None:
    store = JoinStore(conn)
    store.apply(
        [batch_event("g1"), batch_event("l1", machine="batch02"), batch_event("b1", site="B")],
        [ce_event("g1")],
    )
    missing = client.get(URL + "/missing", headers=bearer(read_token))
    assert missing.status_code == 200
    end = END.isoformat().replace("+00:00", "Z")
    assert missing.json() == {
        "jobs": 3,
        "items": [
            {
                "site": "B",
                "submit_host": None,
                "machine_name": "batch01",
                "jobs": 1,
                "first_end_time": end,
                "last_end_time": end,
            },
            {
                "site": SITE,
                "submit_host": None,
                "machine_name": "batch02",
                "jobs": 1,
                "first_end_time": end,
                "last_end_time": end,
            },
            {
                "site": SITE,
                "submit_host": CE,
                "machine_name": "batch01",
                "jobs": 1,
                "first_end_time": end,
                "last_end_time": end,
            },
        ],
    }
    at_site = client.get(URL + "/missing", params={"site": "B"}, headers=bearer(read_token))
    assert at_site.json()["jobs"] == 1
    assert sorted(metric_lines(client)) == [
        'batchacct_jobs_without_benchmark{site="B"} 1.0',
        f'batchacct_jobs_without_benchmark{{site="{SITE}"}} 2.0',
    ]

    put = client.put(URL, json=GOOD, headers=bearer(admin_token))
    assert put.json()["jobs_renormalised"] is False
    assert len(metric_lines(client)) == 2  # stored jobs change only when renormalised
    assert benchmarks.renormalise(conn, datetime(2026, 1, 1, tzinfo=UTC)) == 2
    assert client.get(
        URL + "/missing", params={"site": SITE}, headers=bearer(read_token)
    ).json() == {
        "jobs": 0,
        "items": [],
    }
    assert metric_lines(client) == ['batchacct_jobs_without_benchmark{site="B"} 1.0']

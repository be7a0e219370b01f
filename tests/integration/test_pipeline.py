"""End to end: files → collectors → broker → joiner → PostgreSQL."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from confluent_kafka import Consumer
from prometheus_client import REGISTRY

from batchacct.avro import Codec
from batchacct.kafka import TrackedProducer
from batchacct.tokens import create_token
from batchacct_api.app import create_app
from batchacct_api.settings import ApiSettings

from .conftest import Env
from .pipeline import (
    blah_line,
    collect_blah,
    collect_lsf,
    job_records,
    join,
    lsf_line,
    write,
)

with warnings.catch_warnings():
    # Starlette's TestClient prefers httpx2 (not a dependency here) and warns when it uses httpx.
    warnings.filterwarnings("ignore", message=r".*install `httpx2`")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration


def test_grid_and_local_jobs_join(env_vars: Env, tmp_path: Path) -> None:
    lsf = write(
        tmp_path / "lsb.acct",
        [
            lsf_line(
                101, "2026-10-01T10:00:00", "2026-10-01T12:00:00", hosts=("wn1", "wn1", "wn2")
            ),
            lsf_line(102, "2026-10-01T10:00:00", "2026-10-01T11:00:00"),
            lsf_line(
                103, "2026-10-02T10:00:00", "2026-10-02T11:00:00", user="local7", project="theory"
            ),
        ],
    )
    blah = write(
        tmp_path / "blahp.log",
        [
            blah_line("101", "2026-10-01T09:59:00"),
            blah_line("102", "2026-10-01T09:58:00", fqan="/cms/Role=production", dn="/CN=cms"),
        ],
    )
    collect_lsf(lsf)
    collect_blah(blah)
    join()
    jobs = job_records(env_vars)
    assert set(jobs) == {"101", "102", "103"}
    assert jobs["101"]["infrastructure_type"] == "grid"
    assert jobs["101"]["vo"] == "atlas" and jobs["101"]["vo_role"] == "Role=pilot"
    assert jobs["101"]["processors"] == 3 and jobs["101"]["node_count"] == 2
    assert jobs["101"]["wall_duration"] == 7200 and jobs["101"]["cpu_duration"] == 110
    assert jobs["101"]["submit_host"] == "ce01.test:8443/cream-lsf-grid"
    assert jobs["102"]["vo"] == "cms" and jobs["102"]["global_user_name"] == "/CN=cms"
    assert jobs["103"]["infrastructure_type"] == "local"
    assert jobs["103"]["global_user_name"] is None

    # ... and the API serves what the pipeline stored.
    token = create_token(env_vars.database_url, "e2e", ["read"])
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(ApiSettings(database_url=env_vars.database_url))) as api:  # type: ignore[arg-type]
        listed = api.get("/api/v1/jobs", params={"vo": "atlas"}, headers=headers).json()
        by_type = api.get(
            "/api/v1/summaries", params={"group_by": "infrastructure_type"}, headers=headers
        ).json()
    assert [j["local_job_id"] for j in listed["items"]] == ["101"]
    assert listed["items"][0]["end_time"] == "2026-10-01T12:00:00Z"
    assert {
        g["infrastructure_type"]: (g["jobs"], g["wall_duration"]) for g in by_type["items"]
    } == {
        "grid": (2, 7200 + 3600),
        "local": (1, 3600),
    }


@pytest.mark.parametrize("ce_first", [False, True], ids=["batch-first", "ce-first"])
def test_both_arrival_orders(env_vars: Env, tmp_path: Path, ce_first: bool) -> None:
    lsf = write(
        tmp_path / "lsb.acct", [lsf_line(201, "2026-10-01T10:00:00", "2026-10-01T12:00:00")]
    )
    blah = write(tmp_path / "blahp.log", [blah_line("201", "2026-10-01T09:59:00")])
    first, second = (collect_blah, collect_lsf) if ce_first else (collect_lsf, collect_blah)
    first(blah if ce_first else lsf)
    join()
    jobs = job_records(env_vars)
    if ce_first:
        assert jobs == {}  # a CE event alone is no job record: it waits for its batch half
    else:
        assert jobs["201"]["infrastructure_type"] == "local"
    second(lsf if ce_first else blah)
    join()
    jobs = job_records(env_vars)
    assert jobs["201"]["infrastructure_type"] == "grid"
    assert jobs["201"]["vo"] == "atlas"
    with env_vars.connect() as conn:
        assert conn.execute("SELECT count(*) FROM ce_events WHERE consumed").fetchone() == (1,)


def test_join_window_edges(env_vars: Env, tmp_path: Path) -> None:
    """End in [CE timestamp − 1 day, CE timestamp + 28 days): the lower edge joins, the upper does not."""
    ce_time = "2026-10-10T00:00:00"
    cases = {
        301: ("2026-10-08T12:00:00", "2026-10-09T00:00:00", "grid"),  # exactly −1 day
        302: ("2026-10-08T12:00:00", "2026-10-08T23:59:59", "local"),  # 1 s before the window
        303: ("2026-11-06T00:00:00", "2026-11-06T23:59:59", "grid"),  # +28 days − 1 s
        304: ("2026-11-06T00:00:00", "2026-11-07T00:00:00", "local"),  # exactly +28 days
    }
    write(tmp_path / "lsb.acct", [lsf_line(j, s, e) for j, (s, e, _) in cases.items()])
    write(tmp_path / "blahp.log", [blah_line(str(j), ce_time) for j in cases])
    collect_lsf(tmp_path / "lsb.acct")
    collect_blah(tmp_path / "blahp.log")
    join()
    jobs = job_records(env_vars)
    assert {int(j): r["infrastructure_type"] for j, r in jobs.items()} == {
        j: kind for j, (_, _, kind) in cases.items()
    }


def test_nearest_ce_event_wins_and_window_is_configurable(
    env_vars: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "lsb.acct", [lsf_line(401, "2026-10-10T10:00:00", "2026-10-10T12:00:00")])
    write(
        tmp_path / "blahp.log",
        [
            blah_line("401", "2026-10-01T00:00:00", dn="/CN=far"),
            blah_line("401", "2026-10-10T09:00:00", dn="/CN=near"),
            blah_line("401", "2026-10-20T00:00:00", dn="/CN=future"),
        ],
    )
    collect_lsf(tmp_path / "lsb.acct")
    collect_blah(tmp_path / "blahp.log")
    join()
    assert job_records(env_vars)["401"]["global_user_name"] == "/CN=near"


def test_local_vo_from_map(env_vars: Env, tmp_path: Path) -> None:
    write(
        tmp_path / "lsb.acct",
        [
            lsf_line(501, "2026-10-01T10:00:00", "2026-10-01T11:00:00", project="theory"),
            lsf_line(502, "2026-10-01T10:00:00", "2026-10-01T11:00:00", project="unknownproj"),
        ],
    )
    vo_map = tmp_path / "vomap.yaml"
    vo_map.write_text("theory: theory.vo.example\n")
    collect_lsf(tmp_path / "lsb.acct")
    join("--vo-map", str(vo_map))
    jobs = job_records(env_vars)
    assert jobs["501"]["vo"] == "theory.vo.example"
    # LSF has no group: an unmapped project leaves the VO empty, and the joiner counts it.
    assert jobs["502"]["vo"] is None


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_quarantine_keeps_good_lines_around_bad_ones(env_vars: Env, tmp_path: Path) -> None:
    rejected_before = _metric(
        "batchacct_collector_lines_rejected_total", format="lsf", reason="inconsistent"
    )
    read_before = _metric("batchacct_collector_lines_read_total", format="lsf")
    lsf = write(
        tmp_path / "lsb.acct",
        [
            lsf_line(601, "2026-10-01T10:00:00", "2026-10-01T11:00:00"),
            '"JOB_FINISH" "9.11" 1 2 3',
            lsf_line(602, "2026-10-01T12:00:00", "2026-10-01T11:00:00"),  # ends before it starts
            lsf_line(603, "2026-10-01T10:00:00", "2026-10-01T11:00:00"),
        ],
    )
    collect_lsf(lsf)
    join()
    assert set(job_records(env_vars)) == {"601", "603"}
    with env_vars.connect() as conn:
        rows = conn.execute("SELECT file, line, reason FROM quarantine ORDER BY line").fetchall()
        files = conn.execute(
            "SELECT lines, records, rejected, state FROM collector_files"
        ).fetchall()
    assert [(r[1], r[2]) for r in rows] == [(2, "malformed"), (3, "inconsistent")]
    assert rows[0][0] == str(lsf)
    assert files == [(4, 2, 2, "active")]
    assert _metric("batchacct_collector_lines_read_total", format="lsf") - read_before == 4
    rejected = _metric(
        "batchacct_collector_lines_rejected_total", format="lsf", reason="inconsistent"
    )
    assert rejected - rejected_before == 1


def test_rejections_reach_the_dead_letter_topic(env_vars: Env, tmp_path: Path) -> None:
    blah = write(
        tmp_path / "blahp.log",
        [
            blah_line("701", "2026-10-01T09:59:00"),
            blah_line("702", "2026-10-01T09:59:00").replace("timestamp=2026-10-01 ", "timestamp=x"),
        ],
    )
    collect_blah(blah)
    consumer = Consumer(
        {
            **env_vars.kafka_config(),
            "group.id": "dead-letter-reader",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
        }
    )
    consumer.subscribe([env_vars.topic("dead-letter")])
    try:
        messages = []
        for _ in range(30):
            messages += [m for m in consumer.consume(10, timeout=1.0) if m.error() is None]
            if messages:
                break
    finally:
        consumer.close()
    assert len(messages) == 1
    kind, rejection = Codec().decode(messages[0].value() or b"")
    assert kind == "rejection"
    assert (rejection["file"], rejection["line"], rejection["reason"]) == (
        str(blah),
        2,
        "bad_timestamp",
    )


def test_joiner_quarantines_poison_messages_and_goes_on(env_vars: Env, tmp_path: Path) -> None:
    producer = TrackedProducer(env_vars.kafka_config())
    producer.produce(env_vars.topic("batch-events"), b"TEST-SITE/1", b"not avro at all")
    producer.flush_or_raise()
    write(tmp_path / "lsb.acct", [lsf_line(801, "2026-10-01T10:00:00", "2026-10-01T11:00:00")])
    collect_lsf(tmp_path / "lsb.acct")
    join()
    assert set(job_records(env_vars)) == {"801"}
    with env_vars.connect() as conn:
        rows = conn.execute("SELECT source_format, file, reason FROM quarantine").fetchall()
    assert rows == [("kafka", env_vars.topic("batch-events"), "malformed")]

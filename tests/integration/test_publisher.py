"""The publisher against the real PostgreSQL and broker: what it queues is what the summaries and
job records hold, read back the way ssmsend reads the queue and checked with the server's rules."""

from __future__ import annotations

import io
import itertools
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from dirq.QueueSimple import QueueSimple
from prometheus_client import REGISTRY

from batchacct import db
from batchacct.apel.reader import ParsedMessage, read_message
from batchacct.join import JoinStore
from batchacct.publisher import (
    KafkaOutput,
    Outputs,
    PublishError,
    PublishOptions,
    PublishResult,
    publish,
    publish_month,
)

from .conftest import TEST_PARTITIONS, Env

pytestmark = pytest.mark.integration

# The run's clock: March 2026 is the current month, February the previous one; January is older.
NOW = datetime(2026, 3, 15, 12, tzinfo=UTC)
MONTHS = ((2026, 1), (2026, 2), (2026, 3))
CE_A = ("ce-a1.example.org:9619/ce-a1-condor", "ce-a2.example.org:9619/ce-a2-condor")
CE_B_WITH_BENCHMARK = "ce-b1.example.org:9619/ce-b1-condor"
CE_B_WITHOUT = "ce-b2.example.org:9619/ce-b2-condor"
VOS = ("atlas", "cms", "dteam")
_ids = itertools.count(1000)


def end_of(job: int, year: int, month: int) -> datetime:
    # Days 1..14: every job ends before NOW.
    return datetime(year, month, 1 + job % 14, job % 24, job % 60, tzinfo=UTC)


def batch_event(site: str, job: str, end: datetime, **fields: Any) -> dict[str, Any]:
    end_ms = int(end.timestamp() * 1000)
    wall = fields.pop("wall_duration", 3600 + int(job) % 500)
    return {
        "site": site,
        "local_job_id": job,
        "end_time": end_ms,
        "machine_name": f"batch.{site.lower()}",
        "start_time": end_ms - abs(wall) * 1000,
        "wall_duration": wall,
        "cpu_duration": 3000 + int(job) % 300,
        "local_user_id": f"user{int(job) % 4}",
        "local_user_group": fields.pop("group", "atlas"),
        "queue": "grid",
        "account": None,
        "submit_time": None,
        "processors": fields.pop("processors", 1 if int(job) % 2 else 8),
        "node_count": 1,
        "exec_hosts": ["wn1"],
        "memory_real": 2_000_000,
        "memory_virtual": 3_000_000,
        "exit_status": 0,
        "from_host": None,
        "infrastructure_description": "APEL-HTCONDOR",
        "host_factor": None,
        "source_format": "condor",
        "source_file": "history",
        "source_line": int(job),
        "machine_specs": {},
        **fields,
    }


def ce_event(site: str, job: str, end: datetime, vo: str, ce: str) -> dict[str, Any]:
    return {
        "site": site,
        "lrms_id": job,
        "timestamp": int((end - timedelta(hours=1)).timestamp() * 1000),
        "submit_host": ce,
        "global_user_name": f"/DC=org/CN={vo} pilot {int(job) % 3}",
        "fqan": f"/{vo}/Role=pilot",
        "fqans": [f"/{vo}/Role=pilot"],
        "vo": vo,
        "vo_group": f"/{vo}",
        "vo_role": "Role=pilot",
        "grid_job_id": f"https://{ce}/{job}",
        "local_user": None,
        "source_format": "blah",
        "source_file": "blahp.log",
        "source_line": int(job),
    }


def add_benchmark(conn: psycopg.Connection, site: str, scope: str, name: str = "") -> None:
    with conn.transaction():
        conn.execute(
            "INSERT INTO benchmarks (site, scope, scope_value, benchmark_type, value, valid_from,"
            " source) VALUES (%s, %s, %s, 'HEPSPEC', 10.0, %s, 'test')",
            (site, scope, name, datetime(1970, 1, 1, tzinfo=UTC)),
        )


def load_site_data(conn: psycopg.Connection) -> JoinStore:
    """SITE-A: a site benchmark, grid jobs on two CEs and a few local jobs, in three months.
    SITE-B: a benchmark for one CE only; its other CE's jobs have none."""
    add_benchmark(conn, "SITE-A", "site")
    add_benchmark(conn, "SITE-B", "ce", CE_B_WITH_BENCHMARK)
    store = JoinStore(conn)
    batch, ce = [], []
    for n in range(60):
        job = str(n + 1)
        end = end_of(n, *MONTHS[n % 3])
        batch.append(batch_event("SITE-A", job, end))
        ce.append(ce_event("SITE-A", job, end, VOS[n % 3], CE_A[n % 2]))
    for n in range(6):  # local jobs (no CE half)
        job = str(500 + n)
        batch.append(batch_event("SITE-A", job, end_of(n, *MONTHS[n % 3]), group="cms"))
    for n in range(20):
        job = str(700 + n)
        end = end_of(n, *MONTHS[n % 3])
        batch.append(batch_event("SITE-B", job, end))
        ce.append(ce_event("SITE-B", job, end, "atlas", (CE_B_WITH_BENCHMARK, CE_B_WITHOUT)[n % 2]))
    store.apply(batch, ce)
    return store


@pytest.fixture
def conn(env: Env) -> Iterator[psycopg.Connection]:
    with db.connect(env.database_url, autocommit=True) as c:
        yield c


@pytest.fixture
def loaded(conn: psycopg.Connection) -> JoinStore:
    return load_site_data(conn)


def read_queue(directory: Path, now: datetime = NOW) -> dict[str, ParsedMessage]:
    """Every element of the outgoing queue, read as ssmsend reads it (iterate, lock, get) and
    parsed with the server's rules."""
    queue = QueueSimple(str(directory))
    parsed: dict[str, ParsedMessage] = {}
    for name in queue:
        assert queue.lock(name)
        body = queue.get(name)
        queue.unlock(name)
        parsed[name] = read_message(body.decode("utf-8"), now=now)
    return parsed


def records_of(parsed: dict[str, ParsedMessage], kind: str) -> list[dict[str, Any]]:
    return [r for m in parsed.values() if m.kind == kind for r in m.records]


def publication_rows(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute("SELECT * FROM publications ORDER BY id").fetchall()


def expected_sync(conn: psycopg.Connection, where: str = "true") -> dict[tuple[Any, ...], int]:
    """Jobs per (site, submit host, year, month) of every month, counted from the job records."""
    rows = conn.execute(
        "SELECT site, submit_host, extract(year FROM end_time AT TIME ZONE 'UTC')::int,"
        " extract(month FROM end_time AT TIME ZONE 'UTC')::int, count(*) FROM job_records"
        f" WHERE service_level IS NOT NULL AND {where} GROUP BY 1, 2, 3, 4"
    ).fetchall()
    return {tuple(row[:4]): row[4] for row in rows}


def sync_totals(records: list[dict[str, Any]]) -> dict[tuple[Any, ...], int]:
    totals: Counter[tuple[Any, ...]] = Counter()
    for r in records:
        totals[r["site"], r["submit_host"], r["year"], r["month"]] += r["number_of_jobs"]
    return dict(totals)


SUMMARY_FIELDS = (
    "site",
    "year",
    "month",
    "global_user_name",
    "vo",
    "vo_group",
    "vo_role",
    "submit_host",
    "infrastructure_type",
    "service_level_type",
    "service_level",
    "node_count",
    "processors",
    "number_of_jobs",
    "wall_duration",
    "cpu_duration",
    "earliest_end_time",
    "latest_end_time",
)


def test_summaries_and_jobs_in_the_outgoing_queue_match_the_database(
    conn: psycopg.Connection, loaded: JoinStore, tmp_path: Path
) -> None:
    outgoing = tmp_path / "outgoing"
    result = publish(conn, PublishOptions(), Outputs(outgoing=outgoing, fsync=False), now=NOW)
    parsed = read_queue(outgoing)
    assert {m.header for m in parsed.values()} == {
        "APEL-summary-job-message: v0.2",
        "APEL-sync-message: v0.1",
    }
    # Summaries: every grid summary row with a benchmark of February and March, nothing else.
    stored = conn.execute(
        f"SELECT {', '.join(SUMMARY_FIELDS)} FROM summaries WHERE infrastructure_type = 'grid'"
        " AND service_level IS NOT NULL AND year = 2026 AND month IN (2, 3)"
    ).fetchall()
    sent = [tuple(r[f] for f in SUMMARY_FIELDS) for r in records_of(parsed, "summary")]
    assert sorted(sent, key=repr) == sorted(stored, key=repr)
    jobs_sent = sum(r["number_of_jobs"] for r in records_of(parsed, "summary"))
    expected_jobs = conn.execute(
        "SELECT count(*), sum(wall_duration) FROM job_records WHERE infrastructure_type = 'grid'"
        " AND service_level IS NOT NULL AND end_time >= '2026-02-01Z' AND end_time < '2026-04-01Z'"
    ).fetchone()
    assert expected_jobs is not None
    assert jobs_sent == expected_jobs[0]
    site_a = [r for r in records_of(parsed, "summary") if r["site"] == "SITE-A"]
    assert sum(r["number_of_jobs"] for r in site_a) == 40  # 2/3 of its 60 grid jobs
    assert sum(r["wall_duration"] for r in records_of(parsed, "summary")) == expected_jobs[1]
    # Sync: every month (January too), counted as published (grid, with a benchmark).
    sync = records_of(parsed, "sync")
    assert sync_totals(sync) == expected_sync(conn, "infrastructure_type = 'grid'")
    assert {r["month"] for r in sync} == {1, 2, 3}
    # Each message holds one site; the log has one row per element, with its name and size.
    assert all(len({r["site"] for r in m.records}) == 1 for m in parsed.values())
    log = publication_rows(conn)
    assert {row["message_id"] for row in log} == set(parsed)
    for row in log:
        assert row["status"] == "queued" and row["destination"] == "dirq"
        assert row["run_id"] == result.run_id
        assert row["records"] == len(parsed[row["message_id"]].records)
        assert row["bytes"] == (outgoing / row["message_id"]).stat().st_size
        assert row["sites"] == sorted({r["site"] for r in parsed[row["message_id"]].records})
    assert {m for row in log if row["kind"] == "summary" for m in row["months"]} == {
        "2026-02",
        "2026-03",
    }

    # Jobs, every one, v0.4: the records the database holds, as the server would store them.
    jobs_dir = tmp_path / "jobs"
    options = PublishOptions(mode="jobs", jobs="all", version="v0.4")
    publish(conn, options, Outputs(outgoing=jobs_dir, fsync=False), now=NOW)
    parsed_jobs = read_queue(jobs_dir)
    jobs = records_of(parsed_jobs, "job")
    db_jobs = conn.execute(
        "SELECT site, local_job_id, wall_duration, cpu_duration, service_level_type,"
        " service_level, submit_host, vo FROM job_records"
        " WHERE infrastructure_type = 'grid' AND service_level IS NOT NULL"
    ).fetchall()
    assert sorted(
        (
            j["site"],
            j["local_job_id"],
            j["wall_duration"],
            j["cpu_duration"],
            j["service_level_type"],
            j["service_level"],
            j["submit_host"],
            j["vo"],
        )
        for j in jobs
    ) == sorted(db_jobs)
    assert {m.header for m in parsed_jobs.values() if m.kind == "job"} == {
        "APEL-individual-job-message: v0.4"
    }
    assert sync_totals(records_of(parsed_jobs, "sync")) == sync_totals(sync)


def test_normalised_summaries(conn: psycopg.Connection, loaded: JoinStore, tmp_path: Path) -> None:
    for version, header in (
        ("normalised-v0.3", "APEL-summary-job-message: v0.3"),
        ("normalised-v0.4", "APEL-normalised-summary-message: v0.4"),
        ("v0.4", "APEL-summary-job-message: v0.4"),
    ):
        outgoing = tmp_path / version
        options = PublishOptions(version=version, sites=("SITE-A",))
        publish(conn, options, Outputs(outgoing=outgoing, fsync=False), now=NOW)
        parsed = read_queue(outgoing)
        summaries = [m for m in parsed.values() if m.kind != "sync"]
        assert {m.header for m in summaries} == {header}
        records = [r for m in summaries for r in m.records]
        assert sum(r["number_of_jobs"] for r in records) == 40
        if version.startswith("normalised"):
            assert sum(r["normalised_wall_duration"] for r in records) == 10 * sum(
                r["wall_duration"] for r in records
            )


def test_withhold_dns_refused_with_summaries_and_applied_to_jobs(
    conn: psycopg.Connection, loaded: JoinStore, tmp_path: Path
) -> None:
    refused = tmp_path / "refused"
    with pytest.raises(PublishError, match=r"withhold_dns .* not with summaries"):
        publish(conn, PublishOptions(withhold_dns=True), Outputs(outgoing=refused), now=NOW)
    assert not refused.exists()
    options = PublishOptions(mode="jobs", jobs="all", withhold_dns=True, sites=("SITE-A",))
    publish(conn, options, Outputs(outgoing=tmp_path / "q", fsync=False), now=NOW)
    jobs = records_of(read_queue(tmp_path / "q"), "job")
    assert len(jobs) == 60
    assert {j["global_user_name"] for j in jobs} == {"withheld"}


def test_include_and_exclude_vos(
    conn: psycopg.Connection, loaded: JoinStore, tmp_path: Path
) -> None:
    def vos_sent(options: PublishOptions, name: str) -> tuple[set[str], int]:
        publish(conn, options, Outputs(outgoing=tmp_path / name, fsync=False), now=NOW)
        parsed = read_queue(tmp_path / name)
        vos = {r["vo"] for r in records_of(parsed, "summary")}
        return vos, sum(r["number_of_jobs"] for r in records_of(parsed, "sync"))

    everything, all_synced = vos_sent(PublishOptions(), "all")
    assert everything == {"atlas", "cms", "dteam"}
    only_atlas, atlas_synced = vos_sent(PublishOptions(include_vos=("atlas",)), "in")
    assert only_atlas == {"atlas"}
    not_atlas, rest_synced = vos_sent(PublishOptions(exclude_vos=("atlas",)), "out")
    assert not_atlas == {"cms", "dteam"}
    assert atlas_synced + rest_synced == all_synced  # sync counts what is published
    with pytest.raises(PublishError, match="not both"):
        PublishOptions(include_vos=("atlas",), exclude_vos=("cms",)).checked()


def test_local_jobs_only_when_asked(
    conn: psycopg.Connection, loaded: JoinStore, tmp_path: Path
) -> None:
    publish(conn, PublishOptions(), Outputs(outgoing=tmp_path / "grid", fsync=False), now=NOW)
    grid = read_queue(tmp_path / "grid")
    assert {
        r["infrastructure_type"] for m in grid.values() for r in m.records if m.kind != "sync"
    } == {"grid"}
    options = PublishOptions(local_jobs=True)
    publish(conn, options, Outputs(outgoing=tmp_path / "all", fsync=False), now=NOW)
    both = read_queue(tmp_path / "all")
    local = [r for r in records_of(both, "summary") if r["infrastructure_type"] == "local"]
    assert sum(r["number_of_jobs"] for r in local) == 4  # 6 local jobs, 4 in February and March
    assert {r["vo"] for r in local} == {"cms"}  # the local group
    assert sync_totals(records_of(both, "sync")) == expected_sync(conn)


def test_jobs_without_a_benchmark_are_withheld_and_reported(
    conn: psycopg.Connection, loaded: JoinStore, tmp_path: Path
) -> None:
    result = publish(conn, PublishOptions(), Outputs(outgoing=tmp_path, fsync=False), now=NOW)
    parsed = read_queue(tmp_path)
    assert CE_B_WITHOUT not in {r["submit_host"] for m in parsed.values() for r in m.records}
    # SITE-B's ce-b2 jobs of February and March: odd n < 20 with n % 3 in (1, 2).
    withheld = sum(1 for n in range(20) if n % 2 and n % 3)
    assert result.withheld_jobs == withheld
    assert f"withheld: {withheld} jobs without a benchmark" in "\n".join(result.report())
    assert REGISTRY.get_sample_value("batchacct_publisher_withheld_jobs") == withheld

    jobs = publish(
        conn,
        PublishOptions(mode="jobs", jobs="all"),
        Outputs(outgoing=tmp_path / "jobs", fsync=False),
        now=NOW,
    )
    assert jobs.withheld_jobs == 10  # every month
    sent = records_of(read_queue(tmp_path / "jobs"), "job")
    assert CE_B_WITHOUT not in {j["submit_host"] for j in sent}

    # The administrator gives the CE a benchmark and renormalises (as `batchacct renormalise`
    # does: new values, a new update_seq, the summaries follow): the next runs send them.
    latest = PublishOptions(mode="jobs", jobs="latest")
    publish(conn, latest, Outputs(outgoing=tmp_path / "before", fsync=False), now=NOW)
    with conn.transaction():
        conn.execute(
            "UPDATE job_records SET service_level_type = 'HEPSPEC', service_level = 10.0,"
            " normalised_wall_duration = 10 * wall_duration,"
            " normalised_cpu_duration = 10 * cpu_duration,"
            " update_seq = nextval('job_records_update_seq') WHERE submit_host = %s",
            (CE_B_WITHOUT,),
        )
    fixed = publish(
        conn, PublishOptions(), Outputs(outgoing=tmp_path / "after", fsync=False), now=NOW
    )
    assert fixed.withheld_jobs == 0
    summaries = records_of(read_queue(tmp_path / "after"), "summary")
    assert (
        sum(r["number_of_jobs"] for r in summaries if r["submit_host"] == CE_B_WITHOUT) == withheld
    )
    resent = publish(conn, latest, Outputs(outgoing=tmp_path / "latest", fsync=False), now=NOW)
    assert resent.withheld_jobs == 0
    jobs_resent = records_of(read_queue(tmp_path / "latest"), "job")
    assert sorted(j["submit_host"] for j in jobs_resent) == [CE_B_WITHOUT] * 10


def test_records_the_server_would_reject_are_set_aside(
    conn: psycopg.Connection, loaded: JoinStore, tmp_path: Path
) -> None:
    end = datetime(2026, 3, 2, tzinfo=UTC)
    bad_times = batch_event("SITE-A", "9001", end)
    bad_times["start_time"] = bad_times["end_time"] + 60_000  # ends before it starts
    negative = batch_event("SITE-A", "9002", end, wall_duration=-5000, processors=4)
    loaded.apply(
        [bad_times, negative],
        [ce_event("SITE-A", j, end, "atlas", CE_A[0]) for j in ("9001", "9002")],
    )
    before = REGISTRY.get_sample_value(
        "batchacct_publisher_messages_rejected_total", {"kind": "job"}
    )

    options = PublishOptions(mode="jobs", jobs="all", sites=("SITE-A",))
    result = publish(conn, options, Outputs(outgoing=tmp_path / "jobs", fsync=False), now=NOW)
    jobs = records_of(read_queue(tmp_path / "jobs"), "job")
    assert "9001" not in {j["local_job_id"] for j in jobs}
    assert len(jobs) == 60 + 1  # the rest of the message went, with the negative one
    [rejected] = result.rejected
    assert (rejected.kind, rejected.records, rejected.months) == ("job", 1, ("2026-03",))
    assert "EndTime is before StartTime" in (rejected.error or "")
    after = REGISTRY.get_sample_value(
        "batchacct_publisher_messages_rejected_total", {"kind": "job"}
    )
    assert (after or 0) - (before or 0) == 1

    summary_run = publish(
        conn,
        PublishOptions(sites=("SITE-A",)),
        Outputs(outgoing=tmp_path / "s", fsync=False),
        now=NOW,
    )
    [bad_summary] = summary_run.rejected
    assert bad_summary.kind == "summary" and "negative WallDuration" in (bad_summary.error or "")
    summaries = records_of(read_queue(tmp_path / "s"), "summary")
    assert all(r["wall_duration"] >= 0 for r in summaries)
    assert 4 not in {r["processors"] for r in summaries}

    log = publication_rows(conn)
    rejected_rows = [row for row in log if row["status"] == "rejected"]
    assert [(row["kind"], row["message_id"], row["records"]) for row in rejected_rows] == [
        ("job", None, 1),
        ("summary", None, 1),
    ]
    assert rejected_rows[0]["error"] == rejected.error
    assert all(row["message_id"] for row in log if row["status"] == "queued")


def cursor_of(conn: psycopg.Connection) -> int | None:
    row = conn.execute("SELECT update_seq FROM publisher_cursors WHERE name = 'jobs'").fetchone()
    return None if row is None else int(row[0])


def test_latest_sends_each_record_once_and_again_after_it_changes(
    conn: psycopg.Connection, loaded: JoinStore, tmp_path: Path
) -> None:
    latest = PublishOptions(mode="jobs", jobs="latest")

    def run(name: str, dry_run: io.StringIO | None = None) -> tuple[list[str], PublishResult]:
        outputs = Outputs(outgoing=tmp_path / name, fsync=False, dry_run=dry_run)
        result = publish(conn, latest, outputs, now=NOW)
        if dry_run is not None:
            return [], result
        jobs = records_of(read_queue(tmp_path / name), "job") if (tmp_path / name).exists() else []
        return sorted(j["local_job_id"] for j in jobs), result

    first, result = run("1")
    assert len(first) == 60 + 10
    assert result.cursor is not None and cursor_of(conn) == result.cursor[1]
    again, result = run("2")
    assert again == []
    assert any(p.kind == "sync" for p in result.queued)  # sync records go on every run

    end = datetime(2026, 3, 3, tzinfo=UTC)
    loaded.apply([batch_event("SITE-A", "8000", end)], [])  # a local record: not sent
    assert run("3")[0] == []
    loaded.apply([], [ce_event("SITE-A", "8000", end, "cms", CE_A[1])])  # now a grid record
    cursor = cursor_of(conn)
    printed = io.StringIO()
    run("dry", dry_run=printed)  # a dry run shows it and moves nothing
    assert "LocalJobId: 8000" in printed.getvalue()
    assert cursor_of(conn) == cursor
    assert run("4")[0] == ["8000"]
    assert run("5")[0] == []


def test_dry_run_writes_nothing(
    conn: psycopg.Connection, loaded: JoinStore, tmp_path: Path
) -> None:
    printed = io.StringIO()
    outputs = Outputs(outgoing=tmp_path / "outgoing", dry_run=printed)
    result = publish(conn, PublishOptions(), outputs, now=NOW)
    jobs = publish(conn, PublishOptions(mode="jobs"), outputs, now=NOW)
    assert not (tmp_path / "outgoing").exists()
    assert conn.execute("SELECT count(*) FROM publications").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM publisher_cursors").fetchone() == (0,)
    text = printed.getvalue()
    assert text.count("APEL-summary-job-message: v0.2\n") == sum(
        1 for p in result.queued if p.kind == "summary"
    )
    assert "APEL-individual-job-message: v0.3\n" in text
    assert result.dry_run and {p.destination for p in result.queued + jobs.queued} == {"dry-run"}
    # Every printed message passes the server's rules.
    messages = [chunk for chunk in text.split("\n\n") if chunk.strip()]
    assert len(messages) == len(result.queued) + len(jobs.queued)
    for message in messages:
        read_message(message, now=NOW)


def test_kafka_output_lands_on_the_summaries_topic(
    env: Env, conn: psycopg.Connection, loaded: JoinStore, tmp_path: Path
) -> None:
    topic = env.topic("summaries")
    output = KafkaOutput(env.kafka_config(), topic)
    outputs = Outputs(outgoing=tmp_path, kafka=output, fsync=False)
    result = publish(conn, PublishOptions(), outputs, now=NOW)
    by_destination = Counter(p.destination for p in result.queued)
    assert by_destination["kafka"] == by_destination["dirq"] > 0

    consumer = Consumer(
        {
            **env.kafka_config(),
            "group.id": "publisher-test",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(TEST_PARTITIONS)])
    received: dict[str, tuple[str, str]] = {}
    at_end: set[int] = set()
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    try:
        while len(at_end) < TEST_PARTITIONS and datetime.now(UTC) < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                assert err.code() == KafkaError._PARTITION_EOF, err
                at_end.add(int(msg.partition() or 0))
                continue
            ref = f"{msg.topic()}/{msg.partition()}/{msg.offset()}"
            received[ref] = ((msg.key() or b"").decode(), (msg.value() or b"").decode())
    finally:
        consumer.close()

    kafka_rows = [p for p in result.queued if p.destination == "kafka"]
    assert {p.message_id for p in kafka_rows} == set(received)
    dirq = read_queue(tmp_path)
    for key, value in received.values():
        parsed = read_message(value, now=NOW)
        assert {r["site"] for r in parsed.records} == {key}
    assert sorted(v for _, v in received.values()) == sorted(
        (tmp_path / name).read_text() for name in dirq
    )
    logged = {row["message_id"] for row in publication_rows(conn) if row["destination"] == "kafka"}
    assert logged == set(received)


def test_publish_month_resends_one_site_month(
    conn: psycopg.Connection, loaded: JoinStore, tmp_path: Path
) -> None:
    result = publish_month(
        conn, "SITE-A", 2026, 1, Outputs(outgoing=tmp_path, fsync=False), now=NOW
    )
    parsed = read_queue(tmp_path)
    periods = {(r["site"], r["year"], r["month"]) for m in parsed.values() for r in m.records}
    assert periods == {("SITE-A", 2026, 1)}
    assert sum(r["number_of_jobs"] for r in records_of(parsed, "summary")) == 20
    assert sync_totals(records_of(parsed, "sync")) == {
        k: v
        for k, v in expected_sync(conn, "infrastructure_type = 'grid'").items()
        if k[0] == "SITE-A" and k[2:] == (2026, 1)
    }
    assert {p.kind for p in result.queued} == {"summary", "sync"}
    with pytest.raises(PublishError, match="has not begun"):
        publish_month(conn, "SITE-A", 2026, 4, Outputs(outgoing=tmp_path), now=NOW)


def test_gap_selects_by_end_date(
    conn: psycopg.Connection, loaded: JoinStore, tmp_path: Path
) -> None:
    options = PublishOptions(
        mode="jobs", jobs="gap", gap_from=date(2026, 1, 31), gap_to=date(2026, 2, 27)
    )
    publish(conn, options, Outputs(outgoing=tmp_path, fsync=False), now=NOW)
    ends = [j["end_time"] for j in records_of(read_queue(tmp_path), "job")]
    assert ends and all(
        datetime(2026, 1, 31, tzinfo=UTC) < e <= datetime(2026, 2, 28, tzinfo=UTC) for e in ends
    )
    expected = conn.execute(
        "SELECT count(*) FROM job_records WHERE infrastructure_type = 'grid'"
        " AND service_level IS NOT NULL AND end_time > '2026-01-31Z' AND end_time <= '2026-02-28Z'"
    ).fetchone()
    assert expected == (len(ends),)


def test_one_run_at_a_time(env: Env, conn: psycopg.Connection, tmp_path: Path) -> None:
    with db.connect(env.database_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(4242002)")
        with pytest.raises(PublishError, match="another publisher run is in progress"):
            publish(conn, PublishOptions(), Outputs(outgoing=tmp_path), now=NOW)
        other.execute("SELECT pg_advisory_unlock(4242002)")
    assert publish(conn, PublishOptions(), Outputs(outgoing=tmp_path), now=NOW).report() == [
        "nothing to send"
    ]

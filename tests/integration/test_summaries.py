"""Summaries always equal a full GROUP BY of the job records, whatever sequence of batches.

Batches mix new jobs, CE halves that upgrade local records to grid, CE halves that come first,
re-sent events, and jobs across month boundaries and several sites, all through the real join
(:class:`JoinStore`) on the real PostgreSQL.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchacct import db, summaries
from batchacct.benchmarks import BEGINNING, Benchmark, BenchmarkError, renormalise, set_benchmark
from batchacct.join import JoinStore

from .conftest import Env

pytestmark = pytest.mark.integration

# Jobs end around a month boundary so that records land in two months.
BOUNDARY_MS = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp() * 1000)


def batch_event(job: int, site: str, end_offset_s: int, cores: int, group: str) -> dict[str, Any]:
    end = BOUNDARY_MS + end_offset_s * 1000
    return {
        "site": site,
        "local_job_id": str(job),
        "end_time": end,
        "machine_name": "batch",
        "start_time": end - 3_600_000,
        "wall_duration": 3600 + job,
        "cpu_duration": 3000 + 7 * job,
        "local_user_id": f"user{job % 3}",
        "local_user_group": group,
        "queue": "grid",
        "account": None,
        "submit_time": None,
        "processors": cores,
        "node_count": 1,
        "exec_hosts": ["wn1"],
        "memory_real": None,
        "memory_virtual": None,
        "exit_status": 0,
        "from_host": None,
        "infrastructure_description": "APEL-CREAM-LSF",
        "host_factor": None,
        "source_format": "lsf",
        "source_file": "lsb.acct",
        "source_line": job,
        "machine_specs": {},
    }


def ce_event(job: int, site: str, end_offset_s: int, vo: str, ce: str) -> dict[str, Any]:
    return {
        "site": site,
        "lrms_id": str(job),
        "timestamp": BOUNDARY_MS + (end_offset_s - 3700) * 1000,
        "submit_host": ce,
        "global_user_name": f"/CN={vo} pilot",
        "fqan": f"/{vo}/Role=pilot",
        "fqans": [f"/{vo}/Role=pilot"],
        "vo": vo,
        "vo_group": f"/{vo}",
        "vo_role": "Role=pilot",
        "grid_job_id": f"https://{ce}/{job}",
        "local_user": None,
        "source_format": "blah",
        "source_file": "blahp.log",
        "source_line": job,
    }


JOB = st.tuples(
    st.integers(1, 40),  # job id
    st.sampled_from(["SITE-A", "SITE-B"]),
    st.integers(-7200, 7200),  # end: two hours either side of the month boundary
    st.sampled_from([1, 8]),
    st.sampled_from(["atlas", "cms"]),  # local group, also the VO of the CE half
    st.sampled_from(["ce1", "ce2"]),
)
# One batch: a list of (job, send the batch half?, send the CE half?).
BATCH = st.lists(st.tuples(JOB, st.booleans(), st.booleans()), max_size=12)


@pytest.fixture
def conn(env: Env) -> Iterator[psycopg.Connection]:
    with db.connect(env.database_url) as c:
        yield c


def rows(conn: psycopg.Connection, query: str) -> list[tuple[Any, ...]]:
    columns = (*summaries.KEY_COLUMNS, *summaries.MEASURE_COLUMNS)
    result = conn.execute(f"SELECT {', '.join(columns)} FROM ({query}) q").fetchall()
    return sorted(result, key=repr)


def check_equal(conn: psycopg.Connection) -> None:
    summaries.refresh(conn)
    stored = rows(conn, "SELECT * FROM summaries")
    expected = rows(conn, summaries.FULL_GROUP_BY)
    assert stored == expected


# Besides batches: a new benchmark version for a site (it applies to what is joined, or
# renormalised, afterwards), a renormalisation (every site or one), and an administrator's SQL
# deleting or correcting records.
BENCHMARK_CHANGE = st.tuples(
    st.just("benchmark"), st.sampled_from(["SITE-A", "SITE-B"]), st.sampled_from([8.0, 10.0, 12.5])
)
ADMIN_SQL = st.tuples(
    st.just("sql"),
    st.sampled_from(
        [
            "DELETE FROM job_records WHERE local_job_id::int % 5 = 0",
            "UPDATE job_records SET wall_duration = wall_duration + 1 WHERE local_job_id::int % 3 = 0",
            "UPDATE job_records SET end_time = end_time + interval '3 hours'"
            " WHERE local_job_id::int % 7 = 0",
        ]
    ),
)
RENORMALISE = st.tuples(st.just("renormalise"), st.sampled_from([None, "SITE-A"]))
STEP = st.one_of(st.tuples(st.just("batch"), BATCH), BENCHMARK_CHANGE, ADMIN_SQL, RENORMALISE)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(STEP, min_size=1, max_size=8))
def test_summaries_equal_the_full_group_by(conn: psycopg.Connection, steps: list[Any]) -> None:
    with conn.transaction():
        for table in ("job_records", "batch_events", "ce_events", "summaries", "benchmarks"):
            conn.execute(f"DELETE FROM {table}")
    store = JoinStore(conn)
    clock = datetime(2026, 11, 1, tzinfo=UTC)
    for step in steps:
        if step[0] == "benchmark":
            clock += timedelta(minutes=1)
            with conn.transaction():
                # Versions start at the clock: jobs ending before keep the previous one.
                version = Benchmark(
                    site=step[1],
                    scope="site",
                    benchmark_type="HEPSPEC",
                    value=step[2],
                    valid_from=clock - timedelta(days=40),
                )
                # Refused when not after the open version's start: nothing is stored then.
                with contextlib.suppress(BenchmarkError):
                    set_benchmark(conn, version, source="test", now=clock)
            continue
        if step[0] == "renormalise":
            # Small batches, so that one run spans several transactions.
            renormalise(conn, BEGINNING, step[1], batch_rows=3)
            check_equal(conn)
            continue
        if step[0] == "sql":
            with conn.transaction():
                conn.execute(step[1])
            check_equal(conn)
            continue
        batch_events, ce_events = [], []
        for (job, site, end, cores, vo, ce), send_batch, send_ce in step[1]:
            # A job's batch half is fixed by its id, so re-sends are true duplicates.
            end_s = end if job % 2 else -end
            if send_batch:
                batch_events.append(batch_event(job, site, end_s, cores, vo))
            if send_ce:
                ce_events.append(ce_event(job, site, end_s, vo, ce))
        store.apply(batch_events, ce_events)
        check_equal(conn)


def test_upgrade_moves_a_job_and_its_end_time_bounds(conn: psycopg.Connection) -> None:
    store = JoinStore(conn)
    store.apply([batch_event(1, "S", 100, 1, "atlas"), batch_event(2, "S", 50, 1, "atlas")], [])
    local = conn.execute(
        "SELECT number_of_jobs, earliest_end_time, latest_end_time FROM summaries"
    ).fetchall()
    assert [row[0] for row in local] == [2]
    # The CE half of job 1 (the latest local job) arrives: the local key keeps job 2 only.
    store.apply([], [ce_event(1, "S", 100, "atlas", "ce1")])
    check_equal(conn)
    by_type = dict(
        conn.execute("SELECT infrastructure_type, number_of_jobs FROM summaries").fetchall()
    )
    assert by_type == {"local": 1, "grid": 1}

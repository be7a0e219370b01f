"""The short report's daily rollup always equals a direct GROUP BY of the job records, and a short
report's query read from it gives the same rows as the same query summed from the job records.

Random sequences of inserts, updates (values set to NULL or changed, end times moved across days,
benchmarks removed) and deletes, each one SQL statement, on the real PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchacct import db, report_rollup, reports
from batchacct.job_filters import JobFilters

from .conftest import Env

pytestmark = pytest.mark.integration

DAY0 = datetime(2025, 12, 30, tzinfo=UTC)  # Tuesday: ISO weeks 2026-W01 and 2026-W02 follow

# The reference, written independently of the migration: one GROUP BY per section.
_SECTION_COLUMNS = {
    "user": "local_user_id",
    "group": "local_user_group",
    "vo": "vo",
    "account": "account",
    "queue": "queue",
    "submit_host": "submit_host",
    "machine": "machine_name",
}
_DIRECT = " UNION ALL ".join(
    f"""SELECT site, (end_time AT TIME ZONE 'UTC')::date AS day, vo, '{section}' AS section,
           {column} AS value, count(*)::bigint AS jobs, sum(cpu_duration)::bigint,
           sum(wall_duration)::bigint, coalesce(sum(normalised_cpu_duration), 0)::bigint,
           count(*) FILTER (WHERE normalised_cpu_duration IS NULL)::bigint,
           sum(wall_duration * greatest(coalesce(processors, 1), 1))::bigint
    FROM job_records GROUP BY 1, 2, 3, 4, 5"""
    for section, column in _SECTION_COLUMNS.items()
)
_STORED = """
SELECT site, day, nullif(vo, E'\\x1e'), section, nullif(value, E'\\x1e'), jobs, cpu_seconds, wall_seconds,
       normalised_cpu_seconds, jobs_without_benchmark, core_wall_seconds
FROM report_rollup
"""

_INSERT = """
INSERT INTO job_records (site, local_job_id, end_time, machine_name, submit_host, queue,
    local_user_id, local_user_group, vo, account, wall_duration, cpu_duration, processors,
    start_time, infrastructure_type, normalised_cpu_duration, source_format, source_file,
    source_line)
SELECT site, job_id, end_time, machine, ce, queue, usr, grp, vo, account, wall, cpu, procs,
       end_time - interval '1 hour', 'local', norm, 'lsf', 'test', 1
FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::text[], %s::text[], %s::text[],
            %s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[], %s::bigint[],
            %s::int[], %s::bigint[])
    AS t(site, job_id, end_time, machine, ce, queue, usr, grp, vo, account, wall, cpu, procs,
         norm)
ON CONFLICT DO NOTHING
"""

maybe = st.one_of(st.none(), st.sampled_from(["a", "b"]))
JOB = st.tuples(
    st.sampled_from(["S1", "S2"]),
    st.integers(1, 30),  # job id
    st.integers(0, 10 * 24 * 60),  # end: minutes after DAY0 (ten days, two ISO weeks, two years)
    st.sampled_from(["m1", "m2"]),
    maybe,  # submit host
    maybe,  # queue
    maybe,  # user
    maybe,  # group
    maybe,  # vo
    maybe,  # account
    st.integers(0, 5000),  # wall
    st.integers(0, 9000),  # cpu
    st.one_of(st.none(), st.sampled_from([0, 1, 8])),  # processors
    st.one_of(st.none(), st.integers(0, 100_000)),  # normalised cpu
)
INSERT = st.tuples(st.just("insert"), st.lists(JOB, min_size=1, max_size=15))
SQL = st.tuples(
    st.just("sql"),
    st.sampled_from(
        [
            "DELETE FROM job_records WHERE local_job_id::int % 4 = 0",
            "UPDATE job_records SET vo = NULL WHERE local_job_id::int % 3 = 0",
            "UPDATE job_records SET queue = 'c', account = 'a' WHERE local_job_id::int % 2 = 0",
            "UPDATE job_records SET end_time = end_time + interval '20 hours'"
            " WHERE local_job_id::int % 5 = 0",
            "UPDATE job_records SET normalised_cpu_duration = NULL WHERE local_job_id::int % 3 = 1",
            "UPDATE job_records SET wall_duration = wall_duration + 7, processors = 4"
            " WHERE local_job_id::int % 2 = 1",
            "TRUNCATE job_records",
        ]
    ),
)
STEP = st.one_of(INSERT, SQL)


@pytest.fixture
def conn(env: Env) -> Iterator[psycopg.Connection]:
    with db.connect(env.database_url, autocommit=True) as c:
        yield c


def insert(conn: psycopg.Connection, jobs: list[tuple[Any, ...]]) -> None:
    columns: list[list[Any]] = [list(c) for c in zip(*jobs, strict=True)]
    columns[1] = [str(j) for j in columns[1]]
    columns[2] = [DAY0 + timedelta(minutes=m) for m in columns[2]]
    conn.execute(_INSERT, columns)


def check_equal(conn: psycopg.Connection) -> None:
    stored = sorted(conn.execute(_STORED).fetchall(), key=repr)
    expected = sorted(conn.execute(_DIRECT).fetchall(), key=repr)
    assert stored == expected


REQUEST = st.tuples(
    st.sampled_from(list(reports.SECTIONS)),
    st.sampled_from([None, "S1", "S9"]),
    st.sampled_from([None, "a", "z"]),  # vo
    st.one_of(st.none(), st.integers(0, 11)),  # since: days after DAY0
    st.one_of(st.none(), st.integers(1, 12)),  # until
)


def check_report(conn: psycopg.Connection, request: tuple[Any, ...]) -> None:
    section, site, vo, since, until = request
    if since is not None and until is not None and since >= until:
        until = None
    filters = JobFilters(
        site=site,
        vo=vo,
        since=None if since is None else DAY0 + timedelta(days=since),
        until=None if until is None else DAY0 + timedelta(days=until),
    ).checked()
    assert report_rollup.answers(filters)
    from_rollup = conn.execute(*report_rollup.grouped(section, filters)).fetchall()
    from_jobs = conn.execute(*reports._grouped(section, reports.SHORT_MEASURES, filters)).fetchall()
    assert from_rollup == from_jobs


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(STEP, min_size=1, max_size=8), requests=st.lists(REQUEST, max_size=3))
def test_rollup_equals_the_direct_group_by(
    conn: psycopg.Connection, steps: list[Any], requests: list[Any]
) -> None:
    conn.execute("TRUNCATE job_records")
    for step in steps:
        if step[0] == "insert":
            insert(conn, step[1])
        else:
            conn.execute(step[1])
        check_equal(conn)
    for request in requests:
        check_report(conn, request)


def test_filters_that_need_the_job_records() -> None:
    midnight = datetime(2026, 1, 1, tzinfo=UTC)
    for filters, answers in [
        (JobFilters(), True),
        (JobFilters(site="S", vo="atlas", since=midnight), True),
        (JobFilters(until=midnight + timedelta(hours=1)), False),
        (JobFilters(vo="\x1e"), False),
        (JobFilters(user="u"), False),
        (JobFilters(queue="q"), False),
        (JobFilters(account="a"), False),
        (JobFilters(host="h"), False),
        (JobFilters(invalid_only=True), False),
    ]:
        assert report_rollup.answers(filters.checked()) is answers


def test_reports_read_the_rollup_only_for_short_reports() -> None:
    short = reports.plan(reports.ReportRequest("short", ["user", "day"]).checked())
    assert all("report_rollup" in q.as_string(None) for q, _ in short.values())
    filtered = reports.ReportRequest("short", ["user"], JobFilters(user="u"))
    assert "report_rollup" not in reports.plan(filtered.checked())["user"][0].as_string(None)
    throughput = reports.plan(reports.ReportRequest("throughput", ["user"]).checked())
    assert not any("report_rollup" in q.as_string(None) for q, _ in throughput.values())

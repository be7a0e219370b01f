"""Publishing a whole month of one site with 1,000,000 jobs: summaries and sync records queued.

Run: ``python -m benchmarks.bench_publisher [--jobs 1000000]`` (``make bench``). It starts its
own embedded stack and writes the job records of one site's month straight into PostgreSQL with
one ``generate_series`` statement (50 users in 5 VOs, 3 CEs, 1 or 8 processors, a HEPSPEC
benchmark); the job-records trigger fills the summaries in one pass, checked against the
reference GROUP BY (``summaries.FULL_GROUP_BY``). It then times
:func:`batchacct.publisher.publish_month` alone: the summary refresh, the selection, building the
messages, checking each with the server's rules, queueing them in a dirq directory (fsynced) and
recording them in the publication log; and checks that what was queued adds up to every job of
the month.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from dirq.QueueSimple import QueueSimple

from batchacct import db, stack, summaries
from batchacct.apel.reader import read_message
from batchacct.publisher import Outputs, publish_month
from benchmarks.results import record

SITE = "BENCH-SITE"

_JOBS_SQL = """
INSERT INTO job_records (site, local_job_id, end_time, machine_name, submit_host, queue,
    local_user_id, local_user_group, global_user_name, fqan, fqans, vo, vo_group, vo_role,
    wall_duration, cpu_duration, processors, node_count, start_time, infrastructure_description,
    infrastructure_type, memory_real, service_level_type, service_level, normalised_wall_duration,
    normalised_cpu_duration, source_format, source_file, source_line)
SELECT %(site)s, j.id::text, j.end_time, 'condor.bench', j.ce, 'grid',
    'user' || j.u, j.vo, '/DC=org/CN=user ' || j.u, '/' || j.vo || '/Role=pilot',
    ARRAY['/' || j.vo || '/Role=pilot'], j.vo, '/' || j.vo, 'Role=pilot',
    j.wall, j.wall * j.cores * 9 / 10, j.cores, 1, j.end_time - j.wall * interval '1 second',
    'APEL-HTCONDOR', 'grid', 2000000, 'HEPSPEC', 10.0, j.wall * 10, j.wall * j.cores * 9,
    'condor', 'history', j.id
FROM (
    SELECT g AS id, g %% 50 AS u,
           (ARRAY['atlas', 'cms', 'lhcb', 'alice', 'dteam'])[1 + (g %% 50) %% 5] AS vo,
           'ce' || (g %% 3) || '.bench.example.org:9619/ce' || (g %% 3) || '-condor' AS ce,
           CASE WHEN g %% 4 = 0 THEN 8 ELSE 1 END AS cores,
           600 + (g * 7919) %% 86400 AS wall,
           %(start)s::timestamptz + ((g::bigint * 104729) %% %(seconds)s) * interval '1 second'
               AS end_time
    FROM generate_series(1::bigint, %(jobs)s) AS g
) j
"""

_CHECK_SUMMARIES = f"""
SELECT (SELECT count(*) FROM summaries), (SELECT count(*) FROM ({summaries.FULL_GROUP_BY}) g)
"""


def previous_month(now: datetime) -> tuple[int, int]:
    return (now.year - 1, 12) if now.month == 1 else (now.year, now.month - 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--jobs", type=int, default=1_000_000)
    args = p.parse_args()
    year, month = previous_month(datetime.now(UTC))
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    seconds = int((end - start).total_seconds())
    with (
        stack.temporary("batchacct-bench-") as info,
        db.connect(info.database_url, autocommit=True) as conn,
        tempfile.TemporaryDirectory(prefix="batchacct-bench-outgoing-") as spool,
    ):
        started = time.perf_counter()
        conn.execute(
            _JOBS_SQL, {"site": SITE, "start": start, "seconds": seconds, "jobs": args.jobs}
        )
        conn.execute("VACUUM ANALYZE job_records, summaries")
        setup = time.perf_counter() - started
        row = conn.execute(_CHECK_SUMMARIES).fetchone()
        assert row is not None and row[0] == row[1], row
        summary_rows = int(row[0])

        outgoing = Path(spool) / "outgoing"
        started = time.perf_counter()
        result = publish_month(conn, SITE, year, month, Outputs(outgoing=outgoing))
        elapsed = time.perf_counter() - started

        totals = queued_jobs(outgoing)

        # The worst case: records replaced since the last run left every summary row of the
        # month with stale bounds, so the refresh reads the month's job records again.
        conn.execute("UPDATE summaries SET bounds_stale = true")
        again = Path(spool) / "again"
        started = time.perf_counter()
        stale_result = publish_month(conn, SITE, year, month, Outputs(outgoing=again))
        stale_elapsed = time.perf_counter() - started
        stale_totals = queued_jobs(again)
    expected = {"summary": args.jobs, "sync": args.jobs}
    assert totals == stale_totals == expected, (totals, stale_totals)
    assert not result.rejected and not result.withheld_jobs and not stale_result.rejected
    messages = len(result.queued)
    record(
        "publish_month_1m_jobs_s"
        if args.jobs == 1_000_000
        else f"publish_month_{args.jobs}_jobs_s",
        elapsed,
        "s",
        "<= 10",
        f"{args.jobs:,} jobs of {year}-{month:02d} at one site: {summary_rows} summary rows,"
        f" {messages} messages queued (fsynced) and logged; setup {setup:.0f} s",
    )
    record(
        "publish_month_1m_jobs_stale_bounds_s"
        if args.jobs == 1_000_000
        else f"publish_month_{args.jobs}_jobs_stale_bounds_s",
        stale_elapsed,
        "s",
        "<= 10",
        "the same with every summary row's end-time bounds stale (the refresh reads the month's"
        " job records again)",
    )


def queued_jobs(outgoing: Path) -> dict[str, int]:
    """Jobs counted by the summary and the sync messages in the queue, read as ssmsend does."""
    queue = QueueSimple(str(outgoing))
    totals = {"summary": 0, "sync": 0}
    for name in queue:
        assert queue.lock(name)
        parsed = read_message(queue.get(name).decode("utf-8"), now=datetime.now(UTC))
        queue.unlock(name)
        totals[parsed.kind] += sum(r["number_of_jobs"] for r in parsed.records)
    return totals


if __name__ == "__main__":
    main()

"""The incremental summary update for a batch of 1,000 jobs.

Run: ``python -m benchmarks.bench_summaries`` (``make bench``). It starts its own embedded stack
and joins batches of 1,000 jobs (every tenth local, half of the grid jobs' CE halves arriving
first, so batches hold new records and local-to-grid upgrades) through :class:`JoinStore`, with
a site benchmark so that every job is normalised. The summaries are kept by statement triggers
on ``job_records``; PostgreSQL's own function statistics (``track_functions``) time them, apart
from the rest of the join. It reports the mean summary update per batch and checks that the
summaries equal the full GROUP BY.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from batchacct import db, stack, summaries
from batchacct.benchmarks import Benchmark, set_benchmark
from batchacct.join import JoinStore
from benchmarks.bench_join_history import SITE, _new_jobs
from benchmarks.results import record

BATCH = 1000
BATCHES = 200
TRIGGER = "summaries_follow_job_records"
ROLLUP_TRIGGER = "report_rollup_follow_job_records"


def main() -> None:
    with stack.temporary("batchacct-bench-") as info, db.connect(info.database_url) as conn:
        with conn.transaction():
            default = Benchmark(site=SITE, scope="site", benchmark_type="HEPSPEC", value=10.0)
            set_benchmark(conn, default, source="bench", now=datetime.now(UTC))
        conn.execute("SET track_functions = 'pl'")
        conn.commit()
        store = JoinStore(conn)
        started = time.perf_counter()
        for n in range(BATCHES):
            messages = _new_jobs(1_000_000 + n * BATCH, BATCH)
            store.apply(
                [d for kind, d in messages if kind == "batch"],
                [d for kind, d in messages if kind == "ce"],
            )
        elapsed = time.perf_counter() - started
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.commit()
        calls, total_ms = conn.execute(
            "SELECT calls, total_time FROM pg_stat_user_functions WHERE funcname = %s", (TRIGGER,)
        ).fetchone() or (0, 0.0)
        rollup_calls, rollup_ms = conn.execute(
            "SELECT calls, total_time FROM pg_stat_user_functions WHERE funcname = %s",
            (ROLLUP_TRIGGER,),
        ).fetchone() or (0, 0.0)
        summaries.refresh(conn)
        stored = conn.execute("SELECT count(*), sum(number_of_jobs) FROM summaries").fetchone()
        expected = conn.execute(
            f"SELECT count(*), sum(number_of_jobs) FROM ({summaries.FULL_GROUP_BY}) g"
        ).fetchone()
    assert stored == expected, (stored, expected)
    assert calls > 0, "the summary trigger never ran"
    assert rollup_calls > 0, "the report rollup trigger never ran"
    per_batch = total_ms / BATCHES
    record(
        "summary_update_per_1000_jobs_ms",
        per_batch,
        "ms",
        "<= 50",
        f"mean of {BATCHES} joined batches of {BATCH} (new jobs and local-to-grid upgrades),"
        f" {calls} trigger calls; {total_ms / 1000 / elapsed:.0%} of the join's time;"
        " summaries equal the full GROUP BY",
    )

    record(
        "report_rollup_update_per_1000_jobs_ms",
        rollup_ms / BATCHES,
        "ms",
        "<= 50",
        f"the short report's daily rollup (migration 0006), same {BATCHES} batches,"
        f" {rollup_calls} trigger calls; {rollup_ms / 1000 / elapsed:.0%} of the join's time",
    )


if __name__ == "__main__":
    main()

"""The incremental summary update for a batch of 1,000 jobs, and what it adds to the join.

Run: ``python -m benchmarks.bench_summaries`` (``make bench``). It starts its own embedded stack
and joins batches of 1,000 jobs (every tenth local, half of the grid jobs' CE halves arriving
first, so batches hold new records and local-to-grid upgrades) through :class:`JoinStore`, timing
the summary statements (:func:`batchacct.summaries.apply_deltas`) apart from the rest. It reports
the median summary update per batch and checks that the summaries equal the full GROUP BY.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import psycopg

from batchacct import db, stack, summaries
from batchacct.join import JoinStore
from benchmarks.bench_join_history import _new_jobs
from benchmarks.results import record

BATCH = 1000
BATCHES = 200


def main() -> None:
    with stack.temporary("batchacct-bench-") as info, db.connect(info.database_url) as conn:
        store = JoinStore(conn)
        timings: list[float] = []
        original = summaries.apply_deltas

        def timed(cur: psycopg.Cursor[Any]) -> None:
            started = time.perf_counter()
            original(cur)
            timings.append(time.perf_counter() - started)

        summaries.apply_deltas = timed  # type: ignore[assignment]
        started = time.perf_counter()
        for n in range(BATCHES):
            messages = _new_jobs(1_000_000 + n * BATCH, BATCH)
            store.apply(
                [d for kind, d in messages if kind == "batch"],
                [d for kind, d in messages if kind == "ce"],
            )
        elapsed = time.perf_counter() - started
        summaries.apply_deltas = original  # type: ignore[assignment]
        stored = conn.execute("SELECT count(*), sum(number_of_jobs) FROM summaries").fetchone()
        expected = conn.execute(
            f"SELECT count(*), sum(number_of_jobs) FROM ({summaries.FULL_GROUP_BY}) g"  # noqa: S608
        ).fetchone()
    assert stored == expected, (stored, expected)
    median = statistics.median(timings) * 1000
    record(
        "summary_update_per_1000_jobs_ms",
        median,
        "ms",
        "<= 50",
        f"median of {BATCHES} batches (p95 {statistics.quantiles(timings, n=20)[-1] * 1000:.1f} ms);"
        f" {sum(timings) / elapsed:.0%} of the join's time; summaries equal the full GROUP BY",
    )


if __name__ == "__main__":
    main()

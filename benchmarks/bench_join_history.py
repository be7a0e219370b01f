"""The join's cost with a large history: new jobs/s into 5 million jobs already stored.

Run: ``python -m benchmarks.bench_join_history [--history 5000000] [--new 100000]``
(``make bench``). APEL's join cost grows with history (DESIGN.md); ours must not. The history
is written straight into PostgreSQL with ``generate_series`` (batch events, CE events and
joined job records); the new jobs then go through :class:`batchacct.join.JoinStore` in batches
of 5,000 messages, both halves mixed, exactly as the joiner applies them (Kafka left out: this
measures the join). The same new jobs are also timed on an empty database, for comparison.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from batchacct import db, stack
from batchacct.join import JoinStore
from benchmarks.results import record

SITE = "BENCH"
BASE_MS = 1_700_000_000_000
BATCH_MESSAGES = 5000

_HISTORY_SQL = (
    """
INSERT INTO batch_events (site, local_job_id, end_time, machine_name, start_time, wall_duration,
    cpu_duration, local_user_id, queue, processors, node_count, exec_hosts, memory_real,
    source_format, source_file, source_line)
SELECT %(site)s, i::text, to_timestamp(1600000000 + i), 'lsf-master', to_timestamp(1600000000 + i - 3600),
    3600, 3000, 'user' || (i %% 50), 'grid', 1, 1, ARRAY['wn' || (i %% 500)], 2000000,
    'lsf', 'history', i
FROM generate_series(1, %(n)s) AS i
""",
    """
INSERT INTO ce_events (site, lrms_id, "timestamp", submit_host, global_user_name, fqan, fqans, vo,
    vo_group, vo_role, grid_job_id, source_format, source_file, source_line, consumed)
SELECT %(site)s, i::text, to_timestamp(1600000000 + i - 3700), 'ce01:9619/ce01-condor',
    '/CN=user' || (i %% 50), '/atlas/Role=pilot', ARRAY['/atlas/Role=pilot'], 'atlas', '/atlas',
    'Role=pilot', 'ce01#' || i, 'blah', 'history', i, true
FROM generate_series(1, %(n)s) AS i
""",
    """
INSERT INTO job_records (site, local_job_id, end_time, machine_name, submit_host, queue,
    local_user_id, global_user_name, fqan, fqans, vo, vo_group, vo_role, wall_duration,
    cpu_duration, processors, node_count, start_time, infrastructure_type, memory_real,
    exec_hosts, ce_timestamp, source_format, source_file, source_line)
SELECT %(site)s, i::text, to_timestamp(1600000000 + i), 'lsf-master', 'ce01:9619/ce01-condor', 'grid',
    'user' || (i %% 50), '/CN=user' || (i %% 50), '/atlas/Role=pilot', ARRAY['/atlas/Role=pilot'],
    'atlas', '/atlas', 'Role=pilot', 3600, 3000, 1, 1, to_timestamp(1600000000 + i - 3600), 'grid',
    2000000, ARRAY['wn' || (i %% 500)], to_timestamp(1600000000 + i - 3700), 'lsf', 'history', i
FROM generate_series(1, %(n)s) AS i
""",
)


def _new_jobs(first_id: int, count: int) -> list[tuple[str, dict[str, Any]]]:
    """Both halves of ``count`` new jobs (every tenth without a CE half), CE half first for
    half of them, so the batches hold joins, local records and upgrades."""
    messages: list[tuple[str, dict[str, Any]]] = []
    for n in range(count):
        job_id = str(first_id + n)
        end = BASE_MS + n * 1000
        batch = {
            "site": SITE,
            "local_job_id": job_id,
            "end_time": end,
            "machine_name": "lsf-master",
            "start_time": end - 3_600_000,
            "wall_duration": 3600,
            "cpu_duration": 3000,
            "local_user_id": f"user{n % 50}",
            "local_user_group": None,
            "queue": "grid",
            "account": None,
            "submit_time": None,
            "processors": 1,
            "node_count": 1,
            "exec_hosts": [f"wn{n % 500}"],
            "memory_real": 2_000_000,
            "memory_virtual": None,
            "exit_status": 0,
            "from_host": None,
            "infrastructure_description": "APEL-CREAM-LSF",
            "host_factor": None,
            "source_format": "lsf",
            "source_file": "new",
            "source_line": n,
        }
        halves = [("batch", batch)]
        if n % 10:
            ce = {
                "site": SITE,
                "lrms_id": job_id,
                "timestamp": end - 3_700_000,
                "submit_host": "ce01:9619/ce01-condor",
                "global_user_name": f"/CN=user{n % 50}",
                "fqan": "/atlas/Role=pilot",
                "fqans": ["/atlas/Role=pilot"],
                "vo": "atlas",
                "vo_group": "/atlas",
                "vo_role": "Role=pilot",
                "grid_job_id": f"ce01#{job_id}",
                "local_user": None,
                "source_format": "blah",
                "source_file": "new",
                "source_line": n,
            }
            halves = [("ce", ce), *halves] if n % 2 else [*halves, ("ce", ce)]
        messages.extend(halves)
    return messages


def _apply_all(store: JoinStore, messages: list[tuple[str, dict[str, Any]]]) -> float:
    started = time.perf_counter()
    for i in range(0, len(messages), BATCH_MESSAGES):
        chunk = messages[i : i + BATCH_MESSAGES]
        store.apply([d for k, d in chunk if k == "batch"], [d for k, d in chunk if k == "ce"])
    return time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--history", type=int, default=5_000_000)
    p.add_argument("--new", type=int, default=100_000)
    args = p.parse_args()
    with stack.temporary("batchacct-bench-join-") as info:
        base = info.database_url.rsplit("/", 1)[0]
        with db.connect(base + "/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE empty_history TEMPLATE batchacct")
        results = {}
        for label, dsn, history in (
            ("empty", f"{base}/empty_history", 0),
            ("history", info.database_url, args.history),
        ):
            if history:
                t0 = time.perf_counter()
                with db.connect(dsn, autocommit=True) as conn:
                    for statement in _HISTORY_SQL:
                        conn.execute(statement, {"site": SITE, "n": history})
                    conn.execute("VACUUM ANALYZE")
                print(
                    f"wrote {history:,} jobs of history in {time.perf_counter() - t0:.0f} s",
                    file=sys.stderr,
                )
            with db.connect(dsn) as conn:
                store = JoinStore(conn)
                elapsed = _apply_all(store, _new_jobs(10_000_000, args.new))
                results[label] = args.new / elapsed
        record(
            "join_new_jobs_per_s_with_history",
            results["history"],
            "jobs/s",
            ">= 10000 with 5,000,000 jobs of history",
            f"{args.history:,} jobs of history; {results['empty']:,.0f} jobs/s on an empty database;"
            " in-process JoinStore, no Kafka",
        )


if __name__ == "__main__":
    main()

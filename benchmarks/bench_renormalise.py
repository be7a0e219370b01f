"""Renormalisation of 1,000,000 stored jobs after a benchmark change.

Run: ``python -m benchmarks.bench_renormalise [--jobs 1000000]`` (``make bench``). It starts its
own embedded stack and writes the job records straight into PostgreSQL with ``generate_series``
(two sites, four CEs and local jobs, two batch hosts, 500 execution hosts, LSF and HTCondor jobs
with host factors, some with their machine's own benchmark, a year of end times); the
job_records triggers fill the summaries. It then stores benchmarks (site defaults, CEs, a batch
host, an execution-host pattern) and times :func:`batchacct.benchmarks.renormalise` over every
job three times: the first benchmarks (every job changes), one CE's benchmark changed (a sixth
of the jobs change), and nothing changed. After each run the summaries must equal the full
GROUP BY.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

import psycopg

from batchacct import benchmarks, db, stack, summaries
from batchacct.benchmarks import Benchmark
from benchmarks.results import record

SITE = "BENCH"
OTHER_SITE = "BENCH-2"
FIRST_END = datetime(2025, 1, 1, tzinfo=UTC)
TARGET_SECONDS = 60


def ce_name(n: int) -> str:
    return f"ce0{n}.example.org:9619/ce0{n}.example.org-condor"


_JOBS_SQL = """
INSERT INTO job_records (site, local_job_id, end_time, machine_name, submit_host, queue,
    local_user_id, local_user_group, global_user_name, fqan, fqans, vo, vo_group, vo_role,
    wall_duration, cpu_duration, processors, node_count, start_time, infrastructure_type,
    exec_hosts, host_factor, machine_specs, source_format, source_file, source_line)
SELECT site, i::text, end_time, machine_name, submit_host, 'grid', 'user' || (i %% 50), vo,
    CASE WHEN submit_host IS NOT NULL THEN '/CN=user' || (i %% 50) END,
    CASE WHEN submit_host IS NOT NULL THEN '/' || vo || '/Role=pilot' END,
    CASE WHEN submit_host IS NOT NULL THEN ARRAY['/' || vo || '/Role=pilot'] ELSE '{}' END,
    vo, CASE WHEN submit_host IS NOT NULL THEN '/' || vo END,
    CASE WHEN submit_host IS NOT NULL THEN 'Role=pilot' END,
    wall, wall * cores * 9 / 10, cores, 1, end_time - wall * interval '1 second',
    CASE WHEN submit_host IS NULL THEN 'local' ELSE 'grid' END,
    ARRAY['wn-2026-' || lpad((i %% 500)::text, 3, '0')],
    CASE WHEN source_format = 'condor' THEN 0.8 + (i %% 5) * 0.1 ELSE 10 + i %% 4 END,
    CASE WHEN i %% 20 = 0 THEN '{"HEPscore23": 14.5}'::jsonb END,
    source_format, 'bench', i
FROM (
    SELECT i,
           CASE WHEN i %% 10 = 0 THEN %(other_site)s ELSE %(site)s END AS site,
           %(first_end)s + i * interval '31 seconds' AS end_time,
           CASE WHEN i %% 7 = 0 THEN 'lsf-master-2' ELSE 'lsf-master' END AS machine_name,
           CASE WHEN i %% 10 = 3 THEN NULL
                ELSE 'ce0' || (i %% 4) || '.example.org:9619/ce0' || (i %% 4) || '.example.org-condor'
           END AS submit_host,
           (ARRAY['atlas', 'cms', 'lhcb', 'alice', 'dteam'])[1 + i %% 5] AS vo,
           600 + (i::bigint * 7919) %% 86400 AS wall,
           CASE WHEN i %% 4 = 0 THEN 8 ELSE 1 END AS cores,
           CASE WHEN i %% 3 = 0 THEN 'condor' ELSE 'lsf' END AS source_format
    FROM generate_series(1, %(jobs)s) AS i
) g
"""

_COLUMNS = ", ".join((*summaries.KEY_COLUMNS, *summaries.MEASURE_COLUMNS))
_SUMMARY_DIFFERENCES = f"""
SELECT count(*) FROM (
    (SELECT {_COLUMNS} FROM summaries
     EXCEPT ALL SELECT {_COLUMNS} FROM ({summaries.FULL_GROUP_BY}) g)
    UNION ALL
    (SELECT {_COLUMNS} FROM ({summaries.FULL_GROUP_BY}) g
     EXCEPT ALL SELECT {_COLUMNS} FROM summaries)
) d
"""

FIRST_BENCHMARKS = [
    Benchmark(SITE, "site", "HEPSPEC", 10.0),
    Benchmark(OTHER_SITE, "site", "si2k", 2500.0),
    *(Benchmark(SITE, "ce", "HEPscore23", 11.0 + n, ce_name(n)) for n in range(4)),
    Benchmark(SITE, "machine", "HEPSPEC", 9.5, "lsf-master", host_factor_reference=11.0),
    Benchmark(SITE, "exec_host", "HEPSPEC", 15.25, "wn-2026-4*"),
]
# Ten years on, as far as the benchmarks' validity is concerned: every first version is valid.
STORED_AT = datetime(2026, 6, 1, tzinfo=UTC)


def _check_summaries(conn: psycopg.Connection) -> None:
    summaries.refresh(conn)
    row = conn.execute(_SUMMARY_DIFFERENCES).fetchone()
    assert row == (0,), f"summaries differ from the full GROUP BY in {row} rows"


def _timed_renormalise(conn: psycopg.Connection) -> tuple[float, int]:
    started = time.perf_counter()
    changed = benchmarks.renormalise(conn, FIRST_END)
    return time.perf_counter() - started, changed


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--jobs", type=int, default=1_000_000)
    args = p.parse_args()
    with stack.temporary("batchacct-bench-renormalise-") as info:
        t0 = time.perf_counter()
        with db.connect(info.database_url, autocommit=True) as conn:
            conn.execute(
                _JOBS_SQL,
                {"jobs": args.jobs, "site": SITE, "other_site": OTHER_SITE, "first_end": FIRST_END},
            )
            conn.execute("VACUUM ANALYZE")
        print(
            f"wrote {args.jobs:,} job records in {time.perf_counter() - t0:.0f} s", file=sys.stderr
        )

        with db.connect(info.database_url, autocommit=True) as conn:
            benchmarks.store_benchmarks(conn, FIRST_BENCHMARKS, source="bench", now=STORED_AT)
            all_seconds, all_changed = _timed_renormalise(conn)
            _check_summaries(conn)
            conn.execute("VACUUM ANALYZE job_records")

            benchmarks.store_benchmarks(
                conn,
                [Benchmark(SITE, "ce", "HEPscore23", 12.75, ce_name(1), valid_from=FIRST_END)],
                source="bench",
                now=STORED_AT,
            )
            one_seconds, one_changed = _timed_renormalise(conn)
            _check_summaries(conn)
            none_seconds, none_changed = _timed_renormalise(conn)
            _check_summaries(conn)
    assert all_changed == args.jobs, all_changed
    assert 0 < one_changed < args.jobs and none_changed == 0, (one_changed, none_changed)
    record(
        "renormalise_1m_jobs_one_benchmark_changed_s",
        one_seconds,
        "s",
        f"<= {TARGET_SECONDS}",
        f"{args.jobs:,} jobs examined, {one_changed:,} changed (one CE's benchmark);"
        f" summaries equal the full GROUP BY",
    )
    record(
        "renormalise_1m_jobs_all_changed_s",
        all_seconds,
        "s",
        f"<= {TARGET_SECONDS}",
        f"{all_changed:,} jobs given their first benchmarks; summaries equal the full GROUP BY",
    )
    record(
        "renormalise_1m_jobs_nothing_changed_s",
        none_seconds,
        "s",
        "none",
        f"{args.jobs:,} jobs examined, none changed (a second run)",
    )


if __name__ == "__main__":
    main()

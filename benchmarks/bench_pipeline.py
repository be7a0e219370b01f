"""One million jobs (LSF + BLAH files) to joined job records in PostgreSQL, on this machine.

Run: ``python -m benchmarks.bench_pipeline [--jobs N]`` (``make bench``). It starts its own
embedded stack in a temporary directory, generates the files, then times the real services
(two collectors and the joiner, each its own process, all started together) from start until
every job record is in PostgreSQL and every grid job is joined.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from batchacct import db, stack
from batchacct.demo import generate_site
from benchmarks.results import record


def _counts(dsn: str) -> tuple[int, int]:
    """(job records, grid job records)."""
    with db.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE infrastructure_type = 'grid') FROM job_records"
        ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--jobs", type=int, default=1_000_000)
    args = p.parse_args()
    with stack.temporary("batchacct-bench-") as info:
        home = info.home
        t0 = time.monotonic()
        site = generate_site(home / "data", jobs=args.jobs, seed=7)
        print(f"generated {args.jobs:,} jobs in {time.monotonic() - t0:.1f} s", file=sys.stderr)
        env = {**os.environ, **info.env(), "BATCHACCT_HOME": str(home)}
        logs = home / "logs"
        logs.mkdir()

        def start(name: str, argv: list[str]) -> subprocess.Popen[bytes]:
            with open(logs / f"{name}.log", "wb") as out:
                return subprocess.Popen(argv, env=env, stdout=out, stderr=out)

        started = time.monotonic()
        procs = [
            start("collector-lsf", site.collector_command("lsf")),
            start("collector-blah", site.collector_command("blah")),
            start(
                "joiner",
                [sys.executable, "-m", "batchacct_joiner", "--until-idle", "--idle-seconds", "5"],
            ),
        ]
        done_at = None
        while done_at is None:
            time.sleep(1)
            # Done = the final state: every job recorded and every grid job joined with its CE
            # record (a job whose CE record came later is first local, then upgraded).
            if _counts(info.database_url) == (site.jobs, site.grid_jobs):
                done_at = time.monotonic()
            if all(p.poll() is not None for p in procs) and done_at is None:
                raise SystemExit(f"services ended before every job was joined; logs in {logs}")
        elapsed = done_at - started
        for proc in procs:
            proc.wait(120)
        record(
            "pipeline_1m_jobs_seconds"
            if args.jobs == 1_000_000
            else f"pipeline_{args.jobs}_jobs_seconds",
            elapsed,
            "s",
            "<= 180 for 1,000,000 jobs",
            f"{site.jobs / elapsed:,.0f} jobs/s end to end, broker + PostgreSQL + 3 services on 2 cores",
        )


if __name__ == "__main__":
    main()

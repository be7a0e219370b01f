"""A one-month backfill through ``batchacct replay``: 60,000 jobs a day, 1.8 M jobs, joined.

Run: ``python -m benchmarks.bench_backfill [--jobs N]`` (``make bench``). It starts its own
embedded stack, generates a month of a synthetic site's rotated daily files (LSF accounting and
the CE's BLAH logs, one file per day each), then times, from start until every job record is in
PostgreSQL and every grid job is joined:

- ``batchacct replay --format lsf`` over the month's accounting files,
- ``batchacct replay --format blah`` over the month's BLAH files,
- two joiners (``--until-idle``; one per core, as the README advises for a backfill),

each its own process, all started together, as an administrator backfilling a site would run them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from batchacct import db, stack
from batchacct.benchmarks import Benchmark, set_benchmark
from batchacct.demo import generate_site
from benchmarks.bench_pipeline import _counts
from benchmarks.results import record

JOBS_PER_DAY = 60_000
DAYS = 30


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--jobs", type=int, default=JOBS_PER_DAY * DAYS)
    p.add_argument("--joiners", type=int, default=2)
    args = p.parse_args()
    keep = bool(os.environ.get("BATCHACCT_BENCH_KEEP"))
    with stack.temporary("batchacct-bench-", keep=keep) as info:
        home = info.home
        t0 = time.monotonic()
        site = generate_site(
            home / "data",
            jobs=args.jobs,
            seed=11,
            end=datetime(2026, 10, 1, tzinfo=UTC),
            months=1,
            files_per_kind=DAYS,
        )
        print(f"generated {args.jobs:,} jobs in {time.monotonic() - t0:.1f} s", file=sys.stderr)
        with db.connect(info.database_url) as conn, conn.transaction():
            # A site has a benchmark: every job is normalised as it is joined.
            default = Benchmark(
                site=site.site, scope="site", benchmark_type="HEPscore23", value=12.5
            )
            set_benchmark(conn, default, source="bench", now=datetime.now(UTC))
        env = {**os.environ, **info.env(), "BATCHACCT_HOME": str(home)}
        logs = home / "logs"
        logs.mkdir()
        batchacct = str(Path(sys.executable).parent / "batchacct")
        window = ["--since", "2026-09-01", "--until", "2026-10-01"]

        def start(name: str, argv: list[str]) -> subprocess.Popen[bytes]:
            with open(logs / f"{name}.log", "wb") as out:
                return subprocess.Popen(argv, env=env, stdout=out, stderr=out)

        started = time.monotonic()
        procs = [
            start(
                "replay-lsf",
                [
                    batchacct,
                    "replay",
                    "--format",
                    "lsf",
                    "--site",
                    site.site,
                    "--machine-name",
                    site.machine_name,
                    *window,
                    *map(str, site.lsf_files),
                ],
            ),
            start(
                "replay-blah",
                [
                    batchacct,
                    "replay",
                    "--format",
                    "blah",
                    "--site",
                    site.site,
                    *window,
                    *map(str, site.blah_files),
                ],
            ),
            *(
                start(
                    f"joiner-{n}",
                    [
                        sys.executable,
                        "-m",
                        "batchacct_joiner",
                        "--until-idle",
                        "--idle-seconds",
                        "5",
                    ],
                )
                for n in range(args.joiners)
            ),
        ]
        done_at = None
        finished: dict[str, float] = {}
        while done_at is None:
            time.sleep(1)
            for name, proc in zip(("replay-lsf", "replay-blah"), procs, strict=False):
                if name not in finished and proc.poll() is not None:
                    finished[name] = time.monotonic() - started
            if _counts(info.database_url) == (site.jobs, site.grid_jobs):
                done_at = time.monotonic()
            if all(p.poll() is not None for p in procs) and done_at is None:
                raise SystemExit(f"replay ended before every job was joined; logs in {logs}")
        elapsed = done_at - started
        for proc in procs:
            proc.wait(120)
        for name in ("replay-lsf", "replay-blah"):
            summary = [
                line
                for line in (logs / f"{name}.log").read_text(errors="replace").splitlines()
                if line.startswith("replayed:")
            ]
            print(f"{name}: {summary[-1] if summary else '(no output)'}", file=sys.stderr)
        print(
            ", ".join(f"{name} done after {t:.0f} s" for name, t in sorted(finished.items())),
            file=sys.stderr,
        )
        retries = sum(
            log.read_text(errors="replace").count("join transaction aborted")
            for log in logs.glob("joiner-*.log")
        )
        record(
            "backfill_month_seconds",
            elapsed,
            "s",
            "<= 300 for 1,800,000 jobs (60,000/day for 30 days)",
            f"{site.jobs:,} jobs ({site.grid_jobs:,} grid), {site.jobs / elapsed:,.0f} jobs/s,"
            f" two replays + {args.joiners} joiner(s) on 2 cores;"
            f" {retries} join transaction(s) retried after a deadlock",
        )


if __name__ == "__main__":
    main()

"""The API's latency over 10,000,000 job records, under load on loopback.

Run: ``python -m benchmarks.bench_api_load [--jobs 10000000]`` (``make bench``). It starts its
own embedded stack and writes the job records straight into PostgreSQL with ``generate_series``,
a million per statement (the job_records triggers fill the summaries and the report rollup):
a year of end times, 200 users in 20 groups, 8 VOs, 10 accounts, 5 queues, 3 CEs and local jobs,
2 batch hosts, 1 or 8 processors, a benchmark for all but one job in fifty, two sites. Then it
starts the real API (``batchacct-api`` under uvicorn, one worker) on a free loopback port with a
read token, and drives each endpoint with a fixed number of requests at a fixed concurrency
(an asyncio + httpx load generator), recording every request's latency; it reports p50 and p95.

Targets: reports and summaries p95 <= 200 ms; the job listing with filters and keyset
pagination p95 <= 50 ms at any page depth (pages 1, 100 and 1000 of one VO's jobs, a cursor
near the end of the data, one user's jobs, and a user without jobs: the last page of a filter).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from batchacct import db, stack
from batchacct.tokens import create_token
from benchmarks.results import record

SITE = "BENCH"
OTHER_SITE = "BENCH-2"
FIRST_END = datetime(2025, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=365)
CHUNK = 1_000_000
REPORT_TARGET_MS = 200
LISTING_TARGET_MS = 50
VOS = ("atlas", "cms", "lhcb", "alice", "dteam", "ops", "belle", "dune")

# Users 0..199 in groups user % 20; a user's VO is its group's (group % 8); a user charges one
# of two accounts, runs in two of five queues, mostly through one of three CEs (some local).
_JOBS_SQL = """
INSERT INTO job_records (site, local_job_id, end_time, machine_name, submit_host, queue,
    local_user_id, local_user_group, global_user_name, fqan, fqans, vo, vo_group, vo_role,
    account, wall_duration, cpu_duration, processors, node_count, start_time, submit_time,
    infrastructure_type, exec_hosts, service_level_type, service_level,
    normalised_wall_duration, normalised_cpu_duration, source_format, source_file, source_line)
SELECT site, i::text, end_time, machine_name, submit_host, queue, 'user' || u, 'group' || (u %% 20),
    CASE WHEN submit_host IS NOT NULL THEN '/CN=user' || u END,
    CASE WHEN submit_host IS NOT NULL THEN '/' || vo || '/Role=pilot' END,
    CASE WHEN submit_host IS NOT NULL THEN ARRAY['/' || vo || '/Role=pilot'] ELSE '{}' END,
    vo, CASE WHEN submit_host IS NOT NULL THEN '/' || vo END,
    CASE WHEN submit_host IS NOT NULL THEN 'Role=pilot' END,
    'acct' || ((u + i %% 2) %% 10), wall, wall * cores * 9 / 10, cores, 1,
    end_time - wall * interval '1 second', end_time - (wall + i %% 600) * interval '1 second',
    CASE WHEN submit_host IS NULL THEN 'local' ELSE 'grid' END,
    ARRAY['wn-' || lpad((i %% 500)::text, 3, '0')],
    CASE WHEN benchmark IS NOT NULL THEN 'HEPscore23' END, benchmark,
    round(wall * cores * benchmark), round(wall * cores * 9 / 10 * benchmark),
    'lsf', 'bench', i
FROM (
    SELECT i, u,
           CASE WHEN i %% 10 = 0 THEN %(other_site)s ELSE %(site)s END AS site,
           %(first_end)s + (i::float8 * %(span_s)s / %(total)s) * interval '1 second' AS end_time,
           CASE WHEN i %% 7 = 0 THEN 'lsf-master-2' ELSE 'lsf-master' END AS machine_name,
           CASE WHEN u %% 10 = 3 THEN NULL
                ELSE 'ce0' || ((u + i %% 5 / 4) %% 3) || '.example.org'
           END AS submit_host,
           (ARRAY['grid', 'short', 'long', 'express', 'gpu'])[1 + (u + i %% 2) %% 5] AS queue,
           (%(vos)s::text[])[1 + (u %% 20) %% 8] AS vo,
           600 + (i::bigint * 7919) %% 86400 AS wall,
           CASE WHEN i %% 4 = 0 THEN 8 ELSE 1 END AS cores,
           CASE WHEN i %% 50 = 0 THEN NULL ELSE 10 + (u + i %% 5 / 4) %% 3 END AS benchmark
    FROM (SELECT i, (i::bigint * 2654435761) %% 200 AS u
          FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS i) s
) g
"""


def load_jobs(database_url: str, jobs: int) -> float:
    """Write ``jobs`` job records a chunk at a time; returns the seconds it took."""
    started = time.perf_counter()
    with db.connect(database_url, autocommit=True) as conn:
        for first in range(1, jobs + 1, CHUNK):
            conn.execute(
                _JOBS_SQL,
                {
                    "first": first,
                    "last": min(first + CHUNK - 1, jobs),
                    "total": jobs,
                    "span_s": SPAN.total_seconds(),
                    "site": SITE,
                    "other_site": OTHER_SITE,
                    "first_end": FIRST_END,
                    "vos": list(VOS),
                },
            )
            print(f"  {min(first + CHUNK - 1, jobs):,} job records", file=sys.stderr, flush=True)
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


def _free_port() -> int:
    return stack.free_port()


def start_api(database_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "BATCHACCT_DATABASE_URL": database_url,
        "BATCHACCT_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "batchacct_api", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
    )


async def wait_ready(client: httpx.AsyncClient, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("the API did not become ready")


async def load(
    client: httpx.AsyncClient, url: str, requests: int, concurrency: int, seconds: float
) -> list[float]:
    """``requests`` GETs of ``url``, ``concurrency`` at a time, none started after ``seconds``
    (and at least ``concurrency``); each one's latency in ms."""
    latencies: list[float] = []
    remaining = requests
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0 and (len(latencies) < concurrency or time.monotonic() < deadline):
            remaining -= 1
            started = time.perf_counter()
            response = await client.get(url)
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


async def cursor_at_page(client: httpx.AsyncClient, url: str, page: int) -> str:
    """The cursor that fetches page ``page`` (2 or more) of ``url``, by following next_cursor."""
    cursor = ""
    for _ in range(page - 1):
        response = await client.get(f"{url}&cursor={cursor}" if cursor else url)
        response.raise_for_status()
        cursor = str(response.json()["next_cursor"] or "")
        assert cursor, f"{url} has fewer than {page} pages"
    return cursor


def jobs_cursor(end_time: datetime) -> str:
    """A cursor as the API issues them: resume after (end_time, "", "", "")."""
    raw = json.dumps({"k": "jobs", "v": [end_time.isoformat(), "", "", ""]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode("ascii")


async def drive(
    base_url: str, token: str, requests: int, concurrency: int, seconds: float
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=120
    ) as client:
        await wait_ready(client)
        vo_jobs = "/api/v1/jobs?vo=atlas&limit=100"
        reports_and_summaries = {
            "summaries_vo_month": "/api/v1/summaries?group_by=vo,month",
            "summaries_site_service_level": "/api/v1/summaries?group_by=site,service_level",
            "report_short_vo": "/api/v1/reports/short?by=vo",
            "report_short_user": "/api/v1/reports/short?by=user",
            "report_short_default": "/api/v1/reports/short",
            "report_short_month_site": f"/api/v1/reports/short?by=month,submit_host&site={SITE}",
            "report_short_day_since": "/api/v1/reports/short?by=day&since=2025-12-01T00:00:00Z",
            "report_short_user_vo": "/api/v1/reports/short?by=user,month&vo=atlas",
            "report_short_week_site_range": (
                f"/api/v1/reports/short?by=week,queue&site={SITE}"
                "&since=2025-03-01T00:00:00Z&until=2025-09-01T00:00:00Z"
            ),
        }
        deep = jobs_cursor(FIRST_END + SPAN - timedelta(days=2))
        listings = {
            "jobs_vo_page_1": vo_jobs,
            "jobs_vo_page_100": f"{vo_jobs}&cursor={await cursor_at_page(client, vo_jobs, 100)}",
            "jobs_vo_page_1000": f"{vo_jobs}&cursor={await cursor_at_page(client, vo_jobs, 1000)}",
            "jobs_vo_deep_cursor": f"{vo_jobs}&cursor={deep}",
            "jobs_user": "/api/v1/jobs?local_user_id=user17&limit=100",
            "jobs_user_deep_cursor": f"/api/v1/jobs?local_user_id=user17&limit=100&cursor={deep}",
            # The last page of any filter: a user without jobs.
            "jobs_user_without_jobs": "/api/v1/jobs?local_user_id=nobody&limit=100",
        }
        results: dict[str, Any] = {}
        for group, urls, target in (
            ("reports", reports_and_summaries, REPORT_TARGET_MS),
            ("listing", listings, LISTING_TARGET_MS),
        ):
            for name, url in urls.items():
                (await client.get(url)).raise_for_status()  # warm up
                latencies = await load(client, url, requests, concurrency, seconds)
                results[name] = (group, url, target, latencies)
        return results


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--jobs", type=int, default=10_000_000)
    p.add_argument("--requests", type=int, default=200, help="per endpoint")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--seconds", type=float, default=20, help="at most, per endpoint")
    args = p.parse_args()
    with stack.temporary("batchacct-bench-api-") as info:
        seconds = load_jobs(info.database_url, args.jobs)
        print(f"wrote {args.jobs:,} job records in {seconds:.0f} s", file=sys.stderr)
        token = create_token(info.database_url, "bench-read", ["read"])
        port = _free_port()
        api = start_api(info.database_url, port)
        try:
            results = asyncio.run(
                drive(
                    f"http://127.0.0.1:{port}",
                    token,
                    args.requests,
                    args.concurrency,
                    args.seconds,
                )
            )
        finally:
            api.terminate()
            api.wait(timeout=30)
    for name, (_group, url, target, latencies) in results.items():
        p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
        record(
            f"api_{name}_p95_ms",
            p95,
            "ms",
            f"<= {target}",
            f"GET {url.split('&cursor=')[0]}; p50 {p50:.1f} ms; {len(latencies)} requests,"
            f" {args.concurrency} concurrent, {args.jobs:,} job records",
        )


if __name__ == "__main__":
    main()

"""End to end: log files → collectors → broker → joiner → publisher → the SSM outgoing queue.

The queue is read back with the ``dirq`` package's own QueueSimple (as ``ssmsend`` reads it),
every element is parsed by the strict reader, and what the messages say is checked against the
job records. The first test is apel-facts §2.2's example, byte for byte, from its own input:
pbs.log line 1 joined with the grid identity of blah.log line 1.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dirq.QueueSimple import QueueSimple

from batchacct.apel.reader import ParsedMessage, read_message
from batchacct.benchmarks import Benchmark, set_benchmark
from batchacct_collector_pbs.__main__ import main as pbs_main
from batchacct_publisher.__main__ import main as publisher_main
from tests.samples import JOB_V03_TEXT, SUMMARY_V02_TEXT, SYNC_V01_TEXT

from .conftest import Env
from .pipeline import SITE, blah_line, collect_blah, collect_lsf, join, lsf_line, write

pytestmark = pytest.mark.integration

FORMATS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "formats"
CE = "cream-2-fzk.gridka.de:8443/cream-pbs-atlasXL"
NOW = datetime(2026, 11, 22, tzinfo=UTC)


def queued_texts(outgoing: Path) -> list[str]:
    """Every element of the outgoing queue, read the way ssmsend reads it."""
    queue = QueueSimple(str(outgoing))
    texts = []
    name = queue.first()
    while name:
        if queue.lock(name):
            body = queue.get(name)
            texts.append(body.decode("utf-8") if isinstance(body, bytes) else body)
            queue.unlock(name)
        name = queue.next()
    return texts


def set_benchmarks(env: Env, *benchmarks: Benchmark) -> None:
    with env.connect() as conn, conn.transaction():
        for benchmark in benchmarks:
            set_benchmark(conn, benchmark, source="test", now=NOW)


def succeeds(main: Callable[[list[str]], object], argv: list[str]) -> None:
    try:
        main(argv)
    except SystemExit as exit_:
        assert exit_.code in (0, None), f"exit code {exit_.code}"


def publish(outgoing: Path, *options: str) -> None:
    succeeds(publisher_main, ["--once", "--outgoing", str(outgoing), *options])


def test_apel_example_messages_from_their_own_input(env_vars: Env, tmp_path: Path) -> None:
    pbs_line = (FORMATS / "pbs.log").read_text().splitlines()[0]
    pbs = write(tmp_path / "pbs" / "20111002", [pbs_line])
    # blah.log line 1's grid identity, for this job (lrmsID) and near its end (timestamp).
    blah = write(
        tmp_path / "blah" / "blahp.log",
        [
            blah_line(
                "21048463.lcgbatch01.gridpp.rl.ac.uk",
                "2011-10-02T05:41:44",
                dn="/O=GermanGrid/OU=UniWuppertal/CN=Torsten Harenberg",
                fqan="/atlas/Role=production/Capability=NULL",
                ce=CE,
            )
        ],
    )
    pbs_main(
        ["--site", "testSite", "--machine-name", "testHost", "--once", "--acct-file", str(pbs)]
    )
    collect_blah(blah, site="testSite")
    set_benchmarks(
        env_vars,
        Benchmark(
            site="testSite", scope="ce", scope_value=CE, benchmark_type="HEPSPEC", value=10.0
        ),
    )
    join()

    jobs, month = tmp_path / "jobs", tmp_path / "month"
    publish(jobs, "--mode", "jobs", "--jobs", "all")
    assert sorted(queued_texts(jobs)) == sorted([JOB_V03_TEXT, SYNC_V01_TEXT])
    # `batchacct publish` re-sends the month: its summary and its sync record.
    from batchacct.cli import main as batchacct_main

    succeeds(
        batchacct_main,
        ["publish", "--site", "testSite", "--month", "2011-10", "--outgoing", str(month)],
    )
    assert sorted(queued_texts(month)) == sorted([SUMMARY_V02_TEXT, SYNC_V01_TEXT])


def test_logs_to_outgoing_queue(env_vars: Env, tmp_path: Path) -> None:
    # The previous and the current month (what the summaries mode sends), three users, two CEs,
    # one local job per ten, and one CE whose benchmark is missing: its jobs are joined and
    # stored but withheld from publishing. Current-month jobs end on its first day, never in
    # the future.
    today = datetime.now(UTC)
    this_month = today.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    lsf, blah = [], []
    for n in range(1, 61):
        if n % 2:
            start = last_month + timedelta(days=n % 20, hours=8)
            end = start + timedelta(hours=2)
        else:
            start, end = this_month, this_month + timedelta(minutes=n)
        user = f"atlas{n % 3:03d}"
        lsf.append(lsf_line(1000 + n, iso(start), iso(end), user=user, utime=100 + n, stime=n))
        if n % 10:
            ce = "ce01.test:8443/cream-lsf-grid" if n % 7 else "ce02.test:8443/cream-lsf-grid"
            blah.append(blah_line(str(1000 + n), iso(start), dn=f"/DC=test/CN={user}", ce=ce))
    collect_lsf(write(tmp_path / "lsb.acct", lsf))
    collect_blah(write(tmp_path / "blahp.log", blah))
    set_benchmarks(
        env_vars,
        Benchmark(
            site=SITE,
            scope="ce",
            scope_value="ce01.test:8443/cream-lsf-grid",
            benchmark_type="HEPscore23",
            value=12.5,
        ),
    )
    join()

    summaries_dir, jobs_dir = tmp_path / "summaries", tmp_path / "jobs"
    publish(summaries_dir, "--message-version", "normalised-v0.4")
    publish(jobs_dir, "--mode", "jobs", "--jobs", "all", "--message-version", "v0.4")
    parsed = [read_message(text, now=datetime.now(UTC)) for text in queued_texts(summaries_dir)]
    parsed += [read_message(text, now=datetime.now(UTC)) for text in queued_texts(jobs_dir)]

    with env_vars.connect() as conn:
        cur = conn.execute(
            "SELECT local_job_id, submit_host, wall_duration, cpu_duration,"
            " normalised_wall_duration, normalised_cpu_duration, service_level,"
            " extract(month FROM end_time AT TIME ZONE 'UTC')::int AS month"
            " FROM job_records WHERE infrastructure_type = 'grid' AND service_level IS NOT NULL"
        )
        names = [d.name for d in cur.description or ()]
        published = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        withheld = conn.execute(
            "SELECT count(*) FROM job_records WHERE service_level IS NULL"
        ).fetchone()
    assert withheld is not None and withheld[0] > 0
    assert published

    records = by_kind(parsed)
    # Individual jobs: exactly the benchmarked grid records, with their values.
    sent_jobs = {r["local_job_id"]: r for r in records["job"]}
    assert sent_jobs.keys() == {r["local_job_id"] for r in published}
    for row in published:
        job = sent_jobs[row["local_job_id"]]
        assert (job["wall_duration"], job["cpu_duration"]) == (
            row["wall_duration"],
            row["cpu_duration"],
        )
        assert job["service_level"] == row["service_level"] == 12.5
    # Normalised summaries: per month, the sums of the records.
    for month in (last_month.month, this_month.month):
        rows = [r for r in published if r["month"] == month]
        sent = [s for s in records["normalised-summary"] if s["month"] == month]
        assert sum(s["number_of_jobs"] for s in sent) == len(rows)
        assert sum(s["wall_duration"] for s in sent) == sum(r["wall_duration"] for r in rows)
        assert sum(s["normalised_wall_duration"] for s in sent) == sum(
            r["normalised_wall_duration"] for r in rows
        )
        assert sum(s["normalised_cpu_duration"] for s in sent) == sum(
            r["normalised_cpu_duration"] for r in rows
        )
    # Sync records: jobs per submit host and month, as published.
    expected_sync = Counter((r["submit_host"], r["month"]) for r in published)
    sync: dict[tuple[str, int], int] = defaultdict(int)
    for s in records["sync"]:
        sync[(s["submit_host"], s["month"])] = s["number_of_jobs"]
    assert dict(sync) == dict(expected_sync)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def by_kind(messages: list[ParsedMessage]) -> dict[str, list[dict[str, Any]]]:
    kinds: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for message in messages:
        kinds[message.kind].extend(message.records)
    return kinds

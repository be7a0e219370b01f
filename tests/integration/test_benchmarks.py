"""Which benchmark a job gets, its normalised durations, and renormalisation, on the real
PostgreSQL: jobs go through the real join (:class:`JoinStore`), benchmarks through
:func:`benchmarks.store_benchmarks` or ``batchacct benchmarks load``."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from batchacct import benchmarks, summaries
from batchacct.benchmarks import Benchmark
from batchacct.cli import main
from batchacct.join import JoinStore

from .conftest import Env

pytestmark = pytest.mark.integration

SITE = "SITE-A"
CE = "ce01.example.org:9619/ce01.example.org-condor"
BATCH_HOST = "batch01"
END = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 4, 1, tzinfo=UTC)


def batch_event(
    job: str,
    *,
    site: str = SITE,
    end: datetime = END,
    machine: str = BATCH_HOST,
    exec_hosts: Sequence[str] = ("wn-2026-01",),
    source_format: str = "lsf",
    host_factor: float | None = None,
    machine_specs: dict[str, float] | None = None,
    wall: int = 3600,
    cpu: int = 3000,
    processors: int = 1,
) -> dict[str, Any]:
    end_ms = int(end.timestamp() * 1000)
    return {
        "site": site,
        "local_job_id": job,
        "end_time": end_ms,
        "machine_name": machine,
        "start_time": end_ms - max(wall, 0) * 1000,
        "wall_duration": wall,
        "cpu_duration": cpu,
        "local_user_id": "alice",
        "local_user_group": "atlas",
        "queue": "grid",
        "account": None,
        "submit_time": None,
        "processors": processors,
        "node_count": 1,
        "exec_hosts": list(exec_hosts),
        "memory_real": None,
        "memory_virtual": None,
        "exit_status": 0,
        "from_host": None,
        "infrastructure_description": "APEL-CREAM-LSF",
        "host_factor": host_factor,
        "source_format": source_format,
        "source_file": "acct",
        "source_line": 1,
        "machine_specs": machine_specs or {},
    }


def ce_event(job: str, *, site: str = SITE, end: datetime = END, ce: str = CE) -> dict[str, Any]:
    return {
        "site": site,
        "lrms_id": job,
        "timestamp": int((end - timedelta(minutes=5)).timestamp() * 1000),
        "submit_host": ce,
        "global_user_name": "/CN=pilot",
        "fqan": "/atlas/Role=pilot",
        "fqans": ["/atlas/Role=pilot"],
        "vo": "atlas",
        "vo_group": "/atlas",
        "vo_role": "Role=pilot",
        "grid_job_id": f"https://{ce}/{job}",
        "local_user": None,
        "source_format": "blah",
        "source_file": "blahp.log",
        "source_line": 1,
    }


@pytest.fixture
def conn(env: Env) -> Iterator[psycopg.Connection]:
    with env.connect() as c:
        yield c


def store(conn: psycopg.Connection, *wanted: Benchmark, now: datetime = NOW) -> list[str]:
    stored = benchmarks.store_benchmarks(conn, wanted, source="test", now=now)
    return [s.outcome for s in stored]


def join(
    conn: psycopg.Connection,
    batch: Sequence[dict[str, Any]],
    ce: Sequence[dict[str, Any]] = (),
) -> None:
    JoinStore(conn).apply(batch, ce)


def grid_job(conn: psycopg.Connection, job: str, **fields: Any) -> None:
    site, end = fields.get("site", SITE), fields.get("end", END)
    join(conn, [batch_event(job, **fields)], [ce_event(job, site=site, end=end)])


def level(conn: psycopg.Connection, job: str) -> tuple[str | None, float | None]:
    row = conn.execute(
        "SELECT service_level_type, service_level FROM job_records WHERE local_job_id = %s", (job,)
    ).fetchone()
    assert row is not None, f"job {job} not stored"
    return row[0], row[1]


def check_summaries(conn: psycopg.Connection) -> None:
    summaries.refresh(conn)
    columns = ", ".join((*summaries.KEY_COLUMNS, *summaries.MEASURE_COLUMNS))
    stored = conn.execute(f"SELECT {columns} FROM summaries").fetchall()
    expected = conn.execute(f"SELECT {columns} FROM ({summaries.FULL_GROUP_BY}) g").fetchall()
    assert sorted(stored, key=repr) == sorted(expected, key=repr)


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


# --- precedence, one rule per test ---------------------------------------------------------------


def test_the_jobs_own_machine_specs_come_first(conn: psycopg.Connection) -> None:
    store(conn, Benchmark(SITE, "exec_host", "HEPSPEC", 20.0, "wn-2026-01"))
    specs = {
        "all": {"hepspec": 11.0, "SI2K": 2500.0, "hepScore23": 13.0},
        "hepspec": {"Hepspec": 11.0, "si2k": 2500.0},
        "si2k": {"SI2K": 2600.0},
        "none-usable": {"HEPSPEC": 0.0, "other": 5.0},
    }
    for job, machine_specs in specs.items():
        # Condor's scale factor applies to stored benchmarks, never to the machine's own.
        grid_job(conn, job, machine_specs=machine_specs, source_format="condor", host_factor=2.0)
    assert level(conn, "all") == ("HEPscore23", 13.0)
    assert level(conn, "hepspec") == ("HEPSPEC", 11.0)
    assert level(conn, "si2k") == ("si2k", 2600.0)
    assert level(conn, "none-usable") == ("HEPSPEC", 20.0)  # the exec host's own, as it is


def test_an_exec_host_by_exact_name_beats_a_pattern(conn: psycopg.Connection) -> None:
    store(
        conn,
        Benchmark(SITE, "exec_host", "HEPSPEC", 14.0, "wn-2026-*"),
        Benchmark(SITE, "exec_host", "HEPSPEC", 20.0, "wn-2026-01"),
        Benchmark(SITE, "exec_host", "HEPSPEC", 30.0, "wn-2026-01*"),  # longer, still a pattern
    )
    grid_job(conn, "exact", exec_hosts=["wn-2026-01"])
    grid_job(conn, "pattern", exec_hosts=["wn-2026-017"])
    assert level(conn, "exact") == ("HEPSPEC", 20.0)
    assert level(conn, "pattern") == ("HEPSPEC", 30.0)


def test_the_longest_matching_exec_host_pattern_wins(conn: psycopg.Connection) -> None:
    store(
        conn,
        Benchmark(SITE, "exec_host", "HEPSPEC", 12.0, "wn-*"),
        Benchmark(SITE, "exec_host", "HEPSPEC", 14.0, "wn-2026-*"),
        Benchmark(SITE, "exec_host", "HEPSPEC", 16.0, "wn_?"),  # '_' is a character, not LIKE's
        Benchmark(SITE, "ce", "HEPSPEC", 10.0, CE),
    )
    grid_job(conn, "new", exec_hosts=["wn-2026-05"])
    grid_job(conn, "old", exec_hosts=["wn-2019-05"])
    grid_job(conn, "underscore", exec_hosts=["wn_7"])
    grid_job(conn, "not-underscore", exec_hosts=["wnx7"])
    assert level(conn, "new") == ("HEPSPEC", 14.0)
    assert level(conn, "old") == ("HEPSPEC", 12.0)
    assert level(conn, "underscore") == ("HEPSPEC", 16.0)
    assert level(conn, "not-underscore") == ("HEPSPEC", 10.0)  # no pattern matches: the CE's


def test_an_exec_host_pattern_beats_the_ce_and_only_the_first_exec_host_counts(
    conn: psycopg.Connection,
) -> None:
    store(
        conn,
        Benchmark(SITE, "exec_host", "HEPSPEC", 12.0, "wn-*"),
        Benchmark(SITE, "ce", "HEPSPEC", 10.0, CE),
    )
    grid_job(conn, "on-wn", exec_hosts=["wn-01", "other-01"])
    grid_job(conn, "first-elsewhere", exec_hosts=["other-01", "wn-01"])
    grid_job(conn, "no-exec-host", exec_hosts=[])
    assert level(conn, "on-wn") == ("HEPSPEC", 12.0)
    assert level(conn, "first-elsewhere") == ("HEPSPEC", 10.0)
    assert level(conn, "no-exec-host") == ("HEPSPEC", 10.0)


def test_the_ce_beats_the_batch_host(conn: psycopg.Connection) -> None:
    store(
        conn,
        Benchmark(SITE, "ce", "HEPSPEC", 10.0, CE),
        Benchmark(SITE, "machine", "HEPSPEC", 11.0, BATCH_HOST),
    )
    grid_job(conn, "grid")
    join(conn, [batch_event("local")])
    assert level(conn, "grid") == ("HEPSPEC", 10.0)
    assert level(conn, "local") == ("HEPSPEC", 11.0)  # no CE: the batch host's


def test_the_batch_host_beats_the_site_default(conn: psycopg.Connection) -> None:
    store(
        conn,
        Benchmark(SITE, "machine", "HEPSPEC", 11.0, BATCH_HOST),
        Benchmark(SITE, "site", "si2k", 2250.0),
    )
    join(conn, [batch_event("on-batch01"), batch_event("on-batch02", machine="batch02")])
    assert level(conn, "on-batch01") == ("HEPSPEC", 11.0)
    assert level(conn, "on-batch02") == ("si2k", 2250.0)


def test_the_site_default_is_the_last_resort_and_stays_in_its_site(
    conn: psycopg.Connection,
) -> None:
    store(conn, Benchmark(SITE, "site", "HEPscore23", 9.0))
    grid_job(conn, "here")
    grid_job(conn, "elsewhere", site="SITE-B")
    assert level(conn, "here") == ("HEPscore23", 9.0)
    assert level(conn, "elsewhere") == (None, None)


# --- host factors ------------------------------------------------------------------------------


def test_host_factors(conn: psycopg.Connection) -> None:
    store(
        conn,
        # LSF: measured at CPU factor 13.
        Benchmark(SITE, "machine", "HEPSPEC", 11.0, "lsf-ref", host_factor_reference=13.0),
        Benchmark(SITE, "machine", "HEPSPEC", 11.0, "lsf-noref"),
        Benchmark(SITE, "machine", "HEPSPEC", 12.0, "condor"),
        Benchmark(SITE, "machine", "HEPSPEC", 12.0, "sge"),
    )
    join(
        conn,
        [
            batch_event("lsf-ref", machine="lsf-ref", host_factor=26.0),
            batch_event("lsf-noref", machine="lsf-noref", host_factor=26.0),
            batch_event("lsf-none", machine="lsf-ref"),  # no factor: the value as it is
            batch_event("condor", machine="condor", source_format="condor", host_factor=1.25),
            batch_event("sge", machine="sge", source_format="sge", host_factor=0.5),
            batch_event("absurd", machine="condor", source_format="condor", host_factor=5e6),
        ],
    )
    assert level(conn, "lsf-ref") == ("HEPSPEC", 22.0)  # 11 x 26 / 13
    assert level(conn, "lsf-noref") == ("HEPSPEC", 11.0)  # LSF's factor alone means nothing
    assert level(conn, "lsf-none") == ("HEPSPEC", 11.0)
    assert level(conn, "condor") == ("HEPSPEC", 15.0)  # relative already: 12 x 1.25
    assert level(conn, "sge") == ("HEPSPEC", 6.0)
    assert level(conn, "absurd") == ("HEPSPEC", 12.0)  # garbage factor: ignored


# --- time versions -------------------------------------------------------------------------------


def test_an_exec_host_benchmark_already_includes_its_speed(conn: psycopg.Connection) -> None:
    store(
        conn,
        Benchmark(SITE, "exec_host", "HEPSPEC", 15.0, "wn-fast"),
        Benchmark(SITE, "exec_host", "HEPSPEC", 15.0, "wn-ref", host_factor_reference=1.5),
    )
    join(
        conn,
        [
            batch_event("fast", exec_hosts=["wn-fast"], source_format="condor", host_factor=1.5),
            batch_event("ref", exec_hosts=["wn-ref"], source_format="condor", host_factor=3.0),
        ],
    )
    assert level(conn, "fast") == ("HEPSPEC", 15.0)  # not 15 x 1.5: measured on wn-fast
    assert level(conn, "ref") == ("HEPSPEC", 30.0)  # a reference given: 15 x 3 / 1.5


def test_time_versions(conn: psycopg.Connection) -> None:
    change = datetime(2026, 3, 1, tzinfo=UTC)
    assert store(conn, Benchmark(SITE, "site", "HEPSPEC", 10.0), now=change - timedelta(days=60))
    assert store(conn, Benchmark(SITE, "site", "HEPSPEC", 10.0005), now=change) == ["unchanged"]
    assert store(conn, Benchmark(SITE, "site", "HEPSPEC", 12.0), now=change) == ["versioned"]
    join(
        conn,
        [
            batch_event("ancient", end=datetime(2001, 5, 1, tzinfo=UTC)),
            batch_event("before", end=change - timedelta(seconds=1)),
            batch_event("at", end=change),
            batch_event("after", end=END),
        ],
    )
    # The first version covers every older job, as APEL's first SpecRecord does.
    assert level(conn, "ancient") == ("HEPSPEC", 10.0)
    assert level(conn, "before") == ("HEPSPEC", 10.0)
    assert level(conn, "at") == ("HEPSPEC", 12.0)
    assert level(conn, "after") == ("HEPSPEC", 12.0)
    versions = conn.execute(
        "SELECT value, valid_from, valid_until FROM benchmarks ORDER BY valid_from"
    ).fetchall()
    assert versions == [(10.0, benchmarks.BEGINNING, change), (12.0, change, None)]


def test_a_first_version_with_a_start_leaves_older_jobs_to_the_next_rule(
    conn: psycopg.Connection,
) -> None:
    ce_from = datetime(2026, 3, 1, tzinfo=UTC)
    store(
        conn,
        Benchmark(SITE, "ce", "HEPscore23", 15.0, CE, valid_from=ce_from),
        Benchmark(SITE, "site", "HEPSPEC", 10.0),
    )
    grid_job(conn, "old", end=ce_from - timedelta(days=1))
    grid_job(conn, "new", end=ce_from + timedelta(days=1))
    assert level(conn, "old") == ("HEPSPEC", 10.0)
    assert level(conn, "new") == ("HEPscore23", 15.0)


def test_a_change_must_start_after_the_current_version(conn: psycopg.Connection) -> None:
    store(
        conn, Benchmark(SITE, "site", "HEPSPEC", 10.0, valid_from=datetime(2026, 1, 1, tzinfo=UTC))
    )
    with pytest.raises(benchmarks.BenchmarkError, match=r"entry 2 .*not after the current"):
        store(
            conn,
            Benchmark(SITE, "ce", "HEPSPEC", 10.0, CE),
            Benchmark(SITE, "site", "HEPSPEC", 11.0, valid_from=datetime(2025, 1, 1, tzinfo=UTC)),
        )
    # All or nothing: the valid first entry was not stored either.
    assert conn.execute("SELECT scope, value FROM benchmarks").fetchall() == [("site", 10.0)]


# --- normalisation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "wall", "cpu", "service_level", "normalised_wall", "normalised_cpu"),
    [
        ("si2k", 2500.0, 1001, 999, 2500.0, 10010, 9990),  # si2k / 250, and only si2k
        ("HEPSPEC", 10.5, 1001, 999, 10.5, 10511, 10490),  # 10510.5 rounds up
        ("HEPscore23", 10.5, 1001, 999, 10.5, 10511, 10490),  # HEPscore23 = HS06
        ("HEPSPEC", 2.5, 1, 3, 2.5, 3, 8),  # 2.5 -> 3 and 7.5 -> 8: halves away from zero
        ("HEPSPEC", 12.3456, 1000, 1000, 12.346, 12346, 12346),  # level: 3 decimals first
        ("HEPSPEC", 10.0, -60, -5, 10.0, 0, 0),  # negative durations count as 0
    ],
)
def test_normalised_durations(
    conn: psycopg.Connection,
    kind: str,
    value: float,
    wall: int,
    cpu: int,
    service_level: float,
    normalised_wall: int,
    normalised_cpu: int,
) -> None:
    store(conn, Benchmark(SITE, "ce", kind, value, CE))
    grid_job(conn, "j", wall=wall, cpu=cpu)
    row = conn.execute(
        "SELECT service_level_type, service_level, normalised_wall_duration,"
        " normalised_cpu_duration FROM job_records"
    ).fetchone()
    assert row == (kind, service_level, normalised_wall, normalised_cpu)
    # The Python formula agrees with the SQL one.
    assert benchmarks.normalised(wall, kind, service_level) == normalised_wall
    assert benchmarks.normalised(cpu, kind, service_level) == normalised_cpu


# --- jobs without a benchmark, and renormalisation ---------------------------------------------


def test_a_job_without_a_benchmark_is_joined_listed_and_renormalised_later(
    env_vars: Env,
    conn: psycopg.Connection,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    grid_job(conn, "g1")
    grid_job(conn, "g2", end=END + timedelta(hours=1))
    join(conn, [batch_event("local1", machine="batch02")])
    row = conn.execute(
        "SELECT infrastructure_type, submit_host, service_level, normalised_wall_duration"
        " FROM job_records WHERE local_job_id = 'g1'"
    ).fetchone()
    assert row == ("grid", CE, None, None)  # joined all the same, flagged by the NULLs
    assert benchmarks.missing(conn) == [
        (SITE, None, "batch02", 1, END, END),  # local jobs first
        (SITE, CE, BATCH_HOST, 2, END, END + timedelta(hours=1)),
    ]
    code, out, _ = run_cli(capsys, "benchmarks", "missing")
    assert code == 0 and "jobs without a benchmark: 3" in out and CE in out

    path = tmp_path / "benchmarks.yaml"
    path.write_text(
        f"site: {SITE}\nbenchmarks:\n  - scope: ce\n    name: {CE}\n    type: HEPSPEC\n"
        "    value: 10\n"
    )
    code, out, err = run_cli(capsys, "benchmarks", "load", str(path))
    assert code == 0, err
    assert "created" in out and "batchacct renormalise --since 1970-01-01" in out
    # Storing a benchmark does not change stored jobs.
    assert level(conn, "g1") == (None, None)

    seq_before: dict[str, int] = dict(
        conn.execute("SELECT local_job_id, update_seq FROM job_records").fetchall()
    )
    code, out, _ = run_cli(capsys, "renormalise", "--since", "2026-01-01")
    assert code == 0 and "renormalised: 2 job records changed" in out
    assert level(conn, "g1") == ("HEPSPEC", 10.0)
    normalised_row = conn.execute(
        "SELECT normalised_wall_duration, normalised_cpu_duration FROM job_records"
        " WHERE local_job_id = 'g2'"
    ).fetchone()
    assert normalised_row == (36000, 30000)
    seq_after: dict[str, int] = dict(
        conn.execute("SELECT local_job_id, update_seq FROM job_records").fetchall()
    )
    assert seq_after["g1"] > seq_before["g1"] and seq_after["g2"] > seq_before["g2"]
    assert seq_after["local1"] == seq_before["local1"]  # unchanged records are not touched
    assert benchmarks.missing(conn) == [(SITE, None, "batch02", 1, END, END)]
    check_summaries(conn)

    code, out, _ = run_cli(capsys, "renormalise", "--since", "2026-01-01")
    assert "renormalised: 0 job records changed" in out
    assert dict(conn.execute("SELECT local_job_id, update_seq FROM job_records").fetchall()) == (
        seq_after
    )


def test_renormalise_in_small_batches_keeps_the_summaries_exact(
    conn: psycopg.Connection,
) -> None:
    store(conn, Benchmark("SITE-B", "site", "HEPSPEC", 8.0), Benchmark(SITE, "site", "si2k", 2000))
    start = datetime(2026, 2, 27, tzinfo=UTC)
    batch, ce = [], []
    for n in range(90):
        site = SITE if n % 3 else "SITE-B"
        # Ten jobs share each end time (more than a batch), across the February/March boundary.
        end = start + timedelta(hours=12 * (n // 10))
        event = batch_event(f"{n}", site=site, end=end, exec_hosts=[f"wn-{n % 4}"], wall=100 + n)
        batch.append(event)
        if n % 5:
            ce.append(ce_event(f"{n}", site=site, end=end))
    join(conn, batch, ce)
    check_summaries(conn)
    change = start + timedelta(days=2)
    store(
        conn,
        Benchmark(SITE, "site", "si2k", 2600, valid_from=change),
        Benchmark(SITE, "exec_host", "HEPscore23", 13.5, "wn-1"),
        Benchmark("SITE-B", "ce", "HEPSPEC", 9.25, CE),
    )
    expected_b = conn.execute(
        "SELECT count(*) FROM job_records WHERE site = 'SITE-B' AND submit_host = %s", (CE,)
    ).fetchone()
    assert expected_b is not None
    assert benchmarks.renormalise(conn, start, "SITE-B", batch_rows=7) == expected_b[0]
    check_summaries(conn)
    changed = benchmarks.renormalise(conn, start, batch_rows=7)
    assert changed > 0
    check_summaries(conn)
    assert benchmarks.renormalise(conn, start, batch_rows=7) == 0
    # Everything now is what a fresh join would give.
    for job, wn, site, end in conn.execute(
        "SELECT local_job_id, exec_hosts[1], site, end_time FROM job_records"
    ).fetchall():
        if site == SITE:
            expected = (
                ("HEPscore23", 13.5)
                if wn == "wn-1"
                else ("si2k", 2600.0 if end >= change else 2000.0)
            )
            assert level(conn, job) == expected, job


def test_renormalise_since_leaves_older_jobs_alone(conn: psycopg.Connection) -> None:
    grid_job(conn, "old", end=datetime(2025, 12, 31, tzinfo=UTC))
    grid_job(conn, "new")
    store(conn, Benchmark(SITE, "site", "HEPSPEC", 10.0))
    assert benchmarks.renormalise(conn, datetime(2026, 1, 1, tzinfo=UTC)) == 1
    assert level(conn, "old") == (None, None)
    assert level(conn, "new") == ("HEPSPEC", 10.0)
    check_summaries(conn)


# --- benchmark files through the CLI -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("site: S\nbenchmarks: [\n", "not valid YAML"),
        (
            "site: S\nbenchmarks:\n  - {scope: ce, name: c, type: HEPSPEC, value: 1}\n"
            "  - {scope: cluster, name: c, type: HEPSPEC, value: 1}\n",
            "entry 2 (cluster c): scope 'cluster' is not one of",
        ),
        (
            "site: S\nbenchmarks:\n  - {scope: ce, name: c, type: HEPSPEC, value: 1}\n"
            "  - {scope: site, name: c, type: HEPSPEC, value: 1}\n",
            "entry 2 (site c): the site default has no scope value",
        ),
        (
            "site: S\nbenchmarks:\n  - {scope: ce, name: c, type: HEPSPEC, value: 1}\n"
            "  - {scope: ce, name: c, type: HEPSPEC, value: 2}\n",
            "entries 1 and 2 both give",
        ),
        (
            "site: S\nbenchmarks:\n  - {scope: site, type: HEPSPEC, value: 1}\n"
            "  - {scope: ce, name: c, type: HS06, value: 2}\n",
            "entry 2 (ce c): benchmark type 'HS06'",
        ),
        (
            "site: S\nbenchmarks:\n  - {scope: site, type: HEPSPEC, value: 1}\n"
            "  - {scope: ce, name: c, type: si2k}\n",
            "entry 2 (ce c): 'value' is missing",
        ),
        (
            "site: S\nbenchmarks:\n  - {scope: site, type: HEPSPEC, value: 1}\n"
            "  - {scope: ce, name: c, type: si2k, value: -2500}\n",
            "is not a positive number",
        ),
    ],
)
def test_a_bad_benchmark_file_stores_nothing(
    env_vars: Env,
    conn: psycopg.Connection,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    message: str,
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    code, _, err = run_cli(capsys, "benchmarks", "load", str(path))
    assert code == 1
    assert err.startswith(f"error: {path}: ") and message in err and "nothing stored" in err
    assert conn.execute("SELECT count(*) FROM benchmarks").fetchone() == (0,)


def test_a_file_that_fails_while_storing_stores_nothing_and_dry_run_stores_nothing(
    env_vars: Env,
    conn: psycopg.Connection,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store(
        conn, Benchmark(SITE, "site", "HEPSPEC", 10.0, valid_from=datetime(2026, 1, 1, tzinfo=UTC))
    )
    path = tmp_path / "change.yaml"
    path.write_text(
        f"site: {SITE}\nbenchmarks:\n"
        f"  - {{scope: ce, name: '{CE}', type: HEPSPEC, value: 11}}\n"
        "  - {scope: site, type: HEPSPEC, value: 12, valid_from: 2025-06-01}\n"
    )
    code, _, err = run_cli(capsys, "benchmarks", "load", str(path))
    assert code == 1 and "entry 2 (site)" in err and "not after the current version" in err
    assert conn.execute("SELECT count(*) FROM benchmarks").fetchone() == (1,)

    path.write_text(
        f"site: {SITE}\nbenchmarks:\n"
        f"  - {{scope: ce, name: '{CE}', type: HEPSPEC, value: 11}}\n"
        "  - {scope: site, type: HEPSPEC, value: 12, valid_from: 2026-02-01}\n"
        "  - {scope: exec_host, name: 'wn-*', type: HEPSPEC, value: 11}\n"
    )
    code, out, err = run_cli(capsys, "benchmarks", "load", "--dry-run", str(path))
    assert code == 0, err
    assert "dry run, nothing stored" in out
    assert out.count("created") == 2 and out.count("versioned") == 1
    assert conn.execute("SELECT count(*) FROM benchmarks").fetchone() == (1,)

    code, out, err = run_cli(capsys, "benchmarks", "load", str(path))
    assert code == 0, err
    code, out, _ = run_cli(capsys, "benchmarks", "load", str(path))
    assert out.count("unchanged") == 3  # loading the same file again changes nothing
    code, out, _ = run_cli(capsys, "benchmarks", "list")
    assert code == 0 and out.count(SITE) == 3 and "2026-01-01" not in out
    code, out, _ = run_cli(capsys, "benchmarks", "list", "--all-versions", "--site", SITE)
    assert out.count(SITE) == 4 and "2026-01-01T00:00:00Z" in out


def test_a_record_the_joiner_changes_meanwhile_keeps_the_joiners_values(
    env: Env, conn: psycopg.Connection
) -> None:
    join(conn, [batch_event("upgraded"), batch_event("other", machine="batch02")])
    store(
        conn,
        Benchmark(SITE, "ce", "HEPSPEC", 10.0, CE),
        Benchmark(SITE, "machine", "HEPSPEC", 11.0, BATCH_HOST),
        Benchmark(SITE, "site", "HEPSPEC", 9.0),
    )
    with env.connect() as joiner:
        # The joiner upgrades the local record to grid (and resolves its benchmark, the CE's),
        # and has not committed yet when the renormalisation reaches the record.
        joiner.execute("BEGIN")
        joiner.execute(
            "UPDATE job_records SET infrastructure_type = 'grid', submit_host = %s,"
            " service_level_type = 'HEPSPEC', service_level = 10, normalised_wall_duration = 36000,"
            " normalised_cpu_duration = 30000 WHERE local_job_id = 'upgraded'",
            (CE,),
        )
        with ThreadPoolExecutor(1) as pool, env.connect() as renormaliser:
            running = pool.submit(benchmarks.renormalise, renormaliser, END - timedelta(days=1))
            for _ in range(200):
                waiting = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND datname = current_database()"
                ).fetchone()
                if waiting == (1,):
                    break
                time.sleep(0.02)
            assert waiting == (1,), "the renormalisation never waited for the joiner's record"
            joiner.execute("COMMIT")
            # Only "other" changed: the upgraded record was resolved from its old (local) values,
            # and is left to the joiner's new version rather than given the batch host's 11.
            assert running.result(timeout=30) == 1
    assert level(conn, "upgraded") == ("HEPSPEC", 10.0)
    assert level(conn, "other") == ("HEPSPEC", 9.0)
    check_summaries(conn)
    assert benchmarks.renormalise(conn, END - timedelta(days=1)) == 0

"""Nothing lost, nothing doubled: SIGKILL mid-stream, and replaying the same files twice."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from .conftest import Env
from .pipeline import (
    BATCH_HOST,
    SITE,
    blah_line,
    collect_blah,
    collect_lsf,
    join,
    lsf_line,
    service_process,
    write,
)

pytestmark = pytest.mark.integration

JOBS = 30000
LOCAL_EVERY = 10  # every 10th job has no CE record


def _site_files(tmp_path: Path) -> tuple[Path, Path]:
    base = datetime(2026, 9, 1, tzinfo=UTC)
    lsf, blah = [], []
    for i in range(JOBS):
        start = base + timedelta(seconds=60 * i)
        end = start + timedelta(seconds=3600 + i % 500)
        lsf.append(lsf_line(10_000 + i, start.isoformat()[:19], end.isoformat()[:19]))
        if i % LOCAL_EVERY:
            blah.append(
                blah_line(str(10_000 + i), (start - timedelta(seconds=30)).isoformat()[:19])
            )
    return write(tmp_path / "lsf" / "lsb.acct", lsf), write(tmp_path / "blah" / "blahp.log", blah)


def _counts(env: Env) -> dict[str, int]:
    with env.connect() as conn:
        row = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE infrastructure_type = 'grid'),"
            " count(DISTINCT local_job_id), COALESCE(max(update_seq), 0) FROM job_records"
        ).fetchone()
        events = conn.execute(
            "SELECT (SELECT count(*) FROM batch_events), (SELECT count(*) FROM ce_events)"
        ).fetchone()
    assert row is not None and events is not None
    return {
        "records": row[0],
        "grid": row[1],
        "distinct": row[2],
        "max_seq": row[3],
        "batch_events": events[0],
        "ce_events": events[1],
    }


EXPECTED_GRID = JOBS - len(range(0, JOBS, LOCAL_EVERY))


def _wait_until(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_sigkill_collector_and_joiner_mid_stream(env_vars: Env, tmp_path: Path) -> None:
    lsf, blah = _site_files(tmp_path)
    logs = tmp_path
    collector_args = (
        "--site",
        SITE,
        "--machine-name",
        BATCH_HOST,
        "--once",
        "--batch-lines",
        "500",
    )
    joiner = service_process(env_vars, "batchacct_joiner", log=logs / "joiner.log")
    collector = service_process(
        env_vars,
        "batchacct_collector_lsf",
        *collector_args,
        "--acct-file",
        str(lsf),
        log=logs / "lsf.log",
    )
    collect_blah(blah)

    def some_records() -> bool:
        with env_vars.connect() as conn:
            row = conn.execute("SELECT count(*) FROM job_records").fetchone()
        return row is not None and row[0] > 1000

    _wait_until(some_records, 120)
    collector.send_signal(signal.SIGKILL)
    joiner.send_signal(signal.SIGKILL)
    collector.wait()
    joiner.wait()
    partial = _counts(env_vars)
    assert 0 < partial["records"] < JOBS, "the kill must land mid-stream"

    # Restart both: the collector resumes from its checkpoint, the joiner from its offsets.
    collect_lsf(lsf)
    join()
    final = _counts(env_vars)
    assert final["records"] == final["distinct"] == final["batch_events"] == JOBS
    assert final["grid"] == EXPECTED_GRID
    assert final["ce_events"] == EXPECTED_GRID


def test_replaying_the_same_files_twice_changes_nothing(env_vars: Env, tmp_path: Path) -> None:
    lsf, blah = _site_files(tmp_path)
    collect_lsf(lsf)
    collect_blah(blah)
    join()
    first = _counts(env_vars)
    assert first["records"] == JOBS and first["grid"] == EXPECTED_GRID

    # Forget every checkpoint, as a replay does, and send everything through again.
    with env_vars.connect() as conn:
        conn.execute("DELETE FROM collector_files")
    collect_lsf(lsf)
    collect_blah(blah)
    join()
    assert _counts(env_vars) == first  # same records, none rewritten (update_seq unchanged)


def test_grown_file_resumes_and_unchanged_file_is_not_reread(env_vars: Env, tmp_path: Path) -> None:
    lsf = write(tmp_path / "lsb.acct", [lsf_line(1, "2026-10-01T10:00:00", "2026-10-01T11:00:00")])
    collect_lsf(lsf)
    with lsf.open("a") as f:
        f.write(lsf_line(2, "2026-10-01T10:00:00", "2026-10-01T11:00:00") + "\n")
    collect_lsf(lsf)
    collect_lsf(lsf)
    with env_vars.connect() as conn:
        row = conn.execute('SELECT lines, records, "offset" FROM collector_files').fetchone()
    assert row == (2, 2, lsf.stat().st_size)
    join()
    assert _counts(env_vars)["records"] == 2

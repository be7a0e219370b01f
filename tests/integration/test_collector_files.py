"""Follow mode, rotation, truncation and compressed rotated files."""

from __future__ import annotations

import gzip
import threading
from pathlib import Path

import pytest

from batchacct import db
from batchacct.collector import CollectorConfig, FileCollector
from batchacct.kafka import TrackedProducer
from batchacct.parsers import ParserConfig, make_parser
from batchacct.settings import CommonSettings

from .conftest import Env
from .pipeline import BATCH_HOST, SITE, job_records, join, lsf_line

pytestmark = pytest.mark.integration


def _line(job: int) -> str:
    return lsf_line(job, "2026-10-01T10:00:00", "2026-10-01T11:00:00") + "\n"


def _collector(env: Env, directory: Path, conn: object) -> FileCollector:
    settings = CommonSettings(
        kafka_bootstrap_servers=env.bootstrap_servers,
        database_url=env.database_url,  # type: ignore[arg-type]
        topic_prefix=env.topic_prefix,
    )
    config = CollectorConfig("lsf", SITE, BATCH_HOST, directory=directory, pattern="lsb.acct*")
    parser = make_parser("lsf", ParserConfig(SITE, BATCH_HOST))
    return FileCollector(
        settings,
        config,
        parser,
        TrackedProducer(settings.kafka_client_config()),
        conn,  # type: ignore[arg-type]
    )


def test_rotation_truncation_and_compressed_files(env_vars: Env, tmp_path: Path) -> None:
    acct = tmp_path / "lsb.acct"
    acct.write_text(_line(1) + _line(2))
    with db.connect(env_vars.database_url, autocommit=True) as conn:
        collector = _collector(env_vars, tmp_path, conn)
        assert collector.run_once().records == 2

        # LSF appends, then the file is rotated (renamed) and a new one started.
        with acct.open("a") as f:
            f.write(_line(3))
        acct.rename(tmp_path / "lsb.acct.1")
        acct.write_text(_line(10))
        stats = collector.run_once()
        assert stats.records == 2  # job 3 from the rotated file (resumed, not re-read) and job 10

        # The rotated file is compressed: same content, nothing new to send.
        rotated = tmp_path / "lsb.acct.1"
        with gzip.open(tmp_path / "lsb.acct.1.gz", "wb") as gz:
            gz.write(rotated.read_bytes())
        rotated.unlink()
        assert collector.run_once().records == 0

        # copytruncate: the live file is emptied and written again from the start.
        acct.write_text(_line(20))
        assert collector.run_once().records == 1

        # A compressed file never seen before is read in full, once.
        with gzip.open(tmp_path / "lsb.acct.old.gz", "wb") as gz:
            gz.write((_line(30) + _line(31)).encode())
        assert collector.run_once().records == 2
        assert collector.run_once().records == 0
        states = dict(
            conn.execute("SELECT path, state FROM collector_files ORDER BY path").fetchall()
        )
    assert states[str(tmp_path / "lsb.acct.1.gz")] == "done"
    assert states[str(tmp_path / "lsb.acct.old.gz")] == "done"
    join()
    assert set(job_records(env_vars)) == {"1", "2", "3", "10", "20", "30", "31"}


def test_follow_mode_picks_up_appended_lines(env_vars: Env, tmp_path: Path) -> None:
    acct = tmp_path / "lsb.acct"
    acct.write_text(_line(1))
    with db.connect(env_vars.database_url, autocommit=True) as conn:
        collector = _collector(env_vars, tmp_path, conn)
        object.__setattr__(collector.config, "interval", 0.2)
        stop = threading.Event()
        thread = threading.Thread(target=collector.run, args=(stop,))
        thread.start()
        try:
            with acct.open("a") as f:
                f.write(_line(2))
            for _ in range(100):
                row = conn.execute("SELECT records FROM collector_files").fetchone()
                if row and row[0] == 2:
                    break
                stop.wait(0.1)
        finally:
            stop.set()
            thread.join(10)
    assert row == (2,)


def test_partial_last_line_waits_for_its_newline(env_vars: Env, tmp_path: Path) -> None:
    acct = tmp_path / "lsb.acct"
    whole = _line(1) + _line(2)
    acct.write_text(whole[:-40])  # the second record is still being written
    with db.connect(env_vars.database_url, autocommit=True) as conn:
        collector = _collector(env_vars, tmp_path, conn)
        assert collector.run_once().records == 1
        acct.write_text(whole)
        stats = collector.run_once()
    assert (stats.records, stats.rejected) == (1, 0)


def test_unreachable_broker_or_database_exits_non_zero(tmp_path: Path) -> None:
    import subprocess
    import sys

    acct = tmp_path / "lsb.acct"
    acct.write_text(_line(1))
    env = {
        "BATCHACCT_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "BATCHACCT_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none",
        "BATCHACCT_HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "batchacct_collector_lsf",
            "--site",
            "S",
            "--machine-name",
            "H",
            "--once",
            "--acct-file",
            str(acct),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "cannot reach the Kafka broker at 127.0.0.1:1" in result.stderr

"""Replay and backfill, quarantine list/show/retry, and the file registry (CLI and API)."""

from __future__ import annotations

import gzip
import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchacct.cli import main as batchacct_main
from batchacct_api.app import create_app
from batchacct_api.settings import ApiSettings

from .conftest import Env
from .pipeline import BATCH_HOST, SITE, collect_lsf, job_records, join, lsf_line, write

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r".*install `httpx2`")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration


def batchacct(*argv: str) -> int:
    with pytest.raises(SystemExit) as exited:
        batchacct_main(list(argv))
    return int(exited.value.code or 0)


def _three_days(tmp_path: Path) -> Path:
    return write(
        tmp_path / "lsb.acct",
        [
            lsf_line(1, "2026-10-01T10:00:00", "2026-10-01T11:00:00"),
            lsf_line(2, "2026-10-02T10:00:00", "2026-10-02T11:00:00"),
            lsf_line(3, "2026-10-03T10:00:00", "2026-10-03T11:00:00"),
            '"JOB_FINISH" "9.11" not-a-number',
        ],
    )


def _update_seqs(env: Env) -> dict[str, int]:
    return {job: int(str(r["update_seq"])) for job, r in job_records(env).items()}


def test_replay_window_twice_and_dry_run(
    env_vars: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    acct = _three_days(tmp_path)
    common = ["--format", "lsf", "--site", SITE, "--machine-name", BATCH_HOST]

    assert batchacct("replay", *common, "--dry-run", str(acct)) == 0
    out = capsys.readouterr().out
    assert "4 lines, 3 records" in out and "malformed: 1" in out
    with env_vars.connect() as conn:
        assert conn.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)

    window = ["--since", "2026-10-02", "--until", "2026-10-03"]
    assert batchacct("replay", *common, *window, str(acct)) == 0
    assert "1 records sent" in capsys.readouterr().out
    join()
    assert set(job_records(env_vars)) == {"2"}

    # A compressed copy of the same file, in full, twice: the second changes nothing.
    packed = tmp_path / "old" / "lsb.acct.1.gz"
    packed.parent.mkdir()
    packed.write_bytes(gzip.compress(acct.read_bytes()))
    assert batchacct("replay", *common, str(packed.parent)) == 0
    join()
    first = _update_seqs(env_vars)
    assert set(first) == {"1", "2", "3"}
    assert batchacct("replay", *common, str(packed.parent)) == 0
    join()
    assert _update_seqs(env_vars) == first
    with env_vars.connect() as conn:
        # Replays leave the collectors' checkpoints alone, and store each bad line once.
        assert conn.execute("SELECT count(*) FROM collector_files").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM quarantine").fetchone() == (2,)  # 2 files


def test_replay_refuses_what_it_cannot_read(
    env_vars: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert batchacct("replay", "--format", "lsf", "--site", SITE, str(tmp_path / "nope")) == 2
    assert "--machine-name is required" in capsys.readouterr().err
    common = ["--format", "lsf", "--site", SITE, "--machine-name", BATCH_HOST]
    assert batchacct("replay", *common, str(tmp_path / "nope")) == 2
    assert "no such file" in capsys.readouterr().err
    assert batchacct("replay", *common, "--timezone", "Mars/Olympus", str(tmp_path)) == 2
    assert "unknown time zone" in capsys.readouterr().err


def test_quarantine_list_show_and_retry(
    env_vars: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = lsf_line(7, "2026-10-05T10:00:00", "2026-10-05T11:00:00")
    acct = write(tmp_path / "lsb.acct", [good, '"JOB_FINISH" "9.11" broken', good])
    collect_lsf(acct)
    with env_vars.connect() as conn:
        rows = conn.execute("SELECT id, reason, machine_name FROM quarantine").fetchall()
        assert [(r[1], r[2]) for r in rows] == [("malformed", BATCH_HOST)]
        broken_id = rows[0][0]
        # As if an older parser had rejected a line this one reads: the state after an upgrade.
        conn.execute(
            "INSERT INTO quarantine (source_format, site, file, line, reason, detail, raw,"
            " raw_sha1, machine_name) VALUES ('lsf', %s, %s, 9, 'bad_number', 'old parser',"
            " %s, 'x', %s)",
            (
                SITE,
                str(acct),
                lsf_line(8, "2026-10-05T10:00:00", "2026-10-05T12:00:00"),
                BATCH_HOST,
            ),
        )

    assert batchacct("quarantine", "list") == 0
    listed = capsys.readouterr().out
    assert "bad_number 1" in listed and "malformed 1" in listed
    assert batchacct("quarantine", "show", "--id", str(broken_id)) == 0
    assert "broken" in capsys.readouterr().out

    assert batchacct("quarantine", "retry", "--reason", "bad_number") == 0
    assert "released: 1 (records sent: 1)" in capsys.readouterr().out
    assert batchacct("quarantine", "retry") == 0
    assert "still rejected: malformed 1" in capsys.readouterr().out
    with env_vars.connect() as conn:
        left = conn.execute("SELECT id, retries, last_retry_at IS NOT NULL FROM quarantine")
        assert left.fetchall() == [(broken_id, 1, True)]
    join()
    assert set(job_records(env_vars)) == {"7", "8"}
    assert job_records(env_vars)["8"]["source_line"] == 9


@pytest.fixture
def api(env: Env, read_token: str) -> Iterator[TestClient]:
    with TestClient(create_app(ApiSettings(database_url=env.database_url))) as client:
        client.headers["Authorization"] = f"Bearer {read_token}"
        yield client


def test_file_registry_in_cli_and_api(
    env_vars: Env, api: TestClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    acct = _three_days(tmp_path)
    collect_lsf(acct)
    collect_lsf(acct, site="OTHER-SITE")

    assert batchacct("files", "--site", SITE) == 0
    out = capsys.readouterr().out
    assert "lsb.acct" in out and "active" in out and "OTHER-SITE" not in out

    body = api.get("/api/v1/files", params={"site": SITE}).json()
    [item] = body["items"]
    assert item["source_format"] == "lsf" and item["state"] == "active"
    assert (item["lines"], item["records"], item["rejected"]) == (4, 3, 1)
    assert item["offset"] == acct.stat().st_size and item["path"] == str(acct)
    assert body["next_cursor"] is None

    page = api.get("/api/v1/files", params={"limit": 1}).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = api.get("/api/v1/files", params={"limit": 1, "cursor": page["next_cursor"]}).json()
    assert rest["items"][0]["site"] != page["items"][0]["site"]
    assert api.get("/api/v1/files", params={"state": "quarantined"}).json()["items"] == []
    assert api.get("/api/v1/files", params={"state": "lost"}).status_code == 422
    bad = api.get("/api/v1/files", params={"cursor": "garbage"})
    assert bad.status_code == 422 and "cursor" in json.dumps(bad.json())

"""``batchacct parse``: what will batchacct make of this file?"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from batchacct.cli import main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, object]]]:
    with pytest.raises(SystemExit) as exit_info:
        main(["parse", *args])
    out = capsys.readouterr().out
    return int(exit_info.value.code or 0), [json.loads(line) for line in out.splitlines()]


def test_lsf_records_and_rejections_as_json_lines(
    formats_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows = _run(
        capsys,
        "--format",
        "lsf",
        "--site",
        "S",
        "--machine-name",
        "H",
        str(formats_dir / "lsf.acct"),
        str(formats_dir / "lsf-malformed.acct"),
        str(formats_dir / "lsf-ignored.acct"),
    )
    assert code == 0
    assert [r["kind"] for r in rows] == ["batch"] * 5 + [
        "rejected"
    ] * 2  # ignored lines print nothing
    first = rows[0]
    assert first["local_job_id"] == "699195" and first["site"] == "S"
    assert first["end_time"] == "2004-07-09T21:10:06Z"
    assert rows[-1]["reason"] == "inconsistent" and rows[-1]["line"] == 2
    assert set(rows[-1]) == {"kind", "file", "line", "reason", "detail", "raw"}


def test_blah_with_a_time_zone_and_a_compressed_file(
    formats_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    packed = tmp_path / "blahp.log.gz"
    packed.write_bytes(gzip.compress((formats_dir / "blah.log").read_bytes()))
    code, rows = _run(capsys, "--format", "blah", "--timezone", "Europe/Berlin", str(packed))
    assert code == 0
    assert rows[0]["kind"] == "ce" and rows[0]["timestamp"] == "2012-05-20T21:59:47Z"
    assert rows[2]["fqans"][0] == "/atlas/Role=pilot/Capability=NULL"


def test_garbage_and_unreadable_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"\xff\xfe\x00garbage\n\n" + bytes(range(11, 256)) + b"\n")
    code, rows = _run(capsys, "--format", "lsf", str(junk))
    assert code == 0 and [r["kind"] for r in rows] == ["rejected", "rejected"]
    code, _ = _run(capsys, "--format", "lsf", str(tmp_path / "missing"))
    assert code == 1
    code, _ = _run(capsys, "--format", "blah", "--timezone", "Mars/Olympus", str(junk))
    assert code == 2

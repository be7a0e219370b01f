"""``batchacct parse``: what will batchacct make of this file? And the parsing of the job filter
options that ``batchacct report`` and ``batchacct plot`` share."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from batchacct.cli import build_parser, job_filters_from, main
from batchacct.job_filters import JobFilters


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


@pytest.mark.parametrize(
    ("source_format", "files", "kinds"),
    [
        # Job rows only (the default): the step rows of slurm.txt lines 2-5 and of
        # slurm-malformed.txt are ignored, bad or not.
        ("slurm", ["slurm.txt", "slurm-malformed.txt"], {"batch": 11}),
        ("pbs", ["pbs.log", "pbs-ignored.log", "pbs-malformed.log"], {"batch": 9, "rejected": 2}),
        ("sge", ["sge.acct", "sge-univa-ms.acct"], {"batch": 6}),
        ("condor", ["htcondor.txt", "htcondor-ce-batch.txt"], {"batch": 13, "rejected": 1}),
    ],
)
def test_every_scheduler_format(
    formats_dir: Path,
    capsys: pytest.CaptureFixture[str],
    source_format: str,
    files: list[str],
    kinds: dict[str, int],
) -> None:
    code, rows = _run(
        capsys,
        "--format",
        source_format,
        "--machine-name",
        "H",
        *(str(formats_dir / name) for name in files),
    )
    assert code == 0
    counted: dict[str, int] = {}
    for row in rows:
        counted[str(row["kind"])] = counted.get(str(row["kind"]), 0) + 1
    assert counted == kinds


def test_slurm_steps_summed(formats_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(formats_dir / "slurm.txt"), str(formats_dir / "slurm-malformed.txt")]
    code, rows = _run(capsys, "--format", "slurm", "--steps", "sum", *files)
    assert code == 0
    assert [r["kind"] for r in rows].count("rejected") == 3
    assert "278952" in [r.get("local_job_id") for r in rows]


def test_condor_history_ad_gives_both_halves(capsys: pytest.CaptureFixture[str]) -> None:
    ad = Path(__file__).resolve().parent.parent / "fixtures" / "condor" / "history.3100144.0"
    code, rows = _run(capsys, "--format", "condor", "--site", "S", str(ad))
    assert code == 0
    assert [r["kind"] for r in rows] == ["batch", "ce"]
    assert rows[0]["local_job_id"] == rows[1]["lrms_id"]


def test_unreadable_identity_map_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "map"
    bad.write_text("token only-two\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["parse", "--format", "condor", "--identity-map", str(bad), str(bad)])
    assert exit_info.value.code == 2
    assert f"{bad}:1: expected" in capsys.readouterr().err


# --- The job filter options of ``batchacct report`` and ``batchacct plot`` ------------------------

FILTER_ARGV = [
    "--site", "S", "--user", "alice", "--vo", "atlas", "--queue", "short", "--account", "acc1",
    "--host", "wn1", "--since", "2025-01-01", "--until", "2025-02-01T12:00", "--invalid-only",
]  # fmt: skip


@pytest.mark.parametrize("command", [["report", "--long"], ["plot", "cpu_hours_by_vo"]])
def test_report_and_plot_take_the_same_job_filters(command: list[str]) -> None:
    args = build_parser().parse_args([*command, *FILTER_ARGV])
    assert job_filters_from(args) == JobFilters(
        site="S",
        user="alice",
        vo="atlas",
        queue="short",
        account="acc1",
        host="wn1",
        since=datetime(2025, 1, 1, tzinfo=UTC),
        until=datetime(2025, 2, 1, 12, tzinfo=UTC),
        invalid_only=True,
    )
    assert job_filters_from(build_parser().parse_args(command)) == JobFilters()

"""Every scheduler's collector, end to end: files (or sacct) → broker → joiner → job records.

Each test runs the collector service's own entry point, as an administrator would, against the
real broker and PostgreSQL, then the joiner; grid jobs meet their CE half from BLAH files or, for
HTCondor-CE, from the same history files.
"""

from __future__ import annotations

import gzip
import shutil
import stat
import sys
from pathlib import Path

import pytest

from batchacct_collector_condor.__main__ import main as condor_main
from batchacct_collector_pbs.__main__ import main as pbs_main
from batchacct_collector_sge.__main__ import main as sge_main
from batchacct_collector_slurm.__main__ import main as slurm_main
from tests.samples import utc

from .conftest import Env
from .pipeline import SITE, blah_line, collect_blah, job_records, join, write

pytestmark = pytest.mark.integration

HOST = "batch.test"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def quarantine(env: Env) -> list[tuple[str, int, str]]:
    with env.connect() as conn:
        rows = conn.execute("SELECT file, line, reason FROM quarantine ORDER BY file, line")
        return [(Path(f).name, line, reason) for f, line, reason in rows.fetchall()]


# --- SLURM ---------------------------------------------------------------------------------------

SLURM_HEADER = (
    "State|End|JobID|Comment|User|Group|Partition|Start|Elapsed|TotalCPU|CPUTimeRAW|NCPUS|NNodes"
    "|NodeList|MaxRSS|MaxVMSize|Account|ExitCode"
)


def slurm_row(job: str, state: str, start: str, end: str, **over: str) -> str:
    values = {
        "State": state,
        "End": end,
        "JobID": job,
        "Comment": "free text the parser never reads",
        "User": "alice",
        "Group": "atlas",
        "Partition": "grid",
        "Start": start,
        "Elapsed": "02:00:00",
        "TotalCPU": "03:30:00",
        "CPUTimeRAW": "28800",
        "NCPUS": "4",
        "NNodes": "1",
        "NodeList": "wn07",
        "MaxRSS": "1.5G",
        "MaxVMSize": "3G",
        "Account": "atlas-prod",
        "ExitCode": "0:0",
        **over,
    }
    return "|".join(values[name] for name in SLURM_HEADER.split("|"))


def test_slurm_reordered_columns_local_time_and_grid_join(env_vars: Env, tmp_path: Path) -> None:
    # Zurich is UTC+2 in October: 12:00 local is 10:00 UTC.
    sacct = write(
        tmp_path / "sacct.txt",
        [
            SLURM_HEADER,
            slurm_row("5001", "COMPLETED", "2026-10-01T10:00:00", "2026-10-01T12:00:00"),
            slurm_row("5002", "CANCELLED by 1234", "2026-10-01T10:00:00", "2026-10-01T12:00:00"),
            slurm_row("5003", "RUNNING", "2026-10-01T10:00:00", "Unknown"),
            slurm_row(
                "5004", "COMPLETED", "2026-10-01T10:00:00", "2026-10-01T12:00:00", MaxRSS="16?"
            ),
            slurm_row("5005", "FAILED", "2026-10-01T11:00:00", "2026-10-01T12:00:00"),
        ],
    )
    slurm_main(
        [
            "--site",
            SITE,
            "--machine-name",
            HOST,
            "--timezone",
            "Europe/Zurich",
            "--batch-lines",
            "2",  # several batches: the header still names the columns of the later ones
            "--once",
            "--acct-file",
            str(sacct),
        ]
    )
    collect_blah(write(tmp_path / "blah.log", [blah_line("5001", "2026-10-01T07:59:00")]))
    join()
    jobs = job_records(env_vars)
    assert set(jobs) == {"5001", "5002", "5005"}
    grid = jobs["5001"]
    assert grid["infrastructure_type"] == "grid" and grid["vo"] == "atlas"
    assert (grid["start_time"], grid["end_time"]) == (
        utc("2026-10-01T08:00:00"),
        utc("2026-10-01T10:00:00"),
    )
    assert (grid["wall_duration"], grid["cpu_duration"]) == (7200, 12600)  # TotalCPU, not RAW
    assert (grid["memory_real"], grid["memory_virtual"]) == (1572864, 3145728)
    assert (grid["processors"], grid["queue"], grid["machine_name"]) == (4, "grid", HOST)
    assert jobs["5002"]["infrastructure_type"] == "local"
    assert quarantine(env_vars) == [("sacct.txt", 5, "bad_unit")]


def test_slurm_sacct_mode_runs_sacct_from_its_checkpoint(env_vars: Env, tmp_path: Path) -> None:
    """A stand-in ``sacct`` prints a window's jobs and records how it was called."""
    calls = tmp_path / "calls.txt"
    output = write(
        tmp_path / "window.txt",
        [
            SLURM_HEADER,
            slurm_row("6001", "COMPLETED", "2026-10-01T10:00:00", "2026-10-01T12:00:00"),
            slurm_row("6002", "TIMEOUT", "2026-10-01T09:00:00", "2026-10-01T12:30:00"),
        ],
    )
    fake = tmp_path / "sacct"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"open({str(calls)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        f"sys.stdout.write(open({str(output)!r}).read())\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    argv = ["--site", SITE, "--machine-name", HOST, "--timezone", "UTC", "--sacct"]
    argv += ["--sacct-command", str(fake)]
    slurm_main([*argv, "--sacct-since", "2026-09-30T00:00:00", "--once"])
    slurm_main([*argv, "--once"])
    join()
    assert set(job_records(env_vars)) == {"6001", "6002"}
    first, second = calls.read_text().splitlines()
    assert "--starttime=2026-09-30T00:00:00" in first and "--allocations" in first
    assert "--state=CANCELLED,COMPLETED" in first
    with env_vars.connect() as conn:
        row = conn.execute("SELECT position FROM collector_cursors").fetchone()
    assert row is not None
    # The second window starts 10 minutes before the first one ended (late slurmdbd records).
    resumed = (row[0]).strftime("%Y-%m-%dT%H:%M")
    assert f"--starttime={resumed}" not in second  # it is earlier than the checkpoint
    assert "--starttime=2026-09-30" not in second


def test_slurm_needs_its_time_zone(env_vars: Env, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        slurm_main(["--site", SITE, "--machine-name", HOST, "--acct-file", str(tmp_path)])
    assert exited.value.code == 2


def test_slurm_sacct_failure_keeps_the_window(env_vars: Env, tmp_path: Path) -> None:
    fake = tmp_path / "sacct"
    fake.write_text(
        f"#!{sys.executable}\nimport sys\nsys.stderr.write('slurmdbd down')\nsys.exit(1)\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    slurm_main(
        [
            "--site",
            SITE,
            "--machine-name",
            HOST,
            "--timezone",
            "UTC",
            "--sacct",
            "--once",
            "--sacct-command",
            str(fake),
        ]
    )
    with env_vars.connect() as conn:
        assert conn.execute("SELECT count(*) FROM collector_cursors").fetchone() == (0,)


# --- PBS and SGE ----------------------------------------------------------------------------------


def test_pbs_accounting_log_with_grid_join(
    env_vars: Env, formats_dir: Path, tmp_path: Path
) -> None:
    logs = tmp_path / "server_priv" / "accounting"
    logs.mkdir(parents=True)
    for name in ("pbs.log", "pbs-ignored.log", "pbs-malformed.log"):
        shutil.copy(formats_dir / name, logs / name)
    pbs_main(["--site", SITE, "--machine-name", HOST, "--once", "--acct-dir", str(logs)])
    collect_blah(write(tmp_path / "blah.log", [blah_line("5000.bob", "2014-04-30T21:30:00")]))
    join()
    jobs = job_records(env_vars)
    assert {"21048463.lcgbatch01.gridpp.rl.ac.uk", "24940336.b0", "5000.bob"} <= set(jobs)
    bob = jobs["5000.bob"]
    assert bob["infrastructure_type"] == "grid" and bob["queue"] == "batch"
    assert (bob["wall_duration"], bob["memory_real"], bob["memory_virtual"]) == (200, 2580, 37072)
    assert [(name, reason) for name, _, reason in quarantine(env_vars)] == [
        ("pbs-malformed.log", "missing_field"),
        ("pbs-malformed.log", "inconsistent"),
    ]


def test_sge_accounting_with_host_multipliers(
    env_vars: Env, formats_dir: Path, tmp_path: Path
) -> None:
    multipliers = write(
        tmp_path / "multipliers", ["# host cputmult wallmult", "compute-4-19.local 2.0 2.0"]
    )
    sge_main(
        [
            "--site",
            SITE,
            "--machine-name",
            HOST,
            "--once",
            "--host-multipliers",
            str(multipliers),
            "--acct-file",
            str(formats_dir / "sge.acct"),
            str(formats_dir / "sge-univa-ms.acct"),
        ]
    )
    join()
    jobs = job_records(env_vars)
    assert set(jobs) == {"43", "6972834", "1630912", "3294013", "3872561"}
    mpi = jobs["6972834"]
    assert (mpi["wall_duration"], mpi["host_factor"], mpi["processors"]) == (180001, 2.0, 9)
    assert mpi["memory_virtual"] == 821923840 // 1024
    univa = jobs["3872561"]  # millisecond timestamps, detected on the line
    assert univa["end_time"] == utc("2014-10-10T09:24:46")


# --- HTCondor and HTCondor-CE ---------------------------------------------------------------------


X509_JOB = "ce01.example.org#3100144.0#1738300800"
TOKEN_JOB = "ce01.example.org#3100145.0#1738312200"
LOCAL_JOB = "submit01.example.org#1840213.0#1738231200"


def test_htcondor_ce_grid_jobs_from_history_files_alone(env_vars: Env, tmp_path: Path) -> None:
    history = tmp_path / "history"
    shutil.copytree(FIXTURES / "condor", history)
    (history / "condor_history-l.txt").unlink()
    local = history / "history.1840213.0"
    local.write_bytes(gzip.compress(local.read_bytes()))  # compressed: read transparently
    (history / "history.1840299.0").write_bytes(b"")  # empty: unusable
    before = sorted(p.name for p in history.iterdir())
    identities = write(
        tmp_path / "identities",
        [
            "# token ISSUER SUBJECT FQAN",
            "token https://atlas-auth.cern.ch/ 7dee38a3-6ab8-4fe2-9e4c-58039c21d817"
            " /atlas/Role=production",
        ],
    )
    argv = [
        "--site",
        SITE,
        "--machine-name",
        HOST,
        "--history-dir",
        str(history),
        "--identity-map",
        str(identities),
        "--settle-seconds",
        "0",
        "--once",
    ]
    condor_main(argv)
    join()
    jobs = job_records(env_vars)
    assert set(jobs) == {X509_JOB, TOKEN_JOB, LOCAL_JOB}  # the removed-before-start job: none
    x509 = jobs[X509_JOB]
    assert (x509["infrastructure_type"], x509["vo"], x509["vo_role"]) == (
        "grid",
        "atlas",
        "Role=pilot",
    )
    assert str(x509["global_user_name"]).endswith("CN=Robot: ATLAS Pilot1")
    assert x509["machine_specs"] == {"HEPSPEC": 12.19, "HEPscore23": 13.5}
    assert x509["host_factor"] == pytest.approx(1.069035087719298)
    token = jobs[TOKEN_JOB]
    assert (token["infrastructure_type"], token["fqan"]) == ("grid", "/atlas/Role=production")
    assert jobs[LOCAL_JOB]["infrastructure_type"] == "local"

    # Broken files are moved to quarantine/ and registered with their reason.
    quarantined = sorted(p.name for p in (history / "quarantine").iterdir())
    assert quarantined == ["history.1840299.0", "history.3100151.0", "history.3100152.0"]
    with env_vars.connect() as conn:
        registry = {
            Path(path).name: (state, detail)
            for path, state, detail in conn.execute(
                "SELECT path, state, detail FROM collector_files"
            ).fetchall()
        }
    assert registry["history.3100151.0"] == ("quarantined", "missing_field: no GlobalJobId")
    assert registry["history.1840299.0"] == ("quarantined", "malformed: empty history file")
    assert registry["history.3100152.0"][0] == "quarantined"
    assert str(registry["history.3100152.0"][1]).startswith("malformed: line 68")
    assert {name: state for name, (state, _) in registry.items() if state == "done"}.keys() == {
        "history.1840213.0",
        "history.3100144.0",
        "history.3100145.0",
        "history.3100150.0",
    }
    assert quarantine(env_vars) == [
        ("history.1840299.0", 1, "malformed"),
        ("history.3100151.0", 1, "missing_field"),
        ("history.3100152.0", 1, "malformed"),
    ]
    kept = sorted(p.name for p in history.iterdir() if p.is_file())
    assert sorted(kept + quarantined) == before  # used files are kept by default

    # A second pass reads nothing again; with --delete-processed, used files go.
    condor_main(argv)
    with env_vars.connect() as conn:
        assert conn.execute("SELECT count(*) FROM collector_files").fetchone() == (7,)
    condor_main([*argv, "--delete-processed"])
    assert [p.name for p in history.iterdir()] == ["quarantine"]
    join()
    assert job_records(env_vars) == jobs


def test_condor_history_long_output_and_batch_files(
    env_vars: Env, formats_dir: Path, tmp_path: Path
) -> None:
    """``condor_history -l`` output (ads between blank and banner lines) and the pipe format."""
    condor_main(
        [
            "--site",
            SITE,
            "--machine-name",
            HOST,
            "--once",
            "--batch-lines",
            "7",
            "--acct-file",
            str(FIXTURES / "condor" / "condor_history-l.txt"),
            str(formats_dir / "htcondor.txt"),
        ]
    )
    join()
    jobs = job_records(env_vars)
    kinds = {j: str(r["infrastructure_type"]) for j, r in jobs.items()}
    assert sum(kind == "grid" for kind in kinds.values()) == 2  # the x509 and the token job
    assert "arcce.rl.ac.uk#2376.0#1589" in jobs and "ce.ac.uk#7" in jobs
    assert [(name, line, reason) for name, line, reason in quarantine(env_vars)] == [
        ("htcondor.txt", 10, "inconsistent")
    ]


def test_files_that_start_alike_are_told_apart(env_vars: Env, tmp_path: Path) -> None:
    """Every sacct output starts with the same header and every SGE accounting file with the
    same comments: a file is known by its first entry, so daily files never pass for each other."""
    slurm_dir = tmp_path / "slurm"
    for day, job in ((20, "7001"), (21, "7002")):
        write(
            slurm_dir / f"sacct.202610{day}",
            [
                SLURM_HEADER,
                slurm_row(job, "COMPLETED", f"2026-10-{day}T10:00:00", f"2026-10-{day}T11:00:00"),
            ],
        )
    slurm_main(
        [
            "--site",
            SITE,
            "--machine-name",
            HOST,
            "--timezone",
            "UTC",
            "--once",
            "--acct-dir",
            str(slurm_dir),
        ]
    )
    sge_dir = tmp_path / "sge"
    preamble = ["# Version: 8.1.9", "#", "# DO NOT MODIFY THIS FILE MANUALLY!", "#"]
    for job in (101, 102):
        fields = ["all.q", "wn1", "atlas", "atlpil", "job", str(job), "sge", "0", "1760000000"]
        fields += ["1760000100", "1760003700", "0", "0", "3600"] + ["0"] * 20
        fields += ["1", "0", "3500.5", "0", "0", "NONE", "NONE", "NONE", "1048576"]
        write(sge_dir / f"accounting.{job}", [*preamble, ":".join(fields)])
    sge_main(["--site", SITE, "--machine-name", HOST, "--once", "--acct-dir", str(sge_dir)])
    join()
    assert set(job_records(env_vars)) == {"7001", "7002", "101", "102"}
    with env_vars.connect() as conn:
        assert conn.execute("SELECT count(DISTINCT file_id) FROM collector_files").fetchone() == (
            4,
        )

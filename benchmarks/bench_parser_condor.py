"""HTCondor parser throughput on one core: batch-file lines and per-job history files.

Run from the repository root, as a module (so ``benchmarks.results`` imports)::

    .venv/bin/python -m benchmarks.bench_parser_condor [--lines 300000] [--files 20000] [--repeat 3]

- ``parse_condor_pipe``: a synthetic ``|``-separated batch file (HTCondor-CE's
  ``condor_batch_blah.py`` form, with scale column and trailing ``|``), read and parsed the way a
  collector does (:func:`batchacct.parsers.parse_lines`), in lines per second.
- ``condor_history_files``: a directory of per-job history files as HTCondor writes them into
  ``PER_JOB_HISTORY_DIR`` (about 80 ``Attr = value`` lines each; grid jobs with an X.509 proxy or
  a token, and local jobs), each read from disk and parsed as one file, in files per second.

Each figure is the best of ``--repeat`` runs, with the process pinned to one CPU.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from collections.abc import Sequence
from pathlib import Path

from batchacct.errors import Rejection
from batchacct.parsers import ParserConfig, make_parser, parse_lines
from benchmarks.bench_parsers import best_rate, pin_to_one_core
from benchmarks.results import record

CONFIG = ParserConfig(
    site="BENCH-SITE",
    machine_name="ce01.example.org",
    identity_map={"https://atlas-auth.cern.ch/ 7dee38a3-6ab8-4fe2-9e4c-58039c21d817": "/atlas"},
)
EPOCH = 1738300800  # 2025-01-31T05:20:00Z
OWNERS = ("atlpil01", "atlasprd", "cmsprd", "alicesgm", "lhcbpil", "opssgm")


def pipe_line(rng: random.Random, number: int) -> str:
    start = EPOCH + number * 3
    wall = rng.randint(60, 172800)
    cpus = rng.choice((1, 1, 8, 8, 4))
    user = rng.randint(0, wall * cpus)
    return (
        f"ce01.example.org#{3100000 + number}.0#{start - 90}|{rng.choice(OWNERS)}|{wall}|{user}|"
        f"{user // 40}|{start}|{start + wall}|{rng.randint(10**5, 10**7)}|"
        f"{rng.randint(10**6, 5 * 10**7)}|{cpus}|{rng.uniform(0.8, 1.2)}|\n"
    )


def write_pipe_file(path: Path, lines: int) -> None:
    rng = random.Random(1)
    with path.open("w") as out:
        for number in range(lines):
            out.write(pipe_line(rng, number))


COMMON = """\
AccountingGroup = "group_{vo}.prod.{owner}"
AcctGroup = "group_{vo}.prod"
AcctGroupUser = "{owner}"
Args = "-s EXAMPLE-SITE -h EXAMPLE-ce01 -j managed --pilot-user {vo} -w generic"
BytesRecvd = 218445.0
BytesSent = 1643.0
ClusterId = {cluster}
Cmd = "/var/lib/condor-ce/spool/{route}/0/cluster{route}.proc0.subproc0/runpilot2-wrapper.sh"
CommittedSlotTime = {slot_time}.0
CommittedTime = {wall}
CompletionDate = {end}
CondorPlatform = "$CondorPlatform: x86_64_AlmaLinux9 $"
CondorVersion = "$CondorVersion: 23.0.18 2024-12-04 BuildID: 773289 PackageID: 23.0.18-1 $"
CpusProvisioned = {cpus}
CumulativeRemoteSysCpu = {sys}.0
CumulativeRemoteUserCpu = {user}.0
CumulativeSlotTime = {slot_time}.0
DiskProvisioned = 41943040
DiskUsage = 4500000
DiskUsage_RAW = 4376218
EnteredCurrentStatus = {end}
Environment = "HOME=/tmp"
Err = "_condor_stderr"
ExitBySignal = false
ExitCode = 0
GlobalJobId = "ce01.example.org#{cluster}.0#{qdate}"
ImageSize = {image_rounded}
ImageSize_RAW = {image}
In = "/dev/null"
Iwd = "/var/lib/condor-ce/spool/{route}/0/cluster{route}.proc0.subproc0"
JobCurrentStartDate = {start}
JobCurrentStartExecutingDate = {start}
JobLeaseDuration = 2400
JobPrio = 0
JobRunCount = 1
JobStartDate = {start}
JobStatus = 4
JobUniverse = 5
LastJobStatus = 2
LastMatchTime = {start}
LastRemoteHost = "slot1_{slot}@wn{node:03d}.example.org"
LeaveJobInQueue = false
MachineAttrApelScaling0 = {scaling}
MachineAttrApelSpecs0 = [ HEPSPEC = {hepspec}; HEPscore23 = {hepscore} ]
MachineAttrCpus0 = {cpus}
MachineAttrSlotWeight0 = {cpus}
MaxHosts = 1
MemoryProvisioned = 16000
MemoryUsage = ((ResidentSetSize + 1023) / 1024)
MinHosts = 1
MyType = "Job"
NumJobMatches = 1
NumJobStarts = 1
NumRestarts = 0
NumShadowStarts = 1
Out = "_condor_stdout"
Owner = "{owner}"
ProcId = 0
QDate = {qdate}
RemoteSysCpu = {sys}.0
RemoteUserCpu = {user}.0
RemoteWallClockTime = {wall}.0
RequestCpus = {cpus}
RequestDisk = DiskUsage
RequestMemory = 16000
Requirements = (TARGET.Arch == "X86_64") && (TARGET.OpSys == "LINUX") && (TARGET.Disk >= \
RequestDisk) && (TARGET.Memory >= RequestMemory) && (TARGET.HasFileTransfer)
ResidentSetSize = {rss_rounded}
ResidentSetSize_RAW = {rss}
RoutedBy = "htcondor-ce"
RoutedFromJobId = "{route}.0"
RouteName = "Local_Condor"
ShouldTransferFiles = "YES"
TargetType = "Machine"
TransferIn = false
User = "{owner}@ce01.example.org"
WhenToTransferOutput = "ON_EXIT"
"""
IDENTITY_FROM_PROXY = """\
x509userproxy = "/var/lib/condor-ce/spool/{route}/0/cluster{route}.proc0.subproc0/x509up_u10421"
x509UserProxyEmail = "pilot@example.org"
x509UserProxyExpiration = {expiry}
x509UserProxyFirstFQAN = "/{vo}/Role=pilot/Capability=NULL"
x509UserProxyFQAN = "{dn},/{vo}/Role=pilot/Capability=NULL,/{vo}/Role=NULL/Capability=NULL"
x509userproxysubject = "{dn}"
x509UserProxyVOName = "{vo}"
"""
IDENTITY_FROM_SCITOKEN = """\
orig_AuthTokenGroups = "/atlas,/atlas/usatlas"
orig_AuthTokenId = "a3c1e0f2-5b7d-4f1e-9c44-0d2e8b6f7a19"
orig_AuthTokenIssuer = "https://atlas-auth.cern.ch/"
orig_AuthTokenScopes = "compute.cancel,compute.create,compute.modify,compute.read"
orig_AuthTokenSubject = "7dee38a3-6ab8-4fe2-9e4c-58039c21d817"
"""


def history_file(rng: random.Random, cluster: int) -> str:
    """One per-job history file: 70 % X.509 grid jobs, 20 % token jobs, 10 % local jobs."""
    qdate = EPOCH + cluster
    start = qdate + rng.randint(10, 600)
    wall = rng.randint(60, 172800)
    cpus = rng.choice((1, 8, 8))
    user = rng.randint(0, wall * cpus)
    rss = rng.randint(10**5, 10**7)
    image = rss * 4
    vo = rng.choice(("atlas", "cms", "alice", "lhcb"))
    kind = rng.random()
    values = {
        "vo": vo,
        "owner": f"{vo}pil",
        "cluster": cluster,
        "route": 28000 + cluster,
        "qdate": qdate,
        "start": start,
        "end": start + wall,
        "wall": wall,
        "slot_time": wall * cpus,
        "user": user,
        "sys": user // 40,
        "cpus": cpus,
        "image": image,
        "image_rounded": -(-image // 250000) * 250000,
        "rss": rss,
        "rss_rounded": -(-rss // 250000) * 250000,
        "slot": rng.randint(1, 16),
        "node": rng.randint(1, 200),
        "scaling": rng.uniform(0.8, 1.2),
        "hepspec": round(rng.uniform(9, 14), 2),
        "hepscore": round(rng.uniform(10, 15), 2),
        "expiry": start + 345600,
        "dn": f"/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN={vo}pil/CN=614260/CN=Robot: {vo} pilot",
    }
    text = COMMON
    if kind < 0.7:
        text += IDENTITY_FROM_PROXY
    elif kind < 0.9:
        text += IDENTITY_FROM_SCITOKEN
    return text.format(**values)


def write_history_dir(directory: Path, files: int) -> list[Path]:
    rng = random.Random(2)
    paths = []
    for number in range(files):
        cluster = 3100000 + number
        path = directory / f"history.{cluster}.0"
        path.write_text(history_file(rng, cluster))
        paths.append(path)
    return paths


def parse_pipe_file(path: Path) -> tuple[int, int]:
    """(lines, rejections) of one batch file parsed as a collector does."""
    parser = make_parser("condor", CONFIG)
    lines = rejected = 0
    with path.open("rb") as raw:
        for _, result in parse_lines(parser, raw, str(path)):
            lines += 1
            rejected += isinstance(result, Rejection)
    return lines, rejected


def parse_history_files(paths: Sequence[Path]) -> tuple[int, int, int]:
    """(files, grid jobs, rejections): each file read from disk and parsed whole."""
    parser = make_parser("condor", CONFIG)
    grid = rejected = 0
    for path in paths:
        for _, result in parse_lines(parser, path.read_bytes().splitlines(), str(path)):
            grid += isinstance(result, tuple)
            rejected += isinstance(result, Rejection)
    return len(paths), grid, rejected


def main(argv: Sequence[str] | None = None) -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    options.add_argument("--lines", type=int, default=300_000, help="lines in the batch file")
    options.add_argument("--files", type=int, default=20_000, help="per-job history files")
    options.add_argument("--repeat", type=int, default=3, help="runs per figure (best is kept)")
    args = options.parse_args(argv)

    print(f"bench_parser_condor: {pin_to_one_core()}, best of {args.repeat}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-condor-") as scratch:
        batch_file = Path(scratch) / "batch-20250131-0100-ce01"
        write_pipe_file(batch_file, args.lines)
        lines, rejected = parse_pipe_file(batch_file)  # warm up, and check it is real parsing
        if (lines, rejected) != (args.lines, 0):
            raise SystemExit(f"batch file: {lines} lines, {rejected} rejections")
        rate = best_rate(lambda: parse_pipe_file(batch_file)[0], args.repeat)
        record("parse_condor_pipe", rate, "lines/s", ">= 100000", f"{lines} lines")

        history_dir = Path(scratch) / "history"
        history_dir.mkdir()
        paths = write_history_dir(history_dir, args.files)
        files, grid, rejected = parse_history_files(paths)
        if rejected or not grid:
            raise SystemExit(f"history files: {rejected} rejections, {grid} grid jobs")
        rate = best_rate(lambda: parse_history_files(paths)[0], args.repeat)
        record(
            "condor_history_files",
            rate,
            "files/s",
            ">= 5000",
            f"{files} files of ~80 lines, {grid} with a CE event; page cache warm",
        )


if __name__ == "__main__":
    main()

"""A synthetic site: realistic LSF ``lsb.acct`` and CREAM BLAH accounting files.

Used by ``batchacct demo``, the tests and the benchmarks. :func:`generate_site` writes, for a
chosen number of finished jobs spread over the last months:

- ``<out_dir>/lsf/lsb.acct`` (and ``lsb.acct.1``, ``lsb.acct.2`` ... when ``files_per_kind`` > 1,
  the highest number being the oldest, as LSF rotates them): one ``JOB_FINISH`` record per job in
  end-time order, with the token layout of LSF 9.1 (``shared/formats/lsf.acct`` line 3), plus a
  few records that are not finished jobs (``JOB_RESIZE``, ``EVENT_ADRSV_FINISH`` and ``JOB_FINISH``
  of jobs killed while pending, with startTime 0). A parser must ignore those.
- ``<out_dir>/blah/blahp.log-YYYYMMDD`` (one file, or ``files_per_kind`` files starting on day
  boundaries, each named after the day of its first line): one CREAM BLAH line per grid job, in
  time order, whose timestamp is the job's LSF submitTime and whose lrmsID is the LSF job id
  (``<id>[<idx>]`` for a job-array element).

About ``local_fraction`` of the jobs are local (no BLAH line). Exactly ``malformed`` extra lines
are broken (a truncated LSF record, an LSF record ending before it starts, a BLAH line with a
broken timestamp, a BLAH line without lrmsID), spread over both kinds and over the files.

The output depends only on the arguments (pass ``end`` for a fixed result; it defaults to now).
Generating is fast, about a million jobs in well under a minute: plain ``%`` formatting, compact
``array`` columns and large buffered writes. :func:`lsf_line` and :func:`blah_line` build one line
from explicit values, for tests that craft edge cases.
"""

from __future__ import annotations

import calendar
import random
import sys
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

LOCAL_VO = "(local)"
"""The ``expected_by_vo_month`` key of local jobs (jobs without a BLAH line)."""

DEFAULT_MACHINE_NAME = "lsf-master.demo.example"
CE_HOSTS = ("ce503.demo.example", "ce504.demo.example")
LSF_VERSION = "9.1"

_WRITE_CHUNK = 4096  # lines per write() call


@dataclass(slots=True)
class DemoSite:
    """What :func:`generate_site` wrote, and what a correct pipeline must find in it."""

    out_dir: Path
    lsf_files: list[Path]  # oldest first (lsb.acct.N ... lsb.acct.1, lsb.acct)
    blah_files: list[Path]  # oldest first
    site: str
    machine_name: str
    jobs: int  # finished jobs = JOB_FINISH records that make a batch event
    grid_jobs: int  # jobs with a BLAH line (= CE records)
    local_jobs: int  # jobs without one
    malformed: int  # lines that must be rejected, LSF and BLAH together
    # (vo, "YYYY-MM" of the end time, UTC) -> (jobs, wall seconds, CPU seconds); local jobs are
    # counted under (LOCAL_VO, month). Wall is end - start (not times slots); CPU is all slots'.
    expected_by_vo_month: dict[tuple[str, str], tuple[int, int, int]]
    lsf_malformed: int = 0
    blah_malformed: int = 0
    ignored: int = 0  # valid LSF lines that are not finished jobs (a parser returns None)
    start: datetime | None = None  # the generated period, UTC
    end: datetime | None = None
    ce_hosts: tuple[str, ...] = CE_HOSTS
    lsf_lines: int = 0
    blah_lines: int = 0
    files: list[Path] = field(default_factory=list)  # every file written

    def collector_command(self, source_format: str) -> list[str]:
        """The command line of the collector that reads this site's files once."""
        if source_format == "lsf":
            module, files = "batchacct_collector_lsf", self.lsf_files
            host = ["--machine-name", self.machine_name]
        else:
            module, files, host = "batchacct_collector_blah", self.blah_files, []
        return [
            sys.executable,
            "-m",
            module,
            "--site",
            self.site,
            *host,
            "--once",
            "--acct-file",
            *map(str, files),
        ]


# --------------------------------------------------------------------------------------------
# One line from explicit values


_JOB_FINISH = (
    # [0] type .. [21] jobFile
    '"%s" "%s" %d %d %d %d %d %d 0 0 %d "%s" "%s" "%s" "" "" "%s" "%s" "/dev/null" "%s" "%s"'
    ' "%d.%d" '
    # [22] numAskedHosts, askedHosts (each '"host" '), numExHosts, execHosts (each '"host" ')
    "%d %s%d %s"
    # jStatus, hostFactor, jobName, command, ru_utime, ru_stime, ru_maxrss .. ru_exutime
    '%d %s "%s" "%s" %s %s %d 0 -1 0 0 %d 0 0 0 %d -1 0 0 0 %d %d -1 '
    # mailUser, projectName, exitStatus, maxNumProcessors, loginShell, timeEvent, idx,
    # maxRMem, maxRSwap
    '"" "%s" %d %d "/bin/bash" "" %d %d %d '
    # the fields of LSF 9.1 after maxRSwap, in the order of shared/formats/lsf.acct line 3:
    # chargedSAAP, lastResizeTime (= startTime), avgMem, effectiveResReq, runTime
    '"" "" "" "" 0 "" 0 "" -1 "%s" "" "" "" -1 "" "" 6160 "" %d "" "" 0 0 -1 0 %d "%s" "" -1'
    ' "" -1 0 "" 0 0 "" %d "" 0 ""'
)


def _q(text: str) -> str:
    """A string for inside an LSF quoted field (a quote is written twice)."""
    return text.replace('"', '""')


def _epoch(value: int | datetime) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("datetimes must be timezone-aware (UTC)")
        return int(value.timestamp())
    return int(value)


def _hosts_part(hosts: Sequence[str]) -> str:
    return "".join(f'"{_q(host)}" ' for host in hosts)


def lsf_line(
    *,
    job_id: int,
    submit_time: int | datetime,
    start_time: int | datetime,
    end_time: int | datetime,
    user: str = "demo001",
    uid: int = 10001,
    queue: str = "grid",
    exec_hosts: Sequence[str] = ("b7g12p3456",),
    asked_hosts: Sequence[str] = (),
    idx: int = 0,
    utime: float = 0.0,
    stime: float = 0.0,
    project: str = "default",
    max_rmem: int = 0,
    max_rswap: int = 0,
    exit_status: int = 0,
    from_host: str = "ce503.demo.example",
    host_factor: float = 10.0,
    job_name: str = "",
    command: str = "",
    res_req: str = "",
    version: str = LSF_VERSION,
    record_type: str = "JOB_FINISH",
) -> str:
    """One lsb.acct ``JOB_FINISH`` record (without newline) in the LSF 9.1 token layout.

    Times are epoch seconds or aware datetimes; ``utime``/``stime`` are CPU seconds (written with
    6 decimals); memory is KiB; ``exit_status`` is LSF's wait status (256 = exit code 1);
    ``exec_hosts`` has one entry per slot. ``record_type`` lets a test write another record type
    with the same layout (e.g. ``JOB_RESIZE``, which a parser must ignore).
    """
    end = _epoch(end_time)
    start = _epoch(start_time)
    slots = len(exec_hosts)
    return _JOB_FINISH % (
        _q(record_type), _q(version), end, job_id, uid, 33554450, max(slots, 1),
        _epoch(submit_time), start, _q(user), _q(queue), _q(res_req), _q(from_host), "",
        "", "",
        _epoch(submit_time), job_id,
        len(asked_hosts), _hosts_part(asked_hosts), slots, _hosts_part(exec_hosts),
        64 if exit_status == 0 else 32, repr(float(host_factor)), _q(job_name), _q(command),
        f"{utime:.6f}", f"{stime:.6f}", max(max_rmem // max(slots, 1), 0), 1000, 16, 100, 10,
        _q(project), exit_status, max(slots, 1), idx, max_rmem, max_rswap,
        f"/{_q(project)}/{_q(user)}", start, max(max_rmem * 3 // 4, 0),
        "select[type == any] order[-ut] ", end - start if start > 0 else 0,
    )  # fmt: skip


def blah_line(
    *,
    timestamp: datetime | int | str,
    user_dn: str,
    fqans: Sequence[str],
    ce_id: str,
    grid_job_id: str,
    lrms_id: str | None,
    local_user: str | None = None,
    client_id: str | None = None,
) -> str:
    """One CREAM BLAH accounting line (without newline).

    ``timestamp`` is an aware datetime or epoch seconds (written as ``YYYY-MM-DD HH:MM:SS``, UTC),
    or a string written as is (to craft a broken one). Each FQAN becomes one ``userFQAN=`` field,
    the first being the primary one. ``lrms_id=None`` leaves the field out (a malformed line).
    """
    if isinstance(timestamp, str):
        ts = timestamp
    else:
        ts = datetime.fromtimestamp(_epoch(timestamp), UTC).strftime("%Y-%m-%d %H:%M:%S")
    parts = [f'"timestamp={ts}"', f'"userDN={user_dn}"']
    parts.extend(f'"userFQAN={fqan}"' for fqan in fqans)
    parts.append(f'"ceID={ce_id}"')
    parts.append(f'"jobID={grid_job_id}"')
    if lrms_id is not None:
        parts.append(f'"lrmsID={lrms_id}"')
    if local_user is not None:
        parts.append(f'"localUser={local_user}"')
    if client_id is not None:
        parts.append(f'"clientID={client_id}"')
    return " ".join(parts)


def write_lines(path: Path, lines: Iterable[str]) -> int:
    """Write ``lines`` (without newlines) to ``path``, one per line; returns how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for line in lines:
            out.write(line)
            out.write("\n")
            count += 1
    return count


# --------------------------------------------------------------------------------------------
# The site's population


@dataclass(frozen=True, slots=True)
class _User:
    account: str
    uid: int
    vo: str  # LOCAL_VO for local users
    queue: str
    project: str
    profile: str  # key of _PROFILES
    weight: int
    dn: str = ""
    fqans: tuple[str, ...] = ()
    job_name: str = "job"
    command: str = ""


_ROBOT = "/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=%s/CN=%d/CN=Robot: %s"

_GRID_USERS = (
    _User("atlplt01", 41200, "atlas", "grid_atlas", "atlas", "pilot", 22,
          _ROBOT % ("atlpilo1", 614260, "ATLAS Pilot1"),
          ("/atlas/Role=pilot/Capability=NULL", "/atlas/Role=NULL/Capability=NULL",
           "/atlas/lcg1/Role=NULL/Capability=NULL")),
    _User("atlprd01", 41201, "atlas", "grid_atlas_mc", "atlas", "prod", 12,
          _ROBOT % ("atlprd", 531497, "ATLAS Production"),
          ("/atlas/Role=production/Capability=NULL", "/atlas/Role=NULL/Capability=NULL")),
    _User("atlas042", 41342, "atlas", "grid_short", "atlas", "user", 3,
          "/C=CA/O=Grid/OU=triumf.ca/CN=Asoka De Silva GC1",
          ("/atlas/ca/Role=NULL/Capability=NULL", "/atlas/Role=NULL/Capability=NULL")),
    _User("atlas017", 41317, "atlas", "grid_atlas", "atlas", "user", 3,
          "/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=jdoe/CN=712345/CN=Jane Doe",
          ("/atlas/Role=NULL/Capability=NULL",)),
    _User("cmsplt01", 42100, "cms", "grid_cms", "cms", "pilot", 15,
          _ROBOT % ("cmspilot", 764201, "CMS Pilot"),
          ("/cms/Role=pilot/Capability=NULL", "/cms/Role=NULL/Capability=NULL")),
    _User("cmsprd01", 42101, "cms", "grid_cms", "cms", "prod", 6,
          _ROBOT % ("cmsprod", 420210, "CMS Production"),
          ("/cms/Role=production", "/cms/Role=NULL")),
    _User("cms103", 42203, "cms", "grid_short", "cms", "user", 4,
          "/C=US/O=Fermilab/OU=People/CN=Maria Rossi/CN=UID:mrossi",
          ("/cms/uscms/Role=NULL/Capability=NULL", "/cms/Role=NULL/Capability=NULL")),
    _User("lhcbplt1", 43100, "lhcb", "grid_lhcb", "lhcb", "pilot", 10,
          _ROBOT % ("lbdirac", 595107, "LHCb Dirac Pilot"),
          ("/lhcb/Role=pilot/Capability=NULL", "/lhcb/Role=NULL/Capability=NULL")),
    _User("lhcbsgm", 43001, "lhcb", "grid_short", "lhcb", "probe", 1,
          _ROBOT % ("lhcbsgm", 401233, "LHCb Software Manager"),
          ("/lhcb/Role=lcgadmin/Capability=NULL",)),
    _User("lhcb021", 43221, "lhcb", "grid_lhcb", "lhcb", "user", 4,
          "/O=GRID-FR/C=FR/O=CNRS/OU=CPPM/CN=Pierre Martin",
          ("/lhcb/Role=user/Capability=NULL", "/lhcb/Role=NULL/Capability=NULL")),
    _User("alicesgm", 44001, "alice", "grid_alice", "alice", "pilot", 12,
          _ROBOT % ("alicesgm", 352810, "ALICE agent"),
          ("/alice/Role=lcgadmin/Capability=NULL", "/alice/Role=NULL/Capability=NULL")),
    _User("aliprd", 44002, "alice", "grid_alice", "alice", "prod", 3,
          _ROBOT % ("aliprod", 352811, "ALICE Production"),
          ("/alice/Role=production/Capability=NULL",)),
    _User("dteam001", 45001, "dteam", "grid_short", "dteam", "user", 3,
          "/DC=org/DC=terena/DC=tcs/C=GR/O=Demokritos/CN=Nikos Papadopoulos",
          ("/dteam/Role=NULL/Capability=NULL", "/dteam/cern/Role=NULL/Capability=NULL")),
    _User("dteamsgm", 45002, "dteam", "grid_short", "dteam", "probe", 2,
          _ROBOT % ("sam", 300112, "SAM monitoring"),
          ("/dteam/Role=lcgadmin/Capability=NULL",)),
)  # fmt: skip

_LOCAL_USERS = (
    _User("jsmith", 10231, LOCAL_VO, "8nh", "na62", "local", 6,
          job_name="reco", command="./reco.sh --run %d"),
    _User("amueller", 10452, LOCAL_VO, "1nd", "ams", "local", 5,
          job_name="mcgen", command="python3 generate.py --seed %d"),
    _User("lrossi", 10533, LOCAL_VO, "1nh", "theory", "local", 4,
          job_name="lattice", command="mpirun ./su3 cfg/%d.in"),
    _User("ktanaka", 10611, LOCAL_VO, "2nd", "compass", "local", 3,
          job_name="ana", command="root -b -q 'ana.C(%d)'"),
    _User("pdubois", 10702, LOCAL_VO, "8nm", "default", "short", 2,
          job_name="test", command="/bin/sleep %d"),
    _User("mkowalski", 10877, LOCAL_VO, "1nw", "default", "local", 2,
          job_name="fit", command="./fit --toy %d"),
)  # fmt: skip

# profile -> (slot choices (uniform), mean wall seconds, max wall seconds)
_PROFILES: dict[str, tuple[tuple[int, ...], int, int]] = {
    "pilot": ((8, 8, 8, 8, 8, 8, 1, 1, 1, 16), 6 * 3600, 48 * 3600),
    "prod": ((1, 1, 1, 1, 1, 1, 8, 8, 8, 4), 4 * 3600, 36 * 3600),
    "user": ((1, 1, 1, 1, 1, 1, 1, 1, 1, 4), 3600, 24 * 3600),
    "probe": ((1,), 300, 1800),
    "local": ((1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4, 8, 16), 2 * 3600, 7 * 24 * 3600),
    "short": ((1,), 600, 3600),
}

_OPTIONS_GRID = 36175899
_OPTIONS_LOCAL = (33554482, 33816594, 100663346)

# malformed kinds, in the order they are used
_MALFORMED_KINDS = ("lsf_truncated", "blah_bad_timestamp", "lsf_end_before_start", "blah_no_lrms")

_CREAM_MULT = 48271  # prime, coprime to 9e8: the CREAM id is a bijection of the job key


def _cream_number(job_id: int, idx: int, salt: int) -> int:
    return 100_000_000 + ((job_id * 64 + idx) * _CREAM_MULT + salt) % 900_000_000


def _months_before(end: datetime, months: int) -> datetime:
    month0 = end.year * 12 + end.month - 1 - months
    year, month = divmod(month0, 12)
    day = min(end.day, calendar.monthrange(year, month + 1)[1])
    return end.replace(year=year, month=month + 1, day=day)


def _weighted_pool(users: Sequence[_User]) -> list[int]:
    pool: list[int] = []
    for number, user in enumerate(users):
        pool.extend([number] * user.weight)
    return pool


def _make_hosts(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """Exec hosts named like CERN's (``b7g12p3456``), with an LSF CPU factor per building."""
    factors = {6: "10.5", 7: "12.8", 9: "15.2"}
    names: set[str] = set()
    hosts: list[tuple[str, str]] = []
    while len(hosts) < count:
        building = rng.choice((6, 7, 7, 9))
        name = f"b{building}g{rng.randrange(10, 60):02d}p{rng.randrange(1000, 10000):04d}"
        if name not in names:
            names.add(name)
            hosts.append((name, factors[building]))
    return hosts


# --------------------------------------------------------------------------------------------
# Writers that split a stream of lines into files


class _LsfFiles:
    """lsb.acct files: ``files`` chunks of about equal line counts; the newest is ``lsb.acct``."""

    def __init__(self, directory: Path, files: int, total_lines: int) -> None:
        self.directory = directory
        self.files = files
        self.per_file = max(1, -(-total_lines // files))
        self.paths: list[Path] = []
        self.lines = 0
        self._written_in_file = 0
        self._buffer: list[str] = []
        self._out: TextIO | None = None
        self._open_next()

    def _open_next(self) -> None:
        self.close()
        number = self.files - 1 - len(self.paths)
        name = "lsb.acct" if number <= 0 else f"lsb.acct.{number}"
        path = self.directory / name
        self.paths.append(path)
        self._out = path.open("w", encoding="utf-8", newline="\n", buffering=1 << 20)
        self._written_in_file = 0

    def write(self, line: str) -> None:
        if self._written_in_file >= self.per_file and len(self.paths) < self.files:
            self._open_next()
        self._buffer.append(line)
        self._written_in_file += 1
        self.lines += 1
        if len(self._buffer) >= _WRITE_CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._buffer and self._out is not None:
            self._out.write("".join(self._buffer))
            self._buffer.clear()

    def close(self) -> None:
        self._flush()
        if self._out is not None:
            self._out.close()
            self._out = None


class _BlahFiles:
    """blahp.log-YYYYMMDD files: a new file when a chunk is full and a new day begins."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.paths: list[Path] = []
        self.lines = 0
        self._day = -1
        self._want_new = True
        self._buffer: list[str] = []
        self._out: TextIO | None = None

    def request_new_file(self) -> None:
        """Start a new file at the next day boundary."""
        if self._out is not None:
            self._want_new = True

    def write(self, day: int, line: str) -> None:
        if self._want_new and day != self._day:
            self.close()
            date = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)).strftime("%Y%m%d")
            path = self.directory / ("blahp.log-" + date)
            self.paths.append(path)
            self._out = path.open("w", encoding="utf-8", newline="\n", buffering=1 << 20)
            self._want_new = False
        self._day = day
        self._buffer.append(line)
        self.lines += 1
        if len(self._buffer) >= _WRITE_CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._buffer and self._out is not None:
            self._out.write("".join(self._buffer))
            self._buffer.clear()

    def close(self) -> None:
        self._flush()
        if self._out is not None:
            self._out.close()
            self._out = None


def _remove_old_outputs(lsf_dir: Path, blah_dir: Path) -> None:
    """Remove files an earlier run left (a smaller run must not leave stale rotated files)."""
    for path in lsf_dir.glob("lsb.acct*"):
        if path.is_file():
            path.unlink()
    for path in blah_dir.glob("blahp.log-*"):
        if path.is_file():
            path.unlink()


def _spread(count: int, total: int) -> list[int]:
    """``count`` positions spread evenly over ``range(total)`` (ascending)."""
    return [((2 * m + 1) * total) // (2 * count) for m in range(count)]


# --------------------------------------------------------------------------------------------
# The generator


def generate_site(
    out_dir: Path,
    *,
    jobs: int = 20000,
    seed: int = 1,
    end: datetime | None = None,
    months: int = 2,
    site: str = "DEMO-SITE",
    malformed: int = 5,
    local_fraction: float = 0.10,
    files_per_kind: int = 1,
) -> DemoSite:
    """Write the LSF and BLAH files of a synthetic site with ``jobs`` finished jobs.

    The jobs end in the ``months`` calendar months before ``end`` (an aware datetime; default
    now, UTC). Earlier ``lsb.acct*`` and ``blahp.log-*`` files in ``out_dir/lsf`` and
    ``out_dir/blah`` are removed first. See the module docstring for what is written.
    """
    if jobs < 0 or malformed < 0:
        raise ValueError("jobs and malformed must be >= 0")
    if months < 1 or files_per_kind < 1:
        raise ValueError("months and files_per_kind must be >= 1")
    if not 0.0 <= local_fraction <= 1.0:
        raise ValueError("local_fraction must be within [0, 1]")
    if end is None:
        end = datetime.now(UTC)
    elif end.tzinfo is None:
        raise ValueError("end must be timezone-aware (UTC)")
    end = end.astimezone(UTC).replace(microsecond=0)
    begin = _months_before(end, months)
    t_end = int(end.timestamp())
    t_begin = int(begin.timestamp())

    out_dir = Path(out_dir)
    lsf_dir = out_dir / "lsf"
    blah_dir = out_dir / "blah"
    lsf_dir.mkdir(parents=True, exist_ok=True)
    blah_dir.mkdir(parents=True, exist_ok=True)
    _remove_old_outputs(lsf_dir, blah_dir)

    rng = random.Random(seed)
    rand = rng.random
    expovariate = rng.expovariate

    users = _GRID_USERS + _LOCAL_USERS
    n_grid_users = len(_GRID_USERS)
    grid_pool = _weighted_pool(_GRID_USERS)
    local_pool = [n_grid_users + u for u in _weighted_pool(_LOCAL_USERS)]
    profiles = [_PROFILES[user.profile] for user in users]
    vo_of_user = [user.vo for user in users]
    hosts = _make_hosts(rng, 640)
    salt = int(rand() * 900_000_000)

    # Per user and CE: the part of the BLAH line after the timestamp, up to jobID.
    blah_middle = [
        [
            " ".join(
                [f'"userDN={user.dn}"']
                + [f'"userFQAN={fqan}"' for fqan in user.fqans]
                + [f'"ceID={ce}:8443/cream-lsf-{user.queue}"']
            )
            for ce in CE_HOSTS
        ]
        for user in _GRID_USERS
    ]

    kinds = [_MALFORMED_KINDS[m % len(_MALFORMED_KINDS)] for m in range(malformed)]
    lsf_kinds = [k for k in kinds if k.startswith("lsf")]
    blah_kinds = [k for k in kinds if k.startswith("blah")]

    day_text: dict[int, str] = {}
    month_text: dict[int, str] = {}

    def day_string(day: int) -> str:
        text = day_text.get(day)
        if text is None:
            date = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)
            text = day_text[day] = date.strftime("%Y-%m-%d ")
            month_text[day] = date.strftime("%Y-%m")
        return text

    # Pass 1, in submission order: draw every job, write its BLAH line, add up the expectation.
    submit_span = max(1, t_end - 120 - t_begin)
    submits = sorted(t_begin + int(rand() * submit_span) for _ in range(jobs))
    col_job = array("q")
    col_idx = array("l")
    col_asize = array("l")
    col_user = array("b")
    col_slots = array("b")
    col_start = array("q")
    col_end = array("q")
    col_cpu = array("q")
    expected: dict[tuple[str, str], list[int]] = {}
    extras: list[tuple[int, str]] = []  # (event time, line): LSF records that are not jobs
    blah = _BlahFiles(blah_dir)
    blah_boundaries = [((c + 1) * jobs) // files_per_kind for c in range(files_per_kind - 1)]
    blah_bad_at = _spread(len(blah_kinds), jobs) if jobs else [0] * len(blah_kinds)
    bad_blah_written = 0
    next_job = 1_000_000 + int(rand() * 5_000_000)
    grid_jobs = 0
    i = 0
    while i < jobs:
        submit = submits[i]
        is_local = rand() < local_fraction
        user_no = (
            local_pool[int(rand() * len(local_pool))]
            if is_local
            else grid_pool[int(rand() * len(grid_pool))]
        )
        next_job += 1 + int(rand() * 3)
        job_id = next_job
        # a job array now and then, at the same rate for grid and local jobs
        size = min(2 + int(rand() * 9), jobs - i) if rand() < 0.02 else 1
        slot_choices, mean_wall, max_wall = profiles[user_no]
        slots = slot_choices[int(rand() * len(slot_choices))]
        vo = vo_of_user[user_no]
        for element in range(size):
            idx = element + 1 if size > 1 else 0
            if blah_boundaries and i >= blah_boundaries[0]:
                del blah_boundaries[0]
                blah.request_new_file()
            submits[i] = submit  # array elements share their array's submission time
            wait = 3 + int(rand() * 900) if element == 0 else 3 + int(rand() * 7200)
            start = min(submit + wait, t_end - 60)
            wall = min(30 + int(expovariate(1.0 / mean_wall)), max_wall, t_end - 1 - start)
            stop = start + wall
            efficiency = 0.3 + 0.68 * rand()
            cpu = int(efficiency * wall * slots)
            col_job.append(job_id)
            col_idx.append(idx)
            col_asize.append(size)
            col_user.append(user_no)
            col_slots.append(slots)
            col_start.append(start)
            col_end.append(stop)
            col_cpu.append(cpu)
            end_day = stop // 86400
            if end_day not in month_text:
                day_string(end_day)
            key = (vo, month_text[end_day])
            sums = expected.get(key)
            if sums is None:
                expected[key] = [1, wall, cpu]
            else:
                sums[0] += 1
                sums[1] += wall
                sums[2] += cpu
            day = submit // 86400
            lrms = f"{job_id}[{idx}]" if idx else str(job_id)
            while bad_blah_written < len(blah_kinds) and blah_bad_at[bad_blah_written] <= i:
                blah.write(day, _bad_blah_line(blah_kinds[bad_blah_written], submit, lrms))
                bad_blah_written += 1
            if not is_local:
                grid_jobs += 1
                cream = _cream_number(job_id, idx, salt)
                sec = submit % 86400
                blah.write(
                    day,
                    f'"timestamp={day_text.get(day) or day_string(day)}'
                    f'{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}" '
                    f'{blah_middle[user_no][job_id % 2]} "jobID=CREAM{cream:09d}" '
                    f'"lrmsID={lrms}" "localUser={users[user_no].uid}" "clientID=cream_{cream:09d}"\n',
                )
            i += 1
        # Records that are not finished jobs: resizes of parallel jobs, advance reservations,
        # jobs killed while pending (startTime 0).
        if slots > 1 and rand() < 0.03:
            first = len(col_end) - size
            extras.append(
                _resize_line(
                    job_id, col_idx[first], col_start[first], col_end[first], users[user_no],
                    hosts, rng,
                )
            )  # fmt: skip
        roll = rand()
        if roll < 0.004:
            next_job += 1
            extras.append(_killed_pending(next_job, submit, users[user_no], rng, t_end))
        elif roll < 0.0045:
            extras.append(_reservation_line(submit, users[user_no], hosts, rng))
    if jobs:
        # Every kind of ignored record at least once, even in a small site.
        kinds_seen = {line[1 : line.index('"', 1)] for _, line in extras}
        last_user = users[col_user[-1]]
        if "JOB_RESIZE" not in kinds_seen:
            extras.append(
                _resize_line(
                    col_job[-1], col_idx[-1], col_start[-1], col_end[-1], last_user, hosts, rng
                )
            )
        if "JOB_FINISH" not in kinds_seen:
            next_job += 1
            extras.append(_killed_pending(next_job, submits[-1], last_user, rng, t_end))
        if "EVENT_ADRSV_FINISH" not in kinds_seen:
            extras.append(_reservation_line(t_begin, last_user, hosts, rng))
    while bad_blah_written < len(blah_kinds):  # only when jobs == 0
        blah.write(t_end // 86400, _bad_blah_line(blah_kinds[bad_blah_written], t_end, "1"))
        bad_blah_written += 1
    blah.close()

    # Pass 2, in end-time order: the lsb.acct records.
    extras.sort()
    order = sorted(range(jobs), key=col_end.__getitem__)
    lsf = _LsfFiles(lsf_dir, files_per_kind, jobs + len(extras) + len(lsf_kinds))
    lsf_bad_at = _spread(len(lsf_kinds), jobs) if jobs else [0] * len(lsf_kinds)
    bad_lsf_written = 0
    extra_pos = 0
    n_extras = len(extras)
    quoted_hosts = [f'"{name}" ' for name, _ in hosts]
    host_factors = [factor for _, factor in hosts]
    n_hosts = len(hosts)
    template = _JOB_FINISH
    for position, j in enumerate(order):
        stop = col_end[j]
        while extra_pos < n_extras and extras[extra_pos][0] <= stop:
            lsf.write(extras[extra_pos][1])
            extra_pos += 1
        user = users[col_user[j]]
        slots = col_slots[j]
        job_id = col_job[j]
        idx = col_idx[j]
        start = col_start[j]
        cpu = col_cpu[j]
        wall = stop - start
        submit = submits[j]
        grid = user.vo != LOCAL_VO
        host = int(rand() * n_hosts)
        if slots == 16 and rand() < 0.5:  # two hosts, 8 slots each
            other = (host + 1 + int(rand() * (n_hosts - 1))) % n_hosts
            exec_part = quoted_hosts[host] * 8 + quoted_hosts[other] * 8
            span = "span[ptile=8]"
        else:
            exec_part = quoted_hosts[host] * slots
            span = "span[hosts=1]" if slots > 1 else ""
        if not grid and rand() < 0.03:  # asked for particular hosts (bsub -m)
            asked = (quoted_hosts[host], quoted_hosts[(host + 7) % n_hosts])
            asked_count = 2
            asked_part = asked[0] + asked[1]
        else:
            asked_count = 0
            asked_part = ""
        system = cpu // (12 + int(rand() * 30))
        user_cpu = cpu - system
        # fractions below 0.5 s in total: the CPU time rounds to exactly ``cpu``
        utime = f"{user_cpu}.{int(rand() * 400_000):06d}"
        stime = f"{system}.{int(rand() * 90_000):06d}"
        rmem = slots * (150_000 + int(rand() * 2_300_000))
        swap = rmem + rmem // (2 + int(rand() * 4))
        roll = rand()
        exit_status = 0 if roll < 0.93 else (256 if roll < 0.98 else 35072)
        if grid:
            cream = _cream_number(job_id, idx, salt)
            job_name = f"cream_{cream:09d}"
            command = (
                "#!/bin/bash;# LSF job wrapper generated by lsf_submit.sh;#BSUB -L /bin/bash;"
                f"#BSUB -J {job_name};#BSUB -q {user.queue};#BSUB -n{slots};"
                f'mv ""CREAM{cream:09d}_jobWrapper.sh"" ""$new_home/"" &> /dev/null;'
                f"exec ./CREAM{cream:09d}_jobWrapper.sh"
            )
            from_host = CE_HOSTS[job_id % 2]
            options = _OPTIONS_GRID
            cwd = ""
        else:
            size = col_asize[j]
            job_name = f"{user.job_name}[1-{size}]" if size > 1 else user.job_name
            command = user.command % (job_id % 10_000)
            from_host = f"lxplus{job_id % 97:03d}.demo.example"
            options = _OPTIONS_LOCAL[job_id % 3]
            cwd = "work/" + user.project
        line = template % (
            "JOB_FINISH", LSF_VERSION, stop, job_id, user.uid, options, slots,
            submit, start, user.account, user.queue, span, from_host, cwd,
            "", "",
            submit, job_id,
            asked_count, asked_part, slots, exec_part,
            64 if exit_status == 0 else 32, host_factors[host], job_name, command,
            utime, stime, rmem // slots, 20_000 + int(rand() * 900_000), int(rand() * 5000),
            int(rand() * 20_000), int(rand() * 3000),
            user.project, exit_status, slots, idx, rmem, swap,
            f"/{user.project}/{user.account}", start, rmem * 3 // 4,
            "select[type == any] order[-ut] " + span, wall,
        )  # fmt: skip
        while bad_lsf_written < len(lsf_kinds) and lsf_bad_at[bad_lsf_written] <= position:
            lsf.write(_bad_lsf_line(lsf_kinds[bad_lsf_written], line, rng) + "\n")
            bad_lsf_written += 1
        lsf.write(line + "\n")
    while extra_pos < n_extras:
        lsf.write(extras[extra_pos][1])
        extra_pos += 1
    while bad_lsf_written < len(lsf_kinds):  # only when jobs == 0
        sample = lsf_line(job_id=1, submit_time=t_end - 100, start_time=t_end - 90, end_time=t_end)
        lsf.write(_bad_lsf_line(lsf_kinds[bad_lsf_written], sample, rng) + "\n")
        bad_lsf_written += 1
    lsf.close()

    lsf_paths = list(reversed(sorted(lsf.paths, key=_lsf_age)))
    return DemoSite(
        out_dir=out_dir,
        lsf_files=lsf_paths,
        blah_files=list(blah.paths),
        site=site,
        machine_name=DEFAULT_MACHINE_NAME,
        jobs=jobs,
        grid_jobs=grid_jobs,
        local_jobs=jobs - grid_jobs,
        malformed=malformed,
        expected_by_vo_month={key: (s[0], s[1], s[2]) for key, s in sorted(expected.items())},
        lsf_malformed=len(lsf_kinds),
        blah_malformed=len(blah_kinds),
        ignored=n_extras,
        start=begin,
        end=end,
        lsf_lines=lsf.lines,
        blah_lines=blah.lines,
        files=lsf_paths + list(blah.paths),
    )


def _lsf_age(path: Path) -> int:
    """0 for lsb.acct, N for lsb.acct.N (higher is older)."""
    suffix = path.name[len("lsb.acct") :]
    return int(suffix[1:]) if suffix else 0


def _bad_blah_line(kind: str, submit: int, lrms: str) -> str:
    user = _GRID_USERS[0]
    when = datetime.fromtimestamp(submit, UTC)
    if kind == "blah_bad_timestamp":
        timestamp = when.strftime("%Y-%m-%dA%H:%M:%S")
        lrms_id: str | None = lrms
    else:
        timestamp = when.strftime("%Y-%m-%d %H:%M:%S")
        lrms_id = None
    return (
        blah_line(
            timestamp=timestamp,
            user_dn=user.dn,
            fqans=user.fqans,
            ce_id=f"{CE_HOSTS[0]}:8443/cream-lsf-{user.queue}",
            grid_job_id=f"CREAM{submit % 1_000_000_000:09d}",
            lrms_id=lrms_id,
            local_user=str(user.uid),
        )
        + "\n"
    )


def _bad_lsf_line(kind: str, line: str, rng: random.Random) -> str:
    """A broken copy of a good record: cut short (as by a crash while writing it), or ending
    before it starts."""
    if kind == "lsf_truncated":
        # 40 % of a record always ends before maxRMem/maxRSwap (and maybe inside a string).
        return line[: line.rindex(" ", 0, len(line) * 2 // 5)]
    fields = line.split(" ", 11)  # [2] event time, [10] startTime: no spaces before them
    fields[2] = str(int(fields[10]) - 60 - rng.randrange(3600))
    return " ".join(fields)


def _resize_line(
    job_id: int,
    idx: int,
    start: int,
    stop: int,
    user: _User,
    hosts: Sequence[tuple[str, str]],
    rng: random.Random,
) -> tuple[int, str]:
    """A running parallel job released slots (``JOB_RESIZE``): not a finished job."""
    host = hosts[rng.randrange(len(hosts))][0]
    when = start + (stop - start) // 2
    line = (
        f'"JOB_RESIZE" "{LSF_VERSION}" {when} {job_id} {idx} {start} {user.uid} "{user.account}"'
        f' 1 {when - 10} {when} 1 "{host}" 4 "{host}" "{host}" "{host}" "{host}" 1 "{host}" 4\n'
    )
    return when, line


def _reservation_line(
    when: int, user: _User, hosts: Sequence[tuple[str, str]], rng: random.Random
) -> tuple[int, str]:
    """An advance reservation that ended (``EVENT_ADRSV_FINISH``): not a job."""
    host = hosts[rng.randrange(len(hosts))][0]
    finished = when + 3600
    line = (
        f'"EVENT_ADRSV_FINISH" "{LSF_VERSION}" {finished} {when - 86400} {user.uid}'
        f' "{user.account}#{when % 1000}" 16 1 "{host}" 8 "{when}-{finished}" 3600.000000 0\n'
    )
    return finished, line


def _killed_pending(
    job_id: int, submit: int, user: _User, rng: random.Random, t_end: int
) -> tuple[int, str]:
    """A job killed before it ever ran: LSF writes a JOB_FINISH with startTime 0."""
    killed = min(submit + 60 + rng.randrange(7200), t_end)
    line = lsf_line(
        job_id=job_id,
        submit_time=submit,
        start_time=0,
        end_time=killed,
        user=user.account,
        uid=user.uid,
        queue=user.queue,
        exec_hosts=(),
        project=user.project,
        exit_status=33280,
        from_host=CE_HOSTS[0] if user.vo != LOCAL_VO else "lxplus001.demo.example",
        host_factor=0.0,
        job_name=user.job_name,
    )
    return killed, line + "\n"

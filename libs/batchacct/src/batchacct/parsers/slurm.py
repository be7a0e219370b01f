"""SLURM ``sacct --parsable2`` output: one row per job, and one per job step unless ``-X``.

A row is ``|``-separated. Which column holds what comes from a header line, the first line of the
output when ``sacct`` runs without ``-n``/``--noheader`` (``JobID|JobName|User|...``). With a
header, the columns may come in any order and columns we do not know are ignored, so a site can
add or reorder ``--format`` fields without breaking us. Without one, rows are read in APEL's fixed
order, :data:`FIXED_COLUMNS`. A header may appear again further down (outputs concatenated into
one file); from there on it is the column map. ``sacct -p`` rows, which end with an extra ``|``,
are accepted too.

Units, as sacct prints them:

- times: ``YYYY-MM-DDTHH:MM:SS`` in the batch host's local time (``ParserConfig.timezone``; an
  explicit offset or ``Z`` is honoured); ``Unknown``/``None``/empty for a time that is not set;
- durations: plain seconds (``CPUTimeRAW``, ``ElapsedRaw``), ``[d-]hh:mm:ss`` or ``mm:ss.fff``
  (``TotalCPU`` under an hour); fractions are rounded half up;
- memory (``MaxRSS``, ``MaxVMSize``): a number with a 1024-based ``K``/``M``/``G``/``T``/``P``
  suffix, truncated to whole KiB as APEL does (``1.40G`` is 1468006 KiB). A bare number is bytes:
  since SLURM 17.11 sacct keeps memory in bytes and prints it without a suffix below 1 KiB or
  with ``--noconvert``; every version prints zero as a bare ``0``. APEL rejects every bare number,
  ``0`` included; we read ``0`` as 0 KiB, what a job that used no measurable memory has.

``ParserConfig.slurm_steps`` chooses what a record is. ``"jobs"`` (:class:`SlurmParser`): a job
(allocation) row is a job, a step row (``123.batch``, ``123.0``, ``123.extern``) is ignored; APEL
instead counts each step row as a job of its own, which counts a job twice or more when sacct
prints the job with its steps. ``"sum"`` (:class:`SlurmStepSumParser`): a job's rows are one entry,
the job row with the step rows after it; CPU is the steps' sum and memory their maximum.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache

from batchacct.errors import ParseError, Reason
from batchacct.parsers import ParserConfig
from batchacct.parsers.numbers import INT64_MAX
from batchacct.records import BatchEvent

INFRASTRUCTURE = "APEL-CREAM-SLURM"

# The BatchEvent fields SlurmParser._event passes by position, in order (a unit test checks
# them against BatchEvent).
_POSITIONAL_FIELDS = (
    "site",
    "machine_name",
    "local_job_id",
    "start_time",
    "end_time",
    "wall_duration",
    "cpu_duration",
    "source_format",
    "source_file",
    "source_line",
    "local_user_id",
    "local_user_group",
    "queue",
    "account",
    "submit_time",
    "processors",
    "node_count",
    "exec_hosts",
    "memory_real",
    "memory_virtual",
    "exit_status",
    "from_host",
    "infrastructure_description",
)

# APEL's sacct --format (apel-facts 1.7): the column order of output without a header.
FIXED_COLUMNS = (
    "JobID",
    "JobName",
    "User",
    "Group",
    "Start",
    "End",
    "Elapsed",
    "CPUTimeRAW",
    "Partition",
    "NCPUS",
    "NNodes",
    "NodeList",
    "MaxRSS",
    "MaxVMSize",
    "State",
)
REQUIRED_COLUMNS = ("JobID", "Start", "End", "State", "Elapsed")

# States of a job that has ended having run. APEL reads the first six; OUT_OF_MEMORY (SLURM 17.11+)
# is a job the kernel killed for its memory, after it used its resources, so we account it too.
FINAL_STATES = frozenset(
    {"CANCELLED", "COMPLETED", "FAILED", "NODE_FAIL", "PREEMPTED", "TIMEOUT", "OUT_OF_MEMORY"}
)
# Every other state sacct prints: ignored. DEADLINE and BOOT_FAIL stay ignored as in APEL; a job
# reaching its deadline is mostly one that never started. A State in neither set is rejected:
# it is a shifted column or a new SLURM state, and both need a look.
UNFINISHED_STATES = frozenset(
    {
        "PENDING",
        "RUNNING",
        "SUSPENDED",
        "COMPLETING",
        "CONFIGURING",
        "RESIZING",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "RESV_DEL_HOLD",
        "REVOKED",
        "SPECIAL_EXIT",
        "STOPPED",
        "SIGNALING",
        "STAGE_OUT",
        "POWER_UP_NODE",
        "LAUNCH_FAILED",
        "UPDATE_DB",
        "RECONFIG_FAIL",
        "BOOT_FAIL",
        "DEADLINE",
    }
)

# sacct --helpformat names (lower case). A line is a header when it is made of names only and
# holds at least one of these.
KNOWN_COLUMNS = frozenset(
    name.lower()
    for name in (
        *FIXED_COLUMNS,
        "Account",
        "AdminComment",
        "AllocCPUS",
        "AllocNodes",
        "AllocTRES",
        "AssocID",
        "AveCPU",
        "AveCPUFreq",
        "AveDiskRead",
        "AveDiskWrite",
        "AvePages",
        "AveRSS",
        "AveVMSize",
        "BlockID",
        "Cluster",
        "Comment",
        "Constraints",
        "ConsumedEnergy",
        "ConsumedEnergyRaw",
        "Container",
        "CPUTime",
        "DBIndex",
        "DerivedExitCode",
        "ElapsedRaw",
        "Eligible",
        "ExitCode",
        "Extra",
        "FailedNode",
        "Flags",
        "GID",
        "JobIDRaw",
        "Layout",
        "Licenses",
        "MaxDiskRead",
        "MaxDiskWrite",
        "MaxPages",
        "MaxRSSNode",
        "MaxRSSTask",
        "MaxVMSizeNode",
        "MaxVMSizeTask",
        "McsLabel",
        "MinCPU",
        "NTasks",
        "Planned",
        "PlannedCPU",
        "Priority",
        "QOS",
        "QOSRAW",
        "Reason",
        "ReqCPUFreq",
        "ReqCPUS",
        "ReqMem",
        "ReqNodes",
        "ReqTRES",
        "Reservation",
        "ReservationId",
        "Submit",
        "SubmitLine",
        "Suspended",
        "SystemComment",
        "SystemCPU",
        "Timelimit",
        "TimelimitRaw",
        "TotalCPU",
        "TRESUsageInAve",
        "TRESUsageInMax",
        "TRESUsageOutMax",
        "UID",
        "UserCPU",
        "WCKey",
        "WorkDir",
    )
)

# Beyond this a NodeList is not a real allocation; expanding it would only eat memory.
MAX_HOSTS = 100_000

_HEADER = re.compile(r"[A-Za-z][A-Za-z0-9_]*+(?:\|[A-Za-z][A-Za-z0-9_]*+)*+\|?")
# 123, 123_4 (array element), 123_[1-5%2] (pending array), 123+1 (heterogeneous job component),
# each optionally with a step: 123.batch, 123.extern, 123.0, 123.0+1.
_JOB_ID = re.compile(
    r"[0-9]++(?:_(?:[0-9]++|\[[0-9,%:\-]++\]))?+(?:\+[0-9]++)?+(\.[A-Za-z0-9_+\-]++)?+"
)
_DURATION = re.compile(
    r"(?:([0-9]{1,9})-)?+(?:([0-9]{1,12}):)?([0-9]{1,2}):([0-9]{1,2})(?:\.([0-9]{1,9}))?"
)
_CLOCK = re.compile(r"([0-9]{2}):([0-5][0-9]):([0-5][0-9])")
_MEMORY = re.compile(r"([0-9]++)(?:\.([0-9]++))?+(.*)", re.DOTALL)
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?"
    r"(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?"
)
_NO_TIME = frozenset({"", "Unknown", "None"})
_NO_HOSTS = frozenset({"", "None assigned", "(null)", "None"})
_ZERO = timedelta(0)
_UNITS = {"K": 1, "M": 1024, "G": 1024**2, "T": 1024**3, "P": 1024**4}


@dataclass(slots=True, frozen=True)
class Layout:
    """Where each column we use is in a row. A column that is absent points at ``width``: rows
    get an empty field appended there, so reading it gives ``""``."""

    names: tuple[str, ...]
    width: int
    job_id: int
    start: int
    end: int
    state: int
    elapsed: int
    cpu: int
    user: int
    group: int
    partition: int
    account: int
    ncpus: int
    nnodes: int
    nodelist: int
    max_rss: int
    max_vmsize: int
    exit_code: int
    submit: int
    from_header: bool
    # Set when the header lacks a required column: every row under it is rejected with this.
    error: str | None

    @property
    def cpu_name(self) -> str:
        return self.names[self.cpu] if self.cpu < self.width else "CPU"

    def describe(self) -> str:
        return (
            f"the header has {self.width} columns"
            if self.from_header
            else f"APEL's fixed order has {self.width} (add a header line to use other columns)"
        )


_ALIASES = {"Elapsed": ("ElapsedRaw",)}


def make_layout(names: Iterable[str], *, from_header: bool) -> Layout:
    """The layout of rows with these column names (matched without regard to case)."""
    names = tuple(names)
    width = len(names)
    where: dict[str, int] = {}
    for index, name in enumerate(names):
        where.setdefault(name.lower(), index)

    def find(*candidates: str) -> int:
        for candidate in candidates:
            if candidate.lower() in where:
                return where[candidate.lower()]
        return width

    # TotalCPU is the CPU the job used; CPUTimeRAW is Elapsed x NCPUS (APEL issue #160).
    cpu = find("TotalCPU", "CPUTimeRAW")
    missing = [name for name in REQUIRED_COLUMNS if find(name, *_ALIASES.get(name, ())) == width]
    if cpu == width:
        missing.append("TotalCPU or CPUTimeRAW")
    error = None
    if missing:
        error = (
            f"the header lacks {', '.join(missing)}; a job needs "
            f"{', '.join(REQUIRED_COLUMNS)} and TotalCPU or CPUTimeRAW"
        )
    return Layout(
        names=names,
        width=width,
        job_id=find("JobID"),
        start=find("Start"),
        end=find("End"),
        state=find("State"),
        elapsed=find("Elapsed", "ElapsedRaw"),
        cpu=cpu,
        user=find("User"),
        group=find("Group"),
        partition=find("Partition"),
        account=find("Account"),
        ncpus=find("NCPUS", "AllocCPUS"),
        nnodes=find("NNodes"),
        nodelist=find("NodeList"),
        max_rss=find("MaxRSS"),
        max_vmsize=find("MaxVMSize"),
        exit_code=find("ExitCode"),
        submit=find("Submit"),
        from_header=from_header,
        error=error,
    )


FIXED_LAYOUT = make_layout(FIXED_COLUMNS, from_header=False)


def is_header(line: str) -> bool:
    """Whether ``line`` is a sacct header: names only, at least one of them a sacct column."""
    if _HEADER.fullmatch(line) is None:
        return False
    return any(name.lower() in KNOWN_COLUMNS for name in line.split("|"))


@lru_cache(maxsize=64)
def header_layout(line: str) -> Layout:
    names = line.split("|")
    if names[-1] == "":
        del names[-1]  # sacct -p ends every line with "|"
    return make_layout(names, from_header=True)


def slurm_parser(config: ParserConfig) -> SlurmParser:
    """The SLURM parser for ``config.slurm_steps``: ``"jobs"`` or ``"sum"``."""
    if config.slurm_steps == "sum":
        return SlurmStepSumParser(config)
    return SlurmParser(config)


class SlurmParser:
    """Job rows only: a step row is ignored (``ParserConfig.slurm_steps == "jobs"``)."""

    source_format = "slurm"
    steps = "jobs"

    @staticmethod
    def is_preamble(line: str) -> bool:
        """A header line: the same in every file sacct writes, so it cannot identify one."""
        return is_header(line)

    def __init__(self, config: ParserConfig) -> None:
        if config.slurm_steps not in ("jobs", "sum"):
            raise ValueError(f"slurm_steps must be 'jobs' or 'sum', not {config.slurm_steps!r}")
        if config.slurm_steps != self.steps:
            raise ValueError(
                f"{type(self).__name__} reads slurm_steps={self.steps!r}; "
                f"use slurm_parser() (or make_parser) for {config.slurm_steps!r}"
            )
        self.site = config.site
        self.machine_name = config.machine_name
        self.timezone: tzinfo | None = None if config.timezone in (None, UTC) else config.timezone
        self.layout = FIXED_LAYOUT
        self._offsets: dict[str, timedelta] = {}  # local hour -> UTC offset, see _hour_offset

    def begin_file(self, first_line: str) -> None:
        """Take the column map from a file's header, or APEL's fixed order if it has none."""
        if first_line[:1].isdigit() or not is_header(first_line):
            self.layout = FIXED_LAYOUT
        else:
            self.layout = header_layout(first_line)

    def parse(self, line: str, file: str, line_no: int) -> BatchEvent | None:
        fields = self._fields(line)
        if fields is None:
            return None
        layout = self.layout
        job_id = fields[layout.job_id]
        match = _JOB_ID.fullmatch(job_id)
        if match is None:
            raise _bad_job_id(job_id)
        if match.group(1) is not None or not _is_final(fields[layout.state]):
            return None
        return self._event(fields, job_id, file, line_no)

    def _fields(self, line: str) -> list[str] | None:
        """The fields of a row, one more empty one appended; None for a header line."""
        if not line[:1].isdigit() and is_header(line):
            self.layout = header_layout(line)
            if self.layout.error is not None:
                raise ParseError(Reason.MISSING_FIELD, self.layout.error)
            return None
        return self._row_fields(line)

    def _row_fields(self, line: str) -> list[str]:
        layout = self.layout
        if layout.error is not None:
            raise ParseError(Reason.MISSING_FIELD, layout.error)
        fields = line.split("|")
        count = len(fields)
        if count == layout.width:
            fields.append("")
        elif count != layout.width + 1 or fields[-1]:
            if not line.strip():
                raise ParseError(Reason.MALFORMED, "empty line")
            raise ParseError(
                Reason.MALFORMED, f"row has {count} '|'-separated fields; {layout.describe()}"
            )
        return fields

    def _event(self, fields: list[str], job_id: str, file: str, line_no: int) -> BatchEvent | None:
        """The record of one row whose State is final, or None if the job never started."""
        layout = self.layout
        wall = _duration(fields[layout.elapsed], "Elapsed")
        start_text = fields[layout.start]
        end_text = fields[layout.end]
        if start_text in _NO_TIME:
            if wall == 0:
                # Cancelled (or failed) while pending: it used nothing. LSF's startTime 0 likewise.
                return None
            raise ParseError(
                Reason.MISSING_FIELD, f"Start is {start_text!r} but Elapsed is {wall} s"
            )
        if end_text in _NO_TIME:
            raise ParseError(Reason.MISSING_FIELD, f"End is {end_text!r} for a finished job")
        start = self._utc(start_text, "Start")
        end = self._utc(end_text, "End")
        if end < start:
            raise ParseError(
                Reason.INCONSISTENT, f"job ends ({end_text}) before it starts ({start_text})"
            )
        cpu = _duration(fields[layout.cpu], layout.cpu_name)
        submit_text = fields[layout.submit]
        hosts = fields[layout.nodelist]
        # Positional: three times faster than keywords; _POSITIONAL_FIELDS guards the order.
        return BatchEvent(
            self.site,
            self.machine_name,
            job_id,
            start,
            end,
            wall,
            cpu,
            "slurm",
            file,
            line_no,
            fields[layout.user] or None,
            fields[layout.group] or None,
            fields[layout.partition] or None,
            fields[layout.account] or None,
            None if submit_text in _NO_TIME else self._utc(submit_text, "Submit"),
            _count(fields[layout.ncpus], "NCPUS"),
            _count(fields[layout.nnodes], "NNodes"),
            [] if hosts in _NO_HOSTS else _hosts(hosts),
            _memory(fields[layout.max_rss], "MaxRSS"),
            _memory(fields[layout.max_vmsize], "MaxVMSize"),
            _exit_status(fields[layout.exit_code]),
            None,
            INFRASTRUCTURE,
        )

    def _utc(self, text: str, name: str) -> datetime:
        if (
            len(text) == 19
            and text[10] == "T"
            and text[4] == "-"
            and text[7] == "-"
            and text[13] == ":"
            and text[16] == ":"
        ):
            # sacct's usual form. fromisoformat checks the digits; "+00:00" makes it give UTC
            # without the (slow) replace().
            zone = self.timezone
            offset = _ZERO if zone is None else self._offsets.get(text[:13])
            if offset is None and zone is not None:
                offset = self._hour_offset(text[:13], zone)
            if offset is not None:
                try:
                    return datetime.fromisoformat(text + "+00:00") - offset
                except (ValueError, OverflowError):
                    pass  # the careful path says what is wrong
        if _TIMESTAMP.fullmatch(text) is None:
            raise ParseError(
                Reason.BAD_TIMESTAMP, f"{name} is not YYYY-MM-DDTHH:MM:SS: {text[:40]!r}"
            )
        try:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                if self.timezone is None:
                    return moment.replace(tzinfo=UTC)
                # In the hour repeated when DST ends, a local time is ambiguous; fold=0 takes its
                # first occurrence (still DST).
                moment = moment.replace(tzinfo=self.timezone)
            return moment.astimezone(UTC)
        except (ValueError, OverflowError):
            raise ParseError(Reason.BAD_TIMESTAMP, f"no such time: {name} {text[:40]!r}") from None

    def _hour_offset(self, hour: str, zone: tzinfo) -> timedelta | None:
        """The UTC offset of a whole local hour (``YYYY-MM-DDTHH``) of the configured time zone,
        or None when it is not one offset (a DST change inside it, or an hour repeated or skipped):
        then each time is converted on its own."""
        try:
            first = datetime.fromisoformat(hour + ":00:00")
        except ValueError:
            return None
        last = first + timedelta(minutes=59, seconds=59)
        offsets = {
            moment.replace(tzinfo=zone, fold=fold).utcoffset()
            for moment in (first, last)
            for fold in (0, 1)
        }
        offset = offsets.pop() if len(offsets) == 1 else None
        if offset is not None:
            if len(self._offsets) >= 100_000:
                self._offsets.clear()
            self._offsets[hour] = offset
        return offset


class SlurmStepSumParser(SlurmParser):
    """A job's rows make one record: CPU summed over its steps, memory their maximum
    (``ParserConfig.slurm_steps == "sum"``).

    An entry is a job row and the step rows after it with the same job id (the part before the
    first ``.``), or, when sacct printed no job row, consecutive step rows of one job. A JobID
    already in the entry starts a new one, so the repeated rows of a requeued job (``sacct -D``)
    stay separate records. A header line and a row that has no readable JobID are entries of their
    own; blank lines separate entries.
    """

    steps = "sum"

    def split_groups(self, lines: list[str], final: bool) -> tuple[list[tuple[int, int]], int]:
        groups: list[tuple[int, int]] = []
        layout = self.layout
        start = -1  # the open entry's first line, -1 when none is open
        key = ""
        seen: set[str] = set()  # the JobIDs of the open entry's rows
        consumed = 0
        for index, line in enumerate(lines):
            blank = not line.strip()
            if blank or (not line[:1].isdigit() and is_header(line)):
                if start >= 0:
                    groups.append((start, index))
                    start = -1
                if not blank:
                    layout = header_layout(line)
                    groups.append((index, index + 1))
                consumed = index + 1
                continue
            job_id = _job_id_of(line, layout)
            row_key = job_id.partition(".")[0]
            if start >= 0 and row_key == key and job_id and job_id not in seen:
                seen.add(job_id)
                continue
            if start >= 0:
                groups.append((start, index))
                consumed = index
            if not job_id:
                groups.append((index, index + 1))  # parse() says what is wrong with it
                consumed = index + 1
                start = -1
                continue
            start, key, seen = index, row_key, {job_id}
        if start >= 0 and final:
            groups.append((start, len(lines)))
            consumed = len(lines)
        return groups, consumed

    def parse(self, line: str, file: str, line_no: int) -> BatchEvent | None:
        rows = line.split("\n")
        if len(rows) == 1:
            fields = self._fields(line)
            if fields is None:
                return None
            all_fields = [fields]
        else:
            all_fields = []
            for offset, row in enumerate(rows):
                if not row[:1].isdigit() and is_header(row):
                    raise ParseError(Reason.MALFORMED, "a header line among a job's rows")
                try:
                    all_fields.append(self._row_fields(row))
                except ParseError as err:
                    raise _in_row(err, offset, len(rows)) from None
        layout = self.layout
        job_row: int | None = None
        seen: set[str] = set()
        key = ""
        for offset, fields in enumerate(all_fields):
            job_id = fields[layout.job_id]
            match = _JOB_ID.fullmatch(job_id)
            if match is None:
                raise _in_row(_bad_job_id(job_id), offset, len(rows))
            row_key = job_id.partition(".")[0]
            if offset == 0:
                key = row_key
            elif row_key != key:
                raise ParseError(
                    Reason.MALFORMED, f"rows of two jobs in one entry: {key} and {row_key[:40]}"
                )
            if job_id in seen:
                raise ParseError(Reason.MALFORMED, f"{job_id} twice in one entry")
            seen.add(job_id)
            if match.group(1) is None:
                job_row = offset
        # The job row's State decides; without one, every step must have ended. Every State must
        # be one SLURM has.
        finished = [
            _row_is_final(fields, layout, offset, len(rows))
            for offset, fields in enumerate(all_fields)
        ]
        if not (finished[job_row] if job_row is not None else all(finished)):
            return None
        events: list[BatchEvent] = []
        job: BatchEvent | None = None
        for offset, fields in enumerate(all_fields):
            try:
                event = self._event(fields, fields[layout.job_id], file, line_no)
            except ParseError as err:
                raise _in_row(err, offset, len(rows)) from None
            if offset == job_row:
                if event is None:
                    return None
                job = event
            elif event is not None:
                events.append(event)
        if job is None:
            return _job_from_steps(key, events)
        if events:
            job.cpu_duration = sum(step.cpu_duration for step in events)
        job.memory_real = _max_known(job.memory_real, (step.memory_real for step in events))
        job.memory_virtual = _max_known(
            job.memory_virtual, (step.memory_virtual for step in events)
        )
        return job


def _row_is_final(fields: list[str], layout: Layout, offset: int, rows: int) -> bool:
    try:
        return _is_final(fields[layout.state])
    except ParseError as err:
        raise _in_row(err, offset, rows) from None


def _job_from_steps(job_id: str, steps: list[BatchEvent]) -> BatchEvent | None:
    """A job sacct printed only the steps of: it ran from its first step's start to its last
    step's end."""
    if not steps:
        return None
    first = steps[0]
    start = min(step.start_time for step in steps)
    end = max(step.end_time for step in steps)
    hosts: dict[str, None] = {}
    for step in steps:
        hosts.update(dict.fromkeys(step.exec_hosts))
    return BatchEvent(
        site=first.site,
        machine_name=first.machine_name,
        local_job_id=job_id,
        start_time=start,
        end_time=end,
        wall_duration=(
            first.wall_duration if len(steps) == 1 else int((end - start).total_seconds())
        ),
        cpu_duration=sum(step.cpu_duration for step in steps),
        source_format=first.source_format,
        source_file=first.source_file,
        source_line=first.source_line,
        local_user_id=_first_known(step.local_user_id for step in steps),
        local_user_group=_first_known(step.local_user_group for step in steps),
        queue=_first_known(step.queue for step in steps),
        account=_first_known(step.account for step in steps),
        submit_time=min((s.submit_time for s in steps if s.submit_time), default=None),
        processors=_max_known(None, (step.processors for step in steps)),
        node_count=_max_known(None, (step.node_count for step in steps)),
        exec_hosts=list(hosts),
        memory_real=_max_known(None, (step.memory_real for step in steps)),
        memory_virtual=_max_known(None, (step.memory_virtual for step in steps)),
        exit_status=_max_known(None, (step.exit_status for step in steps)),
        infrastructure_description=INFRASTRUCTURE,
    )


def _max_known(first: int | None, values: Iterable[int | None]) -> int | None:
    known = [value for value in values if value is not None]
    if first is not None:
        known.append(first)
    return max(known) if known else None


def _first_known(values: Iterable[str | None]) -> str | None:
    return next((value for value in values if value), None)


def _in_row(err: ParseError, offset: int, rows: int) -> ParseError:
    if rows == 1:
        return err
    return ParseError(err.reason, f"{err.detail} (row {offset + 1} of {rows})")


def _job_id_of(line: str, layout: Layout) -> str:
    """The JobID of a row, or "" when the row has no readable one."""
    if layout.error is not None:
        return ""
    fields = line.split("|", layout.job_id + 1)
    if layout.job_id >= len(fields) or layout.job_id >= layout.width:
        return ""
    job_id = fields[layout.job_id]
    return job_id if _JOB_ID.fullmatch(job_id) else ""


def _bad_job_id(job_id: str) -> ParseError:
    if not job_id:
        return ParseError(Reason.MISSING_FIELD, "empty JobID")
    return ParseError(Reason.MALFORMED, f"JobID is not a SLURM job id: {job_id[:40]!r}")


def _is_final(state: str) -> bool:
    """Whether a job in ``state`` has ended having run; raises for a state SLURM does not have."""
    if state in FINAL_STATES:
        return True
    if state in UNFINISHED_STATES:
        return False
    if state.startswith("CANCELLED by "):  # what sacct prints: "CANCELLED by <uid>"
        return True
    if not state:
        raise ParseError(Reason.MISSING_FIELD, "empty State")
    raise ParseError(Reason.MALFORMED, f"unknown State {state[:40]!r}")


def parse_duration(text: str) -> int:
    """Whole seconds from ``123``, ``[d-]hh:mm:ss[.fff]`` or ``mm:ss[.fff]`` (fractions rounded
    half up). Raises ValueError for anything else."""
    if text.isdigit() and text.isascii():
        seconds = int(text)
    elif len(text) == 8 and (clock := _CLOCK.fullmatch(text)) is not None:
        hours, minutes, whole = clock.groups()  # the usual hh:mm:ss, twice as fast
        return int(hours) * 3600 + int(minutes) * 60 + int(whole)
    else:
        match = _DURATION.fullmatch(text)
        if match is None:
            raise ValueError(text)
        days, hours, minutes, whole, fraction = match.groups()
        if int(minutes) > 59 or int(whole) > 59:
            raise ValueError(text)
        if days is not None and (hours is None or int(hours) > 23):
            raise ValueError(text)  # sacct writes d-hh:mm:ss; "1-05:30" would be a time limit
        seconds = int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes) * 60 + int(whole)
        if fraction is not None and int(fraction) * 2 >= 10 ** len(fraction):
            seconds += 1
    if seconds > INT64_MAX:
        raise ValueError(text)
    return seconds


def _duration(text: str, name: str) -> int:
    try:
        return parse_duration(text)
    except ValueError:
        pass
    if not text:
        raise ParseError(Reason.MISSING_FIELD, f"empty {name}") from None
    if text[:1] == "-" and parse_duration_or_none(text[1:]) is not None:
        raise ParseError(Reason.INCONSISTENT, f"negative {name}: {text[:40]!r}") from None
    raise ParseError(
        Reason.BAD_NUMBER, f"{name} is not seconds or [d-]hh:mm:ss: {text[:40]!r}"
    ) from None


def parse_duration_or_none(text: str) -> int | None:
    try:
        return parse_duration(text)
    except ValueError:
        return None


def parse_memory(text: str) -> int | None:
    """KiB from a sacct memory figure (see the module doc); None when empty.

    Raises ParseError: BAD_UNIT for a suffix other than K/M/G/T/P, BAD_NUMBER for no number.
    """
    if not text:
        return None
    match = _MEMORY.fullmatch(text)
    if match is None:
        raise ParseError(Reason.BAD_NUMBER, f"not a memory figure: {text[:40]!r}")
    whole, fraction, unit = match.groups()
    if len(whole) > 24 or (fraction is not None and len(fraction) > 12):
        raise ParseError(Reason.BAD_NUMBER, f"memory out of range: {text[:40]!r}")
    if unit:
        factor = _UNITS.get(unit)
        if factor is None:
            raise ParseError(
                Reason.BAD_UNIT, f"unknown unit {unit[:10]!r} in {text[:40]!r}; known: KMGTP"
            )
        if fraction is None:
            kib = int(whole) * factor
        else:
            # Exact in integers, then truncated: 1.40G is 1468006 KiB, as APEL's int() gives.
            scale = 10 ** len(fraction)
            kib = (int(whole) * scale + int(fraction)) * factor // scale
    else:
        if fraction is not None:
            raise ParseError(Reason.BAD_UNIT, f"fraction of a byte: {text[:40]!r}")
        kib = int(whole) // 1024
    if kib > INT64_MAX:
        raise ParseError(Reason.BAD_NUMBER, f"memory out of range: {text[:40]!r}")
    return kib


def _memory(text: str, name: str) -> int | None:
    if text[-1:] == "K" and text[:-1].isdigit() and text.isascii() and len(text) < 19:
        return int(text[:-1])  # the usual form
    try:
        return parse_memory(text)
    except ParseError as err:
        raise ParseError(err.reason, f"{name}: {err.detail}") from None


def _count(text: str, name: str) -> int | None:
    if not text:
        return None
    if text.isdigit() and text.isascii() and len(text) < 19:
        return int(text)
    raise ParseError(Reason.BAD_NUMBER, f"{name} is not a count: {text[:40]!r}")


def _exit_status(text: str) -> int | None:
    """The exit code from sacct's ``code:signal``; a job killed by a signal gets 128 + the
    signal number, as a shell reports it (and as the LSF parser gives it)."""
    if not text:
        return None
    code, colon, signal = text.partition(":")
    if (
        not colon
        or not (code.isdigit() and signal.isdigit())
        or not text.isascii()
        or len(text) > 12
    ):
        raise ParseError(Reason.BAD_NUMBER, f"ExitCode is not code:signal: {text[:40]!r}")
    return 128 + int(signal) if int(signal) else int(code)


def expand_nodelist(text: str) -> list[str]:
    """The host names of a SLURM host list: ``wn[01-03,07],gpu1`` gives
    ``['wn01', 'wn02', 'wn03', 'wn07', 'gpu1']``. Numbers keep the zero padding of the range's
    start; several bracket groups in a name (``r[1-2]n[1-2]``) expand to every combination.

    Raises ParseError (MALFORMED) for unbalanced brackets, a range that is not numbers or runs
    backwards, or more than :data:`MAX_HOSTS` hosts.
    """
    hosts: list[str] = []
    depth = 0
    begin = 0
    for index, char in enumerate(text):
        if char == "[":
            depth += 1
            if depth > 1:
                raise ParseError(Reason.MALFORMED, f"nested '[' in NodeList {text[:60]!r}")
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise ParseError(Reason.MALFORMED, f"unbalanced ']' in NodeList {text[:60]!r}")
        elif char == "," and depth == 0:
            hosts.extend(_expand_name(text[begin:index], text, MAX_HOSTS - len(hosts)))
            begin = index + 1
    if depth:
        raise ParseError(Reason.MALFORMED, f"unbalanced '[' in NodeList {text[:60]!r}")
    hosts.extend(_expand_name(text[begin:], text, MAX_HOSTS - len(hosts)))
    return hosts


def _expand_name(name: str, text: str, room: int) -> list[str]:
    if not name:
        raise ParseError(Reason.MALFORMED, f"empty host name in NodeList {text[:60]!r}")
    open_at = name.find("[")
    if open_at < 0:
        if room < 1:
            raise _too_many_hosts(text)
        return [name]
    close_at = name.index("]", open_at)
    prefix = name[:open_at]
    numbers: list[str] = []
    for item in name[open_at + 1 : close_at].split(","):
        low, dash, high = item.partition("-")
        if not (low.isdigit() and low.isascii()) or (
            dash and not (high.isdigit() and high.isascii())
        ):
            raise ParseError(Reason.MALFORMED, f"bad range {item[:20]!r} in NodeList {text[:60]!r}")
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise ParseError(Reason.MALFORMED, f"backward range {item!r} in NodeList {text[:60]!r}")
        if last - first + 1 > room - len(numbers):
            raise _too_many_hosts(text)
        numbers.extend(str(number).zfill(len(low)) for number in range(first, last + 1))
    rest = name[close_at + 1 :]
    suffixes = _expand_name(rest, text, max(room // len(numbers), 0)) if rest else [""]
    if len(numbers) * len(suffixes) > room:
        raise _too_many_hosts(text)
    return [prefix + number + suffix for number in numbers for suffix in suffixes]


def _too_many_hosts(text: str) -> ParseError:
    return ParseError(
        Reason.MALFORMED, f"NodeList expands to more than {MAX_HOSTS} hosts: {text[:60]!r}"
    )


# Node lists repeat across jobs; expanding one is far dearer than a dict lookup. Only short
# lists are kept, so a flood of huge ones cannot fill the memory.
_HOSTS_CACHE: dict[str, tuple[str, ...]] = {}


def _hosts(text: str) -> list[str]:
    hosts = _HOSTS_CACHE.get(text)
    if hosts is None:
        hosts = tuple(expand_nodelist(text)) if "[" in text or "," in text else (text,)
        if len(hosts) <= 256:
            if len(_HOSTS_CACHE) >= 4096:
                _HOSTS_CACHE.clear()
            _HOSTS_CACHE[text] = hosts
    return list(hosts)

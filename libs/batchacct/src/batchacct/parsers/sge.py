"""Grid Engine ``accounting(5)`` files (SGE, Son of Grid Engine, Univa / Altair Grid Engine).

One finished job (or array task) per line, fields separated by ``:``. Lines starting with ``#``
are comments (the file's header): ignored. Field positions are the same in every version:

``[0]`` qname, ``[1]`` hostname, ``[2]`` group, ``[3]`` owner, ``[5]`` job_number, ``[6]`` account,
``[8]`` submission_time, ``[9]`` start_time, ``[10]`` end_time, ``[12]`` exit_status,
``[13]`` ru_wallclock, ``[16]`` ru_maxrss, ``[34]`` slots, ``[35]`` task_number, ``[36]`` cpu,
``[42]`` maxvmem; a line needs at least these 43 fields. Univa Grid Engine 8.2 and later append
``[43]`` arid ... ``[47]`` maxrss, ``[48]`` maxpss, ``[49]`` submit_host, ``[50]`` cwd,
``[51]`` submit_cmd (``shared/formats/sge-univa-ms.acct``).

- Times are epoch seconds, or epoch milliseconds (Univa >= 8.2). The unit is detected per line
  from end_time (more than 10^11 is milliseconds: 10^11 seconds is in the year 5138, 10^11 ms in
  1973), so no configuration says it and files mixing both read right. Times are rounded to the
  nearest second. end_time 0 is a job that never ran (deleted or failed while pending), and so is
  start_time 0: ignored, not rejected, as they are valid lines that are not finished jobs.
- wall = round(ru_wallclock), cpu = round(cpu), in measured seconds. The per-host ``cputmult``
  of the configuration (:attr:`ParserConfig.host_multipliers`) is kept in ``host_factor``, never
  applied; ``wallmult`` has no field in a batch event.
- memory_virtual = maxvmem (bytes, often written as a float) in KiB. memory_real = Univa's maxrss
  (bytes) in KiB when the line has the Univa layout (at least 50 fields), else ru_maxrss (the
  getrusage maximum resident set, KiB on Linux) when it is not 0; 0 is unknown (SGE 6.0 and old
  kernels never fill it). ``mem`` ([37]) is an integral in GB·s, not a size: it is not used.
- local_job_id is the job number, or ``<job_number>.<task_number>`` for an array task (task
  number > 0; 0 or ``undefined`` is no array), as Grid Engine names a task (``qdel 43.7``): tasks
  of one array share the job number and would otherwise be one job.
- processors = slots; node_count is not recorded by Grid Engine (None); exec_hosts is the master
  execution host.
"""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime

from batchacct.errors import ParseError, Reason
from batchacct.parsers import ParserConfig
from batchacct.parsers.numbers import INT32_MAX, int32, natural
from batchacct.records import BatchEvent

INFRASTRUCTURE = "APEL-CREAM-SGE"

QNAME = 0
HOSTNAME = 1
GROUP = 2
OWNER = 3
JOB_NUMBER = 5
ACCOUNT = 6
SUBMISSION_TIME = 8
START_TIME = 9
END_TIME = 10
EXIT_STATUS = 12
RU_WALLCLOCK = 13
RU_MAXRSS = 16
SLOTS = 34
TASK_NUMBER = 35
CPU = 36
MAXVMEM = 42
FIELDS = MAXVMEM + 1
# Univa Grid Engine >= 8.2
UNIVA_MAXRSS = 47
UNIVA_SUBMIT_HOST = 49
UNIVA_FIELDS = UNIVA_SUBMIT_HOST + 1

_MS_THRESHOLD = 10**11
_MAX_FLOAT = 1e15


class SgeParser:
    source_format = "sge"

    def __init__(self, config: ParserConfig) -> None:
        self.site = config.site
        self.machine_name = config.machine_name
        self.cputmult = {host: cputmult for host, (cputmult, _) in config.host_multipliers.items()}

    @staticmethod
    def is_preamble(line: str) -> bool:
        """The comment lines every accounting file starts with (the same in every file)."""
        return line[:1] == "#"

    def parse(self, line: str, file: str, line_no: int) -> BatchEvent | None:
        first = line[:1]
        if first == "#":
            return None
        if first == "{":
            raise ParseError(Reason.MALFORMED, "a JSON accounting record (not supported)")
        fields = line.split(":")
        if len(fields) < FIELDS:
            raise ParseError(
                Reason.MALFORMED, f"{len(fields)} ':'-separated fields; accounting(5) has {FIELDS}"
            )
        end = natural(fields[END_TIME], "end_time")
        start = natural(fields[START_TIME], "start_time")
        submitted = natural(fields[SUBMISSION_TIME], "submission_time")
        if end > _MS_THRESHOLD:
            if 0 < start <= _MS_THRESHOLD or 0 < submitted <= _MS_THRESHOLD:
                raise ParseError(
                    Reason.BAD_TIMESTAMP, "end_time in milliseconds, other times in seconds"
                )
            end = (end + 500) // 1000
            start = (start + 500) // 1000
            submitted = (submitted + 500) // 1000
        elif start > _MS_THRESHOLD or submitted > _MS_THRESHOLD:
            raise ParseError(Reason.BAD_TIMESTAMP, "end_time in seconds, other times in ms")
        if end == 0 or start == 0:
            # Never ran (deleted, or failed before it started): it used nothing.
            return None
        if end < start:
            raise ParseError(Reason.INCONSISTENT, f"job ends ({end}) before it starts ({start})")
        wall = _float(fields[RU_WALLCLOCK], "ru_wallclock")
        cpu = _float(fields[CPU], "cpu")
        if wall < 0 or cpu < 0:
            raise ParseError(
                Reason.INCONSISTENT,
                f"negative duration: ru_wallclock {fields[RU_WALLCLOCK][:20]}, "
                f"cpu {fields[CPU][:20]}",
            )
        job_number = natural(fields[JOB_NUMBER], "job_number")
        if job_number == 0:
            raise ParseError(Reason.BAD_NUMBER, "job_number is 0")
        task_text = fields[TASK_NUMBER]
        task = 0 if task_text == "undefined" else natural(task_text, "task_number")
        slots = natural(fields[SLOTS], "slots")
        if slots > INT32_MAX:
            raise ParseError(Reason.BAD_NUMBER, f"slots out of range: {slots}")
        exit_status = int32(fields[EXIT_STATUS], "exit_status")
        vmem = _float(fields[MAXVMEM], "maxvmem")
        if vmem < 0:
            raise ParseError(Reason.BAD_NUMBER, f"negative maxvmem: {fields[MAXVMEM][:20]}")
        univa = len(fields) >= UNIVA_FIELDS
        if univa:
            rss_kib = _float(fields[UNIVA_MAXRSS], "maxrss") / 1024
        else:
            rss_kib = _float(fields[RU_MAXRSS], "ru_maxrss")
        if rss_kib < 0:
            raise ParseError(Reason.BAD_NUMBER, "negative maxrss")
        if univa and rss_kib == 0:
            rss_kib = _float(fields[RU_MAXRSS], "ru_maxrss")
        try:
            started_at = datetime.fromtimestamp(start, UTC)
            ended_at = datetime.fromtimestamp(end, UTC)
            submitted_at = datetime.fromtimestamp(submitted, UTC) if submitted else None
        except (ValueError, OverflowError, OSError):
            raise ParseError(
                Reason.BAD_TIMESTAMP,
                f"time out of range: start_time {start}, end_time {end}, "
                f"submission_time {submitted}",
            ) from None
        host = fields[HOSTNAME]
        submit_host = fields[UNIVA_SUBMIT_HOST] if univa else ""
        record = BatchEvent(
            site=self.site,
            machine_name=self.machine_name,
            local_job_id=f"{job_number}.{task}" if task else str(job_number),
            start_time=started_at,
            end_time=ended_at,
            wall_duration=round(wall),
            cpu_duration=round(cpu),
            source_format=self.source_format,
            source_file=file,
            source_line=line_no,
            local_user_id=fields[OWNER] or None,
            local_user_group=fields[GROUP] or None,
            queue=fields[QNAME] or None,
            account=fields[ACCOUNT] or None,
            submit_time=submitted_at,
            processors=slots or None,
            node_count=None,
            exec_hosts=[host] if host else [],
            memory_real=round(rss_kib) if rss_kib else None,
            memory_virtual=round(vmem / 1024),
            exit_status=exit_status,
            from_host=submit_host if submit_host and submit_host != "NONE" else None,
            infrastructure_description=INFRASTRUCTURE,
            host_factor=self.cputmult.get(host),
        )
        return record


def load_host_multipliers(path: str | os.PathLike[str]) -> dict[str, tuple[float, float]]:
    """Per-host ``(cputmult, wallmult)`` from a text file (for ``ParserConfig.host_multipliers``).

    One host per line: ``<host> <cputmult> [<wallmult>]``, blank-separated; a missing wallmult is
    1.0 (each defaults to 1.0 in Grid Engine's complexes, as in APEL). ``#`` starts a comment.
    Raises ValueError naming the line of anything else (a bad number, a factor that is not
    positive, a host given twice).
    """
    multipliers: dict[str, tuple[float, float]] = {}
    seen_on: dict[str, int] = {}
    with open(path, encoding="utf-8") as text:
        for line_no, line in enumerate(text, 1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            where = f"{os.fspath(path)}, line {line_no}"
            if len(words) not in (2, 3):
                raise ValueError(f"{where}: expected '<host> <cputmult> [<wallmult>]'")
            host = words[0]
            if host in seen_on:
                raise ValueError(f"{where}: host {host} already given on line {seen_on[host]}")
            factors = []
            for word in words[1:]:
                try:
                    factor = float(word)
                except ValueError:
                    raise ValueError(f"{where}: not a number: {word!r}") from None
                if not (math.isfinite(factor) and factor > 0):
                    raise ValueError(f"{where}: a multiplier must be a positive number: {word!r}")
                factors.append(factor)
            multipliers[host] = (factors[0], factors[1] if len(factors) == 2 else 1.0)
            seen_on[host] = line_no
    return multipliers


def _float(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ParseError(Reason.BAD_NUMBER, f"{name} is not a number: {text[:40]!r}") from None
    if not -_MAX_FLOAT < value < _MAX_FLOAT:  # also NaN
        raise ParseError(Reason.BAD_NUMBER, f"{name} out of range: {text[:40]!r}")
    return value

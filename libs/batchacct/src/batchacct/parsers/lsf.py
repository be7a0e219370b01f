"""LSF ``lsb.acct``: one ``JOB_FINISH`` record per finished job.

A record is a blank-separated list of tokens, each a double-quoted string (``""`` inside is an
escaped quote) or a number. Field positions follow lsb.acct(5); they are the same in LSF 5.1,
7.06 and 9.1.1 (checked against the samples in ``shared/formats/lsf.acct``). The two host lists
have variable length, so the positions after them are shifted by their lengths:

- fixed: ``[2]`` event time, ``[3]`` jobId, ``[7]`` submitTime, ``[10]`` startTime,
  ``[11]`` userName, ``[12]`` queue, ``[16]`` fromHost, ``[22]`` numAskedHosts = nA, then nA
  asked hosts;
- ``[23+nA]`` numExHosts = nE, then nE exec hosts (one per slot);
- with ``off = nA + nE``: ``[24]`` jStatus, ``[25]`` hostFactor, ``[26]`` jobName, ``[27]`` command,
  ``[28..46]`` the 19 lsfRusage fields (ru_utime, ru_stime, ..., ru_nivcsw, ru_exutime),
  ``[47]`` mailUser, ``[48]`` projectName, ``[49]`` exitStatus, ``[50]`` maxNumProcessors,
  ``[51]`` loginShell, ``[52]`` timeEvent, ``[53]`` idx (job array index), ``[54]`` maxRMem,
  ``[55]`` maxRSwap (both KiB), then fields of newer versions we do not use.

Two code paths share one meaning. The fast path is one full-line regex that captures only the
fields we keep. Any line it does not match goes to the general tokenizer, which either reads the
line the same way or says precisely what is wrong with it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from batchacct.errors import ParseError, Reason
from batchacct.parsers import ParserConfig
from batchacct.parsers.numbers import INT64_MAX
from batchacct.records import BatchEvent

INFRASTRUCTURE = "APEL-CREAM-LSF"

# Fixed positions, before the host lists.
EVENT_TIME = 2
JOB_ID = 3
SUBMIT_TIME = 7
START_TIME = 10
USER_NAME = 11
QUEUE = 12
FROM_HOST = 16
NUM_ASKED_HOSTS = 22
# Plus nA.
NUM_EXEC_HOSTS = 23
# Plus off = nA + nE.
HOST_FACTOR = 25
RU_UTIME = 28
RU_STIME = 29
PROJECT_NAME = 48
EXIT_STATUS = 49
ARRAY_INDEX = 53
MAX_RMEM = 54
MAX_RSWAP = 55

_FLOAT_MAX = 1e15

# Possessive quantifiers make the fast regex tokenise exactly like _TOKEN below: a number never
# gives back digits to a following token, a string never gives back an escaped quote.
_S = r'"[^"]*+(?:""[^"]*+)*+"'
_CS = r'"([^"]*+(?:""[^"]*+)*+)"'
_N = r"-?[0-9]++(?:\.[0-9]*+)?+"
_CN = f"({_N})"
_SEP = r"[ \t]*+"


# The fast regex, field by field: _CN/_CS capture a number/string we keep, _N/_S skip one.
_JOB_FINISH_LAYOUT: tuple[tuple[str, ...], ...] = (
    ('"JOB_FINISH"(?=[ \t])', _S),  # record type, version
    (_CN, _CN, _N, _N, _N, _CN, _N, _N, _CN),  # [2] event time, [3] jobId .. [10] startTime
    (_CS, _CS, _S, _S, _S, _CS),  # [11] userName, [12] queue .. [16] fromHost
    (_S, _S, _S, _S, _S),  # cwd, inFile, outFile, errFile, jobFile
    (_CN, f"((?:{_SEP}{_S})*+)"),  # numAskedHosts, the asked hosts
    (_CN, f"((?:{_SEP}{_S})*+)"),  # numExHosts, the exec hosts
    (_N, _CN, _S, _S),  # jStatus, hostFactor, jobName, command
    (_CN, _CN, *[_N] * 17),  # ru_utime, ru_stime, the other 17 lsfRusage fields
    (_S, _CS, _CN, _N, _S, _S),  # mailUser, projectName, exitStatus .. timeEvent
    (_CN, _CN, _CN),  # idx, maxRMem, maxRSwap
)
# The fields after maxRSwap (newer LSF versions) are not kept, so, like bytes that are not
# UTF-8, what they hold never fails a line; skipping them unchecked is also half the time.
_FAST_RECORD = re.compile(
    _SEP + _SEP.join(part for group in _JOB_FINISH_LAYOUT for part in group) + r"(?:[ \t].*)?",
    re.DOTALL,
)
_QUOTED_INNER = re.compile(r'"([^"]*+(?:""[^"]*+)*+)"')

# General tokenizer. Anything that is neither blank, a string nor a number starts a junk token
# that runs to the end of the line, so junk can only ever be the last token.
_TOKEN = re.compile(_S + "|" + _N + r"|[^ \t][\s\S]*")
_VALID_TOKEN = re.compile(_S + "|" + _N)
_RECORD_TYPE = re.compile(r'[ \t]*"([A-Z][A-Z0-9_]*)"(?=[ \t]|\Z)')


class LsfParser:
    source_format = "lsf"

    def __init__(self, config: ParserConfig) -> None:
        self.site = config.site
        self.machine_name = config.machine_name

    def parse(self, line: str, file: str, line_no: int) -> BatchEvent | None:
        if not line.startswith('"JOB_FINISH" '):
            head = _RECORD_TYPE.match(line)
            if head is None:
                raise ParseError(Reason.MALFORMED, "line does not start with a quoted record type")
            if head.group(1) != "JOB_FINISH":
                return None
        match = _FAST_RECORD.fullmatch(line)
        if match is not None:
            (
                event_time,
                job_id,
                submit_time,
                start_time,
                user_name,
                queue,
                from_host,
                asked_count,
                asked_span,
                exec_count,
                exec_span,
                host_factor,
                utime,
                stime,
                project,
                exit_status,
                array_index,
                max_rmem,
                max_rswap,
            ) = match.groups()
            exec_hosts: list[str] = _QUOTED_INNER.findall(exec_span)
            if '""' in exec_span:
                exec_hosts = [host.replace('""', '"') for host in exec_hosts]
            if (
                exec_count.isdigit()
                and int(exec_count) == len(exec_hosts)
                and asked_count.isdigit()
                and int(asked_count)
                == (len(_QUOTED_INNER.findall(asked_span)) if asked_span else 0)
            ):
                return self._build(
                    event_time,
                    job_id,
                    submit_time,
                    start_time,
                    user_name.replace('""', '"'),
                    queue.replace('""', '"'),
                    from_host.replace('""', '"'),
                    exec_hosts,
                    host_factor,
                    utime,
                    stime,
                    project.replace('""', '"'),
                    exit_status,
                    array_index,
                    max_rmem,
                    max_rswap,
                    file,
                    line_no,
                )
        return self._parse_tokens(line, file, line_no)

    def _parse_tokens(self, line: str, file: str, line_no: int) -> BatchEvent | None:
        tokens: list[str] = _TOKEN.findall(line)
        asked_count = _count(tokens, NUM_ASKED_HOSTS, "numAskedHosts")
        exec_pos = NUM_EXEC_HOSTS + asked_count
        exec_count = _count(tokens, exec_pos, "numExHosts")
        off = asked_count + exec_count
        # Junk is always the last token (it runs to the end of the line); it only matters
        # when it stands in, or before, a field we keep.
        if tokens and len(tokens) <= MAX_RSWAP + off + 1 and not _VALID_TOKEN.fullmatch(tokens[-1]):
            raise ParseError(
                Reason.MALFORMED, "unterminated quote or stray characters between fields"
            )
        if len(tokens) <= MAX_RSWAP + off:
            raise ParseError(
                Reason.MALFORMED,
                f"JOB_FINISH has {len(tokens)} fields; its host counts need {MAX_RSWAP + off + 1}",
            )
        for pos in range(NUM_ASKED_HOSTS + 1, NUM_ASKED_HOSTS + 1 + asked_count):
            _text(tokens, pos, "askedHosts")
        exec_hosts = [
            _text(tokens, pos, "execHosts")
            for pos in range(exec_pos + 1, exec_pos + 1 + exec_count)
        ]
        return self._build(
            _number(tokens, EVENT_TIME, "event time"),
            _number(tokens, JOB_ID, "jobId"),
            _number(tokens, SUBMIT_TIME, "submitTime"),
            _number(tokens, START_TIME, "startTime"),
            _text(tokens, USER_NAME, "userName"),
            _text(tokens, QUEUE, "queue"),
            _text(tokens, FROM_HOST, "fromHost"),
            exec_hosts,
            _number(tokens, HOST_FACTOR + off, "hostFactor"),
            _number(tokens, RU_UTIME + off, "ru_utime"),
            _number(tokens, RU_STIME + off, "ru_stime"),
            _text(tokens, PROJECT_NAME + off, "projectName"),
            _number(tokens, EXIT_STATUS + off, "exitStatus"),
            _number(tokens, ARRAY_INDEX + off, "idx"),
            _number(tokens, MAX_RMEM + off, "maxRMem"),
            _number(tokens, MAX_RSWAP + off, "maxRSwap"),
            file,
            line_no,
        )

    def _build(
        self,
        event_time: str,
        job_id: str,
        submit_time: str,
        start_time: str,
        user_name: str,
        queue: str,
        from_host: str,
        exec_hosts: list[str],
        host_factor: str,
        utime: str,
        stime: str,
        project: str,
        exit_status: str,
        array_index: str,
        max_rmem: str,
        max_rswap: str,
        file: str,
        line_no: int,
    ) -> BatchEvent | None:
        """Convert and check the raw fields; both code paths end here."""
        try:
            start = int(start_time)
            end = int(event_time)
            job_number = int(job_id)
            index = int(array_index)
            submitted = int(submit_time)
            status = int(exit_status)
            real_kib = int(max_rmem)
            swap_kib = int(max_rswap)
        except ValueError:
            raise _first_bad_integer(
                ("event time", event_time),
                ("jobId", job_id),
                ("submitTime", submit_time),
                ("startTime", start_time),
                ("exitStatus", exit_status),
                ("idx", array_index),
                ("maxRMem", max_rmem),
                ("maxRSwap", max_rswap),
            ) from None
        if start <= 0:
            # LSF writes startTime 0 for a job that finished without ever starting (killed or
            # failed while pending). It used no resources: not a finished run, so ignored.
            return None
        if end < start:
            raise ParseError(
                Reason.INCONSISTENT, f"job ends (event time {end}) before it starts ({start})"
            )
        # The tokenizer lets only decimal numbers through, so float() cannot fail here.
        user_seconds = float(utime)
        system_seconds = float(stime)
        factor = float(host_factor)
        if user_seconds < 0 or system_seconds < 0:
            # -1 is LSF's "unavailable"; a record without its CPU time cannot be accounted.
            raise ParseError(
                Reason.INCONSISTENT, f"negative CPU time (utime {utime}, stime {stime})"
            )
        if not (user_seconds + system_seconds < _FLOAT_MAX and -_FLOAT_MAX < factor < _FLOAT_MAX):
            raise ParseError(Reason.BAD_NUMBER, "CPU time or hostFactor out of range")
        if not (0 < job_number <= INT64_MAX and 0 <= index <= INT64_MAX):
            raise ParseError(
                Reason.BAD_NUMBER, f"not a job id: jobId {job_id[:40]}, idx {array_index[:40]}"
            )
        if real_kib > INT64_MAX or swap_kib > INT64_MAX:
            raise ParseError(Reason.BAD_NUMBER, "maxRMem or maxRSwap out of range")
        try:
            started_at = datetime.fromtimestamp(start, UTC)
            ended_at = datetime.fromtimestamp(end, UTC)
            submitted_at = datetime.fromtimestamp(submitted, UTC) if submitted > 0 else None
        except (ValueError, OverflowError, OSError):
            raise ParseError(
                Reason.BAD_TIMESTAMP,
                f"time out of range: startTime {start}, event time {end}, submitTime {submitted}",
            ) from None
        return BatchEvent(
            site=self.site,
            machine_name=self.machine_name,
            local_job_id=f"{job_number}[{index}]" if index else str(job_number),
            start_time=started_at,
            end_time=ended_at,
            wall_duration=end - start,
            cpu_duration=round(user_seconds + system_seconds),
            source_format=self.source_format,
            source_file=file,
            source_line=line_no,
            local_user_id=user_name or None,
            queue=queue or None,
            account=project or None,
            submit_time=submitted_at,
            processors=len(exec_hosts) or None,
            node_count=len(set(exec_hosts)) or None,
            exec_hosts=exec_hosts,
            memory_real=real_kib if real_kib >= 0 else None,
            memory_virtual=swap_kib if swap_kib >= 0 else None,
            exit_status=_exit_code(status),
            from_host=from_host or None,
            infrastructure_description=INFRASTRUCTURE,
            host_factor=factor,
        )


def _first_bad_integer(*fields: tuple[str, str]) -> ParseError:
    for name, text in fields:
        try:
            int(text)
        except ValueError:
            return ParseError(Reason.BAD_NUMBER, f"{name} is not an integer: {text[:40]!r}")
    return ParseError(Reason.BAD_NUMBER, "a field is not an integer")


def _count(tokens: list[str], pos: int, name: str) -> int:
    text = _number(tokens, pos, name)
    try:
        count = int(text)
    except ValueError:
        raise ParseError(Reason.BAD_NUMBER, f"{name} is not an integer: {text[:40]!r}") from None
    if count < 0:
        raise ParseError(Reason.MALFORMED, f"{name} is negative ({count})")
    return count


def _number(tokens: list[str], pos: int, name: str) -> str:
    if pos >= len(tokens):
        raise ParseError(Reason.MALFORMED, f"record ends before {name} (field {pos})")
    token = tokens[pos]
    if token[0] == '"':
        raise ParseError(
            Reason.MALFORMED, f"{name} (field {pos}) is a string, not a number: layout shifted"
        )
    return token


def _text(tokens: list[str], pos: int, name: str) -> str:
    if pos >= len(tokens):
        raise ParseError(Reason.MALFORMED, f"record ends before {name} (field {pos})")
    token = tokens[pos]
    if token[0] != '"':
        raise ParseError(
            Reason.MALFORMED, f"{name} (field {pos}) is a number, not a string: layout shifted"
        )
    return token[1:-1].replace('""', '"')


def _exit_code(wait_status: int) -> int | None:
    """The job's exit code from LSF's exitStatus, which is a wait(2) status (65280 = exit 255).

    A job killed by a signal gets 128 + the signal number, as a shell reports it.
    """
    if wait_status < 0:
        return None
    signal = wait_status & 0x7F
    return (wait_status >> 8) & 0xFF if signal == 0 else 128 + signal

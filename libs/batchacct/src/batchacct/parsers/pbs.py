"""PBS accounting logs (Torque, OpenPBS, PBS Pro): one ``E`` (job end) record per finished job.

A record is one line::

    <MM/DD/YYYY HH:MM:SS>;<type>;<job id>;<key=value key=value ...>

Only the first three ``;`` separate fields, so a ``;`` inside the message is harmless. Records of
every type but ``E`` are valid lines that are not finished jobs: ignored. The date before the first
``;`` is when the server wrote the record; it is not used (the record's times are the epoch seconds
``start`` and ``end``), so a ``grep`` prefix such as ``20150327:`` or an odd date never fails a
line, and the configured time zone does not matter for this format.

Values we read:

- ``start``, ``end`` (epoch seconds) are required; ``start=0`` is a job that never ran: ignored.
  ``ctime`` (else ``qtime``) is the submit time.
- ``resources_used.walltime`` and ``resources_used.cput`` (required) are seconds, ``h:m:s`` or
  ``d-h:m:s``, detected per field (Torque 5.1.3 writes cput in seconds and walltime in h:m:s).
- ``resources_used.mem`` / ``vmem`` carry a unit (``b``, ``kb``, ``mb``, ``gb``, ``tb``, ``pb``,
  any case; 1024-based): it is read, not assumed. A bare number is bytes (PBS Pro's convention
  for sizes). Words (``w``, ``kw``, ...) depend on the host's word size: rejected as BAD_UNIT,
  like any unit we do not know. Memory is rounded to the nearest KiB.
- ``exec_host``: ``h/0+h/1``, ``h/0-3``, ``h/0-1,5,11`` (ranges inclusive) or PBS Pro's ``h/0*4``
  (four slots). ``exec_hosts`` lists the host once per slot, as LSF does; processors is the
  number of slots, node_count the number of distinct hosts. Without ``exec_host``, they come from
  ``total_execution_slots`` / ``unique_node_count``, else ``Resource_List.ncpus`` /
  ``Resource_List.nodect``, else they are unknown. More than 100,000 slots is a corrupt range
  (BAD_NUMBER), not a list to build.
- ``user``, ``group``, ``queue``, ``account``, ``Exit_status`` (as written: Torque's 256 + signal
  is kept), ``owner=user@host`` (its host is the submitting host).

If a key appears twice, the last one wins. A value in double quotes (PBS Pro quotes values with
blanks) is read without its quotes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from batchacct.errors import ParseError, Reason
from batchacct.parsers import ParserConfig
from batchacct.parsers.numbers import INT32_MAX, INT64_MAX, int32, natural
from batchacct.records import BatchEvent

INFRASTRUCTURE = "APEL-CREAM-PBS"

_MAX_SECONDS = 10**12  # about 31,700 years: more is not a duration
_MAX_SLOTS = 100_000  # exec_host lists each slot: bound the list a corrupt range could build

# Size units to KiB; None is bytes.
_UNITS: dict[str, int | None] = {
    "": None,
    "b": None,
    "kb": 1,
    "mb": 1024,
    "gb": 1024**2,
    "tb": 1024**3,
    "pb": 1024**4,
}
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_QUOTED_ITEM = re.compile(r'([^\s=]+)=("[^"]*"|\S*)')
_NO_VALUES: dict[str, str] = {}

# The fast path: one regex for the usual message (Torque's and PBS Pro's, which has no owner), its
# items separated by single blanks, the keys we read in their usual order, each at most once (no
# item skipped between or after them may be one of them), with numbers in their plain forms:
# walltime and cput in seconds or hh:mm:ss, memory in kb. It reads a line exactly as the general
# path's dict of every item does; anything else takes the general path.
_READ_KEYS = (
    r"(?:user|group|account|queue|ctime|start|owner|exec_host|end|Exit_status"
    r"|resources_used\.(?:cput|mem|vmem|walltime))="
)
_SKIP = rf"(?:(?!{_READ_KEYS})\S++ )*?"
_INT = r"([0-9]{1,18}+)"
_DURATION = r"(?:([0-9]{1,18}+)|([0-9]{1,12}+):([0-5][0-9]):([0-5][0-9]))"
_FAST_MESSAGE = re.compile(
    rf"user=(\S*+) {_SKIP}group=(\S*+) {_SKIP}(?:account=(\S*+) {_SKIP})?queue=(\S*+) {_SKIP}"
    rf"ctime={_INT} {_SKIP}start={_INT} {_SKIP}(?:owner=(\S*+) {_SKIP})?exec_host=(\S++) {_SKIP}"
    rf"end={_INT} {_SKIP}Exit_status=(-?[0-9]{{1,9}}+) {_SKIP}"
    rf"resources_used\.cput={_DURATION} {_SKIP}resources_used\.mem=([0-9]{{1,15}}+)kb {_SKIP}"
    rf"resources_used\.vmem=([0-9]{{1,15}}+)kb {_SKIP}resources_used\.walltime={_DURATION}"
    rf"(?: (?!{_READ_KEYS})\S++)*+"
)


class PbsParser:
    source_format = "pbs"

    def __init__(self, config: ParserConfig) -> None:
        self.site = config.site
        self.machine_name = config.machine_name

    def parse(self, line: str, file: str, line_no: int) -> BatchEvent | None:
        parts = line.split(";", 3)
        if len(parts) != 4:
            raise ParseError(Reason.MALFORMED, "not '<date>;<type>;<job id>;<message>'")
        _, record_type, job_id, message = parts
        if record_type != "E":
            if len(record_type) == 1 and record_type.isascii() and record_type.isalpha():
                return None
            raise ParseError(Reason.MALFORMED, f"not a record type: {record_type[:20]!r}")
        if not job_id:
            raise ParseError(Reason.MISSING_FIELD, "empty job id")
        match = _FAST_MESSAGE.fullmatch(message) if '"' not in message else None
        if match is None:
            return self._parse_values(line, job_id, message, file, line_no)
        (
            user,
            group,
            account,
            queue,
            ctime,
            start_text,
            owner,
            exec_host,
            end_text,
            status,
            cpu_seconds,
            cpu_hours,
            cpu_minutes,
            cpu_secs,
            mem,
            vmem,
            wall_seconds,
            wall_hours,
            wall_minutes,
            wall_secs,
        ) = match.groups()
        start = int(start_text)
        end = int(end_text)
        if start == 0:
            return None
        if end < start:
            raise ParseError(Reason.INCONSISTENT, f"job ends ({end}) before it starts ({start})")
        return self._build(
            line,
            job_id,
            user,
            group,
            account,
            queue,
            int(ctime),
            start,
            owner,
            exec_host,
            end,
            int(status),
            int(cpu_seconds)
            if cpu_seconds is not None
            else int(cpu_hours) * 3600 + int(cpu_minutes) * 60 + int(cpu_secs),
            int(mem),
            int(vmem),
            int(wall_seconds)
            if wall_seconds is not None
            else int(wall_hours) * 3600 + int(wall_minutes) * 60 + int(wall_secs),
            _NO_VALUES,
            file,
            line_no,
        )

    def _parse_values(
        self, line: str, job_id: str, message: str, file: str, line_no: int
    ) -> BatchEvent | None:
        """The general path: every ``key=value`` item of the message in a dict."""
        values = _key_values(message)
        get = values.get
        start_text = get("start")
        end_text = get("end")
        if not start_text or not end_text:
            raise ParseError(Reason.MISSING_FIELD, "no start" if not start_text else "no end")
        start = natural(start_text, "start")
        end = natural(end_text, "end")
        if start == 0:
            # A job that never started (deleted or failed while queued): it used nothing.
            return None
        if end < start:
            raise ParseError(Reason.INCONSISTENT, f"job ends ({end}) before it starts ({start})")
        wall_text = get("resources_used.walltime")
        cpu_text = get("resources_used.cput")
        if not wall_text or not cpu_text:
            missing = "walltime" if not wall_text else "cput"
            raise ParseError(Reason.MISSING_FIELD, f"no resources_used.{missing}")
        mem_text = get("resources_used.mem")
        vmem_text = get("resources_used.vmem")
        ctime = get("ctime") or get("qtime")
        status_text = get("Exit_status")
        return self._build(
            line,
            job_id,
            get("user"),
            get("group"),
            get("account"),
            get("queue"),
            natural(ctime, "ctime") if ctime else 0,
            start,
            get("owner"),
            get("exec_host"),
            end,
            int32(status_text, "Exit_status") if status_text else None,
            _seconds(cpu_text, "resources_used.cput"),
            _kib(mem_text, "resources_used.mem") if mem_text else None,
            _kib(vmem_text, "resources_used.vmem") if vmem_text else None,
            _seconds(wall_text, "resources_used.walltime"),
            values,
            file,
            line_no,
        )

    def _build(
        self,
        line: str,
        job_id: str,
        user: str | None,
        group: str | None,
        account: str | None,
        queue: str | None,
        submitted: int,
        start: int,
        owner: str | None,
        exec_host: str | None,
        end: int,
        exit_status: int | None,
        cpu: int,
        memory_real: int | None,
        memory_virtual: int | None,
        wall: int,
        values: dict[str, str],
        file: str,
        line_no: int,
    ) -> BatchEvent:
        """The record from converted values; both code paths end here. ``values`` is only read
        for the slot and node counts of a record without exec_host."""
        if wall >= _MAX_SECONDS or cpu >= _MAX_SECONDS:
            raise ParseError(Reason.BAD_NUMBER, f"duration out of range: wall {wall}, cpu {cpu}")
        if exec_host:
            exec_hosts = _exec_hosts(exec_host)
            processors = len(exec_hosts) or None
            node_count = len(set(exec_hosts)) or None
        else:
            exec_hosts = []
            processors = _count(values, "total_execution_slots", "Resource_List.ncpus")
            node_count = _count(values, "unique_node_count", "Resource_List.nodect")
        try:
            started_at = datetime.fromtimestamp(start, UTC)
            ended_at = datetime.fromtimestamp(end, UTC)
            submitted_at = datetime.fromtimestamp(submitted, UTC) if submitted else None
        except (ValueError, OverflowError, OSError):
            raise ParseError(
                Reason.BAD_TIMESTAMP,
                f"time out of range: start {start}, end {end}, ctime {submitted}",
            ) from None
        record = BatchEvent(
            site=self.site,
            machine_name=self.machine_name,
            local_job_id=job_id,
            start_time=started_at,
            end_time=ended_at,
            wall_duration=wall,
            cpu_duration=cpu,
            source_format=self.source_format,
            source_file=file,
            source_line=line_no,
            local_user_id=user or None,
            local_user_group=group or None,
            queue=queue or None,
            account=account or None,
            submit_time=submitted_at,
            processors=processors,
            node_count=node_count,
            exec_hosts=exec_hosts,
            memory_real=memory_real,
            memory_virtual=memory_virtual,
            exit_status=exit_status,
            from_host=(owner.partition("@")[2] or None) if owner else None,
            infrastructure_description=INFRASTRUCTURE,
        )
        return record


def _key_values(message: str) -> dict[str, str]:
    """The message's ``key=value`` items (items without ``=`` are skipped)."""
    if '"' in message:
        return {
            key: value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
            for key, value in _QUOTED_ITEM.findall(message)
        }
    values: dict[str, str] = {}
    for item in message.split():
        key, sep, value = item.partition("=")
        if sep:
            values[key] = value
    return values


def _count(values: dict[str, str], *names: str) -> int | None:
    """The first of ``names`` present, as a count (0 is unknown), or None."""
    for name in names:
        text = values.get(name)
        if text:
            value = natural(text, name)
            if value > INT32_MAX:
                raise ParseError(Reason.BAD_NUMBER, f"{name} out of range: {text}")
            return value or None
    return None


def _seconds(text: str, name: str) -> int:
    """A duration: seconds, ``h:m:s`` or ``d-h:m:s``."""
    if text.isdigit() and text.isascii():
        seconds = int(text) if len(text) <= 18 else _MAX_SECONDS
    elif len(text) == 8 and text[2] == ":" == text[5] and text.isascii():
        # The usual hh:mm:ss; int() rejects the non-digits among the remaining characters but
        # accepts "+" and "_", so check them.
        hh, mm, ss = text[:2], text[3:5], text[6:]
        if not (hh + mm + ss).isdigit() or mm >= "60" or ss >= "60":
            raise ParseError(Reason.BAD_NUMBER, f"{name} is not a valid h:m:s: {text!r}")
        return int(hh) * 3600 + int(mm) * 60 + int(ss)
    else:
        if text[0] == "-":
            raise ParseError(Reason.INCONSISTENT, f"negative {name}: {text[:40]!r}")
        days_text, dash, clock = text.rpartition("-")
        parts = clock.split(":")
        numbers = [days_text, *parts] if dash else parts
        if len(parts) != 3 or not all(
            part.isdigit() and part.isascii() and len(part) <= 18 for part in numbers
        ):
            raise ParseError(
                Reason.BAD_NUMBER, f"{name} is not seconds or [d-]h:m:s: {text[:40]!r}"
            )
        hours, minutes, secs = map(int, parts)
        if minutes >= 60 or secs >= 60:
            raise ParseError(Reason.BAD_NUMBER, f"{name} is not a valid h:m:s: {text[:40]!r}")
        seconds = (int(days_text) * 24 if dash else 0) * 3600 + hours * 3600 + minutes * 60 + secs
    if seconds >= _MAX_SECONDS:
        raise ParseError(Reason.BAD_NUMBER, f"{name} out of range: {text[:40]!r}")
    return seconds


def _kib(text: str, name: str) -> int:
    """A size with its unit (a bare number is bytes), in KiB."""
    if text[-2:] == "kb" and len(text) <= 20:
        number = text[:-2]
        if number.isdigit() and number.isascii():
            return int(number)
    number = text.rstrip(_LETTERS)
    if not (number.isdigit() and number.isascii() and len(number) <= 18):
        raise ParseError(Reason.BAD_NUMBER, f"{name} is not a size: {text[:40]!r}")
    unit = text[len(number) :]
    try:
        factor = _UNITS[unit.lower()]
    except KeyError:
        raise ParseError(Reason.BAD_UNIT, f"{name} has an unknown unit: {unit[:20]!r}") from None
    value = int(number)
    kib = (value + 512) // 1024 if factor is None else value * factor
    if kib > INT64_MAX:
        raise ParseError(Reason.BAD_NUMBER, f"{name} out of range: {text[:40]!r}")
    return kib


def _exec_hosts(text: str) -> list[str]:
    """The host of every slot in ``exec_host`` (``h/0+h/1``, ``h/0-3``, ``h/0-1,5``, ``h/0*4``)."""
    hosts: list[str] = []
    for chunk in text.split("+"):
        host, slash, cores = chunk.partition("/")
        if not host:
            raise ParseError(Reason.MALFORMED, f"exec_host entry without a host: {chunk[:40]!r}")
        if not slash:
            hosts.append(host)
            continue
        if cores.isdigit() and cores.isascii():
            hosts.append(host)
            continue
        slots = 0
        for item in cores.split(","):
            if item.isdigit() and item.isascii():
                slots += 1
                continue
            first, sep, second = item.partition("-")
            if not sep:
                first, sep, second = item.partition("*")
            if not (
                sep and first.isdigit() and second.isdigit() and item.isascii() and len(item) <= 24
            ):
                raise ParseError(
                    Reason.MALFORMED, f"exec_host slots are not n, n-m or n*k: {chunk[:40]!r}"
                )
            if sep == "-":
                if int(second) < int(first):
                    raise ParseError(
                        Reason.MALFORMED, f"exec_host range runs backwards: {chunk[:40]!r}"
                    )
                slots += int(second) - int(first) + 1
            else:
                slots += int(second)
            if slots > _MAX_SLOTS:
                break
        if len(hosts) + slots > _MAX_SLOTS:
            raise ParseError(Reason.BAD_NUMBER, f"exec_host lists over {_MAX_SLOTS} slots")
        hosts += [host] * slots
    return hosts

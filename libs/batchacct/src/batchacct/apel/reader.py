"""A strict reader of APEL text messages: the rules APEL's server loader applies (apel-facts §2).

``read_message`` returns the records as the server would store them, or raises `MessageError`
with the first rule broken (the loader rejects the whole message on any bad record, §3.6).

Header (§2.2): the text is stripped and its first line is the header. Job and sync messages are
recognised by the part before the first ``:`` (any version; ``v0.4`` jobs are the dict form),
summaries by the whole header line, exactly (so a trailing blank makes it unknown). XML and JSON
messages are not read here.

Records (§2.2): the rest is split on ``%%``; blank pieces are skipped. Each line of a record is
split at its first ``:`` and both sides stripped; a line without ``:`` or an unknown key rejects
the message. ``None``, ``null`` (any case) and an empty value are null. Keys APEL accepts and
drops (SubmitHostType, UpdateTime) are dropped.

Checks (§2.1):

- mandatory fields present and not null; integers, floats and epoch-second times well formed;
- jobs: EndTime ≥ StartTime and EndTime ≤ now + 2 days; a present FQAN overrides VO, VOGroup
  and VORole (re-derived with `parse_fqan`); ServiceLevelType and ServiceLevel both present or
  both absent, the type si2k, HEPSPEC or HEPscore23 in any case; both absent is stored as
  ``custom`` / 1.0, as the server does, while an explicit ``custom`` is rejected, as the server
  does;
- summaries: Month in 1..12, the month not after ``now``'s month, EarliestEndTime and
  LatestEndTime each within the month (the first second of the next month allowed), EET ≤ LET,
  WallDuration and CpuDuration ≥ 0; normalised summaries also need NormalisedWallDuration and
  NormalisedCpuDuration, ≥ 0, and carry no benchmark; a summary's benchmark pair is checked as a
  job's, but both absent stay null (the server has no stand-in for summaries);
- v0.4 dict form ``ServiceLevel: {HEPSPEC: 10.0}`` (and the normalised durations
  ``{HEPSPEC: 697840}``): keys case-insensitive; of several, hepscore23 is taken first, then
  hepspec, then si2k; two dict fields of one record naming different types reject it.

Stricter than APEL, on purpose (it can only reject what our writer never produces): a key given
twice in a record (APEL keeps the last), numbers beyond plain ASCII digits (APEL's ``int()``
takes ``1_000`` or ``+ 5``), non-finite floats, ISO times (APEL also takes them, for CAR),
unknown or repeated benchmark names inside a v0.4 dict, ServiceLevelType as a separate v0.4
field, the benchmark check on summaries, and an EarliestEndTime or LatestEndTime given alone
(APEL checks the month only when both are there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from batchacct.apel.formats import (
    BENCHMARK_PREFERENCE,
    JOB_PREFIX,
    JOB_V03,
    JOB_V04,
    NO_BENCHMARK,
    NORMALISED_PREFIX,
    SUMMARY_FORMATS,
    SUMMARY_PREFIX,
    SYNC_PREFIX,
    SYNC_V01,
    Field,
    Format,
    Kind,
    canonical_benchmark,
)
from batchacct.parsers.blah import parse_fqan

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NULLS = ("none", "null", "")
_FUTURE_SLACK = timedelta(days=2)


class MessageError(ValueError):
    """The message breaks one of the server's rules; ``reason`` says which, and where."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    header: str
    kind: str  # "job" | "summary" | "normalised-summary" | "sync"
    version: str
    # One dict per record, keyed by our snake_case column names, every field of the record type
    # present (null as None): str, int, float (service_level) or aware UTC datetime values.
    records: list[dict[str, Any]]


def read_message(text: str, *, now: datetime) -> ParsedMessage:
    """Parse and validate one APEL text message; ``now`` is the server's clock (aware)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    body = text.strip()
    if not body:
        raise MessageError("empty message")
    if body[0] in "<{":
        raise MessageError("XML and JSON messages are not APEL text messages")
    lines = body.splitlines()
    header = lines[0]
    fmt, version = _format_of(header)
    fields = {f.key: f for f in fmt.fields}
    records: list[dict[str, Any]] = []
    for chunk in "\n".join(lines[1:]).strip().split("%%"):
        if chunk and not chunk.isspace():
            index = len(records)
            try:
                records.append(_read_record(fmt, fields, chunk, now))
            except MessageError as error:
                raise MessageError(f"record {index}: {error.reason}") from None
    return ParsedMessage(header=header, kind=fmt.kind, version=version, records=records)


def _format_of(header: str) -> tuple[Format, str]:
    prefix, colon, version = header.partition(":")
    if not colon:
        raise MessageError(f"header line has no ':': {header[:80]!r}")
    prefix = prefix.strip()
    version = version.strip()
    if prefix == JOB_PREFIX:
        return (JOB_V04 if version == "v0.4" else JOB_V03), version
    if prefix == SYNC_PREFIX:
        return SYNC_V01, version
    summary = SUMMARY_FORMATS.get(header)
    if summary is not None:
        return summary, summary.version
    if prefix in (SUMMARY_PREFIX, NORMALISED_PREFIX):
        raise MessageError(
            f"summary header {header!r} is not one of {sorted(SUMMARY_FORMATS)} "
            "(summaries are recognised by the whole header line)"
        )
    raise MessageError(f"message type not recognised: {header[:80]!r}")


def _read_record(
    fmt: Format, fields: dict[str, Field], chunk: str, now: datetime
) -> dict[str, Any]:
    raw: dict[str, str] = {}
    for line in chunk.strip().splitlines():
        key, colon, text = line.partition(":")
        if not colon:
            raise MessageError(f"line without ':': {line[:80]!r}")
        key = key.strip()
        if key in fmt.ignored:
            continue
        if key not in fields:
            if key == "ServiceLevelType" and fmt.dict_form:
                raise MessageError(
                    "ServiceLevelType is no field of v0.4 messages: the benchmark type is the "
                    "key of the ServiceLevel dict"
                )
            raise MessageError(f"unknown key {key[:60]!r} in a {fmt.kind} {fmt.version} record")
        if key in raw:
            raise MessageError(f"{key} given twice")
        raw[key] = text.strip()

    record: dict[str, Any] = {}
    dict_types: dict[str, str] = {}
    for field in fields.values():
        value = raw.get(field.key)
        if value is None or value.lower() in _NULLS:
            if field.mandatory:
                raise MessageError(f"mandatory {field.key} is missing or null")
            record[field.column] = None
            if field.kind is Kind.BENCHMARK_DICT:
                record["service_level_type"] = None
            continue
        kind = field.kind
        if kind is Kind.STR:
            record[field.column] = value
        elif kind is Kind.INT:
            record[field.column] = _int(value, field)
        elif kind is Kind.FLOAT:
            record[field.column] = _float(value, field)
        elif kind is Kind.TIME:
            record[field.column] = _time(value, field)
        else:
            name, number = _benchmark_dict(value, field)
            dict_types[field.key] = name
            if kind is Kind.BENCHMARK_DICT:
                record["service_level_type"] = name
                record[field.column] = _float(number, field)
            else:
                record[field.column] = _int(number, field)

    if len({name.lower() for name in dict_types.values()}) > 1:
        raise MessageError(f"the dict fields name different benchmark types: {dict_types}")
    if fmt.kind == "job":
        _check_job(record, now)
    elif fmt.kind in ("summary", "normalised-summary"):
        _check_summary(fmt, record, now)
        if fmt.kind == "normalised-summary" and fmt.dict_form:
            record["service_level_type"] = next(iter(dict_types.values()))
    return record


def _check_job(record: dict[str, Any], now: datetime) -> None:
    _check_job_times(record, now)
    slt, _ = _check_benchmark(record)
    if slt is None:
        record["service_level_type"], record["service_level"] = NO_BENCHMARK
    if record["fqan"] is not None:
        record["vo"], record["vo_group"], record["vo_role"] = parse_fqan(record["fqan"])


def _check_benchmark(record: dict[str, Any]) -> tuple[str | None, float | None]:
    slt = record.get("service_level_type")
    sl = record.get("service_level")
    if (slt is None) != (sl is None):
        raise MessageError("ServiceLevelType and ServiceLevel must be both present or both absent")
    if slt is not None and canonical_benchmark(slt) is None:
        raise MessageError(f"ServiceLevelType {slt!r} is not si2k, HEPSPEC or HEPscore23")
    return slt, sl


def _check_job_times(record: dict[str, Any], now: datetime) -> None:
    start, end = record["start_time"], record["end_time"]
    if end < start:
        raise MessageError("EndTime is before StartTime")
    if end > now + _FUTURE_SLACK:
        raise MessageError(f"EndTime {end.isoformat()} is more than 2 days in the future")


def _check_summary(fmt: Format, record: dict[str, Any], now: datetime) -> None:
    if fmt.kind == "summary":
        _check_benchmark(record)
    year, month = record["year"], record["month"]
    if not 1 <= month <= 12:
        raise MessageError(f"Month {month} is out of range 1..12")
    if not 1 <= year <= 9999:
        raise MessageError(f"Year {year} is out of range")
    month_start = datetime(year, month, 1, tzinfo=UTC)
    if month_start > now:
        raise MessageError(f"month {year}-{month:02d} is in the future")
    next_month = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    earliest, latest = record["earliest_end_time"], record["latest_end_time"]
    for key, moment in (("EarliestEndTime", earliest), ("LatestEndTime", latest)):
        if moment is not None and not month_start <= moment <= next_month:
            raise MessageError(f"{key} {moment.isoformat()} is not within {year}-{month:02d}")
    if earliest is not None and latest is not None and earliest > latest:
        raise MessageError("LatestEndTime is earlier than EarliestEndTime")
    for column, key in (
        ("wall_duration", "WallDuration"),
        ("cpu_duration", "CpuDuration"),
        ("normalised_wall_duration", "NormalisedWallDuration"),
        ("normalised_cpu_duration", "NormalisedCpuDuration"),
    ):
        value = record.get(column)
        if value is not None and value < 0:
            raise MessageError(f"negative {key}: {value}")


def _int(value: str, field: Field) -> int:
    if _INT.fullmatch(value) is None:
        raise MessageError(f"{field.key} is not an integer: {value[:40]!r}")
    return int(value)


def _float(value: str, field: Field) -> float:
    if _FLOAT.fullmatch(value) is None:
        raise MessageError(f"{field.key} is not a number: {value[:40]!r}")
    number = float(value)
    if number in (float("inf"), float("-inf")):
        raise MessageError(f"{field.key} is out of range: {value[:40]!r}")
    return number


def _time(value: str, field: Field) -> datetime:
    if _INT.fullmatch(value) is None:
        raise MessageError(f"{field.key} is not integer epoch seconds: {value[:40]!r}")
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (OverflowError, ValueError, OSError):
        raise MessageError(f"{field.key} is out of range: {value[:40]!r}") from None


def _benchmark_dict(value: str, field: Field) -> tuple[str, str]:
    """(type, number) as written, of the preferred entry of a ``{TYPE: number, ...}`` field."""
    if not (value.startswith("{") and value.endswith("}")):
        raise MessageError(f"{field.key} must be a {{type: value}} dict in v0.4: {value[:60]!r}")
    entries: dict[str, tuple[str, str]] = {}
    for item in value[1:-1].split(","):
        name, colon, number = item.partition(":")
        name, number = name.strip(), number.strip()
        if not colon or not name:
            raise MessageError(f"{field.key} dict entry is not 'type: value': {item[:60]!r}")
        canonical = canonical_benchmark(name)
        if canonical is None:
            raise MessageError(
                f"{field.key}: benchmark {name!r} is not si2k, HEPSPEC or HEPscore23"
            )
        if canonical in entries:
            raise MessageError(f"{field.key}: benchmark {name!r} given twice")
        entries[canonical] = (name, number)
    for preferred in BENCHMARK_PREFERENCE:
        if preferred in entries:
            return entries[preferred]
    raise AssertionError("unreachable: every entry is a known benchmark")

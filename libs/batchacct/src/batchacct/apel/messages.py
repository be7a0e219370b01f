"""Build APEL text messages from plain rows (dicts keyed by our snake_case column names).

The text is what APEL's unloader puts in the SSM outgoing queue (apel-facts §2.2):

- a header line (``APEL-individual-job-message: v0.3``, ...) without trailing blanks;
- one ``Key: value`` line per field, in the record type's field order (`formats`);
- a line ``%%`` after every record, the last one included.

Values: times are integer epoch seconds (UTC); floats are printed by ``str(float(x))`` (``10.0``,
also for a DECIMAL from the database); a null is written as the literal ``None``, as APEL's
``get_msg`` does, except a null *time*, whose line APEL leaves out (its epoch conversion of a
null fails and the line is skipped), and so do we. String values are stripped, as the receiver
strips them; a value that would break the layout (a line break of any kind ``str.splitlines``
knows, or ``%%``, which the loader splits records on) is refused with ValueError.

Benchmarks: a row without one (both fields null, or APEL's stored stand-in ``custom`` / 1) is
sent as ``ServiceLevelType: None`` / ``ServiceLevel: None`` (v0.4: ``ServiceLevel: None``).
APEL's client would write ``custom`` / ``1`` (§2.2), but its own server rejects ``custom``
(§2.1: only si2k, HEPSPEC, HEPscore23), while it turns two absent fields into ``custom`` / 1
itself; so the null pair is the form the server accepts, with the same stored result.

``withhold_dns`` replaces a non-null GlobalUserName with ``withheld``; APEL allows it for job
and sync records only and refuses it for summaries, and so do we (ValueError).

Batching (§2.2, §4, ssm#156): at most ``max_records`` records (APEL's 1,000, or fewer) and at
most ``max_bytes`` bytes of UTF-8 text (1,000,000, the AMS limit, or fewer) per message; a
message is closed early when the next record would not fit. A record too big for a message on
its own is a ValueError. Note that ssmsend signs the text (S/MIME adds headers and a signature)
and AMS carries it base64-encoded, so the bytes AMS sees are about 4/3 of the text plus a few
kB: pass a lower ``max_bytes`` if the AMS limit is enforced on the encoded payload.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from batchacct.apel.formats import (
    JOB_V03,
    JOB_V04,
    NORMALISED_V03,
    NORMALISED_V04,
    SUMMARY_V02,
    SUMMARY_V04,
    SYNC_V01,
    Field,
    Format,
    Kind,
    canonical_benchmark,
)

MAX_RECORDS = 1000
MAX_BYTES = 1_000_000
WITHHELD_DN = "withheld"

Row = Mapping[str, Any]
Period = tuple[str, int, int]  # (site, year, month)
_PeriodOf = Callable[[Row], Period]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
# Every character str.splitlines() breaks on (the loader splits records into lines with it),
# and "%%", which the loader splits the message into records on.
_LAYOUT_BREAKERS = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]|%%")


@dataclass(frozen=True, slots=True)
class Message:
    """One APEL message, ready for the outgoing queue."""

    kind: str  # "job" | "summary" | "normalised-summary" | "sync"
    header: str
    version: str
    text: str
    records: int
    size: int  # bytes of text in UTF-8
    # The (site, year, month) periods the records belong to: the month of a job's end time, or a
    # summary or sync record's own month.
    periods: frozenset[Period]


def job_messages(
    rows: Iterable[Row],
    *,
    version: str = "v0.3",
    withhold_dns: bool = False,
    max_records: int = MAX_RECORDS,
    max_bytes: int = MAX_BYTES,
) -> list[Message]:
    """Individual job messages, v0.3 (``ServiceLevelType`` + ``ServiceLevel``) or v0.4 (dict)."""
    formats = {"v0.3": JOB_V03, "v0.4": JOB_V04}
    if version not in formats:
        raise ValueError(f"job messages are v0.3 or v0.4, not {version!r}")
    fmt = formats[version]
    return _build(fmt, fmt.fields, rows, withhold_dns, max_records, max_bytes, period=_job_period)


def summary_messages(
    rows: Iterable[Row],
    *,
    version: str = "v0.2",
    normalised: bool = False,
    include_infrastructure_description: bool = False,
    withhold_dns: bool = False,
    max_records: int = MAX_RECORDS,
    max_bytes: int = MAX_BYTES,
) -> list[Message]:
    """Summary messages.

    - v0.2: ``APEL-summary-job-message: v0.2``, the summary APEL clients send;
    - v0.4: the same with ``ServiceLevel: {HEPSPEC: 10.0}``;
    - v0.3, or ``normalised=True``: the normalised summary (``APEL-summary-job-message: v0.3``),
      with ``Infrastructure`` instead of InfrastructureType, no benchmark fields, and the
      mandatory NormalisedWallDuration / NormalisedCpuDuration;
    - v0.4 with ``normalised=True``: ``APEL-normalised-summary-message: v0.4``, whose two
      normalised durations are dicts keyed by the row's benchmark type,
      ``NormalisedWallDuration: {HEPSPEC: 697840}``.

    ``include_infrastructure_description`` adds InfrastructureDescription after
    InfrastructureType (v0.2 / v0.4 only); APEL's client leaves it out by default.
    """
    if withhold_dns:
        raise ValueError("withhold_dns is not allowed for summaries (APEL refuses it too)")
    if version == "v0.3":
        normalised = True
    if normalised:
        formats = {"v0.3": NORMALISED_V03, "v0.4": NORMALISED_V04}
        if version not in formats:
            raise ValueError(f"normalised summaries are v0.3 or v0.4, not {version!r}")
        if include_infrastructure_description:
            raise ValueError("normalised summaries carry no InfrastructureDescription")
    else:
        formats = {"v0.2": SUMMARY_V02, "v0.4": SUMMARY_V04}
        if version not in formats:
            raise ValueError(f"summary messages are v0.2, v0.3 or v0.4, not {version!r}")
    fmt = formats[version]
    fields = tuple(
        f
        for f in fmt.fields
        if include_infrastructure_description or f.key != "InfrastructureDescription"
    )
    return _build(fmt, fields, rows, False, max_records, max_bytes, period=_own_period)


def sync_messages(
    rows: Iterable[Row],
    *,
    withhold_dns: bool = False,
    max_records: int = MAX_RECORDS,
    max_bytes: int = MAX_BYTES,
) -> list[Message]:
    """Sync messages v0.1: jobs per (site, submit host, month, year).

    ``withhold_dns`` is accepted, as APEL accepts it, and changes nothing: sync records carry no DN.
    """
    return _build(
        SYNC_V01, SYNC_V01.fields, rows, withhold_dns, max_records, max_bytes, period=_own_period
    )


def _build(
    fmt: Format,
    fields: tuple[Field, ...],
    rows: Iterable[Row],
    withhold_dns: bool,
    max_records: int,
    max_bytes: int,
    *,
    period: _PeriodOf,
) -> list[Message]:
    if not 1 <= max_records <= MAX_RECORDS:
        raise ValueError(f"max_records must be 1..{MAX_RECORDS}, not {max_records}")
    if not 1 <= max_bytes <= MAX_BYTES:
        raise ValueError(f"max_bytes must be 1..{MAX_BYTES}, not {max_bytes}")
    head = fmt.header + "\n"
    head_size = len(head)
    messages: list[Message] = []
    blocks: list[str] = []
    periods: set[Period] = set()
    size = head_size

    def flush() -> None:
        messages.append(
            Message(
                kind=fmt.kind,
                header=fmt.header,
                version=fmt.version,
                text=head + "".join(blocks),
                records=len(blocks),
                size=size,
                periods=frozenset(periods),
            )
        )

    for index, row in enumerate(rows):
        block = _record_text(fmt, fields, row, index, withhold_dns)
        block_size = len(block) if block.isascii() else len(block.encode("utf-8"))
        if head_size + block_size > max_bytes:
            raise ValueError(
                f"record {index}: {block_size} bytes of text, too big for a message of at most "
                f"{max_bytes} bytes even on its own"
            )
        if blocks and (len(blocks) >= max_records or size + block_size > max_bytes):
            flush()
            blocks, periods, size = [], set(), head_size
        blocks.append(block)
        periods.add(period(row))
        size += block_size
    if blocks:
        flush()
    return messages


def _record_text(
    fmt: Format, fields: tuple[Field, ...], row: Row, index: int, withhold_dns: bool
) -> str:
    lines: list[str] = []
    for field in fields:
        kind = field.kind
        value = row.get(field.column)
        if value is None and field.mandatory:
            raise ValueError(f"record {index}: mandatory {field.key} ({field.column}) is null")
        if kind is Kind.STR:
            if field.key == "ServiceLevelType":
                # Written together with ServiceLevel, which follows it.
                continue
            if withhold_dns and value is not None and field.key == "GlobalUserName":
                value = WITHHELD_DN
            text = _text(value, field, index)
        elif kind is Kind.INT:
            text = _int(value, field, index)
        elif kind is Kind.FLOAT:
            # ServiceLevel of a v0.3 job or v0.2 summary: the type line, skipped above, and this.
            slt, sl = _benchmark(row, index)
            lines.append(f"ServiceLevelType: {slt}\nServiceLevel: {sl}\n")
            continue
        elif kind is Kind.TIME:
            if value is None:
                continue
            text = str(_epoch(value, field, index))
        elif kind is Kind.BENCHMARK_DICT:
            slt, sl = _benchmark(row, index)
            text = "None" if sl == "None" else f"{{{slt}: {sl}}}"
        else:  # DURATION_DICT
            text = f"{{{_normalised_type(row, index)}: {_int(value, field, index)}}}"
        lines.append(f"{field.key}: {text}\n")
    lines.append("%%\n")
    return "".join(lines)


def _text(value: Any, field: Field, index: int) -> str:
    if value is None:
        return "None"
    if not isinstance(value, str):
        raise ValueError(f"record {index}: {field.column} must be a string, not {type(value)}")
    text = value.strip()
    if not text:
        return "None"
    if _LAYOUT_BREAKERS.search(text) is not None:
        raise ValueError(
            f"record {index}: {field.column} holds a line break or '%%', which would break the "
            "message layout"
        )
    if field.mandatory and text.lower() in ("none", "null"):
        raise ValueError(f"record {index}: mandatory {field.key} reads as null ({text!r})")
    return text


def _int(value: Any, field: Field, index: int) -> str:
    if value is None:
        return "None"
    if isinstance(value, bool):
        raise ValueError(f"record {index}: {field.column} must be an integer, not a bool")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal) and math.isfinite(value) and value == int(value):
        return str(int(value))
    raise ValueError(f"record {index}: {field.column} must be a whole number, not {value!r}")


def _float(value: Any, column: str, index: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(f"record {index}: {column} must be a number, not {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"record {index}: {column} must be finite, not {value!r}")
    return str(number)


def _epoch(value: Any, field: Field, index: int) -> int:
    if not isinstance(value, datetime):
        raise ValueError(f"record {index}: {field.column} must be a datetime, not {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"record {index}: {field.column} is a naive datetime; give it a zone")
    return (value - _EPOCH) // _SECOND


def _benchmark(row: Row, index: int) -> tuple[str, str]:
    """(type, value) as written; ("None", "None") for a row without a benchmark."""
    slt = row.get("service_level_type")
    sl = row.get("service_level")
    if slt is None and sl is None:
        return "None", "None"
    if isinstance(slt, str) and slt.strip().lower() == "custom" and sl == 1:
        return "None", "None"
    if slt is None or sl is None:
        raise ValueError(
            f"record {index}: service_level_type and service_level must both be set or both null"
        )
    if not isinstance(slt, str) or canonical_benchmark(slt.strip()) is None:
        raise ValueError(
            f"record {index}: benchmark type {slt!r} is not si2k, HEPSPEC or HEPscore23"
        )
    return slt.strip(), _float(sl, "service_level", index)


def _normalised_type(row: Row, index: int) -> str:
    slt = row.get("service_level_type")
    if not isinstance(slt, str) or canonical_benchmark(slt.strip()) is None:
        raise ValueError(
            f"record {index}: a v0.4 normalised summary needs the benchmark type si2k, HEPSPEC "
            f"or HEPscore23 in service_level_type, not {slt!r}"
        )
    return slt.strip()


def _job_period(row: Row) -> Period:
    end = row["end_time"].astimezone(UTC)
    return (row["site"], end.year, end.month)


def _own_period(row: Row) -> Period:
    return (row["site"], int(row["year"]), int(row["month"]))

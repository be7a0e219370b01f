"""The one error type every parser raises, and the bounded set of rejection reasons."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    """Why a line was rejected. A small, fixed set: it is a metric label and an API filter."""

    MALFORMED = "malformed"  # the line does not have the structure of the format
    MISSING_FIELD = "missing_field"  # a required field is absent or empty
    BAD_NUMBER = "bad_number"  # a numeric field does not parse
    BAD_TIMESTAMP = "bad_timestamp"  # a time field does not parse or is out of range
    BAD_UNIT = "bad_unit"  # a memory or duration unit we do not know
    INCONSISTENT = "inconsistent"  # end before start, negative durations
    INVALID_UTF8 = "invalid_utf8"  # bytes that are not UTF-8 inside a field we keep


class ParseError(ValueError):
    """A line that cannot become a record. ``reason`` is a :class:`Reason`, ``detail`` says what."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(slots=True, frozen=True)
class Rejection:
    """A rejected line, as stored in the quarantine and sent to the dead-letter topic."""

    source_format: str
    site: str
    file: str
    line: int
    reason: str
    detail: str
    raw: str

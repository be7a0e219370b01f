"""Integer fields as accounting files write them, checked the same way by every parser."""

from __future__ import annotations

from batchacct.errors import ParseError, Reason

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


def natural(text: str, name: str) -> int:
    """A non-negative integer written in ASCII digits."""
    if not (text.isdigit() and text.isascii() and len(text) <= 18):
        raise ParseError(Reason.BAD_NUMBER, f"{name} is not a whole number: {text[:40]!r}")
    return int(text)


def int32(text: str, name: str) -> int:
    """A signed integer that fits 32 bits (exit codes, counts)."""
    digits = text[1:] if text[:1] == "-" else text
    if not (digits.isdigit() and digits.isascii() and len(digits) <= 10):
        raise ParseError(Reason.BAD_NUMBER, f"{name} is not an integer: {text[:40]!r}")
    value = int(text)
    if not -INT32_MAX <= value <= INT32_MAX:
        raise ParseError(Reason.BAD_NUMBER, f"{name} out of range: {text}")
    return value

"""Parsers: one per input format, all with the same contract.

A parser is built once per file source with its configuration (site, batch host, time zone) and
then called per line: ``parser.parse(line, file, line_no)`` returns a record, or ``None`` for a
valid line that is not a finished job (counted as ignored), or raises :class:`ParseError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import tzinfo
from typing import Protocol

from batchacct.errors import ParseError, Reason, Rejection
from batchacct.records import BatchEvent, CeEvent, Record


class LineParser(Protocol):
    source_format: str
    site: str

    def parse(self, line: str, file: str, line_no: int) -> Record | None: ...


@dataclass(slots=True, frozen=True)
class ParserConfig:
    site: str
    machine_name: str = ""
    timezone: tzinfo | None = None  # for timestamps without an offset; None means UTC


FORMATS = ("lsf", "blah")


def make_parser(source_format: str, config: ParserConfig) -> LineParser:
    """The parser for ``source_format`` (one of :data:`FORMATS`)."""
    if source_format == "lsf":
        from batchacct.parsers.lsf import LsfParser

        return LsfParser(config)
    if source_format == "blah":
        from batchacct.parsers.blah import BlahParser

        return BlahParser(config)
    raise ValueError(f"unknown format {source_format!r}; known: {', '.join(FORMATS)}")


_KEPT_STR_FIELDS = {
    "batch": (
        "machine_name",
        "local_job_id",
        "local_user_id",
        "local_user_group",
        "queue",
        "account",
        "from_host",
    ),
    "ce": (
        "lrms_id",
        "global_user_name",
        "fqan",
        "vo",
        "vo_group",
        "vo_role",
        "submit_host",
        "grid_job_id",
        "local_user",
    ),
}


def _has_surrogate(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def check_kept_fields_utf8(record: Record) -> None:
    """Reject a record that keeps a field holding bytes that were not UTF-8.

    Lines are decoded with ``surrogateescape``, so undecodable bytes survive as lone surrogates;
    they only matter when they land in a field we store.
    """
    for name in _KEPT_STR_FIELDS[record.kind]:
        value = getattr(record, name)
        if value and _has_surrogate(value):
            raise ParseError(Reason.INVALID_UTF8, f"field {name} holds bytes that are not UTF-8")
    lists = record.exec_hosts if isinstance(record, BatchEvent) else record.fqans
    for value in lists:
        if _has_surrogate(value):
            raise ParseError(Reason.INVALID_UTF8, "a host or FQAN holds bytes that are not UTF-8")


def parse_line(
    parser: LineParser, raw: bytes, file: str, line_no: int
) -> Record | Rejection | None:
    """Decode and parse one raw line (without its newline). Never raises for bad input."""
    try:
        text = raw.decode("utf-8")
        clean = True
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "surrogateescape")
        clean = False
    try:
        record = parser.parse(text, file, line_no)
        if record is not None and not clean:
            check_kept_fields_utf8(record)
    except ParseError as err:
        return Rejection(
            parser.source_format,
            parser.site,
            file,
            line_no,
            err.reason.value,
            err.detail,
            raw.decode("utf-8", "replace"),
        )
    return record


def parse_lines(
    parser: LineParser, lines: Iterable[bytes], file: str, first_line_no: int = 1
) -> Iterator[tuple[int, Record | Rejection | None]]:
    for line_no, raw in enumerate(lines, first_line_no):
        raw = raw.rstrip(b"\r\n")
        if not raw.strip():
            yield line_no, None
            continue
        yield line_no, parse_line(parser, raw, file, line_no)


__all__ = [
    "FORMATS",
    "BatchEvent",
    "CeEvent",
    "LineParser",
    "ParseError",
    "ParserConfig",
    "Reason",
    "Rejection",
    "check_kept_fields_utf8",
    "make_parser",
    "parse_line",
    "parse_lines",
]

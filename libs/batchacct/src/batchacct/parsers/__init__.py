"""Parsers: one per input format, all with the same contract.

A parser is built once per file source with its configuration (site, batch host, time zone) and
then called per entry: ``parser.parse(text, file, line_no)`` returns a record (or a tuple of
records, when one entry describes both halves of a job), or ``None`` for a valid entry that is not
a finished job (counted as ignored), or raises :class:`ParseError`.

An entry is one line, except for parsers that have ``split_groups`` (see :class:`GroupedParser`):
their entries span several lines (a ClassAd, a SLURM job with its steps), and ``text`` is those
lines joined with ``\n``. A parser that has ``begin_file`` is told each file's first line before
any entry of that file, also when reading resumes in the middle of the file (SLURM's header).
A parser that has ``redact(text) -> text`` removes what must not be stored from a rejected
entry before it goes to the quarantine (a job's environment in an HTCondor ad). A parser that has
``is_preamble(line) -> bool`` names the lines every file of its format starts with (a SLURM
header, SGE's comments): they cannot tell one file from another, so a file's identity is taken
from its first entry after them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Protocol, TypeGuard, runtime_checkable

from batchacct.errors import ParseError, Reason, Rejection
from batchacct.records import BatchEvent, CeEvent, Record

ParseResult = Record | tuple[Record, ...] | None


class LineParser(Protocol):
    source_format: str
    site: str

    def parse(self, line: str, file: str, line_no: int) -> ParseResult: ...


@runtime_checkable
class FileAwareParser(LineParser, Protocol):
    def begin_file(self, first_line: str) -> None:
        """Called with a file's first line (no newline) before any entry of that file is parsed."""


@runtime_checkable
class GroupedParser(LineParser, Protocol):
    def split_groups(self, lines: list[str], final: bool) -> tuple[list[tuple[int, int]], int]:
        """Find the complete entries in ``lines`` (decoded, without newlines).

        Returns ``(groups, consumed)``: ``groups`` are ``(start, end)`` slices of ``lines``, one per
        entry, and ``consumed`` is how many lines they and the separators between them cover.
        Lines after ``consumed`` are an entry still being written: they are offered again with the
        next lines. ``final`` says no more lines will come (end of a finished file), so the last
        entry is complete.
        """


def is_grouped(parser: object) -> TypeGuard[GroupedParser]:
    """Whether a parser's entries span lines. (A protocol isinstance check costs ~10 µs.)"""
    return hasattr(parser, "split_groups")


def is_file_aware(parser: object) -> TypeGuard[FileAwareParser]:
    return hasattr(parser, "begin_file")


@dataclass(slots=True, frozen=True)
class ParserConfig:
    site: str
    machine_name: str = ""
    timezone: tzinfo | None = None  # for timestamps without an offset; None means UTC
    # SLURM: "jobs" reads job (allocation) rows and ignores step rows; "sum" folds each job's
    # steps into it (CPU summed, memory the steps' maximum).
    slurm_steps: str = "jobs"
    # SGE: per execution host, (cputmult, wallmult) speed factors.
    host_multipliers: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    # HTCondor: FQAN for token identities, keyed "<issuer> <subject>" or "owner:<Owner>".
    identity_map: Mapping[str, str] = field(default_factory=dict)


FORMATS = ("lsf", "blah", "condor", "slurm", "pbs", "sge")


def make_parser(source_format: str, config: ParserConfig) -> LineParser:
    """The parser for ``source_format`` (one of :data:`FORMATS`)."""
    if source_format == "lsf":
        from batchacct.parsers.lsf import LsfParser

        return LsfParser(config)
    if source_format == "blah":
        from batchacct.parsers.blah import BlahParser

        return BlahParser(config)
    if source_format == "condor":
        from batchacct.parsers.condor import CondorParser

        return CondorParser(config)
    if source_format == "slurm":
        from batchacct.parsers.slurm import slurm_parser

        return slurm_parser(config)
    if source_format == "pbs":
        from batchacct.parsers.pbs import PbsParser

        return PbsParser(config)
    if source_format == "sge":
        from batchacct.parsers.sge import SgeParser

        return SgeParser(config)
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


def _storable(text: str) -> bool:
    """PostgreSQL text holds neither NUL nor the lone surrogates undecodable bytes become."""
    return "\x00" not in text and not any("\udc80" <= ch <= "\udcff" for ch in text)


def check_kept_fields_utf8(record: Record) -> None:
    """Reject a record that keeps a field holding bytes that were not UTF-8, or a NUL.

    Lines are decoded with ``surrogateescape``, so undecodable bytes survive as lone surrogates;
    they, like NUL characters, only matter when they land in a field we store.
    """
    for name in _KEPT_STR_FIELDS[record.kind]:
        value = getattr(record, name)
        if value and not _storable(value):
            raise ParseError(
                Reason.INVALID_UTF8, f"field {name} holds bytes that are not UTF-8 text"
            )
    lists = record.exec_hosts if isinstance(record, BatchEvent) else record.fqans
    for value in lists:
        if not _storable(value):
            raise ParseError(
                Reason.INVALID_UTF8, "a host or FQAN holds bytes that are not UTF-8 text"
            )


def parse_line(
    parser: LineParser, raw: bytes, file: str, line_no: int
) -> Record | tuple[Record, ...] | Rejection | None:
    """Decode and parse one raw entry (without its last newline). Never raises for bad input."""
    try:
        text = raw.decode("utf-8")
        clean = True
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "surrogateescape")
        clean = False
    try:
        result = parser.parse(text, file, line_no)
        if result is not None and (not clean or "\x00" in text):
            for record in result if isinstance(result, tuple) else (result,):
                check_kept_fields_utf8(record)
    except ParseError as err:
        stored = raw.decode("utf-8", "replace")
        redact = getattr(parser, "redact", None)
        if redact is not None:
            stored = redact(stored)
        return Rejection(
            parser.source_format,
            parser.site,
            file,
            line_no,
            err.reason.value,
            err.detail,
            stored,
        )
    return result


def parse_lines(
    parser: LineParser, lines: Iterable[bytes], file: str, first_line_no: int = 1
) -> Iterator[tuple[int, Record | tuple[Record, ...] | Rejection | None]]:
    """Parse a whole file's lines (or, from ``first_line_no`` on, the rest of a file).

    Grouped parsers get their entries split here; the last entry is taken as complete. A
    file-aware parser is told the first line when ``lines`` start the file; reading the rest of
    a file, the caller has told it already.
    """
    if is_grouped(parser):
        stripped = [raw.rstrip(b"\r\n") for raw in lines]
        if is_file_aware(parser) and stripped and first_line_no == 1:
            parser.begin_file(stripped[0].decode("utf-8", "surrogateescape"))
        yield from parse_grouped(parser, stripped, file, first_line_no, final=True)[0]
        return
    begun = not is_file_aware(parser) or first_line_no != 1
    for line_no, raw in enumerate(lines, first_line_no):
        raw = raw.rstrip(b"\r\n")
        if not begun:
            parser.begin_file(raw.decode("utf-8", "surrogateescape"))  # type: ignore[attr-defined]
            begun = True
        if not raw.strip():
            yield line_no, None
            continue
        yield line_no, parse_line(parser, raw, file, line_no)


def parse_grouped(
    parser: LineParser, lines: list[bytes], file: str, first_line_no: int, *, final: bool
) -> tuple[list[tuple[int, Record | tuple[Record, ...] | Rejection | None]], int]:
    """Parse the complete entries of a grouped parser in ``lines`` (without newlines).

    Returns the results, each with the line number where its entry starts, and how many lines
    were consumed; the rest belong to an entry that is not complete yet.
    """
    if not is_grouped(parser):
        raise TypeError(f"{parser.source_format} entries are single lines")
    decoded = [raw.decode("utf-8", "surrogateescape") for raw in lines]
    groups, consumed = parser.split_groups(decoded, final)
    results: list[tuple[int, Record | tuple[Record, ...] | Rejection | None]] = []
    for start, end in groups:
        raw = b"\n".join(lines[start:end])
        results.append(
            (first_line_no + start, parse_line(parser, raw, file, first_line_no + start))
        )
    return results, consumed


__all__ = [
    "FORMATS",
    "BatchEvent",
    "CeEvent",
    "FileAwareParser",
    "GroupedParser",
    "LineParser",
    "ParseError",
    "ParseResult",
    "ParserConfig",
    "Reason",
    "Rejection",
    "check_kept_fields_utf8",
    "is_file_aware",
    "is_grouped",
    "make_parser",
    "parse_grouped",
    "parse_line",
    "parse_lines",
]

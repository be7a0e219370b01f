"""The file-collector engine every collector service runs.

Read a batch of lines, parse, produce records and rejections, wait for the broker's
acknowledgement, then, in one PostgreSQL transaction, store the quarantine rows and move the
file's checkpoint (identity + byte offset). A collector killed at any point repeats at most the
batch it had not checkpointed, and repeats are harmless downstream (natural keys).
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from batchacct import metrics
from batchacct.avro import Codec
from batchacct.errors import Rejection
from batchacct.files import (
    IDENTITY_BYTES,
    compression_of,
    line_batches,
    line_identity,
    open_content,
    skip_bytes,
)
from batchacct.kafka import TrackedProducer
from batchacct.parsers import (
    LineParser,
    is_file_aware,
    is_grouped,
    parse_grouped,
    parse_lines,
)
from batchacct.records import BatchEvent, CeEvent, Record
from batchacct.settings import CommonSettings

log = logging.getLogger(__name__)

QUARANTINE_DIR = "quarantine"


@dataclass(frozen=True)
class CollectorConfig:
    source_format: str
    site: str
    machine_name: str = ""
    files: tuple[Path, ...] = ()
    directory: Path | None = None
    pattern: str = "*"
    interval: float = 10.0
    batch_lines: int = 20000
    # A last line without a newline counts as complete once the file is this old (seconds).
    settle_seconds: float = 60.0
    # Replay and backfill: only records whose end (CE events: timestamp) is in [since, until).
    since: datetime | None = None
    until: datetime | None = None

    @property
    def collector_id(self) -> str:
        return f"{self.source_format}:{self.site}:{self.machine_name}"


@dataclass
class FileState:
    file_id: str
    offset: int = 0
    lines: int = 0
    records: int = 0
    rejected: int = 0
    ignored: int = 0
    state: str = "active"
    path: str = ""


@dataclass
class PassStats:
    files_read: int = 0
    lines: int = 0
    records: int = 0
    rejected: int = 0
    ignored: int = 0
    outside_window: int = 0  # records left out by since/until
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

    def add(self, other: PassStats) -> None:
        self.files_read += other.files_read
        self.lines += other.lines
        self.records += other.records
        self.rejected += other.rejected
        self.ignored += other.ignored
        self.outside_window += other.outside_window
        for k, v in other.rejected_by_reason.items():
            self.rejected_by_reason[k] = self.rejected_by_reason.get(k, 0) + v


class FileCollector:
    def __init__(
        self,
        settings: CommonSettings,
        config: CollectorConfig,
        parser: LineParser,
        producer: TrackedProducer,
        conn: psycopg.Connection,
        codec: Codec | None = None,
        *,
        use_checkpoints: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.settings = settings
        self.config = config
        self.parser = parser
        self.producer = producer
        self.conn = conn
        self.codec = codec or Codec()
        # Without checkpoints (replay), files are read from the start and the registry is left
        # alone; quarantine rows are still stored.
        self.use_checkpoints = use_checkpoints
        self.progress = progress  # called with the bytes of content consumed, for progress bars
        self._replay_state: dict[str, FileState] = {}
        self._topics = {"batch": settings.batch_topic, "ce": settings.ce_topic}
        self._grouped = is_grouped(parser)

    # --- file discovery ----------------------------------------------------------------------

    def candidate_files(self) -> list[Path]:
        paths = [p for p in self.config.files if p.is_file()]
        directory = self.config.directory
        if directory is not None and directory.is_dir():
            for entry in os.scandir(directory):
                if (
                    entry.is_file()
                    and entry.name != QUARANTINE_DIR
                    and fnmatch.fnmatch(entry.name, self.config.pattern)
                ):
                    paths.append(Path(entry.path))
        # Oldest first: a rotated file is finished before the one that replaced it.
        return sorted(set(paths), key=lambda p: (p.stat().st_mtime, str(p)))

    # --- one pass over every file ------------------------------------------------------------

    def run_once(self) -> PassStats:
        total = PassStats()
        lag = 0
        for path in self.candidate_files():
            try:
                stats, remaining = self.collect_file(path)
            except FileNotFoundError:
                continue  # rotated away between listing and opening: seen next pass
            total.add(stats)
            lag += remaining
        metrics.CHECKPOINT_LAG.labels(self.config.source_format).set(lag)
        self.publish_registry_counts()
        return total

    def publish_registry_counts(self) -> None:
        if not self.use_checkpoints:
            return
        rows = self.conn.execute(
            "SELECT state, count(*) FROM collector_files WHERE collector = %s GROUP BY state",
            (self.config.collector_id,),
        ).fetchall()
        counts: dict[str, int] = dict(rows)
        for state in ("active", "done", "quarantined"):
            metrics.FILES_TRACKED.labels(self.config.source_format, state).set(counts.get(state, 0))

    def run(self, stop: threading.Event, once: bool = False) -> PassStats:
        total = PassStats()
        while not stop.is_set():
            total.add(self.run_once())
            if once:
                break
            stop.wait(self.config.interval)
        return total

    # --- one file ----------------------------------------------------------------------------

    def collect_file(self, path: Path) -> tuple[PassStats, int]:
        """Read ``path`` from its checkpoint to its end. Returns stats and bytes left unread."""
        stats = PassStats()
        compression = compression_of(path)
        st = path.stat()
        settled = compression != "none" or (time.time() - st.st_mtime) >= self.config.settle_seconds
        found = self._identity(path, compression, settled)
        if found is None:
            return stats, 0
        file_id, first = found
        state = self._load_state(file_id) or FileState(file_id)
        if state.state == "done" and compression != "none":
            return stats, 0
        size = st.st_size if compression == "none" else None
        if size is not None and size < state.offset:
            log.warning(
                "file shorter than its checkpoint; reading it again from the start",
                extra={"path": str(path), "offset": state.offset, "size": size},
            )
            state = FileState(file_id)
        if size is not None and size == state.offset and state.path == str(path):
            return stats, 0
        take_partial = settled
        context: str | None = None
        if is_file_aware(self.parser):
            context = first.rstrip(b"\r\n").decode("utf-8", "surrogateescape")
            self.parser.begin_file(context)

        with open_content(path, compression) as stream:
            if skip_bytes(stream, state.offset, compression) < state.offset:
                log.warning(
                    "compressed file shorter than its checkpoint", extra={"path": str(path)}
                )
                return stats, 0
            stats.files_read = 1
            batches = line_batches(
                stream, self.config.batch_lines, take_partial_last_line=take_partial
            )
            wrote_any = False
            pending: list[bytes] = []  # the start of an entry that is not complete yet
            for (lines, _), is_last in _with_last(batches):
                lines = pending + lines if pending else lines
                batch, rejections, used = self._process_lines(
                    lines, str(path), state.lines + 1, final=is_last and take_partial
                )
                pending = lines[used:]
                consumed = sum(map(len, lines[:used])) if pending else sum(map(len, lines))
                state.offset += consumed
                state.lines += used
                state.records += batch.records
                state.rejected += batch.rejected
                state.ignored += batch.ignored
                stats.add(batch)
                stats.files_read = 1
                self._checkpoint(path, st, compression, state, rejections, context)
                if self.progress is not None:
                    self.progress(consumed)
                wrote_any = True
            at_end = compression != "none" and not pending
            if at_end:
                state.state = "done"
            if not wrote_any or at_end:
                self._checkpoint(path, st, compression, state, [], context)
        remaining = max(0, (size or 0) - state.offset) if size is not None else 0
        if stats.lines:
            log.info(
                "file read",
                extra={
                    "path": str(path),
                    "lines": stats.lines,
                    "records": stats.records,
                    "rejected": stats.rejected,
                    "offset": state.offset,
                },
            )
        return stats, remaining

    def _identity(self, path: Path, compression: str, settled: bool) -> tuple[str, bytes] | None:
        """``(file id, first line)``: the hash of the file up to the end of its first entry.

        The first entry names a job and a time, so it identifies the file through renames,
        rotation and compression, and it does not change as the file grows. Lines every file of
        the format starts with (a header, comments) are not enough on their own. A file whose
        first entry is not complete yet has no identity: it is read once it has one.
        """
        with open_content(path, compression) as stream:
            head = stream.readlines(IDENTITY_BYTES)
            at_eof = not stream.read(1)
        if not head:
            return None
        complete = head if (settled and at_eof) or head[-1].endswith(b"\n") else head[:-1]
        if not complete:
            return None
        decoded = [line.rstrip(b"\r\n").decode("utf-8", "surrogateescape") for line in complete]
        parser = self.parser
        if is_file_aware(parser):
            parser.begin_file(decoded[0])
        preamble: Callable[[str], bool] = getattr(parser, "is_preamble", lambda _line: False)
        end = None
        if is_grouped(parser):
            groups, _ = parser.split_groups(decoded, settled and at_eof)
            end = next((e for s, e in groups if not preamble(decoded[s])), None)
        else:
            end = next(
                (i + 1 for i, text in enumerate(decoded) if text.strip() and not preamble(text)),
                None,
            )
        if end is None:
            if not (settled and at_eof):
                return None
            end = len(complete)  # a finished file of preamble only: all of it
        return line_identity(b"".join(complete[:end])), complete[0]

    def _process_lines(
        self, lines: list[bytes], file: str, first_line_no: int, *, final: bool = True
    ) -> tuple[PassStats, list[Rejection], int]:
        """Parse and produce one batch; returns stats, rejections and how many lines were used.

        A grouped parser may leave the last lines unused: an entry still being written.
        """
        if self._grouped:
            stripped = [raw.rstrip(b"\r\n") for raw in lines]
            results, used = parse_grouped(self.parser, stripped, file, first_line_no, final=final)
        else:
            results, used = list(parse_lines(self.parser, lines, file, first_line_no)), len(lines)
        stats, rejections = self.emit(result for _, result in results)
        stats.lines = used
        metrics.LINES_READ.labels(self.config.source_format).inc(used)
        return stats, rejections, used

    def emit(
        self, results: Iterable[Record | tuple[Record, ...] | Rejection | None]
    ) -> tuple[PassStats, list[Rejection]]:
        """Produce records and rejections, and wait for the broker to acknowledge them all."""
        stats = PassStats()
        rejections: list[Rejection] = []
        fmt = self.config.source_format
        codec = self.codec
        produce = self.producer.produce
        produced = {"batch": 0, "ce": 0}
        windowed = self.config.since is not None or self.config.until is not None
        for result in results:
            if result is None:
                stats.ignored += 1
            elif isinstance(result, BatchEvent | CeEvent | tuple):
                for record in result if isinstance(result, tuple) else (result,):
                    if windowed and not self._in_window(record):
                        stats.outside_window += 1
                        continue
                    kind = record.kind
                    produce(self._topics[kind], record.key.encode(), codec.encode_record(record))
                    produced[kind] += 1
            else:
                rejections.append(result)
                produce(
                    self.settings.dead_letter_topic,
                    f"{result.file}:{result.line}".encode(),
                    codec.encode("rejection", _rejection_datum(result)),
                )
                stats.rejected_by_reason[result.reason] = (
                    stats.rejected_by_reason.get(result.reason, 0) + 1
                )
        self.producer.poll()
        self.producer.flush_or_raise()
        stats.records = produced["batch"] + produced["ce"]
        stats.rejected = len(rejections)
        metrics.LINES_IGNORED.labels(fmt).inc(stats.ignored)
        for kind, n in produced.items():
            if n:
                metrics.RECORDS_PRODUCED.labels(fmt, kind).inc(n)
        for reason, n in stats.rejected_by_reason.items():
            metrics.LINES_REJECTED.labels(fmt, reason).inc(n)
        return stats, rejections

    def _in_window(self, record: Record) -> bool:
        when = record.end_time if isinstance(record, BatchEvent) else record.timestamp
        since, until = self.config.since, self.config.until
        return (since is None or when >= since) and (until is None or when < until)

    # --- registry and quarantine --------------------------------------------------------------

    def _load_state(self, file_id: str) -> FileState | None:
        if not self.use_checkpoints:
            return self._replay_state.get(file_id)
        row = self.conn.execute(
            'SELECT "offset", lines, records, rejected, ignored, state, path FROM collector_files'
            " WHERE collector = %s AND file_id = %s",
            (self.config.collector_id, file_id),
        ).fetchone()
        if row is None:
            return None
        return FileState(file_id, *row)

    def _checkpoint(
        self,
        path: Path,
        st: os.stat_result,
        compression: str,
        state: FileState,
        batch_rejections: list[Rejection],
        context: str | None = None,
    ) -> None:
        state.path = str(path)
        with self.conn.transaction():
            if batch_rejections:
                store_rejections(self.conn, batch_rejections, self.config.machine_name, context)
            if not self.use_checkpoints:
                self._replay_state[state.file_id] = FileState(**vars(state))
                return
            self.conn.execute(
                """
                INSERT INTO collector_files (collector, file_id, path, inode, device, compression,
                    "offset", size, lines, records, rejected, ignored, state, source_format, site)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (collector, file_id) DO UPDATE SET
                    path = excluded.path, inode = excluded.inode, device = excluded.device,
                    compression = excluded.compression, "offset" = excluded."offset",
                    size = excluded.size, lines = excluded.lines, records = excluded.records,
                    rejected = excluded.rejected, ignored = excluded.ignored,
                    state = excluded.state, last_seen = now()
                """,
                (
                    self.config.collector_id,
                    state.file_id,
                    str(path),
                    st.st_ino,
                    st.st_dev,
                    compression,
                    state.offset,
                    max(st.st_size, state.offset),
                    state.lines,
                    state.records,
                    state.rejected,
                    state.ignored,
                    state.state,
                    self.config.source_format,
                    self.config.site,
                ),
            )
        metrics.LAST_CHECKPOINT.labels(self.config.source_format).set_to_current_time()


def _rejection_datum(rejection: Rejection) -> dict[str, Any]:
    return {
        "source_format": rejection.source_format,
        "site": rejection.site,
        "file": rejection.file,
        "line": rejection.line,
        "reason": rejection.reason,
        "detail": rejection.detail,
        "raw": rejection.raw,
    }


def store_rejections(
    conn: psycopg.Connection,
    rejections: list[Rejection],
    machine_name: str = "",
    file_context: str | None = None,
) -> None:
    """Insert quarantine rows; the same line of the same file is stored once.

    ``machine_name`` and ``file_context`` (the file's first line, for parsers whose reading of a
    line depends on it) are what ``batchacct quarantine retry`` needs to parse the line again.
    """
    context = None if file_context is None else _clean_text(file_context)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO quarantine (source_format, site, file, line, reason, detail, raw,"
            " raw_sha1, machine_name, file_context)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [
                (
                    r.source_format,
                    r.site,
                    r.file,
                    r.line,
                    r.reason,
                    r.detail,
                    _clean_text(r.raw),
                    hashlib.sha1(r.raw.encode(), usedforsecurity=False).hexdigest(),
                    machine_name,
                    context,
                )
                for r in rejections
            ],
        )


def _clean_text(text: str) -> str:
    """Text PostgreSQL accepts: no NUL, no lone surrogates."""
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


T = TypeVar("T")


def _with_last(items: Iterable[T]) -> Iterator[tuple[T, bool]]:
    """Each item with whether it is the last one."""
    iterator = iter(items)
    try:
        previous = next(iterator)
    except StopIteration:
        return
    for item in iterator:
        yield previous, False
        previous = item
    yield previous, True

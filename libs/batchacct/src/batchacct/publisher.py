"""The publisher: what goes to APEL, written as messages and recorded in the publication log.

A run (:func:`publish`) selects rows from PostgreSQL, turns them into APEL messages
(`batchacct.apel.messages`), checks every message with the server's rules
(`batchacct.apel.reader`), hands the good ones to its outputs (the SSM outgoing dirq, the Kafka
topic ``batchacct.summaries``, or stdout for a dry run) and records one ``publications`` row per
message and destination. What it sends (apel-facts §3.5):

- ``summaries`` (default): every summary row of the current and the previous month (UTC, of
  ``now``), whole months, on every run; the server replaces summaries on their full key, so
  sending a month again is harmless. Versions v0.2 (default), v0.4, normalised v0.3, normalised
  v0.4.
- ``jobs``: individual job records, v0.3 (default) or v0.4: ``latest`` (changed since the last
  run: ``update_seq`` above the cursor in ``publisher_cursors``, advanced in the transaction that
  records the publication, once the messages are queued, as APEL advances LastUpdated), ``gap``
  (``from < end_time <= to + 1 day``, APEL's rule, dates at 00:00 UTC) or ``all``.
- sync records on every run: jobs per (site, submit host, year, month) for every month, from the
  summaries, under the same filters as the rest (so they count what is published).

Filters: the sites (default all); ``include_vos`` or ``exclude_vos`` (not both; excluding keeps
rows without a VO); ``local_jobs`` (default off: only ``infrastructure_type = 'grid'``);
``withhold_dns`` (jobs and sync only: APEL refuses it with summaries, and so do we).

Records without a benchmark (``service_level`` NULL) are never sent: the server would store them
as ``custom`` / 1 and normalise them with a factor of 1. They are counted and reported
(:attr:`PublishResult.withheld_jobs`); once the benchmark is fixed (which changes the records'
``update_seq`` and their summaries), the next run sends them.

A record the writer refuses, or the server's rules reject, is set aside with the reason; the
rest of its message is built again without it and sent. The records set aside from one message
become one ``rejected`` row of the publication log (never queued), a structured log line and a
``batchacct_publisher_messages_rejected_total`` increment.

Every message holds the records of one site (the Kafka key is the site). Queued messages are
recorded after they are queued: a run that stops in between sends them again next time, which the
server's REPLACE makes harmless. One run at a time: a run holds a PostgreSQL advisory lock.
"""

from __future__ import annotations

import itertools
import logging
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TextIO

import psycopg
from confluent_kafka import Message as KafkaMessage
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

from batchacct import metrics, summaries
from batchacct.apel.formats import (
    JOB_V03,
    JOB_V04,
    NORMALISED_V03,
    NORMALISED_V04,
    SUMMARY_V02,
    SUMMARY_V04,
    SYNC_V01,
    Format,
)
from batchacct.apel.messages import Message, Row, job_messages, summary_messages, sync_messages
from batchacct.apel.outgoing import queue_messages
from batchacct.apel.reader import MessageError, read_message
from batchacct.kafka import TrackedProducer

log = logging.getLogger(__name__)

MODES = ("summaries", "jobs")
JOB_INTERVALS = ("latest", "gap", "all")
# --version: the summary message versions (v0.3 is the normalised summary's header).
SUMMARY_VERSIONS: dict[str, Format] = {
    "v0.2": SUMMARY_V02,
    "v0.4": SUMMARY_V04,
    "v0.3": NORMALISED_V03,
    "normalised-v0.3": NORMALISED_V03,
    "normalised-v0.4": NORMALISED_V04,
}
JOB_VERSIONS: dict[str, Format] = {"v0.3": JOB_V03, "v0.4": JOB_V04}
DEFAULT_VERSION = {"summaries": "v0.2", "jobs": "v0.3"}

DIRQ = "dirq"
KAFKA = "kafka"
DRY_RUN = "dry-run"
QUEUED = "queued"
REJECTED = "rejected"

# Rows read and turned into messages at a time (one site per chunk): bounds memory for `jobs all`.
CHUNK_ROWS = 10_000
# Kafka's default limits are about 1 MB; an APEL message may have 1,000,000 bytes of text plus its
# key. The broker checks the compressed batch, which is a fraction of that for APEL text.
KAFKA_MAX_MESSAGE_BYTES = 2_000_000
# One publisher run at a time, whatever runs it (the service, `batchacct publish`).
_RUN_LOCK = 4242002
# How long a `jobs latest` run waits for the job-record writers in progress to commit.
_LOCK_TIMEOUT = "60s"
_RECORD_INDEX = re.compile(r"record (\d+): ")

_JOB_COLUMNS = tuple(dict.fromkeys(f.column for f in (*JOB_V03.fields, *JOB_V04.fields)))
_SUMMARY_COLUMNS = (*summaries.KEY_COLUMNS, *summaries.MEASURE_COLUMNS)


class PublishError(ValueError):
    """Options that cannot be published as asked, or a run that cannot start; says why."""


@dataclass(frozen=True)
class PublishOptions:
    mode: str = "summaries"
    # None: v0.2 for summaries, v0.3 for jobs. Summaries: v0.2, v0.4, normalised-v0.3 (or
    # v0.3), normalised-v0.4. Jobs: v0.3, v0.4.
    version: str | None = None
    jobs: str = "latest"  # jobs mode: latest | gap | all
    gap_from: date | None = None
    gap_to: date | None = None
    sites: tuple[str, ...] = ()  # empty: every site
    include_vos: tuple[str, ...] = ()
    exclude_vos: tuple[str, ...] = ()
    local_jobs: bool = False
    withhold_dns: bool = False

    def checked(self) -> PublishOptions:
        """These options, or PublishError naming the first thing wrong with them."""
        if self.mode not in MODES:
            raise PublishError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        versions = SUMMARY_VERSIONS if self.mode == "summaries" else JOB_VERSIONS
        if self.version is not None and self.version not in versions:
            raise PublishError(
                f"{self.mode} are sent as {', '.join(versions)}, not {self.version!r}"
            )
        if self.include_vos and self.exclude_vos:
            raise PublishError("give include_vos or exclude_vos, not both (APEL takes one)")
        if self.withhold_dns and self.mode == "summaries":
            raise PublishError(
                "withhold_dns is allowed with jobs (and their sync records) only, not with "
                "summaries: APEL refuses it too"
            )
        if self.mode == "jobs" and self.jobs not in JOB_INTERVALS:
            raise PublishError(f"jobs must be one of {', '.join(JOB_INTERVALS)}, not {self.jobs!r}")
        gap_given = self.gap_from is not None or self.gap_to is not None
        if self.mode == "jobs" and self.jobs == "gap":
            if self.gap_from is None or self.gap_to is None:
                raise PublishError("jobs gap needs both dates: from and to (YYYY-MM-DD)")
            if self.gap_from > self.gap_to:
                raise PublishError(
                    f"the gap's from ({self.gap_from}) is after its to ({self.gap_to})"
                )
        elif gap_given:
            raise PublishError("from and to dates apply to jobs gap only")
        return self

    @property
    def message_format(self) -> Format:
        version = self.version or DEFAULT_VERSION[self.mode]
        return (SUMMARY_VERSIONS if self.mode == "summaries" else JOB_VERSIONS)[version]

    @property
    def cursor_name(self) -> str:
        """The ``publisher_cursors`` row of ``jobs latest``: one per selection of sites."""
        return "jobs" if not self.sites else "jobs:" + ",".join(sorted(set(self.sites)))


@dataclass(frozen=True)
class Publication:
    """One row of the publication log: a message (or the records set aside from one) and where
    it went."""

    kind: str
    header: str
    destination: str  # dirq | kafka | dry-run
    message_id: str | None  # dirq element name, or topic/partition/offset
    records: int
    bytes: int
    sites: tuple[str, ...]
    months: tuple[str, ...]  # YYYY-MM
    status: str  # queued | rejected
    error: str | None = None


@dataclass
class PublishResult:
    run_id: str
    dry_run: bool
    publications: list[Publication] = field(default_factory=list)
    # Jobs without a benchmark in what this run selected: not sent.
    withheld_jobs: int = 0
    # jobs latest: the update_seq range (after, up to] this run covered.
    cursor: tuple[int, int] | None = None

    @property
    def queued(self) -> list[Publication]:
        return [p for p in self.publications if p.status == QUEUED]

    @property
    def rejected(self) -> list[Publication]:
        return [p for p in self.publications if p.status == REJECTED]

    def report(self) -> list[str]:
        """What the run did, for people: one line per destination and kind, then problems."""
        lines: list[str] = []
        sent: Counter[tuple[str, str]] = Counter()
        records: Counter[tuple[str, str]] = Counter()
        for p in self.queued:
            sent[p.destination, p.kind] += 1
            records[p.destination, p.kind] += p.records
        for destination, kind in sorted(sent):
            n = sent[destination, kind]
            lines.append(
                f"{destination}: {n} {kind} message{'s' if n != 1 else ''}"
                f" ({records[destination, kind]} records)"
            )
        if not sent:
            lines.append("nothing to send")
        seen: set[tuple[str, str | None]] = set()
        for p in self.rejected:
            if (p.kind, p.error) in seen:
                continue
            seen.add((p.kind, p.error))
            lines.append(
                f"rejected: {p.records} {p.kind} record{'s' if p.records != 1 else ''}"
                f" ({', '.join(p.sites)} {', '.join(p.months)}): {p.error}"
            )
        if self.withheld_jobs:
            lines.append(
                f"withheld: {self.withheld_jobs} jobs without a benchmark (see 'batchacct"
                " benchmarks missing'; once benchmarked and renormalised, the next run sends them)"
            )
        return lines


class KafkaOutput:
    """Messages to a Kafka topic: value = the APEL text, key = the site."""

    def __init__(self, config: dict[str, str], topic: str) -> None:
        self.topic = topic
        self._producer = TrackedProducer(
            config, **{"message.max.bytes": KAFKA_MAX_MESSAGE_BYTES, "linger.ms": 5}
        )

    def send(self, site: str, text: str, on_delivered: Callable[[str], None]) -> None:
        """Produce one message; ``on_delivered`` gets its ``topic/partition/offset``."""

        def delivered(msg: KafkaMessage) -> None:
            on_delivered(f"{msg.topic()}/{msg.partition()}/{msg.offset()}")

        self._producer.produce(self.topic, site.encode(), text.encode("utf-8"), delivered)
        self._producer.poll()

    def flush(self, timeout: float = 60.0) -> None:
        """Wait for every acknowledgement; DeliveryFailed if one message was not delivered."""
        self._producer.flush_or_raise(timeout)


@dataclass
class Outputs:
    """Where messages go: the SSM outgoing queue, Kafka, both; or stdout instead (dry run)."""

    outgoing: Path | None = None
    kafka: KafkaOutput | None = None
    dry_run: TextIO | None = None
    fsync: bool = True

    def destinations(self) -> tuple[str, ...]:
        if self.dry_run is not None:
            return (DRY_RUN,)
        named = ((DIRQ, self.outgoing), (KAFKA, self.kafka))
        return tuple(name for name, target in named if target is not None)


def month_text(text: str) -> tuple[int, int]:
    """``YYYY-MM`` as (year, month); ValueError otherwise."""
    match = re.fullmatch(r"([0-9]{4})-([0-9]{2})", text.strip())
    if match is None or not 1 <= int(match[2]) <= 12:
        raise ValueError(f"not a month (YYYY-MM): {text!r}")
    return int(match[1]), int(match[2])


def current_and_previous_month(now: datetime) -> list[tuple[int, int]]:
    """(year, month) of the month before ``now``'s and of ``now``'s, in UTC."""
    current = now.astimezone(UTC)
    year, month = current.year, current.month
    previous = (year - 1, 12) if month == 1 else (year, month - 1)
    return [previous, (year, month)]


def publish(
    conn: psycopg.Connection[Any],
    options: PublishOptions,
    outputs: Outputs,
    *,
    now: datetime | None = None,
    run_id: str | None = None,
) -> PublishResult:
    """One publisher run with ``options`` (see the module docstring). ``conn`` must be idle."""
    options = options.checked()
    now = _aware(now)
    periods = current_and_previous_month(now) if options.mode == "summaries" else None
    return _Run(conn, options, outputs, now, run_id).execute(periods, sync_periods=None)


def publish_month(
    conn: psycopg.Connection[Any],
    site: str,
    year: int,
    month: int,
    outputs: Outputs,
    *,
    options: PublishOptions | None = None,
    now: datetime | None = None,
    run_id: str | None = None,
) -> PublishResult:
    """Send one whole month of one site again: its summaries and its sync records.

    ``options`` gives the version and filters (its mode and sites are ignored). A month after
    ``now``'s is refused: the server rejects summaries of future months.
    """
    now = _aware(now)
    if not 1 <= month <= 12:
        raise PublishError(f"month must be 1..12, not {month}")
    if (year, month) > (now.astimezone(UTC).year, now.astimezone(UTC).month):
        raise PublishError(f"{year}-{month:02d} has not begun yet: nothing to publish")
    options = replace(options or PublishOptions(), mode="summaries", sites=(site,)).checked()
    run = _Run(conn, options, outputs, now, run_id)
    return run.execute([(year, month)], sync_periods=[(year, month)])


def _aware(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now


# --- Selection ----------------------------------------------------------------------------------


class _Conditions:
    """AND-ed SQL conditions (fixed text from this module) and their parameters."""

    def __init__(self) -> None:
        self.parts: list[sql.Composable] = []
        self.params: list[Any] = []

    def add(self, condition: str, *params: Any) -> _Conditions:
        self.parts.append(sql.SQL(condition))
        self.params.extend(params)
        return self

    def periods(self, periods: Sequence[tuple[int, int]] | None) -> _Conditions:
        if periods is not None:
            either = " OR ".join("(year = %s AND month = %s)" for _ in periods)
            self.add(f"({either or 'false'})", *itertools.chain.from_iterable(periods))
        return self

    def copy(self) -> _Conditions:
        other = _Conditions()
        other.parts, other.params = list(self.parts), list(self.params)
        return other

    def clause(self) -> sql.Composable:
        return sql.SQL(" AND ").join(self.parts) if self.parts else sql.SQL("true")


def _filters(options: PublishOptions) -> _Conditions:
    """The conditions every selection shares (the summaries and job_records columns agree)."""
    where = _Conditions()
    if options.sites:
        where.add("site = ANY(%s)", list(options.sites))
    if not options.local_jobs:
        where.add("infrastructure_type = 'grid'")
    if options.include_vos:
        where.add("vo = ANY(%s)", list(options.include_vos))
    if options.exclude_vos:
        where.add("(vo IS NULL OR NOT vo = ANY(%s))", list(options.exclude_vos))
    return where


def _select(columns: Sequence[str], table: str, where: _Conditions, order: str) -> sql.Composed:
    return sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {}").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.Identifier(table),
        where.clause(),
        sql.SQL(order),
    )


_SYNC_QUERY = """
SELECT site, submit_host, sum(number_of_jobs)::bigint AS number_of_jobs, year, month
FROM summaries WHERE {}
GROUP BY site, submit_host, year, month
ORDER BY site, year, month, submit_host NULLS FIRST
"""


def _site_chunks(
    conn: psycopg.Connection[Any], query: sql.Composed, params: Sequence[Any]
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The query's rows (ordered by site first) in chunks of one site and <= CHUNK_ROWS rows."""
    with conn.cursor(name=f"publisher_{uuid.uuid4().hex[:8]}", row_factory=dict_row) as cur:
        cur.itersize = 2000
        cur.execute(query, params)
        chunk: list[dict[str, Any]] = []
        for row in cur:
            if chunk and (row["site"] != chunk[0]["site"] or len(chunk) >= CHUNK_ROWS):
                yield chunk[0]["site"], chunk
                chunk = []
            chunk.append(row)
        if chunk:
            yield chunk[0]["site"], chunk


# --- Messages checked with the server's rules ---------------------------------------------------


@dataclass
class _SetAside:
    """Records of one message (or chunk) that the writer refused or the server would reject."""

    rows: list[Row] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def add(self, row: Row, reason: str) -> None:
        self.rows.append(row)
        self.reasons.append(reason)


Builder = Callable[[Sequence[Row]], list[Message]]


def checked_messages(
    build: Builder, rows: Sequence[Row], now: datetime
) -> tuple[list[Message], list[_SetAside]]:
    """``build(rows)``, but every message valid by the server's rules (`read_message` at ``now``).

    A row the writer refuses (ValueError "record N: ...") or the reader rejects is set aside with
    the reason, and its message is built again without it. Returns the messages and, per message
    that lost records (and for the rows the writer refused), what was set aside.
    """
    built, refused = _build_skipping(build, rows)
    messages: list[Message] = []
    set_aside = [refused] if refused.rows else []
    for message, message_rows in built:
        lost = _SetAside()
        current: Message | None = message
        while current is not None:
            try:
                read_message(current.text, now=now)
            except MessageError as error:
                index = _record_index(error.reason)
                if index is None or index >= len(message_rows):
                    for row in message_rows:
                        lost.add(row, error.reason)
                    current = None
                    break
                lost.add(message_rows.pop(index), _without_index(error.reason))
                # Fewer rows than a message held still fit in one message.
                current = build(message_rows)[0] if message_rows else None
                continue
            messages.append(current)
            break
        if lost.rows:
            set_aside.append(lost)
    return messages, set_aside


def _build_skipping(
    build: Builder, rows: Sequence[Row]
) -> tuple[list[tuple[Message, list[Row]]], _SetAside]:
    """Messages with their rows; rows the writer refuses are left out and returned."""
    out: list[tuple[Message, list[Row]]] = []
    refused = _SetAside()
    start = 0
    while start < len(rows):
        rest = rows[start:]
        try:
            messages = build(rest)
        except ValueError as error:
            index = _record_index(str(error))
            if index is None:
                raise
            out.extend(_with_rows(build(rest[:index]) if index else [], rest[:index]))
            refused.add(rest[index], _without_index(str(error)))
            start += index + 1
            continue
        out.extend(_with_rows(messages, rest))
        break
    return out, refused


def _with_rows(messages: list[Message], rows: Sequence[Row]) -> list[tuple[Message, list[Row]]]:
    out = []
    offset = 0
    for message in messages:
        out.append((message, list(rows[offset : offset + message.records])))
        offset += message.records
    return out


def _record_index(reason: str) -> int | None:
    match = _RECORD_INDEX.match(reason)
    return int(match[1]) if match else None


def _without_index(reason: str) -> str:
    return _RECORD_INDEX.sub("", reason, count=1)


def _month_of_row(row: Row) -> str:
    if "year" in row and "month" in row:
        return f"{int(row['year']):04d}-{int(row['month']):02d}"
    end = row["end_time"].astimezone(UTC)
    return f"{end.year:04d}-{end.month:02d}"


# --- A run --------------------------------------------------------------------------------------


class _Run:
    def __init__(
        self,
        conn: psycopg.Connection[Any],
        options: PublishOptions,
        outputs: Outputs,
        now: datetime,
        run_id: str | None,
    ) -> None:
        if conn.info.transaction_status != TransactionStatus.IDLE:
            raise PublishError(
                "the connection is inside a transaction; give the publisher an idle one"
            )
        self.destinations = outputs.destinations()
        if not self.destinations:
            raise PublishError("nowhere to publish: give an outgoing directory, Kafka, or dry run")
        self.conn = conn
        self.options = options
        self.outputs = outputs
        self.now = now
        self.dry_run = outputs.dry_run is not None
        self.result = PublishResult(
            run_id=run_id or f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}",
            dry_run=self.dry_run,
        )
        self._kafka_ids: dict[int, str] = {}

    def execute(
        self,
        periods: Sequence[tuple[int, int]] | None,
        *,
        sync_periods: Sequence[tuple[int, int]] | None,
    ) -> PublishResult:
        conn = self.conn
        with conn.transaction():
            locked = conn.execute("SELECT pg_try_advisory_lock(%s)", (_RUN_LOCK,)).fetchone()
        if not locked or not locked[0]:
            raise PublishError("another publisher run is in progress; try again when it is done")
        try:
            return self._execute(periods, sync_periods)
        finally:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_unlock(%s)", (_RUN_LOCK,))

    def _execute(
        self,
        periods: Sequence[tuple[int, int]] | None,
        sync_periods: Sequence[tuple[int, int]] | None,
    ) -> PublishResult:
        options, conn = self.options, self.conn
        jobs_window = _Conditions()
        if options.mode == "jobs":
            jobs_window = self._jobs_window()
        summaries.refresh(conn)
        where = _filters(options)
        with conn.transaction():
            # One snapshot: the sync records count exactly the summaries this run reads.
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            if options.mode == "summaries":
                self._send_summaries(where, periods)
                withheld = self._withheld_summary_jobs(where, periods)
            else:
                self._send_jobs(where, jobs_window)
                withheld = self._withheld_job_records(where, jobs_window)
            self._send_sync(where, sync_periods)
        self.result.withheld_jobs = withheld
        if self.outputs.kafka is not None and not self.dry_run:
            self.outputs.kafka.flush()
            self.result.publications = [
                replace(p, message_id=self._kafka_ids[i])
                if p.destination == KAFKA and p.status == QUEUED
                else p
                for i, p in enumerate(self.result.publications)
            ]
        if not self.dry_run:
            self._record()
            metrics.PUBLISHER_WITHHELD_JOBS.set(withheld)
        log.info(
            "publisher run done",
            extra={
                "run_id": self.result.run_id,
                "mode": options.mode,
                "dry_run": self.dry_run,
                "queued": len(self.result.queued),
                "rejected": len(self.result.rejected),
                "withheld_jobs": withheld,
                "cursor": self.result.cursor,
            },
        )
        if withheld:
            log.warning(
                "jobs without a benchmark withheld",
                extra={"run_id": self.result.run_id, "jobs": withheld},
            )
        return self.result

    # --- what is selected

    def _jobs_window(self) -> _Conditions:
        options, conn = self.options, self.conn
        window = _Conditions()
        if options.jobs == "gap":
            if options.gap_from is None or options.gap_to is None:
                raise PublishError("jobs gap needs both dates: from and to (YYYY-MM-DD)")
            gap_start = datetime.combine(options.gap_from, time(), UTC)
            gap_end = datetime.combine(options.gap_to, time(), UTC) + timedelta(days=1)
            return window.add("end_time > %s AND end_time <= %s", gap_start, gap_end)
        if options.jobs == "all":
            return window
        with conn.transaction():
            conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(_LOCK_TIMEOUT)))
            # Waits for the writers in progress; then every update_seq up to the maximum is
            # committed, and later ones will be larger (taken by later transactions).
            conn.execute("LOCK TABLE job_records IN SHARE MODE")
            row = conn.execute("SELECT coalesce(max(update_seq), 0) FROM job_records").fetchone()
            up_to = int(row[0]) if row else 0
            cursor_row = conn.execute(
                "SELECT update_seq FROM publisher_cursors WHERE name = %s", (options.cursor_name,)
            ).fetchone()
        after = int(cursor_row[0]) if cursor_row else 0
        self.result.cursor = (after, max(after, up_to))
        return window.add("update_seq > %s AND update_seq <= %s", after, up_to)

    def _send_summaries(
        self, where: _Conditions, periods: Sequence[tuple[int, int]] | None
    ) -> None:
        fmt = self.options.message_format
        query = where.copy().periods(periods).add("service_level IS NOT NULL")
        select = _select(
            _SUMMARY_COLUMNS,
            "summaries",
            query,
            "site, year, month, vo NULLS FIRST, global_user_name NULLS FIRST, group_key",
        )
        normalised = fmt.kind == "normalised-summary"

        def build(rows: Sequence[Row]) -> list[Message]:
            return summary_messages(rows, version=fmt.version, normalised=normalised)

        for site, rows in _site_chunks(self.conn, select, query.params):
            self._emit(fmt, build, site, rows)

    def _send_jobs(self, where: _Conditions, window: _Conditions) -> None:
        options = self.options
        fmt = options.message_format
        query = where.copy()
        query.parts += window.parts
        query.params += window.params
        query.add("service_level IS NOT NULL")
        order = "site, update_seq" if options.jobs == "latest" else "site, end_time, local_job_id"
        select = _select(_JOB_COLUMNS, "job_records", query, order)

        def build(rows: Sequence[Row]) -> list[Message]:
            return job_messages(rows, version=fmt.version, withhold_dns=options.withhold_dns)

        for site, rows in _site_chunks(self.conn, select, query.params):
            self._emit(fmt, build, site, rows)

    def _send_sync(self, where: _Conditions, periods: Sequence[tuple[int, int]] | None) -> None:
        query = where.copy().periods(periods).add("service_level IS NOT NULL")
        select = sql.SQL(_SYNC_QUERY).format(query.clause())
        withhold = self.options.withhold_dns

        def build(rows: Sequence[Row]) -> list[Message]:
            return sync_messages(rows, withhold_dns=withhold)

        for site, rows in _site_chunks(self.conn, select, query.params):
            self._emit(SYNC_V01, build, site, rows)

    def _withheld_summary_jobs(
        self, where: _Conditions, periods: Sequence[tuple[int, int]] | None
    ) -> int:
        query = where.copy().periods(periods).add("service_level IS NULL")
        row = self.conn.execute(
            sql.SQL("SELECT coalesce(sum(number_of_jobs), 0) FROM summaries WHERE {}").format(
                query.clause()
            ),
            query.params,
        ).fetchone()
        return int(row[0]) if row else 0

    def _withheld_job_records(self, where: _Conditions, window: _Conditions) -> int:
        query = where.copy()
        query.parts += window.parts
        query.params += window.params
        query.add("service_level IS NULL")
        row = self.conn.execute(
            sql.SQL("SELECT count(*) FROM job_records WHERE {}").format(query.clause()),
            query.params,
        ).fetchone()
        return int(row[0]) if row else 0

    # --- what is done with the messages

    def _emit(self, fmt: Format, build: Builder, site: str, rows: Sequence[Row]) -> None:
        messages, set_aside = checked_messages(build, rows, self.now)
        for lost in set_aside:
            self._reject(fmt, site, lost)
        if not messages:
            return
        outputs = self.outputs
        if outputs.dry_run is not None:
            for message in messages:
                outputs.dry_run.write(message.text + "\n")
                self._log_queued(message, DRY_RUN, None)
            return
        if outputs.outgoing is not None:
            names = queue_messages(outputs.outgoing, messages, fsync=outputs.fsync)
            for message, name in zip(messages, names, strict=True):
                self._log_queued(message, DIRQ, name)
        if outputs.kafka is not None:
            for message in messages:
                index = len(self.result.publications)
                self._log_queued(message, KAFKA, None)
                outputs.kafka.send(site, message.text, partial(self._kafka_ids.__setitem__, index))

    def _log_queued(self, message: Message, destination: str, message_id: str | None) -> None:
        self.result.publications.append(
            Publication(
                kind=message.kind,
                header=message.header,
                destination=destination,
                message_id=message_id,
                records=message.records,
                bytes=message.size,
                sites=tuple(sorted({site for site, _, _ in message.periods})),
                months=tuple(sorted({f"{y:04d}-{m:02d}" for _, y, m in message.periods})),
                status=QUEUED,
            )
        )
        if destination != DRY_RUN:
            metrics.PUBLISHER_MESSAGES.labels(message.kind, destination).inc()
            if destination == self.destinations[0]:
                metrics.PUBLISHER_RECORDS.labels(message.kind).inc(message.records)

    def _reject(self, fmt: Format, site: str, lost: _SetAside) -> None:
        reasons = list(dict.fromkeys(lost.reasons))
        error = "; ".join(reasons[:3]) + (
            f" (and {len(reasons) - 3} more)" if len(reasons) > 3 else ""
        )
        months = tuple(sorted({_month_of_row(row) for row in lost.rows}))
        for destination in self.destinations:
            self.result.publications.append(
                Publication(
                    kind=fmt.kind,
                    header=fmt.header,
                    destination=destination,
                    message_id=None,
                    records=len(lost.rows),
                    bytes=0,
                    sites=(site,),
                    months=months,
                    status=REJECTED,
                    error=error,
                )
            )
        log.warning(
            "records the APEL server would reject were not sent",
            extra={
                "run_id": self.result.run_id,
                "kind": fmt.kind,
                "site": site,
                "months": months,
                "records": len(lost.rows),
                "error": error,
                "local_job_ids": [row.get("local_job_id") for row in lost.rows[:10]]
                if fmt.kind == "job"
                else None,
            },
        )
        if not self.dry_run:
            metrics.PUBLISHER_REJECTED.labels(fmt.kind).inc()
            metrics.PUBLISHER_REJECTED_RECORDS.labels(fmt.kind).inc(len(lost.rows))

    def _record(self) -> None:
        """The publication log and the jobs cursor, in one transaction."""
        rows = [
            (
                self.result.run_id,
                p.kind,
                p.header,
                p.destination,
                p.message_id,
                p.records,
                p.bytes,
                list(p.sites),
                list(p.months),
                p.status,
                p.error,
            )
            for p in self.result.publications
        ]
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO publications (run_id, kind, header, destination, message_id, records,"
                " bytes, sites, months, status, error)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )
            if self.result.cursor is not None:
                cur.execute(
                    "INSERT INTO publisher_cursors (name, update_seq) VALUES (%s, %s)"
                    " ON CONFLICT (name) DO UPDATE SET"
                    " update_seq = GREATEST(publisher_cursors.update_seq, excluded.update_seq),"
                    " updated_at = now()",
                    (self.options.cursor_name, self.result.cursor[1]),
                )

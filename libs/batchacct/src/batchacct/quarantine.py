"""The quarantine: rejected entries, listed, shown, and retried after a fix.

A retry parses each stored entry again the way its collector did (same format, site and batch
host, and the file's first line for formats that need it), with the options given now: after a
parser upgrade or a corrected time zone, lines that now parse are produced to the event topics
like any other, acknowledged by the broker, and only then leave the quarantine. Lines that still
fail stay, with the new reason and a retry count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from batchacct.avro import Codec
from batchacct.errors import Rejection
from batchacct.kafka import TrackedProducer
from batchacct.parsers import (
    FORMATS,
    LineParser,
    ParserConfig,
    is_file_aware,
    is_grouped,
    make_parser,
    parse_line,
)
from batchacct.settings import CommonSettings

LIST_COLUMNS = ("id", "source_format", "site", "file", "line", "reason", "detail", "received_at")
RETRY_BATCH = 5000


@dataclass(frozen=True)
class QuarantineFilter:
    reason: str | None = None
    site: str | None = None
    source_format: str | None = None
    since: datetime | None = None
    ids: tuple[int, ...] = ()

    def where(self) -> tuple[sql.Composable, list[Any]]:
        parts: list[sql.Composable] = []
        params: list[Any] = []
        for column, value in (
            ("reason", self.reason),
            ("site", self.site),
            ("source_format", self.source_format),
        ):
            if value is not None:
                parts.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
                params.append(value)
        if self.since is not None:
            parts.append(sql.SQL("received_at >= %s"))
            params.append(self.since)
        if self.ids:
            parts.append(sql.SQL("id = ANY(%s)"))
            params.append(list(self.ids))
        if not parts:
            return sql.SQL(""), params
        return sql.SQL("WHERE ") + sql.SQL(" AND ").join(parts), params


def list_entries(
    conn: psycopg.Connection, where: QuarantineFilter, limit: int = 100
) -> list[dict[str, Any]]:
    clause, params = where.where()
    query = sql.SQL("SELECT {} FROM quarantine {} ORDER BY id LIMIT %s").format(
        sql.SQL(", ").join(map(sql.Identifier, LIST_COLUMNS)), clause
    )
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, [*params, limit]).fetchall()


def count_by_reason(conn: psycopg.Connection, where: QuarantineFilter) -> dict[str, int]:
    clause, params = where.where()
    query = sql.SQL(
        "SELECT reason, count(*) FROM quarantine {} GROUP BY reason ORDER BY reason"
    ).format(clause)
    return dict(conn.execute(query, params).fetchall())


def show_entry(conn: psycopg.Connection, entry_id: int) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM quarantine WHERE id = %s", (entry_id,)).fetchone()


@dataclass
class RetryOutcome:
    released: int = 0  # now parsed (records produced) or now ignored: left the quarantine
    records: int = 0
    still_rejected: Counter[str] = field(default_factory=Counter)
    not_retryable: int = 0  # entries of no parser format (undecodable Kafka messages)


def retry(
    settings: CommonSettings,
    conn: psycopg.Connection,
    producer: TrackedProducer,
    where: QuarantineFilter,
    config_for: Callable[[str, str], ParserConfig],
) -> RetryOutcome:
    """Parse every matching entry again and release those that now parse.

    ``config_for(site, machine_name)`` gives the parser configuration to use now.
    """
    outcome = RetryOutcome()
    codec = Codec()
    topics = {"batch": settings.batch_topic, "ce": settings.ce_topic}
    parsers: dict[tuple[str, str, str], LineParser] = {}
    for rows in _batches(conn, where):
        released: list[int] = []
        failed: list[tuple[str, str, int]] = []
        for row in rows:
            if row["source_format"] not in FORMATS:
                outcome.not_retryable += 1
                continue
            key = (row["source_format"], row["site"], row["machine_name"])
            parser = parsers.get(key)
            if parser is None:
                config = config_for(row["site"], row["machine_name"])
                parser = make_parser(row["source_format"], replace(config, site=row["site"]))
                parsers[key] = parser
            if is_file_aware(parser) and row["file_context"] is not None:
                parser.begin_file(row["file_context"])
            raw = row["raw"].encode("utf-8", "surrogateescape")
            if not is_grouped(parser):
                raw = raw.rstrip(b"\r\n")
            result = parse_line(parser, raw, row["file"], row["line"])
            if isinstance(result, Rejection):
                failed.append((result.reason, result.detail, row["id"]))
                outcome.still_rejected[result.reason] += 1
                continue
            records = () if result is None else result if isinstance(result, tuple) else (result,)
            for record in records:
                producer.produce(
                    topics[record.kind], record.key.encode(), codec.encode_record(record)
                )
                outcome.records += 1
            released.append(row["id"])
        producer.poll()
        producer.flush_or_raise()
        with conn.transaction():
            if released:
                conn.execute("DELETE FROM quarantine WHERE id = ANY(%s)", (released,))
            if failed:
                with conn.cursor() as cur:
                    cur.executemany(
                        "UPDATE quarantine SET reason = %s, detail = %s, retries = retries + 1,"
                        " last_retry_at = now() WHERE id = %s",
                        failed,
                    )
        outcome.released += len(released)
    return outcome


def _batches(conn: psycopg.Connection, where: QuarantineFilter) -> Iterator[list[dict[str, Any]]]:
    clause, params = where.where()
    last_id = 0
    while True:
        extra = sql.SQL(" AND id > %s") if params else sql.SQL("WHERE id > %s")
        query = sql.SQL(
            "SELECT id, source_format, site, machine_name, file, line, raw, file_context"
            " FROM quarantine {}{} ORDER BY id LIMIT %s"
        ).format(clause, extra)
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(query, [*params, last_id, RETRY_BATCH]).fetchall()
        if not rows:
            return
        yield rows
        last_id = rows[-1]["id"]

"""The join: both halves of a job into one job record, in one transaction per batch.

Cost is proportional to the batch, never to the history: staged events are upserted by natural
key, and only the (site, job id) pairs the batch touched are looked up, by primary-key prefix.

Join rule (APEL's, made configurable): same site, CE ``lrms_id`` equal to the batch
``local_job_id``, and batch ``end_time`` within [CE timestamp - before, CE timestamp + after).
Several candidates: the CE event whose timestamp is nearest the job's end. A batch event with no
CE event yet is a ``local`` job record, upgraded to ``grid`` when its CE event arrives.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from operator import itemgetter
from typing import Any

import psycopg

from batchacct import accounts, benchmarks

log = logging.getLogger(__name__)

# Joiners on other partitions update the same summary and rollup rows, so PostgreSQL may abort
# one of two transactions that wait on each other; the batch is then applied again (idempotent).
RETRYABLE_ERRORS = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
ATTEMPTS = 5

BATCH_COLUMNS = (
    "site",
    "local_job_id",
    "end_time",
    "machine_name",
    "start_time",
    "wall_duration",
    "cpu_duration",
    "local_user_id",
    "local_user_group",
    "queue",
    "account",
    "submit_time",
    "processors",
    "node_count",
    "exec_hosts",
    "memory_real",
    "memory_virtual",
    "exit_status",
    "from_host",
    "infrastructure_description",
    "host_factor",
    "source_format",
    "source_file",
    "source_line",
    "machine_specs",
)
CE_COLUMNS = (
    "site",
    "lrms_id",
    "timestamp",
    "submit_host",
    "global_user_name",
    "fqan",
    "fqans",
    "vo",
    "vo_group",
    "vo_role",
    "grid_job_id",
    "local_user",
    "source_format",
    "source_file",
    "source_line",
)
_TIME_COLUMNS = {"end_time", "start_time", "submit_time", "timestamp"}

# Staging tables hold times as epoch milliseconds, exactly as they come off the wire.
_STAGE_TYPES = {
    "wall_duration": "bigint",
    "cpu_duration": "bigint",
    "processors": "integer",
    "node_count": "integer",
    "exec_hosts": "text[]",
    "memory_real": "bigint",
    "memory_virtual": "bigint",
    "exit_status": "integer",
    "host_factor": "double precision",
    "source_line": "integer",
    "fqans": "text[]",
    "machine_specs": "jsonb",
}


def _stage_ddl(name: str, columns: tuple[str, ...]) -> str:
    cols = ", ".join(
        f'"{c}" {"bigint" if c in _TIME_COLUMNS else _STAGE_TYPES.get(c, "text")}' for c in columns
    )
    return f"CREATE TEMP TABLE IF NOT EXISTS {name} ({cols}) ON COMMIT DELETE ROWS"


def _ts(column: str) -> str:
    return f'to_timestamp("{column}" / 1000.0)'


def _staged(column: str) -> str:
    if column in _TIME_COLUMNS:
        return _ts(column)
    if column == "submit_host":
        return "COALESCE(submit_host, '')"  # part of the CE event key, so never NULL
    return f'"{column}"'


def _select_staged(columns: tuple[str, ...]) -> str:
    return ", ".join(_staged(c) for c in columns)


_INSERT_BATCH = f"""
INSERT INTO batch_events ({", ".join(BATCH_COLUMNS)})
SELECT DISTINCT ON (site, local_job_id, end_time, machine_name) {_select_staged(BATCH_COLUMNS)}
FROM stage_batch
ON CONFLICT DO NOTHING
"""

_INSERT_CE = f"""
INSERT INTO ce_events ({", ".join(f'"{c}"' for c in CE_COLUMNS)})
SELECT DISTINCT ON (site, lrms_id, "timestamp", COALESCE(submit_host, ''))
    {_select_staged(CE_COLUMNS)}
FROM stage_ce
ON CONFLICT DO NOTHING
"""

_RECORD_COLUMNS = (
    "site",
    "local_job_id",
    "end_time",
    "machine_name",
    "submit_host",
    "queue",
    "local_user_id",
    "local_user_group",
    "global_user_name",
    "fqan",
    "fqans",
    "vo",
    "vo_group",
    "vo_role",
    "wall_duration",
    "cpu_duration",
    "processors",
    "node_count",
    "start_time",
    "infrastructure_description",
    "infrastructure_type",
    "memory_real",
    "memory_virtual",
    "exec_hosts",
    "account",
    "exit_status",
    "submit_time",
    "from_host",
    "grid_job_id",
    "host_factor",
    "machine_specs",
    "service_level_type",
    "service_level",
    "normalised_wall_duration",
    "normalised_cpu_duration",
    "account_valid",
    "ce_timestamp",
    "source_format",
    "source_file",
    "source_line",
)
_UPDATED_ON_CONFLICT = [
    c for c in _RECORD_COLUMNS if c not in ("site", "local_job_id", "end_time", "machine_name")
]

# What decides whether a stored record changes: the CE event it joined with, its VO, its
# benchmark and its account's validity. (Its batch half never changes: batch events are keyed
# by the record's own key.)
_CHANGE_COLUMNS = (
    "infrastructure_type",
    "ce_timestamp",
    "submit_host",
    "vo",
    "service_level_type",
    "service_level",
    "account_valid",
)

# The job's columns, as the benchmark resolution and the account validation name them.
_BENCHMARK_INPUTS = {
    "site": "b.site",
    "end_time": "b.end_time",
    "exec_host": "b.exec_hosts[1]",
    "submit_host": "c.submit_host",
    "machine_name": "b.machine_name",
    "source_format": "b.source_format",
    "host_factor": "b.host_factor",
    "machine_specs": "b.machine_specs",
}

_ACCOUNT_INPUTS = {
    "site": "b.site",
    "local_user_id": "b.local_user_id",
    "local_user_group": "b.local_user_group",
    "account": "b.account",
}

_JOIN_TEMPLATE = f"""
WITH keys AS (
    SELECT site, local_job_id FROM stage_batch
    UNION
    SELECT site, lrms_id FROM stage_ce
),
joined AS (
    SELECT b.site, b.local_job_id, b.end_time, b.machine_name,
           c.submit_host, b.queue, b.local_user_id, b.local_user_group,
           c.global_user_name, c.fqan, COALESCE(c.fqans, '{{}}') AS fqans,
           CASE WHEN c.lrms_id IS NOT NULL THEN c.vo
                ELSE COALESCE(mg.vo, ma.vo, b.local_user_group) END AS vo,
           c.vo_group, c.vo_role,
           b.wall_duration, b.cpu_duration, b.processors, b.node_count, b.start_time,
           b.infrastructure_description,
           CASE WHEN c.lrms_id IS NOT NULL THEN 'grid' ELSE 'local' END AS infrastructure_type,
           b.memory_real, b.memory_virtual, b.exec_hosts, b.account, b.exit_status,
           b.submit_time, b.from_host, c.grid_job_id, b.host_factor, b.machine_specs,
           bm.service_level_type, bm.service_level,
           {benchmarks.normalised_sql("b.wall_duration")} AS normalised_wall_duration,
           {benchmarks.normalised_sql("b.cpu_duration")} AS normalised_cpu_duration,
           av.account_valid,
           c."timestamp" AS ce_timestamp,
           b.source_format, b.source_file, b.source_line,
           (c.lrms_id IS NULL AND mg.vo IS NULL AND ma.vo IS NULL) AS vo_unmapped,
           p.infrastructure_type AS previous_type,
           {", ".join(f"p.{c} AS p_{c}" for c in _CHANGE_COLUMNS)}
    FROM keys k
    -- "OFFSET 0" keeps each lookup a primary-key probe per key: flattened into a plain join,
    -- the planner may merge-join the whole table, and the cost would grow with history.
    CROSS JOIN LATERAL (
        SELECT * FROM batch_events b0
        WHERE b0.site = k.site AND b0.local_job_id = k.local_job_id
        OFFSET 0
    ) b
    LEFT JOIN LATERAL (
        SELECT * FROM ce_events c
        WHERE c.site = b.site AND c.lrms_id = b.local_job_id
          AND b.end_time >= c."timestamp" - %(before)s
          AND b.end_time < c."timestamp" + %(after)s
        ORDER BY abs(extract(epoch FROM b.end_time - c."timestamp")), c."timestamp", c.submit_host
        LIMIT 1
    ) c ON true
    LEFT JOIN vo_map mg ON mg.name = b.local_user_group
    LEFT JOIN vo_map ma ON ma.name = b.account
    __BENCHMARK__
    __ACCOUNT_VALID__
    -- The record as it was before this batch (same snapshot): for the outcome counts, and to
    -- write only what changes.
    LEFT JOIN LATERAL (
        SELECT {", ".join(f"j0.{c}" for c in _CHANGE_COLUMNS)}
        FROM job_records j0
        WHERE j0.site = b.site AND j0.local_job_id = b.local_job_id
          AND j0.end_time = b.end_time AND j0.machine_name = b.machine_name
        OFFSET 0
    ) p ON true
),
computed AS (
    -- Only new or changed records are written (the upsert's WHERE says the same).
    SELECT * FROM joined
    WHERE previous_type IS NULL
       OR ({", ".join(f"p_{c}" for c in _CHANGE_COLUMNS)})
          IS DISTINCT FROM ({", ".join(_CHANGE_COLUMNS)})
),
upserted AS (
    INSERT INTO job_records ({", ".join(_RECORD_COLUMNS)})
    SELECT {", ".join(_RECORD_COLUMNS)} FROM computed
    ON CONFLICT (site, local_job_id, end_time, machine_name) DO UPDATE SET
        {", ".join(f"{c} = excluded.{c}" for c in _UPDATED_ON_CONFLICT)},
        update_seq = nextval('job_records_update_seq'),
        updated_at = now()
    WHERE ({", ".join(f"job_records.{c}" for c in _CHANGE_COLUMNS)})
          IS DISTINCT FROM ({", ".join(f"excluded.{c}" for c in _CHANGE_COLUMNS)})
    RETURNING site, local_job_id, end_time, machine_name, infrastructure_type,
              ce_timestamp, submit_host
),
consumed AS (
    -- Driven by the upserted rows, one primary-key probe each. (A "NOT consumed" condition
    -- here would look nearly free to the planner, as almost every stored row is consumed,
    -- and lead it to scan the whole table.)
    UPDATE ce_events c SET consumed = true
    FROM upserted u
    WHERE u.infrastructure_type = 'grid'
      AND c.site = u.site AND c.lrms_id = u.local_job_id
      AND c."timestamp" = u.ce_timestamp AND c.submit_host = u.submit_host
)
SELECT infrastructure_type, previous_type, vo_unmapped, site, service_level IS NULL,
       account_valid IS FALSE
FROM computed
"""


@functools.cache
def join_sql(scopes: frozenset[str] = frozenset(benchmarks.SCOPES), any_policy: bool = True) -> str:
    """The join statement, without the benchmark probes of scopes no benchmark has, and without
    the account lookup when no site has a policy (cheaper per job; the result is the same)."""
    return _JOIN_TEMPLATE.replace(
        "__BENCHMARK__", benchmarks.resolve_sql(_BENCHMARK_INPUTS, scopes)
    ).replace("__ACCOUNT_VALID__", accounts.validity_sql(_ACCOUNT_INPUTS, any_policy))


# What the join statement needs to know of the configuration, asked once per batch.
_CONFIGURED = (
    "SELECT ARRAY(SELECT DISTINCT scope FROM benchmarks), EXISTS (SELECT 1 FROM account_policies)"
)


@dataclass(frozen=True)
class JoinWindow:
    before: timedelta = timedelta(days=1)
    after: timedelta = timedelta(days=28)


@dataclass
class JoinOutcome:
    """What a batch did to the job records."""

    counts: Counter[str] = field(default_factory=Counter)
    unmapped_local: int = 0
    # New records without a benchmark, by site.
    without_benchmark: Counter[str] = field(default_factory=Counter)
    # New records whose account the site's policy does not allow, by site.
    account_invalid: Counter[str] = field(default_factory=Counter)
    # Transactions PostgreSQL aborted (deadlock, serialization failure) and that were retried.
    retries: int = 0

    def add(self, new: str, old: str | None) -> None:
        if old is None:
            self.counts[new] += 1  # a new grid or local record
        elif old == "local" and new == "grid":
            self.counts["upgraded"] += 1
        else:
            self.counts["updated"] += 1


class JoinStore:
    """Applies batches of decoded events to PostgreSQL through one connection."""

    def __init__(
        self,
        conn: psycopg.Connection,
        window: JoinWindow | None = None,
        vo_map: Mapping[str, str] | None = None,
    ) -> None:
        self.conn = conn
        self.window = window or JoinWindow()
        with conn.transaction():
            conn.execute(_stage_ddl("stage_batch", BATCH_COLUMNS))
            conn.execute(_stage_ddl("stage_ce", CE_COLUMNS))
            conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS vo_map (name text PRIMARY KEY, vo text NOT NULL)"
            )
            conn.execute("DELETE FROM vo_map")
            if vo_map:
                with conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO vo_map (name, vo) VALUES (%s, %s)", list(vo_map.items())
                    )

    def apply(
        self, batch_events: Iterable[Mapping[str, Any]], ce_events: Iterable[Mapping[str, Any]]
    ) -> JoinOutcome:
        """Upsert both halves, join what became joinable, and commit. Idempotent. A transaction
        PostgreSQL aborts for a deadlock or a serialization failure is retried (``ATTEMPTS``
        times in all, after a short random pause); ``JoinOutcome.retries`` counts the retries."""
        batch_events, ce_events = list(batch_events), list(ce_events)
        attempt = 1
        while True:
            try:
                outcome = self._apply_once(batch_events, ce_events)
            except RETRYABLE_ERRORS as exc:
                if attempt == ATTEMPTS:
                    raise
                log.warning(
                    "join transaction aborted by PostgreSQL; retrying the batch",
                    extra={"attempt": attempt, "sqlstate": exc.sqlstate},
                )
                time.sleep(random.uniform(0.01, 0.1 * attempt))  # noqa: S311 (jitter)
                attempt += 1
                continue
            outcome.retries = attempt - 1
            return outcome

    def _apply_once(
        self, batch_events: list[Mapping[str, Any]], ce_events: list[Mapping[str, Any]]
    ) -> JoinOutcome:
        outcome = JoinOutcome()
        conn = self.conn
        with conn.transaction(), conn.cursor() as cur:
            self._copy(cur, "stage_batch", BATCH_COLUMNS, batch_events)
            self._copy(cur, "stage_ce", CE_COLUMNS, ce_events)
            # Temporary tables get no statistics unless asked; without them the planner may
            # scan the whole history instead of looking up the batch's keys. The row count and
            # the key columns are what it needs (all columns cost a tenth of the batch's time).
            cur.execute("ANALYZE stage_batch (site, local_job_id)")
            cur.execute("ANALYZE stage_ce (site, lrms_id)")
            cur.execute(_INSERT_BATCH)
            cur.execute(_INSERT_CE)
            configured = cur.execute(_CONFIGURED).fetchone()
            scopes, any_policy = configured if configured else ([], False)
            statement = join_sql(frozenset(scopes), bool(any_policy))
            cur.execute(statement, {"before": self.window.before, "after": self.window.after})
            for new, old, unmapped, site, no_benchmark, invalid in cur.fetchall():
                outcome.add(new, old)
                if no_benchmark and old is None:
                    outcome.without_benchmark[site] += 1
                if invalid and old is None:
                    outcome.account_invalid[site] += 1
                if unmapped and old is None:
                    outcome.unmapped_local += 1
        return outcome

    @staticmethod
    def _copy(
        cur: psycopg.Cursor[Any],
        table: str,
        columns: tuple[str, ...],
        rows: Iterable[Mapping[str, Any]],
    ) -> None:
        cols = ", ".join(f'"{c}"' for c in columns)
        if columns[-1] == "machine_specs":
            values = itemgetter(*columns[:-1])
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    specs = row.get("machine_specs")
                    copy.write_row((*values(row), json.dumps(specs) if specs else None))
            return
        values = itemgetter(*columns)
        with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(values(row))

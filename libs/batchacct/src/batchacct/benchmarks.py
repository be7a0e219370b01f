"""Machine benchmarks: which one a job ran at, and its normalised durations.

A benchmark belongs to a scope and is time-versioned (``valid_from`` <= t < ``valid_until``).
A job's benchmark is found in this order, the first that applies winning:

1. the job's own machine benchmark, as the collector kept it (HTCondor ``MachineAttrApelSpecs0``,
   ``machine_specs``), HEPscore23 before HEPSPEC before si2k;
2. its execution host (the first one), by exact name, then by the longest matching pattern;
3. its CE (the submit host): the benchmark of the subcluster the CE submits to, APEL's key
   for grid jobs;
4. its batch host (machine name): the whole cluster's, APEL's key for local jobs;
5. the site default.

A benchmark from 2-5 is multiplied by the job's host factor over the benchmark's
``host_factor_reference`` (LSF's CPU factor, HTCondor's ``ApelScaling``, SGE's ``cputmult``: all
relative speeds). When no reference is set, HTCondor's and SGE's factors count as they are (they
are relative to the benchmark by definition) and LSF's are ignored (its factors are arbitrary
numbers, meaningful only against a reference).

Normalised durations are HS06-seconds, APEL's formula (apel-facts 2.1): round(max(d, 0) * SL),
where SL is the service level rounded to 3 decimals as APEL's server stores it, divided by 250
for si2k only (HEPscore23 is HS06 by definition). A job with no benchmark keeps NULLs: it is
stored and joined, and shows up in :data:`MISSING`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import psycopg

BENCHMARK_TYPES = ("HEPscore23", "HEPSPEC", "si2k")
SCOPES = ("site", "ce", "machine", "exec_host")
_SPELLING = {kind.lower(): kind for kind in BENCHMARK_TYPES}
SI2K_PER_HS06 = 250
# APEL's SpecUpdate keeps the stored value when a new one differs by no more than this.
VALUE_TOLERANCE = 0.001
# The first version of a scope covers every job before it too, as APEL's first SpecRecord does.
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)


class BenchmarkError(ValueError):
    """A benchmark definition that cannot be stored; the message says why."""


@dataclass(frozen=True)
class Benchmark:
    site: str
    scope: str
    benchmark_type: str
    value: float
    scope_value: str = ""
    valid_from: datetime | None = None
    host_factor_reference: float | None = None

    def checked(self) -> Benchmark:
        """This benchmark with its type spelled canonically; BenchmarkError if it is invalid."""
        if not self.site.strip():
            raise BenchmarkError("site is empty")
        if self.scope not in SCOPES:
            raise BenchmarkError(f"scope {self.scope!r} is not one of {', '.join(SCOPES)}")
        if (self.scope == "site") != (self.scope_value == ""):
            raise BenchmarkError(
                "the site default has no scope value"
                if self.scope == "site"
                else f"a {self.scope} benchmark needs the {self.scope} it applies to"
            )
        kind = _SPELLING.get(self.benchmark_type.lower())
        if kind is None:
            raise BenchmarkError(
                f"benchmark type {self.benchmark_type!r} is not one of {', '.join(BENCHMARK_TYPES)}"
            )
        if not (math.isfinite(self.value) and self.value > 0):
            raise BenchmarkError(f"benchmark value {self.value!r} is not a positive number")
        reference = self.host_factor_reference
        if reference is not None and not (math.isfinite(reference) and reference > 0):
            raise BenchmarkError(f"host_factor_reference {reference!r} is not a positive number")
        if self.valid_from is not None and self.valid_from.tzinfo is None:
            raise BenchmarkError("valid_from needs a time zone (UTC is 'Z')")
        return Benchmark(
            site=self.site,
            scope=self.scope,
            benchmark_type=kind,
            value=float(self.value),
            scope_value=self.scope_value,
            valid_from=self.valid_from,
            host_factor_reference=reference,
        )


def glob_to_like(pattern: str) -> str:
    """A host glob (``*`` and ``?``) as a SQL LIKE pattern (backslash escapes)."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def set_benchmark(
    conn: psycopg.Connection[Any], benchmark: Benchmark, *, source: str, now: datetime
) -> str:
    """Store a benchmark as a new version of its scope, inside the caller's transaction.

    Returns ``"created"`` (the scope's first version), ``"versioned"`` (the open version was
    closed at the new one's ``valid_from``) or ``"unchanged"`` (same type, reference and a value
    within :data:`VALUE_TOLERANCE`: nothing written, as APEL does).
    """
    bm = benchmark.checked()
    open_row = conn.execute(
        "SELECT id, benchmark_type, value, host_factor_reference, valid_from FROM benchmarks"
        " WHERE site = %s AND scope = %s AND scope_value = %s AND valid_until IS NULL"
        " FOR UPDATE",
        (bm.site, bm.scope, bm.scope_value),
    ).fetchone()
    if open_row is None:
        valid_from = bm.valid_from or BEGINNING
        last_end = conn.execute(
            "SELECT max(valid_until) FROM benchmarks"
            " WHERE site = %s AND scope = %s AND scope_value = %s",
            (bm.site, bm.scope, bm.scope_value),
        ).fetchone()
        if last_end is not None and last_end[0] is not None and valid_from < last_end[0]:
            raise BenchmarkError(
                f"valid_from {valid_from.isoformat()} overlaps an earlier version of this scope,"
                f" which ends {last_end[0].isoformat()}"
            )
        outcome = "created"
    else:
        row_id, kind, value, reference, open_from = open_row
        if (
            kind == bm.benchmark_type
            and abs(value - bm.value) <= VALUE_TOLERANCE
            and reference == bm.host_factor_reference
        ):
            return "unchanged"
        valid_from = bm.valid_from or now
        if valid_from <= open_from:
            raise BenchmarkError(
                f"valid_from {valid_from.isoformat()} is not after the current version's start"
                f" ({open_from.isoformat()}); a change applies from a later time"
            )
        conn.execute("UPDATE benchmarks SET valid_until = %s WHERE id = %s", (valid_from, row_id))
        outcome = "versioned"
    conn.execute(
        "INSERT INTO benchmarks (site, scope, scope_value, host_like, benchmark_type, value,"
        " host_factor_reference, valid_from, source) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            bm.site,
            bm.scope,
            bm.scope_value,
            glob_to_like(bm.scope_value) if bm.scope == "exec_host" else None,
            bm.benchmark_type,
            bm.value,
            bm.host_factor_reference,
            valid_from,
            source,
        ),
    )
    return outcome


def resolve_sql(job: Mapping[str, str]) -> str:
    """A ``LEFT JOIN LATERAL ... bm`` giving a job's benchmark: ``bm.service_level_type``,
    ``bm.service_level`` (NULL for none), in the order of this module's docstring.

    ``job`` maps site, end_time, exec_host, submit_host, machine_name, source_format,
    host_factor and machine_specs to SQL expressions of the query it goes into.
    """
    j = job
    return f"""
    LEFT JOIN LATERAL (
        SELECT spec.kind AS service_level_type, round(spec.value::numeric, 3)::float8 AS service_level
        FROM (
            SELECT CASE lower(e.key) WHEN 'hepscore23' THEN 'HEPscore23'
                       WHEN 'hepspec' THEN 'HEPSPEC' WHEN 'si2k' THEN 'si2k' END AS kind,
                   e.value::float8 AS value
            FROM jsonb_each_text(CASE WHEN {j["machine_specs"]} IS NULL THEN NULL::jsonb
                                      ELSE {j["machine_specs"]} END) e
            WHERE lower(e.key) IN ('hepscore23', 'hepspec', 'si2k') AND e.value::float8 > 0
            ORDER BY CASE lower(e.key) WHEN 'hepscore23' THEN 0 WHEN 'hepspec' THEN 1 ELSE 2 END
            LIMIT 1
        ) spec
        UNION ALL
        SELECT b0.benchmark_type,
               round((b0.value * CASE
                   WHEN {j["host_factor"]} IS NULL OR {j["host_factor"]} <= 0 THEN 1
                   WHEN b0.host_factor_reference IS NOT NULL
                       THEN {j["host_factor"]} / b0.host_factor_reference
                   WHEN {j["source_format"]} = 'lsf' THEN 1
                   ELSE {j["host_factor"]} END)::numeric, 3)::float8
        FROM (
            SELECT b1.benchmark_type, b1.value, b1.host_factor_reference
            FROM benchmarks b1
            WHERE b1.site = {j["site"]}
              AND b1.valid_from <= {j["end_time"]}
              AND (b1.valid_until IS NULL OR b1.valid_until > {j["end_time"]})
              AND (b1.scope = 'site'
                   OR (b1.scope = 'ce' AND b1.scope_value = {j["submit_host"]})
                   OR (b1.scope = 'machine' AND b1.scope_value = {j["machine_name"]})
                   OR (b1.scope = 'exec_host' AND {j["exec_host"]} LIKE b1.host_like))
            ORDER BY CASE b1.scope WHEN 'exec_host' THEN 0 WHEN 'ce' THEN 1
                                   WHEN 'machine' THEN 2 ELSE 3 END,
                     b1.scope_value = {j["exec_host"]} DESC, length(b1.scope_value) DESC, b1.id DESC
            LIMIT 1
        ) b0
        LIMIT 1
    ) bm ON true"""


def normalised_sql(
    duration: str, level_type: str = "bm.service_level_type", level: str = "bm.service_level"
) -> str:
    """APEL's normalisation of one duration, in HS06-seconds (NULL without a benchmark).

    In exact decimals, rounding halves away from zero, as the server's DECIMAL arithmetic does.
    """
    return (
        f"round(greatest({duration}, 0) * CASE WHEN {level_type} = 'si2k'"
        f" THEN {level}::numeric / {SI2K_PER_HS06} ELSE {level}::numeric END)::bigint"
    )


def normalised(duration: int, level_type: str | None, level: float | None) -> int | None:
    """The same in Python, for tests and reports."""
    if level_type is None or level is None:
        return None
    factor = Decimal(repr(level))
    if level_type == "si2k":
        factor /= SI2K_PER_HS06
    return int((max(duration, 0) * factor).to_integral_value(ROUND_HALF_UP))


# Jobs with no benchmark, by site and the scopes an administrator would give one to.
MISSING = """
SELECT site, submit_host, machine_name, count(*) AS jobs,
       min(end_time) AS first_end_time, max(end_time) AS last_end_time
FROM job_records
WHERE service_level IS NULL
GROUP BY site, submit_host, machine_name
ORDER BY site, submit_host NULLS FIRST, machine_name
"""

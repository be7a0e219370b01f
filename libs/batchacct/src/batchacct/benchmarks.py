"""Machine benchmarks: which one a job ran at, and its normalised durations.

A benchmark belongs to a scope and is time-versioned (``valid_from`` <= t < ``valid_until``).
A job's benchmark is found in this order, the first that applies winning:

1. the job's own machine benchmark, as the collector kept it (HTCondor ``MachineAttrApelSpecs0``,
   ``machine_specs``), HEPscore23 before HEPSPEC before si2k (keys in any case);
2. its execution host (the first one), by exact name, then by the longest matching pattern;
3. its CE (the submit host): the benchmark of the subcluster the CE submits to, APEL's key
   for grid jobs;
4. its batch host (machine name): the whole cluster's, APEL's key for local jobs;
5. the site default.

A benchmark from 2-5 is multiplied by the job's host factor over the benchmark's
``host_factor_reference`` (LSF's CPU factor, HTCondor's ``ApelScaling``, SGE's ``cputmult``: all
relative speeds). When no reference is set, HTCondor's and SGE's factors count as they are (they
are relative to the benchmark by definition), LSF's are ignored (its factors are arbitrary
numbers, meaningful only against a reference), and so is every factor of a job whose benchmark
is its execution host's own (measured on that host, it already includes the host's speed). A
factor outside (0, 10^6) is no factor (1), and a resulting service level that APEL cannot store
(DECIMAL(10,3): 10^7 or more) counts as no benchmark, so that one absurd record cannot stop the
join.

Normalised durations are HS06-seconds, APEL's formula (apel-facts 2.1): round(max(d, 0) * SL),
where SL is the service level rounded to 3 decimals as APEL's server stores it, divided by 250
for si2k only (HEPscore23 is HS06 by definition). A job with no benchmark keeps NULLs: it is
stored and joined, and shows up in :data:`MISSING`.

Benchmarks are stored by :func:`set_benchmark` / :func:`store_benchmarks` (a changed value is a
new version from ``valid_from``, default now; the very first version of a scope covers all
earlier jobs too, as APEL's first SpecRecord does). Storing a version does not touch the job
records already stored: :func:`renormalise` (``batchacct renormalise --since``) applies it.

Benchmark files (``batchacct benchmarks load FILE``, :func:`load_file`) are YAML::

    site: RAL-LCG2                 # default site of the entries (an entry may give its own)
    benchmarks:
      - scope: site                # site | ce | machine | exec_host
        type: HEPscore23           # HEPscore23 | HEPSPEC | si2k (any case)
        value: 12.5                # > 0
      - scope: ce                  # the CE id of the job's CE events (its submit host)
        name: ce01.example.org:9619/ce01.example.org-condor
        type: HEPSPEC
        value: 10.0
        valid_from: 2026-01-01T00:00:00Z   # optional; without an offset it is UTC
      - scope: exec_host
        name: "wn-2026-*"          # a host name, or a glob (* and ?)
        type: HEPSPEC
        value: 14.2
      - scope: machine             # the batch host (machine name), APEL's key for local jobs
        name: lsfmaster01
        type: HEPSPEC
        value: 11.0
        host_factor_reference: 13.0   # the host factor the value was measured at

A file is all or nothing: any bad entry (unknown key, scope or type, a missing or non-positive
value, a name on the site scope or none on another, the same scope twice) fails the whole file
with a message naming the file and the entry.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import psycopg
import yaml
from psycopg import sql

from batchacct.config_files import (
    glob_to_like,
    kind_of,
    parse_yaml,
    strict_mapping,
    yaml_problem,
)
from batchacct.parsers.numbers import INT64_MAX
from batchacct.record_batches import in_end_time_batches, rewrite_batch_sql

BENCHMARK_TYPES = ("HEPscore23", "HEPSPEC", "si2k")
SCOPES = ("site", "ce", "machine", "exec_host")
_SPELLING = {kind.lower(): kind for kind in BENCHMARK_TYPES}
SI2K_PER_HS06 = 250
# APEL's SpecUpdate keeps the stored value when a new one differs by no more than this.
VALUE_TOLERANCE = 0.001
# The first version of a scope covers every job before it too, as APEL's first SpecRecord does.
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
# APEL's ServiceLevel is DECIMAL(10,3): a resolved level at or above this is no benchmark.
MAX_SERVICE_LEVEL = 10_000_000
# Host factors are relative speeds (about 1 to 100s): one outside (0, this) is garbage, taken as 1.
MAX_HOST_FACTOR = 1_000_000
# Outcomes of storing one benchmark.
CREATED, VERSIONED, UNCHANGED = "created", "versioned", "unchanged"


class BenchmarkError(ValueError):
    """A benchmark definition that cannot be stored; the message says why."""


class BenchmarkFileError(BenchmarkError):
    """A benchmark file that cannot be loaded; the message names the file and the entry."""


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

    @property
    def scope_key(self) -> tuple[str, str, str]:
        """What one version history is kept for: (site, scope, scope value)."""
        return (self.site, self.scope, self.scope_value)

    def describe(self) -> str:
        return f"{self.scope} {self.scope_value!r}" if self.scope_value else self.scope


# --- Benchmark files ----------------------------------------------------------------------------

_FILE_KEYS = ("site", "benchmarks")
_ENTRY_KEYS = ("site", "scope", "name", "type", "value", "valid_from", "host_factor_reference")


def load_file(path: str | Path) -> list[Benchmark]:
    """The benchmarks of a YAML file (format in the module docstring), every one checked.

    Raises :class:`BenchmarkFileError` naming the file and the entry for anything wrong: a file
    is used whole or not at all.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise BenchmarkFileError(f"{path}: cannot read it: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise BenchmarkFileError(f"{path}: not UTF-8 text") from None
    return parse_benchmarks(text, str(path))


def parse_benchmarks(text: str, origin: str) -> list[Benchmark]:
    """The benchmarks of a YAML document; ``origin`` names it in errors (the file's path)."""
    try:
        document = parse_yaml(text)
    except yaml.YAMLError as err:
        raise BenchmarkFileError(f"{origin}: not valid YAML: {yaml_problem(err)}") from None
    document = strict_mapping(
        document,
        _FILE_KEYS,
        "a mapping with a 'benchmarks' list",
        "a benchmark file",
        lambda message: BenchmarkFileError(f"{origin}: {message}"),
    )
    default_site = document.get("site")
    if default_site is not None and not isinstance(default_site, str):
        raise BenchmarkFileError(f"{origin}: 'site' must be text, found {kind_of(default_site)}")
    entries = document.get("benchmarks")
    if not isinstance(entries, list) or not entries:
        raise BenchmarkFileError(f"{origin}: 'benchmarks' must be a non-empty list of entries")
    result: list[Benchmark] = []
    for number, entry in enumerate(entries, 1):
        try:
            result.append(_entry(entry, default_site))
        except BenchmarkError as err:
            raise BenchmarkFileError(f"{origin}: entry {number}{_label(entry)}: {err}") from None
    try:
        check_distinct(result)
    except BenchmarkError as err:
        raise BenchmarkFileError(f"{origin}: {err}") from None
    return result


def check_distinct(benchmarks: Sequence[Benchmark]) -> None:
    """BenchmarkError if two entries give the same scope (one list is one version each)."""
    first: dict[tuple[str, str, str], int] = {}
    for number, bm in enumerate(benchmarks, 1):
        earlier = first.setdefault(bm.scope_key, number)
        if earlier != number:
            raise BenchmarkError(
                f"entries {earlier} and {number} both give the {bm.describe()} benchmark of"
                f" site {bm.site!r}; give each scope once"
            )


def _entry(entry: object, default_site: str | None) -> Benchmark:
    entry = strict_mapping(
        entry, _ENTRY_KEYS, "a mapping (scope, type, value...)", "an entry", BenchmarkError
    )
    for key in ("scope", "type", "value"):
        if entry.get(key) is None:
            raise BenchmarkError(f"'{key}' is missing")
    site = entry.get("site", default_site)
    if site is None:
        raise BenchmarkError("no site: give 'site' at the top of the file or in the entry")
    name = entry.get("name", "")
    reference = entry.get("host_factor_reference")
    if reference is not None:
        reference = _number(reference, "host_factor_reference")
    return Benchmark(
        site=_text(site, "site"),
        scope=_text(entry["scope"], "scope"),
        benchmark_type=_text(entry["type"], "type"),
        value=_number(entry["value"], "value"),
        scope_value=_text(name, "name"),
        valid_from=_time(entry.get("valid_from")),
        host_factor_reference=reference,
    ).checked()


def _text(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise BenchmarkError(f"'{key}' must be text, found {kind_of(value)} (quote it)")
    return value


def _number(value: object, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BenchmarkError(f"'{key}' must be a number, found {kind_of(value)}")
    return float(value)


def _time(value: object) -> datetime | None:
    """A YAML timestamp, date or ISO 8601 text; without an offset it is UTC (YAML's rule)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise BenchmarkError(
                f"valid_from {value!r} is not a time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)"
            ) from None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise BenchmarkError(f"'valid_from' must be a time, found {kind_of(value)}")


def _label(entry: object) -> str:
    if not isinstance(entry, dict):
        return ""
    scope, name = entry.get("scope"), entry.get("name")
    parts = [str(p) for p in (scope, name) if isinstance(p, str | int | float)]
    return f" ({' '.join(parts)})" if parts else ""


# --- Storing versions ---------------------------------------------------------------------------

_OPEN_VERSION = (
    "SELECT id, benchmark_type, value, host_factor_reference, valid_from FROM benchmarks"
    " WHERE site = %s AND scope = %s AND scope_value = %s AND valid_until IS NULL"
    " FOR UPDATE"
)
_LAST_END = (
    "SELECT max(valid_until) FROM benchmarks WHERE site = %s AND scope = %s AND scope_value = %s"
)
_CLOSE = "UPDATE benchmarks SET valid_until = %s WHERE id = %s"
_INSERT = (
    "INSERT INTO benchmarks (site, scope, scope_value, host_like, benchmark_type, value,"
    " host_factor_reference, valid_from, source) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


@dataclass(frozen=True)
class Stored:
    """What storing one benchmark did: its outcome and, unless unchanged, the new version's start."""

    benchmark: Benchmark
    outcome: str
    valid_from: datetime | None


@dataclass(frozen=True)
class _Plan:
    outcome: str
    valid_from: datetime | None = None
    close_id: int | None = None


def _plan(
    bm: Benchmark, open_row: tuple[Any, ...] | None, last_end: datetime | None, now: datetime
) -> _Plan:
    """What storing ``bm`` does, given its scope's open version and the end of its last one."""
    if open_row is None:
        valid_from = bm.valid_from or BEGINNING
        if last_end is not None and valid_from < last_end:
            raise BenchmarkError(
                f"valid_from {valid_from.isoformat()} overlaps an earlier version of this scope,"
                f" which ends {last_end.isoformat()}"
            )
        return _Plan(CREATED, valid_from)
    row_id, kind, value, reference, open_from = open_row
    if (
        kind == bm.benchmark_type
        and abs(value - bm.value) <= VALUE_TOLERANCE
        and reference == bm.host_factor_reference
    ):
        return _Plan(UNCHANGED)
    valid_from = bm.valid_from or now
    if valid_from <= open_from:
        raise BenchmarkError(
            f"valid_from {valid_from.isoformat()} is not after the current version's start"
            f" ({open_from.isoformat()}); a change applies from a later time"
        )
    return _Plan(VERSIONED, valid_from, row_id)


def _insert_args(bm: Benchmark, valid_from: datetime, source: str) -> tuple[Any, ...]:
    host_like = glob_to_like(bm.scope_value) if bm.scope == "exec_host" else None
    return (
        bm.site,
        bm.scope,
        bm.scope_value,
        host_like,
        bm.benchmark_type,
        bm.value,
        bm.host_factor_reference,
        valid_from,
        source,
    )


def _store_one(
    conn: psycopg.Connection[Any], benchmark: Benchmark, source: str, now: datetime
) -> Stored:
    bm = benchmark.checked()
    open_row = conn.execute(_OPEN_VERSION, bm.scope_key).fetchone()
    last_end = None
    if open_row is None:
        found = conn.execute(_LAST_END, bm.scope_key).fetchone()
        last_end = found[0] if found else None
    plan = _plan(bm, open_row, last_end, now)
    if plan.close_id is not None:
        conn.execute(_CLOSE, (plan.valid_from, plan.close_id))
    if plan.valid_from is not None:
        conn.execute(_INSERT, _insert_args(bm, plan.valid_from, source))
    return Stored(bm, plan.outcome, plan.valid_from)


def set_benchmark(
    conn: psycopg.Connection[Any], benchmark: Benchmark, *, source: str, now: datetime
) -> str:
    """Store a benchmark as a new version of its scope, inside the caller's transaction.

    Returns ``"created"`` (the scope's first version), ``"versioned"`` (the open version was
    closed at the new one's ``valid_from``) or ``"unchanged"`` (same type, reference and a value
    within :data:`VALUE_TOLERANCE`: nothing written, as APEL does).
    """
    return _store_one(conn, benchmark, source, now).outcome


def store_benchmarks(
    conn: psycopg.Connection[Any], benchmarks: Sequence[Benchmark], *, source: str, now: datetime
) -> list[Stored]:
    """Store several benchmarks in one transaction: all of them, or (on BenchmarkError) none.

    The error names the entry (1-based) that could not be stored.
    """
    check_distinct(benchmarks)
    with conn.transaction():
        return _each(benchmarks, lambda bm: _store_one(conn, bm, source, now))


async def store_benchmarks_async(
    conn: psycopg.AsyncConnection[Any],
    benchmarks: Sequence[Benchmark],
    *,
    source: str,
    now: datetime,
) -> list[Stored]:
    """:func:`store_benchmarks` on an asynchronous connection (the API)."""
    check_distinct(benchmarks)
    stored: list[Stored] = []
    async with conn.transaction():
        for number, benchmark in enumerate(benchmarks, 1):
            try:
                bm = benchmark.checked()
                cur = await conn.execute(_OPEN_VERSION, bm.scope_key)
                open_row = await cur.fetchone()
                last_end = None
                if open_row is None:
                    cur = await conn.execute(_LAST_END, bm.scope_key)
                    found = await cur.fetchone()
                    last_end = found[0] if found else None
                plan = _plan(bm, open_row, last_end, now)
            except BenchmarkError as err:
                raise BenchmarkError(f"entry {number} ({benchmark.describe()}): {err}") from None
            if plan.close_id is not None:
                await conn.execute(_CLOSE, (plan.valid_from, plan.close_id))
            if plan.valid_from is not None:
                await conn.execute(_INSERT, _insert_args(bm, plan.valid_from, source))
            stored.append(Stored(bm, plan.outcome, plan.valid_from))
    return stored


def _each(benchmarks: Iterable[Benchmark], store: Callable[[Benchmark], Stored]) -> list[Stored]:
    stored = []
    for number, benchmark in enumerate(benchmarks, 1):
        try:
            stored.append(store(benchmark))
        except BenchmarkError as err:
            raise BenchmarkError(f"entry {number} ({benchmark.describe()}): {err}") from None
    return stored


def renormalise_since(stored: Iterable[Stored]) -> datetime | None:
    """The earliest end time of stored jobs a set of new versions can change (None: nothing)."""
    starts = [s.valid_from for s in stored if s.outcome != UNCHANGED and s.valid_from]
    return min(starts) if starts else None


# --- Reading them back --------------------------------------------------------------------------

BENCHMARK_COLUMNS = (
    "id",
    "site",
    "scope",
    "scope_value",
    "benchmark_type",
    "value",
    "host_factor_reference",
    "valid_from",
    "valid_until",
    "source",
    "created_at",
)


def list_query(
    *, site: str | None = None, all_versions: bool = False
) -> tuple[sql.Composed, list[Any]]:
    """The benchmarks (current versions, or every version) as a query and its parameters.

    Ordered by site, scope (as in the precedence, most specific first), name, then time.
    """
    where: list[sql.Composable] = []
    params: list[Any] = []
    if not all_versions:
        where.append(sql.SQL("valid_until IS NULL"))
    if site is not None:
        where.append(sql.SQL("site = %s"))
        params.append(site)
    clause = sql.SQL("WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL("")
    query = sql.SQL(
        "SELECT {} FROM benchmarks {} ORDER BY site,"
        " array_position(ARRAY['exec_host', 'ce', 'machine', 'site'], scope),"
        " scope_value, valid_from"
    ).format(sql.SQL(", ").join(map(sql.Identifier, BENCHMARK_COLUMNS)), clause)
    return query, params


# Jobs with no benchmark, by site and the scopes an administrator would give one to.
MISSING_COLUMNS = ("site", "submit_host", "machine_name", "jobs", "first_end_time", "last_end_time")
_MISSING = """
SELECT site, submit_host, machine_name, count(*) AS jobs,
       min(end_time) AS first_end_time, max(end_time) AS last_end_time
FROM job_records
WHERE service_level IS NULL{site_filter}
GROUP BY site, submit_host, machine_name
ORDER BY site, submit_host NULLS FIRST, machine_name
"""
MISSING = _MISSING.format(site_filter="")
# The same for one site (parameter: site).
MISSING_AT_SITE = _MISSING.format(site_filter=" AND site = %(site)s")
# Jobs without a benchmark by site, from the partial index alone (the metric).
COUNT_MISSING_BY_SITE = (
    "SELECT site, count(*) FROM job_records WHERE service_level IS NULL GROUP BY site"
)


def missing(conn: psycopg.Connection[Any], site: str | None = None) -> list[tuple[Any, ...]]:
    """Rows of :data:`MISSING` (for one site, or all)."""
    if site is None:
        return conn.execute(MISSING).fetchall()
    return conn.execute(MISSING_AT_SITE, {"site": site}).fetchall()


# --- Resolution and normalisation ---------------------------------------------------------------


def _latest_valid(job: Mapping[str, str], condition: str, order: str = "") -> str:
    """A scalar subquery: the id of the benchmark of the job's site meeting ``condition`` that
    is valid at the job's end time (``order`` first when several are)."""
    return f"""(
                SELECT b1.id FROM benchmarks b1
                WHERE b1.site = {job["site"]} AND {condition}
                  AND b1.valid_from <= {job["end_time"]}
                  AND (b1.valid_until IS NULL OR b1.valid_until > {job["end_time"]})
                ORDER BY {order}b1.valid_from DESC
                LIMIT 1)"""


def resolve_sql(job: Mapping[str, str], scopes: Collection[str] = SCOPES) -> str:
    """A ``LEFT JOIN LATERAL ... bm`` giving a job's benchmark: ``bm.service_level_type``,
    ``bm.service_level`` (NULL for none), in the order of this module's docstring.

    ``job`` maps site, end_time, exec_host, submit_host, machine_name, source_format,
    host_factor and machine_specs to SQL expressions of the query it goes into.

    Each stored scope is one index probe, tried in order until one finds a benchmark (COALESCE
    evaluates no more than it needs): the cost per job does not grow with the number of hosts
    given a benchmark. Only patterns (names with ``*`` or ``?``) are matched with LIKE.
    ``scopes`` leaves out the probes of scopes that have no benchmark at all (the joiner asks,
    per batch: a site with only a default then costs one probe per job, not five).
    """
    j = job
    factor = j["host_factor"]
    probes = {
        "exec_host": (
            _latest_valid(j, f"b1.scope = 'exec_host' AND b1.scope_value = {j['exec_host']}"),
            _latest_valid(
                j,
                f"b1.scope = 'exec_host' AND b1.scope_value ~ '[*?]'"
                f" AND {j['exec_host']} LIKE b1.host_like",
                "length(b1.scope_value) DESC, b1.id DESC, ",
            ),
        ),
        "ce": (_latest_valid(j, f"b1.scope = 'ce' AND b1.scope_value = {j['submit_host']}"),),
        "machine": (
            _latest_valid(j, f"b1.scope = 'machine' AND b1.scope_value = {j['machine_name']}"),
        ),
        "site": (_latest_valid(j, "b1.scope = 'site' AND b1.scope_value = ''"),),
    }
    chosen = (
        ",".join(
            probe
            for scope in ("exec_host", "ce", "machine", "site")
            if scope in scopes
            for probe in probes[scope]
        )
        or "NULL::bigint"
    )
    return f"""
    LEFT JOIN LATERAL (
        SELECT found.service_level_type, found.service_level
        FROM (
            SELECT 0 AS rank, spec.kind AS service_level_type,
                   round(spec.value::numeric, 3)::float8 AS service_level
            FROM (
                SELECT s.kind, s.value
                FROM (
                    -- The CASEs guard the casts: a spec that is not an object, or a value that
                    -- is not a number, is no benchmark (never an error that stops the join).
                    SELECT CASE lower(e.key) WHEN 'hepscore23' THEN 'HEPscore23'
                               WHEN 'hepspec' THEN 'HEPSPEC' WHEN 'si2k' THEN 'si2k' END AS kind,
                           CASE WHEN jsonb_typeof(e.value) = 'number'
                                THEN (e.value)::float8 END AS value
                    FROM jsonb_each(CASE WHEN jsonb_typeof({j["machine_specs"]}) = 'object'
                                         THEN {j["machine_specs"]} END) e
                ) s
                WHERE s.kind IS NOT NULL AND s.value > 0
                ORDER BY array_position(ARRAY['HEPscore23', 'HEPSPEC', 'si2k'], s.kind)
                LIMIT 1
            ) spec
            UNION ALL
            SELECT 1, b0.benchmark_type,
                   round((b0.value * CASE
                       WHEN ({factor} > 0 AND {factor} < {MAX_HOST_FACTOR}) IS NOT TRUE THEN 1
                       WHEN b0.host_factor_reference IS NOT NULL
                           THEN {factor} / b0.host_factor_reference
                       -- Measured on that very host: its speed factor is already in the value.
                       WHEN b0.scope = 'exec_host' THEN 1
                       WHEN {j["source_format"]} = 'lsf' THEN 1
                       ELSE {factor} END)::numeric, 3)::float8
            FROM benchmarks b0
            -- Exact execution host, longest matching pattern, CE, batch host, site default.
            WHERE b0.id = COALESCE({chosen})
        ) found
        WHERE found.service_level < {MAX_SERVICE_LEVEL}
        -- Explicit: the job's own spec first (UNION ALL alone promises no order).
        ORDER BY found.rank
        LIMIT 1
    ) bm ON true"""


def normalised_sql(
    duration: str, level_type: str = "bm.service_level_type", level: str = "bm.service_level"
) -> str:
    """APEL's normalisation of one duration, in HS06-seconds (NULL without a benchmark).

    In exact decimals, rounding halves away from zero, as the server's DECIMAL arithmetic does.
    """
    # Capped at bigint's maximum: an absurd duration must not stop a whole join batch.
    # (LEAST ignores a NULL: no benchmark must stay NULL, not become the cap.)
    return (
        f"CASE WHEN {level} IS NOT NULL THEN least(round(greatest({duration}, 0)"
        f" * CASE WHEN {level_type} = 'si2k' THEN {level}::numeric / {SI2K_PER_HS06}"
        f" ELSE {level}::numeric END), {INT64_MAX})::bigint END"
    )


def normalised(duration: int, level_type: str | None, level: float | None) -> int | None:
    """The same in Python, for tests and reports."""
    if level_type is None or level is None:
        return None
    factor = Decimal(repr(level))
    if level_type == "si2k":
        factor /= SI2K_PER_HS06
    return min(int((max(duration, 0) * factor).to_integral_value(ROUND_HALF_UP)), INT64_MAX)


# --- Renormalisation ----------------------------------------------------------------------------

# The job_records columns resolve_sql needs.
_RECORD_JOB = {
    "site": "j.site",
    "end_time": "j.end_time",
    "exec_host": "j.exec_hosts[1]",
    "submit_host": "j.submit_host",
    "machine_name": "j.machine_name",
    "source_format": "j.source_format",
    "host_factor": "j.host_factor",
    "machine_specs": "j.machine_specs",
}
_NEW_LEVELS = {
    "service_level_type": "bm.service_level_type",
    "service_level": "bm.service_level",
    "normalised_wall_duration": normalised_sql("j.wall_duration"),
    "normalised_cpu_duration": normalised_sql("j.cpu_duration"),
}

# One batch: the records whose benchmark or normalised durations change get the new values and
# a new update_seq (the summaries follow through the job_records triggers).
_RENORMALISE = rewrite_batch_sql(
    resolve_sql(_RECORD_JOB),
    _NEW_LEVELS,
    also_set="update_seq = nextval('job_records_update_seq')",
)


def renormalise(
    conn: psycopg.Connection[Any],
    since: datetime,
    site: str | None = None,
    *,
    batch_rows: int = 50_000,
    progress: Callable[[datetime, int], None] | None = None,
) -> int:
    """Resolve the benchmark of every job record that ended at or after ``since`` (at ``site``,
    or every site) again, and store what changed. Returns how many records changed.

    Only records whose service level or normalised durations change are written; they get a new
    ``update_seq`` (so ``latest`` publishing sends them again), and the summaries follow (the
    job_records triggers). Runs again change nothing. The work is done oldest first, in
    transactions of about ``batch_rows`` records, so the joiner never waits long for a record
    being renormalised. ``progress`` is called after each batch with the end time reached and
    the records changed so far.
    """
    renormalise_batch = _RENORMALISE.format(
        site_filter="AND j.site = %(site)s" if site is not None else ""
    )
    return in_end_time_batches(
        conn, renormalise_batch, since, site, batch_rows=batch_rows, progress=progress
    )

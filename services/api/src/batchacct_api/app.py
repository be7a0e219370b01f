"""The batchacct HTTP API: job records, usage summaries and the quarantine, read from PostgreSQL.

``create_app(settings)`` builds the app; its lifespan owns the connection pool. The pool opens
without waiting for the database, so the API starts (and answers ``/healthz``) while PostgreSQL
is down, reports not-ready on ``/readyz`` and answers 503 to queries until the database is back.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Query, Request, status
from fastapi import Path as FastApiPath
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import generate_latest
from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow, dict_row
from psycopg_pool import AsyncConnectionPool
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from batchacct import __version__, accounts, benchmarks, charts, reports
from batchacct.job_filters import (
    MAX_FILTER_LENGTH,
    JobFilters,
    ParameterError,
    as_utc,
    comma_list,
)
from batchacct.metrics import API_LATENCY, API_REQUESTS, BUILD_INFO, JOBS_WITHOUT_BENCHMARK
from batchacct.tokens import token_hash

from .dashboard import ui_router
from .settings import ApiSettings

log = logging.getLogger(__name__)

Pool = AsyncConnectionPool[AsyncConnection[TupleRow]]

READY_TIMEOUT_SECONDS = 2.0
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_CURSOR_LENGTH = 2048
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


# --- Output models ------------------------------------------------------------------------------


def _iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


UtcDatetime = Annotated[datetime, PlainSerializer(_iso_utc, return_type=str)]


class JobOut(BaseModel):
    """One job record: every column but ``update_seq``. Times UTC, durations s, memory KiB."""

    site: str
    local_job_id: str
    end_time: UtcDatetime
    machine_name: str
    submit_host: str | None
    queue: str | None
    local_user_id: str | None
    local_user_group: str | None
    global_user_name: str | None
    fqan: str | None
    fqans: list[str]
    vo: str | None
    vo_group: str | None
    vo_role: str | None
    wall_duration: int
    cpu_duration: int
    processors: int | None
    node_count: int | None
    start_time: UtcDatetime
    infrastructure_description: str | None
    infrastructure_type: str
    memory_real: int | None
    memory_virtual: int | None
    service_level_type: str | None
    service_level: float | None
    normalised_wall_duration: int | None
    normalised_cpu_duration: int | None
    exec_hosts: list[str]
    account: str | None
    account_valid: bool | None = Field(
        description="the account is allowed by the site's accounts policy (null: no policy or no account)"
    )
    exit_status: int | None
    submit_time: UtcDatetime | None
    from_host: str | None
    grid_job_id: str | None
    host_factor: float | None
    machine_specs: dict[str, float] | None
    ce_timestamp: UtcDatetime | None
    source_format: str
    source_file: str
    source_line: int
    updated_at: UtcDatetime


class JobPage(BaseModel):
    items: list[JobOut]
    next_cursor: str | None


class QuarantineOut(BaseModel):
    id: int
    source_format: str
    site: str
    file: str
    line: int
    reason: str
    detail: str
    raw: str
    received_at: UtcDatetime
    retries: int
    last_retry_at: UtcDatetime | None


class QuarantinePage(BaseModel):
    items: list[QuarantineOut]
    next_cursor: str | None


class FileOut(BaseModel):
    collector: str
    file_id: str
    source_format: str
    site: str
    path: str
    compression: str
    offset: int = Field(description="bytes of (decompressed) content read and checkpointed")
    size: int
    lines: int
    records: int
    rejected: int
    ignored: int
    state: Literal["active", "done", "quarantined"]
    detail: str | None = Field(description="why the file was quarantined")
    first_seen: UtcDatetime
    last_seen: UtcDatetime


class FilePage(BaseModel):
    items: list[FileOut]
    next_cursor: str | None


class PublicationOut(BaseModel):
    """One row of the publication log: an APEL message queued (or the records of one message
    set aside because the APEL server would reject them)."""

    id: int
    run_id: str
    queued_at: UtcDatetime
    kind: str = Field(description="job, summary, normalised-summary or sync")
    header: str
    destination: str = Field(description="dirq or kafka")
    message_id: str | None = Field(
        description="the dirq element name (ssmsend's empa-id), or topic/partition/offset"
    )
    records: int
    bytes: int
    sites: list[str]
    months: list[str] = Field(description="YYYY-MM")
    status: Literal["queued", "rejected"]
    error: str | None = Field(description="why the records were rejected")


class PublicationPage(BaseModel):
    items: list[PublicationOut]
    next_cursor: str | None


class SummaryPage(BaseModel):
    group_by: list[str]
    items: list[dict[str, Any]]


BenchmarkScope = Literal["site", "ce", "machine", "exec_host"]
BENCHMARK_NAME_DOC = (
    "what the scope applies to: the CE id (submit host), the batch host (machine name) or an"
    " execution host name or glob (* and ?); empty for the site default"
)


class BenchmarkIn(BaseModel):
    """One benchmark to store: a benchmark file's entry, with its site."""

    model_config = ConfigDict(extra="forbid")

    site: str = Field(min_length=1, max_length=MAX_FILTER_LENGTH)
    scope: BenchmarkScope
    name: str = Field("", max_length=MAX_FILTER_LENGTH, description=BENCHMARK_NAME_DOC)
    type: str = Field(max_length=32, description="HEPscore23, HEPSPEC or si2k (any case)")
    value: float = Field(gt=0, allow_inf_nan=False, strict=True)
    valid_from: datetime | None = Field(
        None,
        description="start of this version (without an offset: UTC). Default: the scope's first"
        " version covers every earlier job; a later one starts now",
    )
    host_factor_reference: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        strict=True,
        description="the job host factor (LSF CPU factor, ...) the value was measured at",
    )

    def benchmark(self) -> benchmarks.Benchmark:
        return benchmarks.Benchmark(
            site=self.site,
            scope=self.scope,
            benchmark_type=self.type,
            value=self.value,
            scope_value=self.name,
            valid_from=as_utc(self.valid_from),
            host_factor_reference=self.host_factor_reference,
        )


class BenchmarkOut(BaseModel):
    """One stored benchmark version: valid for jobs ending in [valid_from, valid_until)."""

    id: int
    site: str
    scope: BenchmarkScope
    name: str = Field(description=BENCHMARK_NAME_DOC)
    type: str
    value: float
    host_factor_reference: float | None
    valid_from: UtcDatetime
    valid_until: UtcDatetime | None = Field(description="null for the current version")
    source: str = Field(description="where it came from: yaml:<file> or api:<token name>")
    created_at: UtcDatetime


class BenchmarkList(BaseModel):
    items: list[BenchmarkOut]


class BenchmarkStoredOut(BaseModel):
    site: str
    scope: BenchmarkScope
    name: str
    type: str
    value: float
    host_factor_reference: float | None
    outcome: Literal["created", "versioned", "unchanged"]
    valid_from: UtcDatetime | None = Field(
        description="start of the version stored (null when unchanged: nothing was stored)"
    )


RENORMALISE_NOTE = (
    "New versions apply to jobs joined from now on. Jobs already stored keep their service level"
    " and normalised durations until 'batchacct renormalise --since <renormalise_since>' is run."
)


class BenchmarkPutResult(BaseModel):
    results: list[BenchmarkStoredOut] = Field(description="one per entry, in the order sent")
    jobs_renormalised: bool = Field(
        False, description="always false: storing a benchmark does not change stored jobs"
    )
    renormalise_since: UtcDatetime | None = Field(
        description="the earliest end time of stored jobs the new versions apply to (null when"
        " nothing changed): the --since of 'batchacct renormalise'"
    )
    note: str = RENORMALISE_NOTE


class MissingBenchmarkOut(BaseModel):
    """Stored jobs without a benchmark, by site, CE (submit host) and batch host."""

    site: str
    submit_host: str | None = Field(description="the CE (null for local jobs)")
    machine_name: str
    jobs: int
    first_end_time: UtcDatetime
    last_end_time: UtcDatetime


class MissingBenchmarkList(BaseModel):
    jobs: int = Field(description="jobs without a benchmark in all items")
    items: list[MissingBenchmarkOut]


MAX_ACCOUNT_NAME = accounts.MAX_NAME_LENGTH
AccountName = Annotated[str, Field(min_length=1, max_length=MAX_ACCOUNT_NAME)]


class AccountRuleIO(BaseModel):
    """The accounts one user or one group may charge (exact names or globs with * and ?)."""

    model_config = ConfigDict(extra="forbid")

    user: AccountName | None = None
    group: AccountName | None = None
    accounts: list[AccountName] = Field(min_length=1, max_length=10_000)


class AccountPolicyIn(BaseModel):
    """A site's whole account policy (a policy file as JSON): it replaces the stored one."""

    model_config = ConfigDict(extra="forbid")

    site: str = Field(min_length=1, max_length=MAX_FILTER_LENGTH)
    default: Literal["allow", "deny"] = Field(description="for users and groups not listed")
    rules: list[AccountRuleIO] = Field(default_factory=list, max_length=100_000)


class AccountPolicyOut(BaseModel):
    site: str
    default: Literal["allow", "deny"]
    rules: list[AccountRuleIO]
    source: str = Field(description="where it came from: yaml:<file> or api:<token name>")
    created_at: UtcDatetime | None


class AccountPolicyList(BaseModel):
    items: list[AccountPolicyOut]


REVALIDATE_NOTE = (
    "The policy applies to jobs joined from now on. Job records already stored keep their"
    " account_valid until 'batchacct accounts revalidate --since <date>' is run."
)


class AccountPolicyPutResult(BaseModel):
    site: str
    default: Literal["allow", "deny"]
    rules: int = Field(description="(subject, account) rules stored")
    changed: bool = Field(description="false: the stored policy was already this one")
    previous_rules: int | None = Field(description="rules before (null: the site had no policy)")
    jobs_revalidated: bool = Field(
        False, description="always false: storing a policy does not change stored jobs"
    )
    note: str = REVALIDATE_NOTE


def _policy_out(policy: accounts.Policy) -> AccountPolicyOut:
    document = policy.as_document()
    return AccountPolicyOut(
        site=policy.site,
        default=document["default"],
        rules=[AccountRuleIO.model_validate(rule) for rule in document["rules"]],
        source=policy.source,
        created_at=policy.created_at,
    )


JOB_COLUMNS = tuple(JobOut.model_fields)
JOB_KEY = ("end_time", "site", "local_job_id", "machine_name")
QUARANTINE_COLUMNS = tuple(QuarantineOut.model_fields)
FILE_COLUMNS = tuple(FileOut.model_fields)
FILE_KEY = ("collector", "file_id")
PUBLICATION_COLUMNS = tuple(PublicationOut.model_fields)

# group_by key -> SQL expression. Only these expressions ever reach the SQL text.
GROUP_KEYS: dict[str, sql.Composable] = {
    "site": sql.Identifier("site"),
    "vo": sql.Identifier("vo"),
    "local_user_id": sql.Identifier("local_user_id"),
    "queue": sql.Identifier("queue"),
    "infrastructure_type": sql.Identifier("infrastructure_type"),
    "month": sql.SQL("to_char(end_time AT TIME ZONE 'UTC', 'YYYY-MM')"),
    "submit_host": sql.Identifier("submit_host"),
    "global_user_name": sql.Identifier("global_user_name"),
    "processors": sql.Identifier("processors"),
    "service_level_type": sql.Identifier("service_level_type"),
    "service_level": sql.Identifier("service_level"),
}
# The same keys in the summaries table (APEL's summary keys), which answers without reading the
# job records when every key and filter is one of these.
SUMMARY_TABLE_KEYS: dict[str, sql.Composable] = {
    **{k: e for k, e in GROUP_KEYS.items() if k not in ("local_user_id", "queue", "month")},
    "month": sql.SQL("to_char(make_date(year, month, 1), 'YYYY-MM')"),
}
SUMMED_DURATIONS = (
    "wall_duration",
    "cpu_duration",
    "normalised_wall_duration",
    "normalised_cpu_duration",
)


# --- Query parameters ---------------------------------------------------------------------------


def _invalid(param: str, message: str, value: object) -> RequestValidationError:
    """A 422 in FastAPI's usual shape, for checks that need more than the parameter's type."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", param), "msg": message, "input": value}]
    )


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str | None, AfterValidator(_no_nul), Query(max_length=MAX_FILTER_LENGTH)]
When = Annotated[
    datetime | None,
    AfterValidator(as_utc),
    Query(description="ISO 8601 date-time; without an offset it is UTC"),
]
InfraType = Annotated[Literal["grid", "local"] | None, Query()]
FileState = Annotated[Literal["active", "done", "quarantined"] | None, Query()]
Cursor = Annotated[
    str | None,
    Query(max_length=MAX_CURSOR_LENGTH, description="next_cursor of the previous page"),
]


def page_limit(
    request: Request,
    limit: Annotated[
        int | None, Query(ge=1, description="Page size (default and maximum are configured)")
    ] = None,
) -> int:
    settings: ApiSettings = request.app.state.settings
    if limit is None:
        return settings.default_page_size
    if limit > settings.max_page_size:
        raise _invalid(
            "limit", f"Input should be less than or equal to {settings.max_page_size}", limit
        )
    return limit


Limit = Annotated[int, Depends(page_limit)]


def job_filters(
    site: Text = None,
    user: Text = None,
    vo: Text = None,
    queue: Text = None,
    account: Text = None,
    host: Annotated[
        str | None,
        AfterValidator(_no_nul),
        Query(max_length=MAX_FILTER_LENGTH, description="submit host, machine or exec host"),
    ] = None,
    since: When = None,
    until: When = None,
    invalid_only: Annotated[
        bool, Query(description="only jobs whose account failed validation")
    ] = False,
) -> JobFilters:
    """The job filters of the report and chart routes, checked: a bad one is a 422 naming it."""
    try:
        return JobFilters(
            site=site,
            user=user,
            vo=vo,
            queue=queue,
            account=account,
            host=host,
            since=since,
            until=until,
            invalid_only=invalid_only,
        ).checked()
    except ParameterError as err:
        raise _invalid(err.param, err.message, err.value) from None


Filters = Annotated[JobFilters, Depends(job_filters)]


def _encode_cursor(kind: str, key: list[Any]) -> str:
    raw = json.dumps({"k": kind, "v": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode_cursor(kind: str, cursor: str) -> list[Any]:
    """The key list inside ``cursor``; raises a 422 for anything this endpoint did not issue."""
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        data = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        data = None
    if not isinstance(data, dict) or data.get("k") != kind or not isinstance(data.get("v"), list):
        raise _invalid("cursor", "invalid cursor: pass the next_cursor of a previous page", cursor)
    key: list[Any] = data["v"]
    return key


def _jobs_cursor_key(cursor: str) -> list[Any]:
    key = _decode_cursor("jobs", cursor)
    try:
        if len(key) != len(JOB_KEY) or not all(isinstance(v, str) and "\x00" not in v for v in key):
            raise ValueError
        for value in key:
            value.encode()  # a lone surrogate from a JSON escape is no text PostgreSQL can take
        end_time = datetime.fromisoformat(key[0])
        if end_time.tzinfo is None:
            raise ValueError
    except ValueError:
        raise _invalid(
            "cursor", "invalid cursor: pass the next_cursor of a previous page", cursor
        ) from None
    return [end_time, *key[1:]]


def _quarantine_cursor_key(cursor: str) -> int:
    key = _decode_cursor("quarantine", cursor)
    if len(key) != 1 or type(key[0]) is not int or not 0 <= key[0] < 2**63:
        raise _invalid("cursor", "invalid cursor: pass the next_cursor of a previous page", cursor)
    return key[0]


def _files_cursor_key(cursor: str) -> list[Any]:
    key = _decode_cursor("files", cursor)
    if len(key) != 2 or not all(type(k) is str for k in key):
        raise _invalid("cursor", "invalid cursor: pass the next_cursor of a previous page", cursor)
    return key


def _publications_cursor_key(cursor: str) -> int:
    key = _decode_cursor("publications", cursor)
    if len(key) != 1 or type(key[0]) is not int or not 0 <= key[0] < 2**63:
        raise _invalid("cursor", "invalid cursor: pass the next_cursor of a previous page", cursor)
    return key[0]


def _parse_group_by(text: str) -> list[str]:
    try:
        return comma_list(text, list(GROUP_KEYS), "group_by", "group_by key", "allowed keys")
    except ParameterError as err:
        raise _invalid(err.param, err.message, err.value) from None


class _Where:
    """AND-ed conditions over whitelisted columns, with their parameters."""

    def __init__(self) -> None:
        self.parts: list[sql.Composable] = []
        self.params: list[Any] = []

    def equal(self, column: str, value: object | None) -> None:
        if value is not None:
            self.parts.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            self.params.append(value)

    def compare(self, column: str, op: Literal[">=", "<", ">"], value: object | None) -> None:
        if value is not None:
            self.parts.append(sql.SQL("{} {} %s").format(sql.Identifier(column), sql.SQL(op)))
            self.params.append(value)

    def contains(self, array_column: str, value: object | None) -> None:
        if value is not None:
            self.parts.append(sql.SQL("%s = ANY({})").format(sql.Identifier(array_column)))
            self.params.append(value)

    def key_after(self, columns: tuple[str, ...], values: list[Any]) -> None:
        self.parts.append(
            sql.SQL("({}) > ({})").format(
                sql.SQL(", ").join(map(sql.Identifier, columns)),
                sql.SQL(", ").join(sql.Placeholder() for _ in columns),
            )
        )
        self.params.extend(values)

    def clause(self) -> sql.Composable:
        if not self.parts:
            return sql.SQL("")
        return sql.SQL("WHERE ") + sql.SQL(" AND ").join(self.parts)


async def _fetch_page(
    conn: AsyncConnection[TupleRow],
    table: str,
    columns: tuple[str, ...],
    where: _Where,
    order: tuple[str, ...],
    limit: int,
) -> list[dict[str, Any]]:
    """One keyset page: up to ``limit + 1`` rows (one more than asked says another page exists)."""
    query = sql.SQL("SELECT {} FROM {} {} ORDER BY {} LIMIT %s").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.Identifier(table),
        where.clause(),
        sql.SQL(", ").join(map(sql.Identifier, order)),
    )
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, [*where.params, limit + 1])
        return await cur.fetchall()


def _job_filters(
    *,
    site: str | None,
    vo: str | None,
    local_user_id: str | None,
    infrastructure_type: str | None,
    end_after: datetime | None,
    end_before: datetime | None,
) -> _Where:
    where = _Where()
    where.equal("site", site)
    where.equal("vo", vo)
    where.equal("local_user_id", local_user_id)
    where.equal("infrastructure_type", infrastructure_type)
    where.compare("end_time", ">=", end_after)
    where.compare("end_time", "<", end_before)
    return where


# --- Dependencies: connection and bearer-token auth -------------------------------------------


def _pool(request: Request) -> Pool:
    pool: Pool = request.app.state.pool
    return pool


async def get_conn(request: Request) -> AsyncIterator[AsyncConnection[TupleRow]]:
    settings: ApiSettings = request.app.state.settings
    async with _pool(request).connection(timeout=settings.db_timeout) as conn:
        yield conn


Conn = Annotated[AsyncConnection[TupleRow], Depends(get_conn)]

_bearer = HTTPBearer(auto_error=False, description="API token: Authorization: Bearer <token>")


def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The presented token (no database needed: a request without one never takes a connection)."""
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or malformed Authorization header; expected 'Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return credentials.credentials


def require_scope(scope: str) -> Callable[..., Awaitable[str]]:
    """A dependency that admits tokens holding ``scope``; it returns the token's name."""

    async def check(token: Annotated[str, Depends(bearer_token)], conn: Conn) -> str:
        digest = token_hash(token)
        cur = await conn.execute(
            "SELECT token_sha256, name, scopes FROM api_tokens WHERE token_sha256 = %s", (digest,)
        )
        row = await cur.fetchone()
        if row is None or not hmac.compare_digest(row[0], digest):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="invalid token",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if scope not in row[2]:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"token lacks the {scope!r} scope",
                headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
            )
        name: str = row[1]
        return name

    return check


# --- /api/v1 ------------------------------------------------------------------------------------

router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_scope("read"))])


@router.get("/jobs", summary="Job records, oldest end time first (keyset pagination)")
async def list_jobs(
    conn: Conn,
    limit: Limit,
    site: Text = None,
    local_job_id: Text = None,
    vo: Text = None,
    local_user_id: Text = None,
    infrastructure_type: InfraType = None,
    end_after: When = None,
    end_before: When = None,
    cursor: Cursor = None,
) -> JobPage:
    """Jobs with ``end_after <= end_time < end_before``, ordered by (end_time, site, local_job_id,
    machine_name). ``next_cursor`` is null on the last page."""
    where = _job_filters(
        site=site,
        vo=vo,
        local_user_id=local_user_id,
        infrastructure_type=infrastructure_type,
        end_after=end_after,
        end_before=end_before,
    )
    where.equal("local_job_id", local_job_id)
    if cursor is not None:
        where.key_after(JOB_KEY, _jobs_cursor_key(cursor))
    rows = await _fetch_page(conn, "job_records", JOB_COLUMNS, where, JOB_KEY, limit)
    items = [JobOut.model_validate(row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = _encode_cursor(
            "jobs", [last.end_time.isoformat(), last.site, last.local_job_id, last.machine_name]
        )
    return JobPage(items=items, next_cursor=next_cursor)


@router.get(
    "/summaries",
    summary="Jobs, durations (s) and normalised durations (HS06-s) summed by the group_by keys",
)
async def summaries(
    conn: Conn,
    group_by: Annotated[
        str,
        Query(
            max_length=MAX_FILTER_LENGTH,
            description=f"Comma-separated subset of: {', '.join(GROUP_KEYS)}",
        ),
    ] = "",
    site: Text = None,
    vo: Text = None,
    local_user_id: Text = None,
    infrastructure_type: InfraType = None,
    end_after: When = None,
    end_before: When = None,
) -> SummaryPage:
    """One item per group, sorted by the keys; month is the UTC calendar month of end_time.

    Normalised durations are HS06-seconds; a job without a benchmark adds 0 to them and is
    counted in ``jobs_without_benchmark``.
    """
    keys = _parse_group_by(group_by)
    where = _job_filters(
        site=site,
        vo=vo,
        local_user_id=local_user_id,
        infrastructure_type=infrastructure_type,
        end_after=end_after,
        end_before=end_before,
    )
    # Whole months of APEL's keys come from the summaries table, kept by the joiner; anything
    # finer (a user, a queue, a time range) is summed from the job records.
    from_summaries = (
        all(k in SUMMARY_TABLE_KEYS for k in keys)
        and local_user_id is None
        and end_after is None
        and end_before is None
    )
    key_exprs = SUMMARY_TABLE_KEYS if from_summaries else GROUP_KEYS
    exprs = [key_exprs[k] for k in keys]
    selected: list[sql.Composable] = [
        sql.SQL("{} AS {}").format(e, sql.Identifier(k)) for e, k in zip(exprs, keys, strict=True)
    ]
    if from_summaries:
        selected += [
            sql.SQL("coalesce(sum(number_of_jobs), 0)::bigint AS jobs"),
            *(
                sql.SQL("coalesce(sum({c}), 0)::bigint AS {c}").format(c=sql.Identifier(c))
                for c in SUMMED_DURATIONS
            ),
            sql.SQL(
                "coalesce(sum(number_of_jobs) FILTER (WHERE service_level IS NULL), 0)::bigint"
                " AS jobs_without_benchmark"
            ),
        ]
    else:
        selected += [
            sql.SQL("count(*) AS jobs"),
            *(
                sql.SQL("coalesce(sum({c}), 0)::bigint AS {c}").format(c=sql.Identifier(c))
                for c in SUMMED_DURATIONS
            ),
            sql.SQL("count(*) FILTER (WHERE service_level IS NULL) AS jobs_without_benchmark"),
        ]
    query = sql.SQL("SELECT {} FROM {} {}").format(
        sql.SQL(", ").join(selected),
        sql.Identifier("summaries" if from_summaries else "job_records"),
        where.clause(),
    )
    if exprs:
        by = sql.SQL(", ").join(exprs)
        query += sql.SQL(" GROUP BY {} ORDER BY {}").format(by, by)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, where.params)
        rows = await cur.fetchall()
    return SummaryPage(group_by=keys, items=rows)


@router.get(
    "/reports/{report_type}",
    summary="Accounting reports (llsummary): short, long, extended, throughput",
)
async def report(
    conn: Conn,
    limit: Limit,
    report_type: Annotated[reports.ReportType, FastApiPath(description="the report type")],
    filters: Filters,
    by: Annotated[
        str | None,
        Query(
            max_length=MAX_FILTER_LENGTH,
            description="short and throughput: comma-separated sections, one each: "
            f"{', '.join(reports.SECTIONS)} (default {','.join(reports.DEFAULT_SECTIONS)})",
        ),
    ] = None,
    cursor: Cursor = None,
) -> reports.ShortReport | reports.ThroughputReport | reports.JobReport:
    """LoadLeveler's llsummary over the job records (times UTC, end_time in [since, until)).

    - short: per section value, jobs, CPU, wall and normalised CPU hours (HS06-hours) and CPU
      efficiency (100 × CPU / (wall × processors)), with a total;
    - long: one row per job (seconds), ordered by end time, ``limit`` per page (``cursor``);
    - extended: long plus each job's usage per execution host, and every host's usage over all
      the selected jobs; only the host list is known, so a job's time is split evenly across it;
    - throughput: jobs, jobs per hour over the period, turnaround (end - submit) and wait
      (start - submit) in seconds from the jobs that have a submit time (the others counted).
    """
    resume_after: reports.JobKey | None = None
    if cursor is not None:
        end_time, job_site, local_job_id, machine_name = _jobs_cursor_key(cursor)
        resume_after = (end_time, job_site, local_job_id, machine_name)
    try:
        request = reports.ReportRequest(
            report_type=report_type,
            sections=reports.parse_sections(by),
            filters=filters,
            limit=limit,
            after=resume_after,
        )
        result = await reports.run_async(conn, request)
    except ParameterError as err:
        raise _invalid(err.param, err.message, err.value) from None
    if isinstance(result, reports.JobReport):
        last = reports.last_job_key(result)
        if last is not None:
            result.next_cursor = _encode_cursor("jobs", [last[0].isoformat(), *last[1:]])
    return result


@router.get("/quarantine", summary="Rejected input lines, oldest first (keyset pagination)")
async def list_quarantine(
    conn: Conn,
    limit: Limit,
    reason: Text = None,
    source_format: Text = None,
    site: Text = None,
    since: When = None,
    cursor: Cursor = None,
) -> QuarantinePage:
    """Quarantined lines received at or after ``since``, ordered by id."""
    where = _Where()
    where.equal("reason", reason)
    where.equal("source_format", source_format)
    where.equal("site", site)
    where.compare("received_at", ">=", since)
    if cursor is not None:
        where.compare("id", ">", _quarantine_cursor_key(cursor))
    rows = await _fetch_page(conn, "quarantine", QUARANTINE_COLUMNS, where, ("id",), limit)
    items = [QuarantineOut.model_validate(row) for row in rows[:limit]]
    next_cursor = _encode_cursor("quarantine", [items[-1].id]) if len(rows) > limit else None
    return QuarantinePage(items=items, next_cursor=next_cursor)


class ChartSeriesOut(BaseModel):
    label: str
    values: list[float]


class ChartOut(BaseModel):
    """One chart's data, as ``batchacct plot`` draws it. ``x``: ISO dates (UTC bin starts) for
    stacked and line charts, bin edges for histograms (one more than the values), labels for bar
    charts; ``series``: one list of values per label, aligned with ``x``."""

    name: str
    title: str
    x_label: str
    y_label: str
    unit: str = Field(description="unit of the values: hours, HS06-hours, jobs or %")
    kind: Literal["stacked", "bar", "line", "histogram"]
    x: list[str | float]
    series: list[ChartSeriesOut]
    notes: list[str] = Field(description="totals, and the jobs left out and why")


class ChartListItem(BaseModel):
    name: str
    title: str
    kind: Literal["stacked", "bar", "line", "histogram"]


class ChartList(BaseModel):
    items: list[ChartListItem]


@router.get("/charts", summary="The charts /api/v1/charts/{name} serves")
async def list_charts() -> ChartList:
    return ChartList(
        items=[
            ChartListItem(name=spec.name, title=spec.title, kind=spec.kind)
            for spec in charts.CHARTS.values()
        ]
    )


@router.get(
    "/charts/{name}",
    summary="One chart's data (the JSON behind 'batchacct plot')",
    responses={422: {"description": "An unknown chart or invalid filters"}},
)
async def chart(conn: Conn, name: str, filters: Filters) -> ChartOut:
    """Jobs with ``since <= end_time < until`` (UTC) that match the filters, as for the reports.
    Time bins (day, ISO week or month of end time) are chosen from the range; CPU and wall time
    are hours, normalised time HS06-hours."""
    if name not in charts.CHARTS:
        raise _invalid_body(
            ("path", "name"), f"unknown chart; charts: {', '.join(charts.CHARTS)}", name
        )
    return ChartOut.model_validate(await charts.compute_async(conn, name, filters))


@router.get("/files", summary="Every file the collectors have seen (keyset pagination)")
async def list_files(
    conn: Conn,
    limit: Limit,
    site: Text = None,
    source_format: Text = None,
    state: FileState = None,
    cursor: Cursor = None,
) -> FilePage:
    """The collectors' file registry: identity, offset, counts and state of every file, ordered
    by (collector, file_id)."""
    where = _Where()
    where.equal("site", site)
    where.equal("source_format", source_format)
    where.equal("state", state)
    if cursor is not None:
        where.key_after(FILE_KEY, _files_cursor_key(cursor))
    rows = await _fetch_page(conn, "collector_files", FILE_COLUMNS, where, FILE_KEY, limit)
    items = [FileOut.model_validate(row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = _encode_cursor("files", [items[-1].collector, items[-1].file_id])
    return FilePage(items=items, next_cursor=next_cursor)


@router.get("/benchmarks", summary="Machine benchmarks: current versions, or every version")
async def list_benchmarks(
    conn: Conn,
    site: Text = None,
    all_versions: Annotated[bool, Query(description="every version, not only the current")] = False,
) -> BenchmarkList:
    """Ordered by site, scope (most specific first: exec_host, ce, machine, site), name and
    time."""
    query, params = benchmarks.list_query(site=site, all_versions=all_versions)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        rows = await cur.fetchall()
    return BenchmarkList(
        items=[
            BenchmarkOut.model_validate(
                {**row, "name": row["scope_value"], "type": row["benchmark_type"]}
            )
            for row in rows
        ]
    )


@router.get("/benchmarks/missing", summary="Stored jobs without a benchmark")
async def missing_benchmarks(conn: Conn, site: Text = None) -> MissingBenchmarkList:
    """Jobs stored and joined without a benchmark (no service level, not normalised), grouped by
    the scopes a benchmark could be given to: the CE (grid jobs) and the batch host (local
    jobs). Once one is stored, ``batchacct renormalise --since`` fills them in."""
    if site is None:
        query, params = benchmarks.MISSING, {}
    else:
        query, params = benchmarks.MISSING_AT_SITE, {"site": site}
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        rows = await cur.fetchall()
    items = [MissingBenchmarkOut.model_validate(row) for row in rows]
    return MissingBenchmarkList(jobs=sum(item.jobs for item in items), items=items)


@router.get(
    "/accounts/policy", summary="Account policies: which accounts users and groups may charge"
)
async def list_account_policies(conn: Conn, site: Text = None) -> AccountPolicyList:
    """Every site's policy (or one site's), in the shape ``PUT /api/v1/accounts/policy`` takes."""
    async with conn.cursor() as cur:
        await cur.execute(accounts.LIST, {"site": site})
        rows = await cur.fetchall()
    return AccountPolicyList(items=[_policy_out(p) for p in accounts.policies_from_rows(rows)])


@router.get("/publications", summary="The publication log, oldest first (keyset pagination)")
async def list_publications(
    conn: Conn,
    limit: Limit,
    site: Text = None,
    since: When = None,
    status: Annotated[Literal["queued", "rejected"] | None, Query()] = None,
    cursor: Cursor = None,
) -> PublicationPage:
    """What the publisher queued for APEL (one item per message and destination) and what it
    set aside, queued at or after ``since``, ordered by id."""
    where = _Where()
    where.contains("sites", site)
    where.compare("queued_at", ">=", since)
    where.equal("status", status)
    if cursor is not None:
        where.compare("id", ">", _publications_cursor_key(cursor))
    rows = await _fetch_page(conn, "publications", PUBLICATION_COLUMNS, where, ("id",), limit)
    items = [PublicationOut.model_validate(row) for row in rows[:limit]]
    next_cursor = _encode_cursor("publications", [items[-1].id]) if len(rows) > limit else None
    return PublicationPage(items=items, next_cursor=next_cursor)


@router.get("/openapi.json", include_in_schema=False)
async def openapi(request: Request) -> dict[str, Any]:
    """The API description (behind a token too: only health and metrics are open)."""
    schema: dict[str, Any] = request.app.openapi()
    return schema


# --- /api/v1, admin scope -----------------------------------------------------------------------

admin_router = APIRouter(prefix="/api/v1")
MAX_BENCHMARKS_PER_REQUEST = 1000


@admin_router.put(
    "/benchmarks",
    summary="Store benchmarks (admin scope); stored jobs change only with 'batchacct renormalise'",
    responses={
        409: {"description": "Another request stored the same scope at the same time; retry"},
        422: {"description": "An invalid entry: nothing was stored"},
    },
)
async def put_benchmarks(
    conn: Conn,
    token_name: Annotated[str, Depends(require_scope("admin"))],
    body: Annotated[
        BenchmarkIn
        | Annotated[list[BenchmarkIn], Field(min_length=1, max_length=MAX_BENCHMARKS_PER_REQUEST)],
        Body(description="one benchmark or a list"),
    ],
) -> BenchmarkPutResult:
    """Store each benchmark as a new version of its scope, all in one transaction: a changed value
    closes the current version at ``valid_from`` (default now); a value within 0.001 of the
    current one changes nothing. Any invalid entry: 422, and nothing is stored.

    This does not renormalise the jobs already stored: run ``batchacct renormalise --since
    <renormalise_since>`` for that (``jobs_renormalised`` is always false)."""
    entries = body if isinstance(body, list) else [body]
    wanted: list[benchmarks.Benchmark] = []
    for index, entry in enumerate(entries):
        try:
            wanted.append(entry.benchmark().checked())
        except benchmarks.BenchmarkError as err:
            loc = ("body", index) if isinstance(body, list) else ("body",)
            raise _invalid_body(loc, str(err), entry.model_dump(mode="json")) from None
    try:
        stored = await benchmarks.store_benchmarks_async(
            conn, wanted, source=f"api:{token_name}", now=datetime.now(UTC)
        )
    except benchmarks.BenchmarkError as err:
        raise _invalid_body(("body",), str(err), None) from None
    except psycopg.errors.UniqueViolation:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail="another request stored a benchmark of the same scope at the same time; retry",
        ) from None
    return BenchmarkPutResult(
        results=[
            BenchmarkStoredOut(
                site=s.benchmark.site,
                scope=s.benchmark.scope,
                name=s.benchmark.scope_value,
                type=s.benchmark.benchmark_type,
                value=s.benchmark.value,
                host_factor_reference=s.benchmark.host_factor_reference,
                outcome=s.outcome,
                valid_from=s.valid_from,
            )
            for s in stored
        ],
        renormalise_since=benchmarks.renormalise_since(stored),
    )


@admin_router.put(
    "/accounts/policy",
    summary="Replace a site's account policy (admin scope); stored jobs change only with"
    " 'batchacct accounts revalidate'",
    responses={
        409: {"description": "Another request stored the same site's policy at the same time"},
        422: {"description": "An invalid policy: nothing was stored"},
    },
)
async def put_account_policy(
    conn: Conn,
    token_name: Annotated[str, Depends(require_scope("admin"))],
    body: Annotated[AccountPolicyIn, Body(description="a policy file's content as JSON")],
) -> AccountPolicyPutResult:
    """Replace the site's policy in one transaction: the same checks as ``batchacct accounts
    load`` (one of user and group per rule, each subject once, no account twice); any error is a
    422 naming the rule, and nothing is stored."""
    try:
        policy = accounts.policy_from_document(body.model_dump(exclude_none=True), "body")
    except accounts.AccountPolicyError as err:
        raise _invalid_body(("body",), str(err), None) from None
    try:
        replaced = await accounts.store_policy_async(conn, policy, source=f"api:{token_name}")
    except psycopg.errors.UniqueViolation:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail="another request stored this site's policy at the same time; retry",
        ) from None
    return AccountPolicyPutResult(
        site=policy.site,
        default=body.default,
        rules=len(policy.rules),
        changed=replaced.changed,
        previous_rules=replaced.previous_rules,
    )


def _invalid_body(
    loc: tuple[str | int, ...], message: str, value: object
) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": loc, "msg": message, "input": value}]
    )


# --- Health and metrics (no token) --------------------------------------------------------------

health = APIRouter()


@health.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive (says nothing about the database)."""
    return {"status": "ok"}


@health.get("/readyz", responses={503: {"description": "The database is unreachable"}})
async def readyz(request: Request) -> JSONResponse:
    """Ready when the database answers ``SELECT 1`` within about two seconds."""
    settings: ApiSettings = request.app.state.settings
    timeout = min(READY_TIMEOUT_SECONDS, settings.db_timeout)
    try:
        async with asyncio.timeout(timeout):
            async with _pool(request).connection(timeout=timeout) as conn:
                await conn.execute("SELECT 1")
    except (psycopg.Error, TimeoutError) as err:
        log.warning(
            "not ready", extra={"reason": "database unreachable", "error": type(err).__name__}
        )
        return JSONResponse(
            {"status": "not ready", "reason": "database unreachable"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    return JSONResponse({"status": "ready"})


@health.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus text exposition format."""
    await _count_jobs_without_benchmark(request)
    return Response(generate_latest(), media_type=METRICS_CONTENT_TYPE)


async def _count_jobs_without_benchmark(request: Request) -> None:
    """Set ``batchacct_jobs_without_benchmark`` from the database (the partial index of jobs
    without a service level). When the database does not answer within about two seconds, the
    last counts stay."""
    settings: ApiSettings = request.app.state.settings
    timeout = min(READY_TIMEOUT_SECONDS, settings.db_timeout)
    try:
        async with asyncio.timeout(timeout):
            async with _pool(request).connection(timeout=timeout) as conn:
                cur = await conn.execute(benchmarks.COUNT_MISSING_BY_SITE)
                counts = await cur.fetchall()
    except (psycopg.Error, TimeoutError) as err:
        log.warning(
            "jobs without a benchmark not counted",
            extra={"reason": "database unreachable", "error": type(err).__name__},
        )
        return
    JOBS_WITHOUT_BENCHMARK.clear()
    for site, jobs in counts:
        JOBS_WITHOUT_BENCHMARK.labels(site=site).set(jobs)


# --- Errors and request metrics -----------------------------------------------------------------


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "other"


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # The exception text is not logged: it may name hosts; it never reaches the client.
    log.warning(
        "database unavailable",
        extra={"route": _route_template(request.scope), "error": type(exc).__name__},
    )
    return JSONResponse(
        {"detail": "database unavailable, try again later"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "5"},
    )


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, able to show a NaN or infinite number sent in a body (as text)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = jsonable_encoder(errors, custom_encoder={float: _finite_or_text})
    return JSONResponse({"detail": detail}, status_code=422)


def _finite_or_text(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.error(
        "unhandled error",
        extra={"route": _route_template(request.scope), "error": type(exc).__name__},
    )
    return JSONResponse({"detail": "internal error"}, status_code=500)


class MetricsMiddleware:
    """Counts requests and their latency by method, route template and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            # The router stored the matched route in the (shared) scope; unmatched -> "other".
            route = _route_template(scope)
            method = scope["method"] if scope["method"] in _METHODS else "other"
            API_REQUESTS.labels(method=method, route=route, status=str(status_code)).inc()
            API_LATENCY.labels(method=method, route=route).observe(time.perf_counter() - started)


# --- The app ------------------------------------------------------------------------------------


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: ApiSettings = app.state.settings
    pool: Pool = AsyncConnectionPool(
        settings.database_dsn,
        min_size=1,
        max_size=settings.db_pool_size,
        timeout=settings.db_timeout,
        open=False,
        check=AsyncConnectionPool.check_connection,
        name="api",
        kwargs={
            "autocommit": True,
            "connect_timeout": max(2, math.ceil(settings.db_timeout)),
            "application_name": "batchacct-api",
        },
    )
    # Do not wait for the database: the API starts anyway and /readyz tells whether it is there.
    await pool.open(wait=False)
    app.state.pool = pool
    try:
        yield
    finally:
        await pool.close()


def create_app(settings: ApiSettings) -> FastAPI:
    app = FastAPI(
        title="batchacct API",
        version=__version__,
        lifespan=_lifespan,
        # Only health and metrics are open; the description is served at /api/v1/openapi.json.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.include_router(health)
    app.include_router(router)
    app.include_router(admin_router)
    app.include_router(ui_router)  # the dashboard's static files at /ui (no token)
    app.add_exception_handler(psycopg.OperationalError, _database_unavailable)
    app.add_exception_handler(psycopg.InterfaceError, _database_unavailable)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _internal_error)
    app.add_middleware(MetricsMiddleware)
    BUILD_INFO.labels(version=__version__, service="api").set(1)
    return app

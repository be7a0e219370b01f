"""Short reports from the daily rollup (``report_rollup``, migration 0006) instead of the job records.

The rollup holds, per site, UTC day, VO, section and value, the short report's sums; statement
triggers on ``job_records`` keep it in the writer's transaction, whoever the writer is. It
answers a short report whose filters are at most a site, a VO and whole UTC days: those reports
read a few hundred rows a day instead of every job. Any other filter (user, queue, account, host,
invalid accounts, a time of day) needs the job records, and :func:`answers` says so.

The day, week and month sections and the totals are sums of the ``machine`` rows: every job is
in exactly one of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import sql

from batchacct.job_filters import JobFilters

TIME_SECTIONS: dict[str, sql.Composable] = {
    "day": sql.SQL("to_char(day, 'YYYY-MM-DD')"),
    "week": sql.SQL("to_char(day, 'IYYY-\"W\"IW')"),
    "month": sql.SQL("to_char(day, 'YYYY-MM')"),
}
VALUE_SECTIONS = ("user", "group", "vo", "account", "queue", "submit_host", "machine")
_EVERY_JOB_ONCE = "machine"
NONE = "\x1e"  # how the rollup keeps a NULL value
# The short report's measures (reports.SHORT_MEASURES), as sums of the rollup's columns.
MEASURES = sql.SQL(", ").join(
    sql.SQL("coalesce(sum({c}), 0)::bigint AS {c}").format(c=sql.Identifier(c))
    for c in (
        "jobs",
        "cpu_seconds",
        "wall_seconds",
        "normalised_cpu_seconds",
        "jobs_without_benchmark",
        "core_wall_seconds",
    )
)


def _whole_day(value: datetime | None) -> bool:
    return value is None or value == value.replace(hour=0, minute=0, second=0, microsecond=0)


def answers(filters: JobFilters) -> bool:
    """Whether the rollup answers a short report with these (checked, UTC) filters."""
    return (
        all(v is None for v in (filters.user, filters.queue, filters.account, filters.host))
        and not filters.invalid_only
        and NONE not in (filters.site or "") + (filters.vo or "")
        and _whole_day(filters.since)
        and _whole_day(filters.until)
    )


def grouped(section: str, filters: JobFilters) -> tuple[sql.Composed, dict[str, Any]]:
    """The short report's query for ``section`` (one row per value and the TOTAL row, as
    ``reports._grouped`` returns them), from the rollup. Only for filters :func:`answers`."""
    if section in TIME_SECTIONS:
        key, shown, source = TIME_SECTIONS[section], TIME_SECTIONS[section], _EVERY_JOB_ONCE
    elif section in VALUE_SECTIONS:
        key, shown = sql.Identifier("value"), sql.SQL("nullif(value, {})").format(NONE)
        source = section
    else:
        raise ValueError(f"the rollup has no section {section!r}")
    parts: list[sql.Composable] = [sql.SQL("section = %(rollup_section)s")]
    params: dict[str, Any] = {"rollup_section": source}
    for column, operator, value in (
        ("site", "=", filters.site),
        ("vo", "=", filters.vo),
        ("day", ">=", filters.since.date() if filters.since else None),
        ("day", "<", filters.until.date() if filters.until else None),
    ):
        if value is not None:
            name = f"rollup_{column}_{len(params)}"
            parts.append(
                sql.SQL("{} {} {}").format(
                    sql.Identifier(column), sql.SQL(operator), sql.Placeholder(name)
                )
            )
            params[name] = value
    query = sql.SQL(
        "SELECT {shown} AS section_value, GROUPING({key}) = 1 AS is_total, {measures}"
        " FROM report_rollup WHERE {where}"
        " GROUP BY GROUPING SETS (({key}), ())"
        " ORDER BY is_total, section_value NULLS LAST"
    ).format(shown=shown, key=key, measures=MEASURES, where=sql.SQL(" AND ").join(parts))
    return query, params

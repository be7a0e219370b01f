"""Usage summaries, kept equal to a GROUP BY of the job records without ever recomputing it.

Whatever writes job records (the join, a renormalisation) also writes, in the same transaction,
one row per change into the temporary table ``summary_delta``: +1 and the new values for the
record as it is now, -1 and the old values for the record it replaced. :func:`apply_deltas` then
folds them into ``summaries``: sums and counts by addition; the earliest and latest end time by
LEAST/GREATEST. Where a removed record held one of them, the row is marked ``bounds_stale``, and
:func:`refresh` looks the bounds up again, one pass per site-month, before anything reads the
row: an index kept only for that lookup would slow every job-record write. Keys left without
jobs are deleted.

The key is APEL's (apel-facts 3.4): site, year, month (of the end time, UTC), global_user_name,
vo, vo_group, vo_role, submit_host, infrastructure_type, service_level_type, service_level,
node_count, processors. Normalised sums count jobs without a benchmark as 0.
"""

from __future__ import annotations

from typing import Any

import psycopg

KEY_COLUMNS = (
    "site",
    "year",
    "month",
    "global_user_name",
    "vo",
    "vo_group",
    "vo_role",
    "submit_host",
    "infrastructure_type",
    "service_level_type",
    "service_level",
    "node_count",
    "processors",
)
MEASURE_COLUMNS = (
    "number_of_jobs",
    "wall_duration",
    "cpu_duration",
    "normalised_wall_duration",
    "normalised_cpu_duration",
    "earliest_end_time",
    "latest_end_time",
)
_KEYS = ", ".join(KEY_COLUMNS)
_KEY_ARGS = ", ".join(KEY_COLUMNS)

DELTA_DDL = """
CREATE TEMP TABLE IF NOT EXISTS summary_delta (
    site text, year integer, month integer, global_user_name text, vo text, vo_group text,
    vo_role text, submit_host text, infrastructure_type text, service_level_type text,
    service_level double precision, node_count integer, processors integer,
    sign integer, wall_duration bigint, cpu_duration bigint,
    normalised_wall_duration bigint, normalised_cpu_duration bigint, end_time timestamptz
) ON COMMIT DELETE ROWS
"""


def delta_select(alias: str, sign: int, prefix: str = "") -> str:
    """The SELECT list that turns a job-record row into a ``summary_delta`` row.

    ``alias.prefix<column>`` names the record's columns (a prefix for the old values a query
    carries next to the new ones).
    """

    def col(name: str) -> str:
        return f"{alias}.{prefix}{name}"

    end = col("end_time")
    parts = [
        col("site"),
        f"extract(year FROM {end} AT TIME ZONE 'UTC')::integer",
        f"extract(month FROM {end} AT TIME ZONE 'UTC')::integer",
        *(col(c) for c in KEY_COLUMNS[3:]),
        str(sign),
        f"{sign} * {col('wall_duration')}",
        f"{sign} * {col('cpu_duration')}",
        f"{sign} * coalesce({col('normalised_wall_duration')}, 0)",
        f"{sign} * coalesce({col('normalised_cpu_duration')}, 0)",
        end,
    ]
    return ", ".join(parts)


DELTA_COLUMNS = (
    f"{_KEYS}, sign, wall_duration, cpu_duration, normalised_wall_duration,"
    " normalised_cpu_duration, end_time"
)
# The job-record columns a delta needs, for queries that carry a record's old values.
RECORD_COLUMNS = (
    "site",
    "end_time",
    *KEY_COLUMNS[3:],
    "wall_duration",
    "cpu_duration",
    "normalised_wall_duration",
    "normalised_cpu_duration",
)

_APPLY = f"""
INSERT INTO summaries AS s (group_key, {_KEYS}, number_of_jobs, wall_duration, cpu_duration,
    normalised_wall_duration, normalised_cpu_duration, earliest_end_time, latest_end_time)
SELECT summary_group_key({_KEY_ARGS}), {_KEYS}, sum(sign), sum(wall_duration),
       sum(cpu_duration), sum(normalised_wall_duration), sum(normalised_cpu_duration),
       -- Only added records can widen the bounds. (A key that only lost records gets the
       -- neutral bound: NOT NULL is checked before the conflict is.)
       coalesce(min(end_time) FILTER (WHERE sign > 0), 'infinity'),
       coalesce(max(end_time) FILTER (WHERE sign > 0), '-infinity')
FROM summary_delta
GROUP BY {_KEYS}
ON CONFLICT (group_key) DO UPDATE SET
    number_of_jobs = s.number_of_jobs + excluded.number_of_jobs,
    wall_duration = s.wall_duration + excluded.wall_duration,
    cpu_duration = s.cpu_duration + excluded.cpu_duration,
    normalised_wall_duration = s.normalised_wall_duration + excluded.normalised_wall_duration,
    normalised_cpu_duration = s.normalised_cpu_duration + excluded.normalised_cpu_duration,
    earliest_end_time = LEAST(s.earliest_end_time, excluded.earliest_end_time),
    latest_end_time = GREATEST(s.latest_end_time, excluded.latest_end_time),
    updated_at = now()
"""

# A removed record that held its key's earliest or latest end time: the bounds are stale.
_MARK_STALE = f"""
WITH removed AS (
    SELECT summary_group_key({_KEY_ARGS}) AS group_key,
           min(end_time) AS first_removed, max(end_time) AS last_removed
    FROM summary_delta WHERE sign < 0
    GROUP BY {_KEYS}
)
UPDATE summaries s SET bounds_stale = true
FROM removed r
WHERE s.group_key = r.group_key AND s.number_of_jobs > 0 AND NOT s.bounds_stale
  AND (r.first_removed <= s.earliest_end_time OR r.last_removed >= s.latest_end_time)
"""

# The stale keys' bounds, from one pass over each affected site-month of job records.
_REFRESH = f"""
WITH stale AS (
    SELECT DISTINCT site, year, month FROM summaries WHERE bounds_stale
),
bounds AS (
    SELECT summary_group_key({_KEY_ARGS}) AS group_key,
           min(end_time) AS earliest, max(end_time) AS latest
    FROM (
        SELECT j.*, st.year, st.month
        FROM stale st
        JOIN job_records j ON j.site = st.site
         AND j.end_time >= make_timestamptz(st.year, st.month, 1, 0, 0, 0, 'UTC')
         AND j.end_time < make_timestamptz(st.year, st.month, 1, 0, 0, 0, 'UTC') + interval '1 month'
    ) j
    GROUP BY {_KEYS}
)
UPDATE summaries s
SET earliest_end_time = b.earliest, latest_end_time = b.latest, bounds_stale = false
FROM bounds b
WHERE s.group_key = b.group_key AND s.bounds_stale
"""

_DROP_EMPTY = f"""
DELETE FROM summaries s
USING (SELECT DISTINCT summary_group_key({_KEY_ARGS}) AS group_key FROM summary_delta WHERE sign < 0) r
WHERE s.group_key = r.group_key AND s.number_of_jobs = 0
"""

# The reference: what the summaries must always equal.
FULL_GROUP_BY = f"""
SELECT {_KEYS}, count(*)::bigint AS number_of_jobs, sum(wall_duration)::bigint AS wall_duration,
       sum(cpu_duration)::bigint AS cpu_duration,
       coalesce(sum(normalised_wall_duration), 0)::bigint AS normalised_wall_duration,
       coalesce(sum(normalised_cpu_duration), 0)::bigint AS normalised_cpu_duration,
       min(end_time) AS earliest_end_time, max(end_time) AS latest_end_time
FROM (
    SELECT *, extract(year FROM end_time AT TIME ZONE 'UTC')::integer AS year,
           extract(month FROM end_time AT TIME ZONE 'UTC')::integer AS month
    FROM job_records
) j
GROUP BY {_KEYS}
"""


def create_delta_table(conn: psycopg.Connection[Any]) -> None:
    conn.execute(DELTA_DDL)


def apply_deltas(cur: psycopg.Cursor[Any]) -> None:
    """Fold ``summary_delta`` into ``summaries`` and empty it (inside the caller's transaction)."""
    cur.execute(_APPLY)
    cur.execute(_MARK_STALE)
    cur.execute(_DROP_EMPTY)
    cur.execute("DELETE FROM summary_delta")


def refresh(conn: psycopg.Connection[Any]) -> int:
    """Look up the bounds of every stale summary row; returns how many rows were refreshed.

    Call it before reading summaries (publishing, reports). One pass over the job records of
    each site-month that has stale rows.
    """
    with conn.transaction():
        return conn.execute(_REFRESH).rowcount

"""Usage summaries, kept equal to a GROUP BY of the job records without ever recomputing it.

The database keeps them: statement triggers on ``job_records`` (migration 0003) fold every
insert, update and delete into ``summaries`` as it happens, in the writer's transaction, whoever
the writer is (the joiner, a renormalisation, an administrator's SQL). Sums and counts are added
and subtracted; the earliest and latest end time can only widen when records are added. Where a
removed record held one of them, the row is marked ``bounds_stale``, and :func:`refresh` looks the
bounds up again, one pass per site-month, before anything reads them: an index kept only for
that lookup would slow every job-record write. Keys left without jobs are deleted.

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

# The stale keys' bounds, from one pass over each affected site-month of job records.
_REFRESH = f"""
WITH stale AS (
    SELECT DISTINCT site, year, month FROM summaries WHERE bounds_stale
),
bounds AS (
    SELECT summary_group_key({_KEYS}) AS group_key,
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


def refresh(conn: psycopg.Connection[Any]) -> int:
    """Look up the bounds of every stale summary row; returns how many rows were refreshed.

    Call it before reading summaries (publishing, reports). One pass over the job records of
    each site-month that has stale rows.
    """
    with conn.transaction():
        return conn.execute(_REFRESH).rowcount

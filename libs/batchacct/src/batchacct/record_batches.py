"""Work over stored job records in end-time order, one transaction per batch of records.

Renormalisation and account revalidation rewrite many records; doing it in batches of about
``batch_rows`` records keeps every transaction short, so the joiner never waits long for them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only annotations: accounts (imported at job submission) stays light
    import psycopg

_BATCH_END = """
SELECT end_time FROM job_records
WHERE end_time >= %(low)s {site_filter}
ORDER BY end_time OFFSET %(rows)s LIMIT 1
"""
_NEXT_END_TIME = """
SELECT min(end_time) FROM job_records WHERE end_time > %(low)s {site_filter}
"""
_FAR_FUTURE = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)


def rewrite_batch_sql(lateral: str, new_values: Mapping[str, str], *, also_set: str = "") -> str:
    """One batch for :func:`in_end_time_batches`: the records of ``[low, high)`` whose columns
    would change get their new values; the statement returns how many changed.

    ``lateral`` is joined to each record (alias ``j``); ``new_values`` maps a column to the SQL of
    its new value; ``also_set`` is more SET assignments for the changed records. Rows are joined
    back by ctid: a record the joiner changed meanwhile has a new ctid, so it is skipped (the
    joiner computed its values) rather than given values computed from its old version.
    """
    return f"""
WITH changed AS (
    SELECT j.ctid AS row_id,
           {", ".join(f"{expr} AS {column}" for column, expr in new_values.items())}
    FROM job_records j
    {lateral}
    WHERE j.end_time >= %(low)s AND j.end_time < %(high)s {{site_filter}}
      AND ({", ".join(f"j.{column}" for column in new_values)})
          IS DISTINCT FROM ({", ".join(new_values.values())})
),
updated AS (
    UPDATE job_records j SET
        {", ".join(f"{column} = c.{column}" for column in new_values)},
        {also_set + "," if also_set else ""}
        updated_at = now()
    FROM changed c
    -- The range again: the target is then read by the end-time index like "changed" is, not
    -- by a whole-table scan per batch.
    WHERE j.ctid = c.row_id
      AND j.end_time >= %(low)s AND j.end_time < %(high)s {{site_filter}}
    RETURNING 1
)
SELECT count(*) FROM updated
"""


def in_end_time_batches(
    conn: psycopg.Connection[Any],
    batch_sql: str,
    since: datetime,
    site: str | None = None,
    *,
    batch_rows: int = 50_000,
    progress: Callable[[datetime, int], None] | None = None,
) -> int:
    """Run ``batch_sql`` once per batch of the job records that ended at or after ``since`` (at
    ``site``, or every site), oldest first, each in its own transaction; returns the sum of
    what the batches counted.

    ``batch_sql`` covers ``%(low)s <= end_time < %(high)s`` (and ``%(site)s`` when a site is
    given) and returns one row whose first column is a count. All records of one end time fall
    in the same batch. ``progress`` is called after each batch with the end time reached and the
    total so far.
    """
    if since.tzinfo is None:
        raise ValueError("since needs a time zone")
    if batch_rows < 1:
        raise ValueError("batch_rows must be positive")
    where_site = "AND site = %(site)s" if site is not None else ""
    batch_end = _BATCH_END.format(site_filter=where_site)
    next_end_time = _NEXT_END_TIME.format(site_filter=where_site)
    total = 0
    low: datetime | None = since
    while low is not None:
        params: dict[str, Any] = {"low": low, "site": site, "rows": batch_rows}
        with conn.transaction(), conn.cursor() as cur:
            found = cur.execute(batch_end, params).fetchone()
            high = found[0] if found else None
            if high is not None and high <= low:  # more than batch_rows records at one time
                found = cur.execute(next_end_time, params).fetchone()
                high = found[0] if found else None
            params["high"] = high if high is not None else _FAR_FUTURE
            row = cur.execute(batch_sql, params).fetchone()
            total += int(row[0]) if row else 0
        if progress is not None:
            progress(high or _FAR_FUTURE, total)
        low = high
    return total

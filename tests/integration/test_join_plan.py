"""The join never scans the history: every stored event or record it reads is a key probe."""

from __future__ import annotations

import pytest

from batchacct import db
from batchacct.join import BATCH_COLUMNS, CE_COLUMNS, JoinStore, join_sql
from benchmarks.bench_join_history import _HISTORY_SQL, SITE, _new_jobs

from .conftest import Env

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "join_statement",
    [join_sql(), join_sql(frozenset({"site"}), any_policy=False)],
    ids=["every-scope-and-accounts", "site-default-only"],
)
def test_join_plan_probes_keys_instead_of_scanning_history(env: Env, join_statement: str) -> None:
    with db.connect(env.database_url, autocommit=True) as conn:
        for statement in _HISTORY_SQL:
            conn.execute(statement, {"site": SITE, "n": 50_000})
        conn.execute("VACUUM ANALYZE")
    with db.connect(env.database_url) as conn:
        store = JoinStore(conn)
        messages = _new_jobs(10_000_000, 1000)
        with conn.transaction(), conn.cursor() as cur:
            store._copy(cur, "stage_batch", BATCH_COLUMNS, [d for k, d in messages if k == "batch"])
            store._copy(cur, "stage_ce", CE_COLUMNS, [d for k, d in messages if k == "ce"])
            cur.execute("ANALYZE stage_batch (site, local_job_id)")
            cur.execute("ANALYZE stage_ce (site, lrms_id)")
            cur.execute(
                "EXPLAIN " + join_statement,
                {"before": store.window.before, "after": store.window.after},
            )
            plan = "\n".join(row[0] for row in cur.fetchall())
    lines = [line.strip().removeprefix("->").strip() for line in plan.splitlines()]
    for table in ("batch_events", "job_records"):
        scans = [
            i
            for i, line in enumerate(lines)
            if f" on {table} " in f"{line} " and not line.startswith(("Insert", "Update"))
        ]
        assert scans, plan
        for i in scans:
            # A probe: an index scan whose condition is the batch's key, never a whole-table
            # scan (sequential, or an index walked end to end under a merge join).
            assert lines[i].startswith("Index Scan"), plan
            assert lines[i + 1].startswith("Index Cond:") and "local_job_id = " in lines[i + 1], (
                plan
            )

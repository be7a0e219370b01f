"""Two joiners (on different partitions) update the same summary and rollup rows, so PostgreSQL
may abort one of two join transactions as a deadlock. The batch is applied again, whole.

The abort is provoked by a trigger that raises SQLSTATE 40P01 the first times it runs (a sequence
counts them: nextval is not rolled back with the transaction).
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from batchacct import db
from batchacct.join import ATTEMPTS, JoinStore
from benchmarks.bench_join_history import _new_jobs

from .conftest import Env

pytestmark = pytest.mark.integration

FAIL_ONCE_PER_CALL = """
CREATE SEQUENCE join_attempts;
CREATE FUNCTION abort_first_joins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF nextval('join_attempts') <= current_setting('test.failures')::int THEN
        RAISE EXCEPTION 'deadlock detected (provoked by the test)' USING ERRCODE = '40P01';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER abort_first_joins AFTER INSERT ON job_records
    FOR EACH STATEMENT EXECUTE FUNCTION abort_first_joins();
"""


@pytest.fixture
def aborting(env: Env) -> Iterator[str]:
    with db.connect(env.database_url, autocommit=True) as conn:
        conn.execute(FAIL_ONCE_PER_CALL)
    yield env.database_url


def _apply(database_url: str, failures: int) -> tuple[JoinStore, psycopg.Connection]:
    conn = db.connect(database_url)
    conn.execute("SELECT set_config('test.failures', %s, false)", (str(failures),))
    conn.commit()
    return JoinStore(conn), conn


def test_an_aborted_join_transaction_is_applied_again(aborting: str) -> None:
    messages = _new_jobs(1, 200)
    store, conn = _apply(aborting, failures=2)
    with conn:
        outcome = store.apply(
            [d for k, d in messages if k == "batch"], [d for k, d in messages if k == "ce"]
        )
        assert outcome.retries == 2
        assert sum(outcome.counts.values()) == 200
        jobs, summed = conn.execute(
            "SELECT (SELECT count(*) FROM job_records), (SELECT sum(number_of_jobs) FROM summaries)"
        ).fetchone() or (0, 0)
        assert (jobs, summed) == (200, 200)  # once each, nothing doubled by the retries
        staged = conn.execute(
            "SELECT (SELECT count(*) FROM batch_events), (SELECT count(*) FROM ce_events)"
        ).fetchone()
        assert staged == (200, sum(1 for k, _ in messages if k == "ce"))


def test_a_join_that_keeps_failing_raises_and_stores_nothing(aborting: str) -> None:
    messages = _new_jobs(1, 50)
    store, conn = _apply(aborting, failures=ATTEMPTS)
    with conn:
        with pytest.raises(psycopg.errors.DeadlockDetected):
            store.apply(
                [d for k, d in messages if k == "batch"], [d for k, d in messages if k == "ce"]
            )
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM job_records").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM batch_events").fetchone() == (0,)

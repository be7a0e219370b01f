"""The publisher's loop: one run now, then one every interval, each on a fresh connection."""

from __future__ import annotations

import logging
import threading
import time

import psycopg

from batchacct import db, metrics
from batchacct.kafka import DeliveryFailed
from batchacct.publisher import Outputs, PublishError, PublishOptions, PublishResult, publish

log = logging.getLogger(__name__)


class Publisher:
    def __init__(self, dsn: str, options: PublishOptions, outputs: Outputs) -> None:
        self._dsn = dsn
        self.options = options
        self.outputs = outputs

    def run_once(self) -> PublishResult | None:
        """One run; None when it failed (logged and counted; the next run tries again)."""
        started = time.monotonic()
        try:
            with db.connect(self._dsn, autocommit=True) as conn:
                result = publish(conn, self.options, self.outputs)
        except (
            db.DatabaseUnavailable,
            psycopg.Error,
            DeliveryFailed,
            OSError,
            PublishError,
        ) as err:
            metrics.PUBLISHER_RUNS.labels("failed").inc()
            # The first line only: enough to act on, and no connection details.
            first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
            log.error(
                "publisher run failed; nothing recorded, the next run sends again",
                extra={"error": type(err).__name__, "detail": first_line},
            )
            return None
        metrics.PUBLISHER_RUNS.labels("ok").inc()
        metrics.PUBLISHER_LAST_SUCCESS.set_to_current_time()
        metrics.PUBLISHER_RUN_SECONDS.observe(time.monotonic() - started)
        log.info("publisher run", extra={"run_id": result.run_id, "report": result.report()})
        return result

    def run_forever(self, stop: threading.Event, interval_seconds: float) -> int:
        """Run now and then every ``interval_seconds`` until ``stop``; returns the runs done."""
        runs = 0
        while not stop.is_set():
            self.run_once()
            runs += 1
            if stop.wait(interval_seconds):
                break
        return runs

"""SLURM without files: run ``sacct`` every interval, from the checkpointed end time on.

Each run asks for the jobs that finished in ``[cursor - overlap, now - lag)``: the overlap catches
jobs slurmdbd recorded late, and repeats are harmless downstream (natural keys). The output is
parsed like a file (its header names the columns), produced, acknowledged, and only then does the
cursor move, in the same transaction as the quarantine rows.
"""

from __future__ import annotations

import logging
import os
import subprocess
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from batchacct import metrics
from batchacct.collector import FileCollector, PassStats, store_rejections
from batchacct.parsers import is_file_aware

log = logging.getLogger(__name__)

SACCT_FIELDS = (
    "JobID,JobName,User,Group,Account,Partition,Submit,Start,End,Elapsed,TotalCPU,CPUTimeRAW,"
    "NCPUS,NNodes,NodeList,MaxRSS,MaxVMSize,ExitCode,State"
)
FINAL_STATES = "CANCELLED,COMPLETED,FAILED,NODE_FAIL,PREEMPTED,TIMEOUT,OUT_OF_MEMORY"
OVERLAP = timedelta(minutes=10)
LAG = timedelta(minutes=1)
FIRST_WINDOW = timedelta(days=1)
TIMEOUT_SECONDS = 600


class SacctCollector(FileCollector):
    def __init__(
        self,
        *args: Any,
        command: str = "sacct",
        first_since: datetime | None = None,
        steps: str = "jobs",
        timezone: tzinfo | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.command = command
        self.first_since = first_since
        self.steps = steps
        self.timezone = timezone or UTC

    def sacct_arguments(self, since: datetime, until: datetime) -> list[str]:
        # sacct reads -S/-E in the cluster's local time, the zone configured for parsing.
        def local(value: datetime) -> str:
            return value.astimezone(self.timezone).strftime("%Y-%m-%dT%H:%M:%S")

        args = [
            self.command,
            "--allusers",
            "--parsable2",
            f"--format={SACCT_FIELDS}",
            f"--state={FINAL_STATES}",
            f"--starttime={local(since)}",
            f"--endtime={local(until)}",
        ]
        if self.steps == "jobs":
            args.append("--allocations")
        return args

    def cursor(self) -> datetime | None:
        row = self.conn.execute(
            "SELECT position FROM collector_cursors WHERE collector = %s",
            (self.config.collector_id,),
        ).fetchone()
        return None if row is None else row[0]

    def run_once(self) -> PassStats:
        now = datetime.now(UTC)
        until = now - LAG
        previous = self.cursor()
        if previous is not None:
            since = previous - OVERLAP
        else:
            since = self.first_since or now - FIRST_WINDOW
        args = self.sacct_arguments(since, until)
        try:
            done = subprocess.run(
                args,
                capture_output=True,
                timeout=TIMEOUT_SECONDS,
                env={**os.environ, "SLURM_TIME_FORMAT": "standard"},
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            log.error("cannot run sacct", extra={"command": args[0], "error": str(err)})
            metrics.SOURCE_ERRORS.labels(self.config.source_format).inc()
            return PassStats()
        if done.returncode != 0:
            log.error(
                "sacct failed; the window is tried again next interval",
                extra={
                    "returncode": done.returncode,
                    "stderr": done.stderr.decode("utf-8", "replace")[-2000:],
                },
            )
            metrics.SOURCE_ERRORS.labels(self.config.source_format).inc()
            return PassStats()
        lines = done.stdout.splitlines(keepends=True)
        source = (
            f"sacct:{since.strftime('%Y-%m-%dT%H:%M:%SZ')}..{until.strftime('%Y-%m-%dT%H:%M:%SZ')}"
        )
        context = None
        if lines and is_file_aware(self.parser):
            context = lines[0].rstrip(b"\r\n").decode("utf-8", "surrogateescape")
            self.parser.begin_file(context)
        stats, rejections, _ = self._process_lines(lines, source, 1, final=True)
        stats.files_read = 1
        with self.conn.transaction():
            if rejections:
                store_rejections(self.conn, rejections, self.config.machine_name, context)
            self.conn.execute(
                """
                INSERT INTO collector_cursors (collector, position) VALUES (%s, %s)
                ON CONFLICT (collector) DO UPDATE
                SET position = excluded.position, updated_at = now()
                """,
                (self.config.collector_id, until),
            )
        metrics.LAST_CHECKPOINT.labels(self.config.source_format).set_to_current_time()
        log.info(
            "sacct window read",
            extra={
                "since": since.isoformat(),
                "until": until.isoformat(),
                "lines": stats.lines,
                "records": stats.records,
                "rejected": stats.rejected,
            },
        )
        return stats

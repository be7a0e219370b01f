"""Replay and backfill: read files again from the start through the real collector path.

Checkpoints are neither read nor moved, so a replay never disturbs a running collector; what it
produces has the same natural keys as the first time, so replaying twice changes nothing
downstream. ``--since``/``--until`` keep only jobs that ended in that window. A dry run only parses
and counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg

from batchacct.collector import QUARANTINE_DIR, CollectorConfig, FileCollector, PassStats
from batchacct.errors import Rejection
from batchacct.files import compression_of, open_content
from batchacct.kafka import TrackedProducer
from batchacct.parsers import LineParser, parse_lines
from batchacct.records import BatchEvent
from batchacct.settings import CommonSettings

EXAMPLES_KEPT = 10


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given, and the files directly inside given directories (not ``quarantine/``)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(p for p in path.iterdir() if p.is_file() and p.name != QUARANTINE_DIR)
            )
        else:
            found.append(path)
    return found


def is_history_dir(source_format: str, path: Path) -> bool:
    return source_format == "condor" and path.is_dir()


@dataclass
class DryRun:
    files: int = 0
    lines: int = 0
    records: int = 0
    ignored: int = 0
    outside_window: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    examples: list[Rejection] = field(default_factory=list)


def dry_run(
    parser: LineParser,
    files: list[Path],
    since: datetime | None,
    until: datetime | None,
    advance: Callable[[int], None] | None = None,
) -> DryRun:
    """Parse ``files`` and count what would be sent and what rejected, by reason."""
    result = DryRun()
    for path in files:
        with open_content(path, compression_of(path)) as stream:
            lines = stream.readlines()
        result.files += 1
        result.lines += len(lines)
        for _, outcome in parse_lines(parser, lines, str(path)):
            if outcome is None:
                result.ignored += 1
            elif isinstance(outcome, Rejection):
                result.rejected[outcome.reason] += 1
                if len(result.examples) < EXAMPLES_KEPT:
                    result.examples.append(outcome)
            else:
                for record in outcome if isinstance(outcome, tuple) else (outcome,):
                    when = record.end_time if isinstance(record, BatchEvent) else record.timestamp
                    if (since and when < since) or (until and when >= until):
                        result.outside_window += 1
                    else:
                        result.records += 1
        if advance is not None:
            advance(path.stat().st_size)
    return result


def replay(
    settings: CommonSettings,
    config: CollectorConfig,
    parser: LineParser,
    conn: psycopg.Connection,
    paths: list[Path],
    advance: Callable[[int], None] | None = None,
) -> PassStats:
    """Send ``paths`` (files, or HTCondor history directories) through the collector path."""
    producer = TrackedProducer(settings.kafka_client_config())
    total = PassStats()
    history_dirs = [p for p in paths if is_history_dir(config.source_format, p)]
    files = expand_paths(p for p in paths if p not in history_dirs)
    for directory in history_dirs:
        from batchacct.history_dir import HistoryDirCollector

        history = HistoryDirCollector(
            settings,
            CollectorConfig(
                config.source_format,
                config.site,
                config.machine_name,
                directory=directory,
                settle_seconds=0,
                since=config.since,
                until=config.until,
            ),
            parser,
            producer,
            conn,
            use_checkpoints=False,
            move_files=False,
        )
        total.add(history.run_once())
        if advance is not None:
            advance(sum(p.stat().st_size for p in history.candidate_files()))
    collector = FileCollector(
        settings,
        config,
        parser,
        producer,
        conn,
        use_checkpoints=False,
    )
    for path in files:
        plain = compression_of(path) == "none"
        collector.progress = advance if plain else None
        stats, _ = collector.collect_file(path)
        total.add(stats)
        if advance is not None and not plain:
            advance(path.stat().st_size)
    return total


def total_bytes(paths: list[Path]) -> int:
    """What a progress bar over ``paths`` counts to (file sizes on disk)."""
    size = 0
    for path in paths:
        if path.is_dir():
            size += sum(p.stat().st_size for p in expand_paths([path]))
        else:
            size += path.stat().st_size
    return size

"""Command line shared by every collector service (``batchacct-collector-<format>``)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from batchacct import db
from batchacct.collector import CollectorConfig, FileCollector
from batchacct.kafka import TrackedProducer
from batchacct.lifecycle import fail, install_stop_signals, start_worker
from batchacct.metrics import serve_metrics
from batchacct.parsers import ParserConfig, make_parser
from batchacct.settings import CommonSettings

log = logging.getLogger(__name__)


def build_parser(source_format: str, needs_machine_name: bool) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"batchacct-collector-{source_format}",
        description=f"Collect {source_format} accounting files into Kafka.",
    )
    p.add_argument("--site", required=True, help="site name as published (GOCDB)")
    p.add_argument(
        "--machine-name",
        required=needs_machine_name,
        default="",
        help="the batch system's host name (APEL MachineName)",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--acct-file", nargs="+", type=Path, metavar="PATH", help="files to read")
    src.add_argument("--acct-dir", type=Path, metavar="DIR", help="directory to read")
    p.add_argument("--pattern", default="*", help="glob of file names in --acct-dir (default: *)")
    p.add_argument("--timezone", default="UTC", help="time zone of timestamps without an offset")
    p.add_argument("--once", action="store_true", help="read everything new once, then exit")
    p.add_argument(
        "--interval", type=float, default=10.0, help="seconds between passes (follow mode)"
    )
    p.add_argument(
        "--batch-lines", type=int, default=20000, help="lines per produce/checkpoint batch"
    )
    p.add_argument("--metrics-port", type=int, default=None, help="serve /metrics on this port")
    return p


def main_for(
    source_format: str, argv: list[str] | None = None, *, needs_machine_name: bool
) -> None:
    args = build_parser(source_format, needs_machine_name).parse_args(argv)
    try:
        tz = ZoneInfo(args.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"unknown time zone {args.timezone!r}", code=2)
    settings = start_worker(CommonSettings)
    serve_metrics(args.metrics_port or settings.metrics_port, f"collector-{source_format}")
    config = CollectorConfig(
        source_format=source_format,
        site=args.site,
        machine_name=args.machine_name,
        files=tuple(args.acct_file or ()),
        directory=args.acct_dir,
        pattern=args.pattern,
        interval=args.interval,
        batch_lines=args.batch_lines,
    )
    log.info(
        "collector starting",
        extra={
            "format": source_format,
            "site": args.site,
            "machine_name": args.machine_name,
            "files": [str(f) for f in config.files],
            "directory": str(args.acct_dir or ""),
            "bootstrap_servers": settings.kafka_bootstrap_servers,
            "once": args.once,
        },
    )
    parser = make_parser(source_format, ParserConfig(args.site, args.machine_name, tz))
    stop = install_stop_signals()
    producer = TrackedProducer(settings.kafka_client_config())
    with db.connect(settings.database_dsn, autocommit=True) as conn:
        collector = FileCollector(settings, config, parser, producer, conn)
        stats = collector.run(stop, once=args.once)
    log.info(
        "collector stopped",
        extra={"lines": stats.lines, "records": stats.records, "rejected": stats.rejected},
    )

"""Command line shared by every collector service (``batchacct-collector-<format>``).

The parser options (site, batch host, time zone and each format's own) are shared with
``batchacct parse``, ``replay`` and ``quarantine retry``, so a line is read the same way everywhere.
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime
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

# Formats whose files name no batch host: it must be configured (APEL's lrms_server).
NEEDS_MACHINE_NAME = {"lsf", "condor", "slurm", "pbs", "sge"}


class UsageError(ValueError):
    """A command-line value that cannot be used (unknown time zone, unreadable map file)."""


def add_parser_options(
    p: argparse.ArgumentParser, source_format: str | None, *, site_required: bool = True
) -> None:
    """The options that decide how lines are read; ``None`` adds every format's options."""
    p.add_argument(
        "--site", required=site_required, default="SITE", help="site name as published (GOCDB)"
    )
    p.add_argument(
        "--machine-name",
        required=site_required and source_format in NEEDS_MACHINE_NAME,
        default="",
        help="the batch system's host name (APEL MachineName)",
    )
    p.add_argument(
        "--timezone",
        default=None,
        help="time zone of timestamps written without an offset (default: UTC; required for"
        " SLURM, whose sacct prints the cluster's local time)",
    )
    if source_format in (None, "slurm"):
        p.add_argument(
            "--steps",
            choices=["jobs", "sum"],
            default="jobs",
            help="SLURM: read job rows only (jobs), or fold each job's steps into it (sum)",
        )
    if source_format in (None, "sge"):
        p.add_argument(
            "--host-multipliers",
            type=Path,
            metavar="FILE",
            help="SGE: 'host cputmult [wallmult]' per line",
        )
    if source_format in (None, "condor"):
        p.add_argument(
            "--identity-map",
            type=Path,
            metavar="FILE",
            help="HTCondor: FQAN for token identities ('token ISSUER SUBJECT FQAN' "
            "or 'owner OWNER FQAN' per line)",
        )


def parser_config(args: argparse.Namespace) -> ParserConfig:
    """The :class:`ParserConfig` the options of :func:`add_parser_options` describe."""
    try:
        tz = ZoneInfo(args.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"unknown time zone {args.timezone!r}") from None
    multipliers: dict[str, tuple[float, float]] = {}
    identity_map: dict[str, str] = {}
    try:
        if getattr(args, "host_multipliers", None) is not None:
            from batchacct.parsers.sge import load_host_multipliers

            multipliers = load_host_multipliers(args.host_multipliers)
        if getattr(args, "identity_map", None) is not None:
            from batchacct.parsers.condor import load_identity_map

            identity_map = load_identity_map(args.identity_map)
    except OSError as err:
        raise UsageError(f"cannot read {err.filename}: {err.strerror}") from None
    except ValueError as err:
        raise UsageError(str(err)) from None
    return ParserConfig(
        args.site,
        args.machine_name,
        tz,
        slurm_steps=getattr(args, "steps", "jobs"),
        host_multipliers=multipliers,
        identity_map=identity_map,
    )


def check_timezone_given(source_format: str, args: argparse.Namespace) -> None:
    """SLURM times carry no offset and are the cluster's local time: guessing is not allowed."""
    if source_format == "slurm" and args.timezone is None:
        raise UsageError(
            "--timezone is required for SLURM: sacct prints the cluster's local time without an"
            " offset (e.g. --timezone Europe/Zurich, or --timezone UTC)"
        )


def parse_utc(text: str) -> datetime:
    """A date or time given on the command line; without an offset it is UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+HH:MM])"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def build_parser(source_format: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"batchacct-collector-{source_format}",
        description=f"Collect {source_format} accounting into Kafka.",
    )
    add_parser_options(p, source_format)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--acct-file", nargs="+", type=Path, metavar="PATH", help="files to read")
    src.add_argument("--acct-dir", type=Path, metavar="DIR", help="directory to read")
    if source_format == "condor":
        src.add_argument(
            "--history-dir",
            type=Path,
            metavar="DIR",
            help="HTCondor PER_JOB_HISTORY_DIR: one ClassAd per file",
        )
        p.add_argument(
            "--delete-processed",
            action="store_true",
            help="delete each history file once its records are acknowledged (default: keep)",
        )
    if source_format == "slurm":
        src.add_argument(
            "--sacct",
            action="store_true",
            help="run sacct every interval, from the checkpointed end time on",
        )
        p.add_argument(
            "--sacct-command", default="sacct", help="the sacct program (default: sacct on PATH)"
        )
        p.add_argument(
            "--sacct-since",
            type=parse_utc,
            default=None,
            help="first start of the window when there is no checkpoint (default: 1 day ago)",
        )
    p.add_argument("--pattern", default="*", help="glob of file names in --acct-dir (default: *)")
    p.add_argument("--once", action="store_true", help="read everything new once, then exit")
    p.add_argument(
        "--interval", type=float, default=10.0, help="seconds between passes (follow mode)"
    )
    p.add_argument(
        "--settle-seconds",
        type=float,
        default=60.0,
        help="a last line without a newline (a history file) is taken once this old",
    )
    p.add_argument(
        "--batch-lines", type=int, default=20000, help="lines per produce/checkpoint batch"
    )
    p.add_argument("--metrics-port", type=int, default=None, help="serve /metrics on this port")
    return p


def main_for(source_format: str, argv: list[str] | None = None) -> None:
    args = build_parser(source_format).parse_args(argv)
    try:
        check_timezone_given(source_format, args)
        parser_cfg = parser_config(args)
    except UsageError as err:
        fail(str(err), code=2)
    settings = start_worker(CommonSettings)
    serve_metrics(args.metrics_port or settings.metrics_port, f"collector-{source_format}")
    history_dir = getattr(args, "history_dir", None)
    config = CollectorConfig(
        source_format=source_format,
        site=args.site,
        machine_name=args.machine_name,
        files=tuple(args.acct_file or ()),
        directory=args.acct_dir or history_dir,
        pattern=args.pattern,
        interval=args.interval,
        batch_lines=args.batch_lines,
        settle_seconds=args.settle_seconds,
    )
    log.info(
        "collector starting",
        extra={
            "format": source_format,
            "site": args.site,
            "machine_name": args.machine_name,
            "files": [str(f) for f in config.files],
            "directory": str(config.directory or ""),
            "bootstrap_servers": settings.kafka_bootstrap_servers,
            "once": args.once,
        },
    )
    parser = make_parser(source_format, parser_cfg)
    stop = install_stop_signals()
    producer = TrackedProducer(settings.kafka_client_config())
    with db.connect(settings.database_dsn, autocommit=True) as conn:
        collector: FileCollector
        if history_dir is not None:
            from batchacct.history_dir import HistoryDirCollector

            collector = HistoryDirCollector(
                settings,
                config,
                parser,
                producer,
                conn,
                delete_processed=args.delete_processed,
            )
        elif getattr(args, "sacct", False):
            from batchacct.sacct import SacctCollector

            collector = SacctCollector(
                settings,
                config,
                parser,
                producer,
                conn,
                command=args.sacct_command,
                first_since=args.sacct_since,
                steps=parser_cfg.slurm_steps,
                timezone=parser_cfg.timezone,
            )
        else:
            collector = FileCollector(settings, config, parser, producer, conn)
        stats = collector.run(stop, once=args.once)
    log.info(
        "collector stopped",
        extra={"lines": stats.lines, "records": stats.records, "rejected": stats.rejected},
    )

"""batchacct-publisher: APEL summary, job and sync messages into the SSM outgoing queue and Kafka.

Every flag has an environment setting (BATCHACCT_PUBLISH_*, BATCHACCT_OUTGOING_DIR); a flag wins.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import date
from pathlib import Path

from batchacct import db, kafka
from batchacct.lifecycle import fail, install_stop_signals
from batchacct.logs import configure_logging
from batchacct.metrics import serve_metrics
from batchacct.publisher import (
    JOB_INTERVALS,
    JOB_VERSIONS,
    MODES,
    SUMMARY_VERSIONS,
    KafkaOutput,
    Outputs,
    PublishError,
    PublishOptions,
)
from batchacct.settings import SettingsError, load_settings
from batchacct_publisher.handler import Publisher
from batchacct_publisher.settings import PublisherSettings

log = logging.getLogger("batchacct.publisher")


def day(text: str) -> date:
    """A YYYY-MM-DD date (argparse names the function in its error: "invalid day value")."""
    return date.fromisoformat(text)


def seconds(text: str) -> float:
    """A positive number of seconds."""
    value = float(text)
    if not value > 0:
        raise ValueError(text)
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="batchacct-publisher", description=__doc__)
    when = p.add_mutually_exclusive_group()
    when.add_argument("--once", action="store_true", help="one run, then exit (1 if it failed)")
    when.add_argument(
        "--interval",
        type=seconds,
        metavar="SECONDS",
        help="run every SECONDS (default BATCHACCT_PUBLISH_INTERVAL_SECONDS, 3600)",
    )
    p.add_argument("--mode", choices=MODES, help="what to send (default summaries)")
    p.add_argument(
        "--jobs", choices=JOB_INTERVALS, help="jobs mode: which records (default latest)"
    )
    p.add_argument("--from", dest="gap_from", type=day, help="jobs gap: end time after this date")
    p.add_argument(
        "--to", dest="gap_to", type=day, help="jobs gap: end time up to this date + 1 day"
    )
    p.add_argument(
        "--message-version",
        choices=sorted({*SUMMARY_VERSIONS, *JOB_VERSIONS}),
        help="message version: summaries v0.2 (default), v0.4, normalised-v0.3, normalised-v0.4;"
        " jobs v0.3 (default), v0.4",
    )
    p.add_argument(
        "--site", action="append", help="only this site (repeatable; default every site)"
    )
    vos = p.add_mutually_exclusive_group()
    vos.add_argument("--include-vo", action="append", help="only this VO (repeatable)")
    vos.add_argument("--exclude-vo", action="append", help="not this VO (repeatable)")
    p.add_argument(
        "--withhold-dns",
        action="store_true",
        default=None,
        help="send 'withheld' instead of the user's DN (jobs and sync only)",
    )
    p.add_argument(
        "--local-jobs",
        action="store_true",
        default=None,
        help="send local (non-grid) jobs too",
    )
    p.add_argument("--outgoing", type=Path, metavar="DIR", help="the SSM outgoing queue (dirq)")
    p.add_argument(
        "--kafka",
        action="store_true",
        default=None,
        help="produce the messages to <topic prefix>summaries (key: the site)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the messages to stdout; queue, produce and record nothing",
    )
    p.add_argument("--metrics-port", type=int, default=None)
    return p


def options_from(args: argparse.Namespace, settings: PublisherSettings) -> PublishOptions:
    """Flags over settings; PublishError when they do not go together."""
    return PublishOptions(
        mode=args.mode or settings.publish_mode,
        version=args.message_version or settings.publish_version,
        jobs=args.jobs or settings.publish_jobs,
        gap_from=args.gap_from,
        gap_to=args.gap_to,
        sites=tuple(args.site or settings.publish_sites),
        include_vos=tuple(args.include_vo or settings.publish_include_vos),
        exclude_vos=tuple(args.exclude_vo or settings.publish_exclude_vos),
        local_jobs=settings.publish_local_jobs if args.local_jobs is None else args.local_jobs,
        withhold_dns=(
            settings.publish_withhold_dns if args.withhold_dns is None else args.withhold_dns
        ),
    ).checked()


def check_database(settings: PublisherSettings) -> None:
    """Exit 1 when PostgreSQL is unreachable or has not been migrated."""
    try:
        with db.connect(settings.database_dsn, autocommit=True) as conn:
            row = conn.execute("SELECT to_regclass('publications') IS NOT NULL").fetchone()
    except db.DatabaseUnavailable as err:
        fail(str(err))
    if not row or not row[0]:
        fail("the database has no publications table; run 'batchacct migrate' first")


def check_outgoing(directory: Path) -> None:
    """Exit 2 when the outgoing queue cannot be created or written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        fail(f"cannot create the outgoing queue {directory}: {err.strerror}", code=2)
    if not os.access(directory, os.W_OK | os.X_OK):
        fail(f"the outgoing queue {directory} is not writable by this user", code=2)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(PublisherSettings)
    except SettingsError as err:
        fail(str(err), code=2)
    configure_logging(settings.log_level)
    try:
        options = options_from(args, settings)
    except PublishError as err:
        fail(str(err), code=2)
    outgoing = args.outgoing or settings.outgoing_dir
    use_kafka = bool(settings.publish_kafka if args.kafka is None else args.kafka)
    if not args.dry_run:
        if outgoing is None and not use_kafka:
            fail("nowhere to publish: give --outgoing DIR and/or --kafka (or --dry-run)", code=2)
        if use_kafka and not settings.kafka_bootstrap_servers:
            fail("--kafka needs BATCHACCT_KAFKA_BOOTSTRAP_SERVERS", code=2)
    check_database(settings)
    kafka_output = None
    if use_kafka and not args.dry_run:
        try:
            kafka.check_broker(settings.kafka_client_config(), settings.startup_timeout_seconds)
        except kafka.BrokerUnavailable as err:
            fail(str(err))
        kafka_output = KafkaOutput(settings.kafka_client_config(), settings.summaries_topic)
    if outgoing is not None and not args.dry_run:
        check_outgoing(outgoing)
    serve_metrics(args.metrics_port or settings.metrics_port, "publisher")
    outputs = Outputs(
        outgoing=None if args.dry_run else outgoing,
        kafka=kafka_output,
        dry_run=sys.stdout if args.dry_run else None,
    )
    publisher = Publisher(settings.database_dsn, options, outputs)
    log.info(
        "publisher starting",
        extra={
            "mode": options.mode,
            "version": options.message_format.header,
            "destinations": outputs.destinations(),
            "sites": options.sites or "all",
            "once": args.once,
        },
    )
    if args.once:
        if publisher.run_once() is None:
            raise SystemExit(1)
        return
    stop = install_stop_signals()
    runs = publisher.run_forever(stop, args.interval or settings.publish_interval_seconds)
    log.info("publisher stopped", extra={"runs": runs})


if __name__ == "__main__":
    main()

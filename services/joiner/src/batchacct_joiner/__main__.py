"""batchacct-joiner: joins batch and CE events into job records in PostgreSQL."""

from __future__ import annotations

import argparse
import logging
from datetime import timedelta
from pathlib import Path

import yaml
from confluent_kafka import Consumer

from batchacct import db
from batchacct.join import JoinStore, JoinWindow
from batchacct.lifecycle import fail, install_stop_signals, start_worker
from batchacct.metrics import serve_metrics
from batchacct_joiner.handler import Joiner
from batchacct_joiner.settings import JoinerSettings

log = logging.getLogger("batchacct.joiner")


def load_vo_map(path: Path | None) -> dict[str, str]:
    """``{local group or account: VO}`` from a YAML mapping; a missing file is an error."""
    if path is None:
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        fail(f"cannot read the VO map {path}: {err}", code=2)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        fail(f"the VO map {path} must be a mapping of group or account to VO name", code=2)
    return {str(k): v for k, v in data.items()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="batchacct-joiner", description=__doc__)
    p.add_argument(
        "--until-idle",
        action="store_true",
        help="exit 0 once every assigned partition is consumed and committed and nothing new came",
    )
    p.add_argument("--idle-seconds", type=float, default=3.0)
    p.add_argument("--vo-map", type=Path, default=None, help="YAML: local group or account -> VO")
    p.add_argument("--metrics-port", type=int, default=None)
    args = p.parse_args(argv)
    settings = start_worker(JoinerSettings)
    vo_map = load_vo_map(args.vo_map or settings.vo_map_file)
    serve_metrics(args.metrics_port or settings.metrics_port, "joiner")
    topics = [settings.batch_topic, settings.ce_topic]
    log.info(
        "joiner starting",
        extra={"topics": topics, "group_id": settings.group_id, "vo_map_entries": len(vo_map)},
    )
    stop = install_stop_signals()
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": settings.group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            "session.timeout.ms": settings.session_timeout_ms,
            "partition.assignment.strategy": "range",
        }
    )
    window = JoinWindow(
        timedelta(days=settings.join_before_days), timedelta(days=settings.join_after_days)
    )
    try:
        with db.connect(settings.database_dsn) as conn:
            store = JoinStore(conn, window, vo_map)
            joiner = Joiner(consumer, store, conn, topics, batch_size=settings.batch_size)
            total = joiner.run(stop, until_idle=args.until_idle, idle_seconds=args.idle_seconds)
    finally:
        consumer.close()
    log.info("joiner stopped", extra={"messages": total})


if __name__ == "__main__":
    main()

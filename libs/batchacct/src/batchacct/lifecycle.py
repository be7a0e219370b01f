"""Process lifecycle: a stop flag set by SIGTERM/SIGINT, and the start-up connectivity check."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import NoReturn, TypeVar

from batchacct import db, kafka
from batchacct.logs import configure_logging
from batchacct.settings import CommonSettings, SettingsError, load_settings

S = TypeVar("S", bound=CommonSettings)


def install_stop_signals() -> threading.Event:
    stop = threading.Event()

    def _handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)
    return stop


def fail(message: str, code: int = 1) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)  # noqa: T201
    raise SystemExit(code)


def check_dependencies(settings: CommonSettings) -> None:
    """Exit non-zero, saying which, when the broker or the database cannot be reached."""
    try:
        kafka.check_broker(settings.kafka_client_config())
    except kafka.BrokerUnavailable as err:
        fail(str(err))
    try:
        db.connect(settings.database_dsn).close()
    except db.DatabaseUnavailable as err:
        fail(str(err))


def start_worker(settings_cls: type[S]) -> S:
    """What every worker service starts with: its settings (exit 2 when they are incomplete),
    JSON logging, and the broker and database checks (exit 1 when one is unreachable)."""
    try:
        settings = load_settings(settings_cls)
    except SettingsError as err:
        fail(str(err), code=2)
    configure_logging(settings.log_level)
    check_dependencies(settings)
    return settings

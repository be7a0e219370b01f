"""batchacct-api: the HTTP API under uvicorn (one worker; scale with replicas).

A database that is down at start does not stop the API: it starts, answers /healthz and reports
not-ready on /readyz until PostgreSQL is reachable.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

import psycopg
import uvicorn
from psycopg.conninfo import conninfo_to_dict

from batchacct import __version__
from batchacct.logs import configure_logging
from batchacct.settings import SettingsError

from .app import create_app
from .settings import ApiSettings, load_api_settings

log = logging.getLogger("batchacct_api")

# Connection parameters that are safe to log (never password, passfile, sslpassword, ...).
_LOGGED_CONNINFO = ("host", "hostaddr", "port", "dbname", "user", "sslmode")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="batchacct-api",
        description="batchacct HTTP API. Settings come from BATCHACCT_* variables "
        "(or a running stack's stack.env); the options below override them.",
    )
    parser.add_argument("--host", help="address to listen on (BATCHACCT_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (BATCHACCT_PORT, default 8080)")
    return parser.parse_args(argv)


def _database_for_log(dsn: str) -> dict[str, str] | str:
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error:
        return "(unparsable connection string)"
    return {k: str(params[k]) for k in _LOGGED_CONNINFO if params.get(k) is not None}


def settings_for_log(settings: ApiSettings) -> dict[str, Any]:
    """The effective settings without secrets (no DSN password, no broker config values)."""
    shown = settings.model_dump(
        mode="json", exclude={"database_url", "kafka_config", "kafka_bootstrap_servers"}
    )
    shown["database"] = _database_for_log(settings.database_dsn)
    return shown


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    try:
        settings = load_api_settings(**overrides)
    except (SettingsError, ValueError) as err:
        sys.stderr.write(f"batchacct-api: {err}\n")
        sys.exit(2)
    configure_logging(settings.log_level)
    log.info("api starting", extra={"version": __version__, "settings": settings_for_log(settings)})
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        workers=1,
        log_config=None,  # keep the JSON logging configured above
        server_header=False,
    )


if __name__ == "__main__":
    main()

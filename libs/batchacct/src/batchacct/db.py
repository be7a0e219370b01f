"""PostgreSQL helpers: connections, the migration runner, the schema's natural-key upserts."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

import psycopg

log = logging.getLogger(__name__)


class DatabaseUnavailable(RuntimeError):
    pass


def migrations_dir() -> Path:
    return Path(str(resources.files("batchacct") / "_migrations"))


def connect(dsn: str, *, autocommit: bool = False) -> psycopg.Connection:
    """Connect, or raise :class:`DatabaseUnavailable` with a message that names no secret."""
    try:
        return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=10)
    except psycopg.OperationalError as err:
        raise DatabaseUnavailable(f"cannot reach PostgreSQL: {_first_line(err)}") from None


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def migrate(dsn: str, directory: Path | None = None) -> list[str]:
    """Apply every ``NNNN_*.sql`` not yet applied, each in its own transaction. Returns the new ones."""
    directory = directory or migrations_dir()
    applied: list[str] = []
    with connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        # One migrator at a time, whatever runs it (stack up, a Kubernetes Job, a test).
        conn.execute("SELECT pg_advisory_lock(4242001)")
        try:
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for path in sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql")):
                version = path.stem
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(path.read_text())
                    conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
                log.info("migration applied", extra={"version": version})
                applied.append(version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(4242001)")
    return applied

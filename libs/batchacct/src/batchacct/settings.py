"""Settings shared by every service: where the broker and the database are, topic names.

Values come from the environment (``BATCHACCT_*``). When a connection variable is unset, it is
read from a running embedded stack's ``$BATCHACCT_HOME/stack.env`` (default ``./.batchacct``), so
pointing ``BATCHACCT_KAFKA_BOOTSTRAP_SERVERS`` and ``BATCHACCT_DATABASE_URL`` at a real Kafka and
PostgreSQL is all it takes to leave the embedded stack.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

STACK_ENV_FILE = "stack.env"


def batchacct_home() -> Path:
    return Path(os.environ.get("BATCHACCT_HOME", ".batchacct")).resolve()


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BATCHACCT_", frozen=True, extra="ignore", env_ignore_empty=True
    )

    kafka_bootstrap_servers: str
    database_url: SecretStr
    # Extra librdkafka properties for a real cluster (security.protocol, sasl.*, ssl.*), as JSON.
    kafka_config: dict[str, str] = {}
    topic_prefix: str = "batchacct."
    log_level: str = "INFO"
    # Port of the Prometheus /metrics endpoint of a worker service; 0 = do not serve.
    metrics_port: int = 0

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def batch_topic(self) -> str:
        return self.topic("batch-events")

    @property
    def ce_topic(self) -> str:
        return self.topic("ce-events")

    @property
    def dead_letter_topic(self) -> str:
        return self.topic("dead-letter")

    @property
    def database_dsn(self) -> str:
        return self.database_url.get_secret_value()

    def kafka_client_config(self) -> dict[str, str]:
        return {"bootstrap.servers": self.kafka_bootstrap_servers, **self.kafka_config}


S = TypeVar("S", bound=CommonSettings)


class SettingsError(RuntimeError):
    pass


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Build ``cls`` from the environment, falling back to the embedded stack's ``stack.env``."""
    env_file = batchacct_home() / STACK_ENV_FILE
    try:
        return cls(_env_file=env_file if env_file.exists() else None, **overrides)
    except ValidationError as err:
        missing = [
            ".".join(str(p) for p in e["loc"]) for e in err.errors() if e["type"] == "missing"
        ]
        if missing:
            names = ", ".join(f"BATCHACCT_{m.upper()}" for m in missing)
            raise SettingsError(
                f"{names} not set and no running stack found at {env_file}; "
                "run 'batchacct stack up' or point them at your Kafka and PostgreSQL"
            ) from None
        raise SettingsError(str(err)) from None

"""Settings of the publisher (environment ``BATCHACCT_*``, falling back to the stack's
``stack.env``); every one can be overridden by a command-line flag."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from batchacct.settings import CommonSettings

# A comma-separated list in the environment: BATCHACCT_PUBLISH_SITES=SITE-A,SITE-B
CommaList = Annotated[tuple[str, ...], NoDecode]


class PublisherSettings(CommonSettings):
    # The broker is needed only for the Kafka output.
    kafka_bootstrap_servers: str = ""

    publish_mode: Literal["summaries", "jobs"] = "summaries"
    publish_jobs: Literal["latest", "gap", "all"] = "latest"
    # None: v0.2 for summaries, v0.3 for jobs.
    publish_version: str | None = None
    publish_sites: CommaList = ()
    publish_include_vos: CommaList = ()
    publish_exclude_vos: CommaList = ()
    publish_local_jobs: bool = False
    publish_withhold_dns: bool = False
    # The SSM outgoing queue (APEL's default is /var/spool/apel/outgoing).
    outgoing_dir: Path | None = None
    # Also (or only) produce the messages to <topic_prefix>summaries.
    publish_kafka: bool = False
    publish_interval_seconds: float = Field(default=3600.0, gt=0)
    # How long the start-up checks wait for the broker.
    startup_timeout_seconds: float = Field(default=10.0, gt=0)

    @field_validator("publish_sites", "publish_include_vos", "publish_exclude_vos", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @property
    def summaries_topic(self) -> str:
        return self.topic("summaries")

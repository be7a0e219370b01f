"""Settings of the HTTP API (environment ``BATCHACCT_*``, falling back to the stack's ``stack.env``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from batchacct.settings import CommonSettings, load_settings


class ApiSettings(CommonSettings):
    # The API reads PostgreSQL only; it never talks to the broker, so it does not require one.
    kafka_bootstrap_servers: str = ""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    default_page_size: int = Field(default=100, ge=1)
    max_page_size: int = Field(default=1000, ge=1)
    # Connections the pool may hold, and how long a request waits for one before answering 503.
    db_pool_size: int = Field(default=10, ge=1)
    db_timeout: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _page_sizes(self) -> ApiSettings:
        if self.default_page_size > self.max_page_size:
            raise ValueError(
                f"default_page_size ({self.default_page_size}) exceeds "
                f"max_page_size ({self.max_page_size})"
            )
        return self


def load_api_settings(**overrides: Any) -> ApiSettings:
    """Build :class:`ApiSettings`; raises :class:`batchacct.settings.SettingsError` if incomplete."""
    return load_settings(ApiSettings, **overrides)

"""Integration fixtures: the real broker and the real PostgreSQL, started by the fixtures.

One embedded stack per test session (in a temporary BATCHACCT_HOME). Every test gets its own
database (a copy of a migrated template) and its own topic prefix, so tests never see each
other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from batchacct import db, kafka, stack
from batchacct.tokens import create_token

TEMPLATE_DB = "batchacct_template"
TEST_PARTITIONS = 4


@dataclass(frozen=True)
class Env:
    """Where one test's broker topics and database are."""

    bootstrap_servers: str
    database_url: str
    topic_prefix: str
    home: Path

    def settings_env(self) -> dict[str, str]:
        return {
            "BATCHACCT_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "BATCHACCT_DATABASE_URL": self.database_url,
            "BATCHACCT_TOPIC_PREFIX": self.topic_prefix,
            "BATCHACCT_HOME": str(self.home),
        }

    def kafka_config(self) -> dict[str, str]:
        return {"bootstrap.servers": self.bootstrap_servers}

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def connect(self) -> psycopg.Connection:
        return db.connect(self.database_url, autocommit=True)


@pytest.fixture(scope="session")
def stack_info() -> Iterator[stack.StackInfo]:
    # Not under pytest's tmp_path: pytest prunes old base temp dirs, even those of a session
    # that is still running, which would pull the data directory from under PostgreSQL.
    keep = bool(os.environ.get("BATCHACCT_TEST_KEEP_STACK"))
    with stack.temporary("batchacct-test-stack-", keep=keep, partitions=TEST_PARTITIONS) as info:
        admin_url = info.database_url.rsplit("/", 1)[0] + "/postgres"
        with db.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"')
            conn.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
        db.migrate(info.database_url.rsplit("/", 1)[0] + f"/{TEMPLATE_DB}")
        yield info


@pytest.fixture
def env(stack_info: stack.StackInfo, tmp_path: Path) -> Iterator[Env]:
    name = "t_" + uuid.uuid4().hex[:12]
    base = stack_info.database_url.rsplit("/", 1)[0]
    with db.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"')
    prefix = f"{name}."
    kafka.create_topics(
        {"bootstrap.servers": stack_info.bootstrap_servers},
        [prefix + t for t in kafka.ALL_TOPICS],
        TEST_PARTITIONS,
    )
    home = tmp_path / "home"
    home.mkdir()
    yield Env(stack_info.bootstrap_servers, f"{base}/{name}", prefix, home)
    with db.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def env_vars(env: Env, monkeypatch: pytest.MonkeyPatch) -> Env:
    """The test's connection settings exported, as a service started by an administrator sees them."""
    for key, value in env.settings_env().items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def read_token(env: Env) -> str:
    return create_token(env.database_url, "test-read", ["read"])


@pytest.fixture
def admin_token(env: Env) -> str:
    return create_token(env.database_url, "test-admin", ["read", "admin"])

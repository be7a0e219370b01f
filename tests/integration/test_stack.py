from __future__ import annotations

import pytest

from batchacct import kafka, stack
from batchacct.settings import CommonSettings, load_settings
from batchacct.tokens import lookup_token

from .conftest import Env

pytestmark = pytest.mark.integration


def test_stack_up_is_idempotent_and_writes_env(stack_info: stack.StackInfo) -> None:
    again = stack.up(stack_info.home, partitions=4)
    assert again == stack_info
    env = stack.read_env(stack_info.home)
    assert env["BATCHACCT_KAFKA_BOOTSTRAP_SERVERS"] == stack_info.bootstrap_servers
    assert env["BATCHACCT_DATABASE_URL"] == stack_info.database_url
    assert lookup_token(stack_info.database_url, env["BATCHACCT_API_TOKEN"]) == ["read", "admin"]
    status = stack.status(stack_info.home)
    assert status["broker"].startswith("running") and status["postgres"].startswith("running")


def test_event_topics_are_copartitioned(env: Env) -> None:
    config = env.kafka_config()
    counts = {t: kafka.topic_partitions(config, env.topic(t)) for t in kafka.EVENT_TOPICS}
    assert len(set(counts.values())) == 1 and next(iter(counts.values())) > 0


def test_settings_fall_back_to_stack_env(
    stack_info: stack.StackInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BATCHACCT_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("BATCHACCT_DATABASE_URL", raising=False)
    monkeypatch.setenv("BATCHACCT_HOME", str(stack_info.home))
    settings = load_settings(CommonSettings)
    assert settings.kafka_bootstrap_servers == stack_info.bootstrap_servers
    assert settings.database_dsn == stack_info.database_url
    monkeypatch.setenv("BATCHACCT_DATABASE_URL", "postgresql://elsewhere/db")
    assert load_settings(CommonSettings).database_dsn == "postgresql://elsewhere/db"

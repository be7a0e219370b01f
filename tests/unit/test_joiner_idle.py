"""When ``--until-idle`` may stop: a unit test of the bookkeeping (no broker)."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import TopicPartition

from batchacct_joiner.handler import Joiner


def _joiner() -> Joiner:
    return Joiner(consumer=None, store=None, conn=None, topics=["b", "c"])  # type: ignore[arg-type]


def test_not_idle_before_joining_the_group() -> None:
    assert not _joiner()._idle(time.monotonic() - 100, 1.0)


def test_idle_once_every_assigned_partition_is_at_its_end_and_quiet() -> None:
    joiner = _joiner()
    joiner._on_assign(None, [TopicPartition("b", 0), TopicPartition("c", 0)])  # type: ignore[arg-type]
    quiet_since = time.monotonic() - 100
    assert not joiner._idle(quiet_since, 1.0)
    joiner._at_eof |= {("b", 0), ("c", 0)}
    assert joiner._idle(quiet_since, 1.0)
    assert not joiner._idle(time.monotonic(), 1.0)  # something arrived just now


def test_an_instance_given_no_partitions_can_stop() -> None:
    joiner = _joiner()
    no_partitions: list[Any] = []
    joiner._on_assign(None, no_partitions)  # type: ignore[arg-type]
    assert joiner._idle(time.monotonic() - 100, 1.0)

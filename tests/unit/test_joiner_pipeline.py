"""The joiner's two-stage pipeline, with a scripted consumer and store (no broker, no database):
the next batch is consumed while the previous one is in the database, and a batch's offsets are
committed only after its transaction, before the next batch reaches the database.

The real broker and database run the same loop in the integration tests (test_pipeline,
test_resilience); this test pins the ordering they cannot observe.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pytest
from confluent_kafka import TopicPartition

from batchacct.join import JoinOutcome
from batchacct_joiner.handler import Joiner


class FakeMessage:
    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self._where = (topic, partition, offset)

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return self._where[0]

    def partition(self) -> int:
        return self._where[1]

    def offset(self) -> int:
        return self._where[2]

    def value(self) -> bytes:
        return repr(self._where).encode()


class FakeCodec:
    def decode(self, raw: bytes, *, epoch_millis: bool) -> tuple[str, dict[str, Any]]:
        return ("batch_event", {"raw": raw})


class Script:
    """The consumer and the store, writing one shared log of what happened."""

    def __init__(self, batches: list[list[FakeMessage]], stop: threading.Event) -> None:
        self.batches = batches
        self.stop = stop
        self.log: list[str] = []
        self.consumed = 0
        self.second_batch_consumed = threading.Event()
        self.fail_on: int | None = None

    # Consumer
    def subscribe(self, topics: list[str], **_: Any) -> None:
        pass

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        if self.consumed == len(self.batches):
            self.stop.set()
            return []
        self.consumed += 1
        self.log.append(f"consumed {self.consumed}")
        if self.consumed == 2:
            self.second_batch_consumed.set()
        return self.batches[self.consumed - 1]

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> None:
        assert not asynchronous
        where = ",".join(f"{tp.topic}/{tp.partition}@{tp.offset}" for tp in offsets)
        self.log.append(f"commit {where}")

    # JoinStore
    def apply(
        self, batch_events: list[Mapping[str, Any]], ce_events: list[Mapping[str, Any]]
    ) -> JoinOutcome:
        number = len([e for e in self.log if e.startswith("applied")]) + 1
        self.log.append(f"applying {number}")
        if number == 1:
            # Batch 2 is consumed while batch 1 is in the database.
            assert self.second_batch_consumed.wait(10), "the next batch was not consumed"
        if number == self.fail_on:
            raise RuntimeError("database gone")
        self.log.append(f"applied {number}")
        return JoinOutcome()


def joiner(script: Script) -> Joiner:
    return Joiner(
        consumer=script,  # type: ignore[arg-type]
        store=script,  # type: ignore[arg-type]
        conn=None,  # type: ignore[arg-type]
        topics=["batch", "ce"],
        codec=FakeCodec(),  # type: ignore[arg-type]
    )


BATCHES = [
    [FakeMessage("batch", 0, 10), FakeMessage("batch", 0, 11), FakeMessage("ce", 1, 3)],
    [FakeMessage("batch", 0, 12)],
    [FakeMessage("ce", 1, 4), FakeMessage("batch", 1, 0)],
]


def test_the_next_batch_is_consumed_while_one_is_in_the_database() -> None:
    stop = threading.Event()
    script = Script(BATCHES, stop)
    assert joiner(script).run(stop) == 6
    log = script.log
    assert log.index("consumed 2") < log.index("applied 1")
    # Offsets: one past each partition's last message, committed after the batch's transaction
    # and before the next batch goes to the database.
    assert log.index("applied 1") < log.index("commit batch/0@12,ce/1@4") < log.index("applying 2")
    assert log.index("applied 2") < log.index("commit batch/0@13") < log.index("applying 3")
    assert log[-1] == "commit ce/1@5,batch/1@1"
    assert log.index("applied 3") < len(log) - 1


def test_a_failed_batch_is_not_committed_and_stops_the_joiner() -> None:
    stop = threading.Event()
    script = Script(BATCHES, stop)
    script.fail_on = 2
    with pytest.raises(RuntimeError, match="database gone"):
        joiner(script).run(stop)
    commits = [e for e in script.log if e.startswith("commit")]
    assert commits == ["commit batch/0@12,ce/1@4"]
    assert "applying 3" not in script.log


def test_a_rebalance_first_finishes_the_batch_in_flight() -> None:
    stop = threading.Event()
    script = Script(BATCHES[:2], stop)
    j = joiner(script)
    batch = j.decode(BATCHES[0])  # type: ignore[arg-type]
    script.second_batch_consumed.set()
    j._in_flight = (batch, j._database.submit(j.apply, batch))
    j._on_revoke(None, [TopicPartition("batch", 0)])  # type: ignore[arg-type]
    assert script.log[-2:] == ["applied 1", "commit batch/0@12,ce/1@4"]
    assert j._in_flight is None

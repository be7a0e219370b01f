"""The joiner's loop: consume a batch from both event topics, apply it, commit the transaction,
then commit the batch's offsets.

The loop is a two-stage pipeline: while PostgreSQL applies one batch (on the ``joiner-db``
thread), the next one is consumed and decoded. A batch's offsets are committed, explicitly and
from this thread, only after its transaction has committed, and before the next batch goes to
the database; so nothing is committed before it is durable, and batches reach PostgreSQL in the
order they were consumed. A rebalance first finishes the batch in flight.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from batchacct import metrics
from batchacct.avro import Codec, DecodeError
from batchacct.collector import store_rejections
from batchacct.errors import Reason, Rejection
from batchacct.join import JoinStore

log = logging.getLogger(__name__)


@dataclass
class Batch:
    """One consumed batch, decoded: what goes to PostgreSQL and the offsets it covers."""

    started: float
    batch_events: list[dict[str, Any]] = field(default_factory=list)
    ce_events: list[dict[str, Any]] = field(default_factory=list)
    bad: list[Rejection] = field(default_factory=list)
    per_topic: Counter[str] = field(default_factory=Counter)
    # (topic, partition) -> the offset to commit: one past the batch's last message there.
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def messages(self) -> int:
        return sum(self.per_topic.values())


class Joiner:
    def __init__(
        self,
        consumer: Consumer,
        store: JoinStore,
        conn: psycopg.Connection,
        topics: list[str],
        codec: Codec | None = None,
        batch_size: int = 5000,
    ) -> None:
        self.consumer = consumer
        self.store = store
        self.conn = conn
        self.topics = topics
        self.codec = codec or Codec()
        self.batch_size = batch_size
        self._at_eof: set[tuple[str, int]] = set()
        self._assigned: set[tuple[str, int]] = set()
        self._joined_group = False
        self._database = ThreadPoolExecutor(max_workers=1, thread_name_prefix="joiner-db")
        self._in_flight: tuple[Batch, Future[None]] | None = None

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # An instance may be given no partition at all (more joiners than partitions).
        self._joined_group = True
        for tp in partitions:
            self._assigned.add((tp.topic, tp.partition))
            self._at_eof.discard((tp.topic, tp.partition))

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._finish_in_flight()
        for tp in partitions:
            self._assigned.discard((tp.topic, tp.partition))
            self._at_eof.discard((tp.topic, tp.partition))

    def run(
        self, stop: threading.Event, *, until_idle: bool = False, idle_seconds: float = 3.0
    ) -> int:
        """Consume until stopped (or, with ``until_idle``, until every assigned partition is
        consumed and committed to its end and nothing new came for ``idle_seconds``)."""
        self.consumer.subscribe(self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke)
        last_activity = time.monotonic()
        total = 0
        try:
            while not stop.is_set():
                messages = self.consumer.consume(self.batch_size, timeout=0.5)
                batch = self.decode(messages)
                self._finish_in_flight()
                if batch.messages:
                    self._in_flight = (batch, self._database.submit(self.apply, batch))
                    total += batch.messages
                    last_activity = time.monotonic()
                elif until_idle and self._idle(last_activity, idle_seconds):
                    break
        finally:
            self._finish_in_flight()
            self._database.shutdown()
        return total

    def _idle(self, last_activity: float, idle_seconds: float) -> bool:
        return (
            self._joined_group
            and self._assigned <= self._at_eof
            and time.monotonic() - last_activity >= idle_seconds
        )

    def decode(self, messages: list[Message]) -> Batch:
        """The batch of ``messages``: decoded events, poison messages and offsets. Notes the
        partitions consumed to their end."""
        batch = Batch(time.monotonic())
        for msg in messages:
            err = msg.error()
            topic, partition = str(msg.topic()), int(msg.partition() or 0)
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    self._at_eof.add((topic, partition))
                    continue
                raise KafkaException(err)
            self._at_eof.discard((topic, partition))
            batch.per_topic[topic] += 1
            batch.next_offsets[topic, partition] = int(msg.offset() or 0) + 1
            try:
                record_type, datum = self.codec.decode(msg.value() or b"", epoch_millis=True)
            except DecodeError as exc:
                batch.bad.append(_poison(msg, str(exc)))
                continue
            if record_type == "batch_event":
                batch.batch_events.append(datum)
            elif record_type == "ce_event":
                batch.ce_events.append(datum)
            else:
                batch.bad.append(_poison(msg, f"unexpected record type {record_type}"))
        return batch

    def apply(self, batch: Batch) -> None:
        """Store the batch's poison messages and join its events, each in one transaction."""
        for topic, count in batch.per_topic.items():
            metrics.JOINER_MESSAGES.labels(topic).inc(count)
        if batch.bad:
            with self.conn.transaction():
                store_rejections(self.conn, batch.bad)
            for rejection in batch.bad:
                metrics.JOINER_BAD_MESSAGES.labels(rejection.file).inc()
        if batch.batch_events or batch.ce_events:
            outcome = self.store.apply(batch.batch_events, batch.ce_events)
            for name, count in outcome.counts.items():
                metrics.JOIN_OUTCOMES.labels(name).inc(count)
            if outcome.retries:
                metrics.JOINER_RETRIES.inc(outcome.retries)
            if outcome.unmapped_local:
                metrics.JOINER_UNMAPPED_GROUPS.inc(outcome.unmapped_local)
            for site, count in outcome.without_benchmark.items():
                metrics.JOINER_WITHOUT_BENCHMARK.labels(site).inc(count)
            for site, count in outcome.account_invalid.items():
                metrics.JOINER_ACCOUNT_INVALID.labels(site).inc(count)

    def _finish_in_flight(self) -> None:
        """Wait for the batch in the database (its error is raised here), then commit its
        offsets."""
        if self._in_flight is None:
            return
        batch, applied = self._in_flight
        self._in_flight = None
        applied.result()
        self._commit(batch)

    def _commit(self, batch: Batch) -> None:
        self.consumer.commit(
            offsets=[
                TopicPartition(topic, partition, offset)
                for (topic, partition), offset in batch.next_offsets.items()
            ],
            asynchronous=False,
        )
        metrics.JOINER_BATCHES.inc()
        metrics.JOINER_LAST_COMMIT.set_to_current_time()
        metrics.JOINER_BATCH_SECONDS.observe(time.monotonic() - batch.started)
        log.debug(
            "batch committed",
            extra={
                "messages": batch.messages,
                "batch": len(batch.batch_events),
                "ce": len(batch.ce_events),
            },
        )


def _poison(msg: Message, detail: str) -> Rejection:
    raw = msg.value() or b""
    return Rejection(
        "kafka",
        "",
        str(msg.topic()),
        int(msg.offset() or 0),
        Reason.MALFORMED.value,
        detail,
        raw[:4096].hex(),
    )

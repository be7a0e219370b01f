"""The joiner's loop: consume a batch from both event topics, apply it, commit the transaction,
then commit the offsets."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any

import psycopg
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from batchacct import metrics
from batchacct.avro import Codec, DecodeError
from batchacct.collector import store_rejections
from batchacct.errors import Reason, Rejection
from batchacct.join import JoinStore

log = logging.getLogger(__name__)


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

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # An instance may be given no partition at all (more joiners than partitions).
        self._joined_group = True
        for tp in partitions:
            self._assigned.add((tp.topic, tp.partition))
            self._at_eof.discard((tp.topic, tp.partition))

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
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
        while not stop.is_set():
            messages = self.consumer.consume(self.batch_size, timeout=0.5)
            if messages:
                handled = self.handle(messages)
                if handled:
                    total += handled
                    last_activity = time.monotonic()
            if until_idle and self._idle(last_activity, idle_seconds):
                break
        return total

    def _idle(self, last_activity: float, idle_seconds: float) -> bool:
        return (
            self._joined_group
            and self._assigned <= self._at_eof
            and time.monotonic() - last_activity >= idle_seconds
        )

    def handle(self, messages: list[Message]) -> int:
        started = time.monotonic()
        batch: list[dict[str, Any]] = []
        ce: list[dict[str, Any]] = []
        bad: list[Rejection] = []
        per_topic: Counter[str] = Counter()
        real = 0
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    self._at_eof.add((str(msg.topic()), int(msg.partition() or 0)))
                    continue
                raise KafkaException(err)
            real += 1
            topic = str(msg.topic())
            self._at_eof.discard((topic, int(msg.partition() or 0)))
            per_topic[topic] += 1
            try:
                record_type, datum = self.codec.decode(msg.value() or b"", epoch_millis=True)
            except DecodeError as exc:
                bad.append(_poison(msg, str(exc)))
                continue
            if record_type == "batch_event":
                batch.append(datum)
            elif record_type == "ce_event":
                ce.append(datum)
            else:
                bad.append(_poison(msg, f"unexpected record type {record_type}"))
        if not real:
            return 0
        for topic, count in per_topic.items():
            metrics.JOINER_MESSAGES.labels(topic).inc(count)
        if bad:
            with self.conn.transaction():
                store_rejections(self.conn, bad)
            for rejection in bad:
                metrics.JOINER_BAD_MESSAGES.labels(rejection.file).inc()
        if batch or ce:
            outcome = self.store.apply(batch, ce)
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
        self.consumer.commit(asynchronous=False)
        metrics.JOINER_BATCHES.inc()
        metrics.JOINER_LAST_COMMIT.set_to_current_time()
        metrics.JOINER_BATCH_SECONDS.observe(time.monotonic() - started)
        log.debug("batch committed", extra={"messages": real, "batch": len(batch), "ce": len(ce)})
        return real


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

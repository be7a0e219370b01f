"""Thin helpers over confluent-kafka: client factories, topic creation, delivery tracking."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

log = logging.getLogger(__name__)

EVENT_TOPICS = ("batch-events", "ce-events")
ALL_TOPICS = ("batch-events", "ce-events", "dead-letter", "job-records", "summaries")


class BrokerUnavailable(RuntimeError):
    pass


class DeliveryFailed(RuntimeError):
    pass


def check_broker(config: dict[str, Any], timeout: float = 10.0) -> None:
    """Raise :class:`BrokerUnavailable` unless the cluster answers a metadata request."""
    admin = AdminClient({**config, "log_level": 0})
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException as err:
        raise BrokerUnavailable(
            f"cannot reach the Kafka broker at {config.get('bootstrap.servers')}: {err.args[0]}"
        ) from None


def create_topics(
    config: dict[str, Any],
    names: Iterable[str],
    partitions: int,
    replication: int = 1,
    timeout: float = 15.0,
) -> list[str]:
    """Create the topics that do not exist yet. Returns the names created."""
    admin = AdminClient(dict(config))
    existing = set(admin.list_topics(timeout=timeout).topics)
    wanted = [n for n in names if n not in existing]
    if not wanted:
        return []
    futures = admin.create_topics(
        [NewTopic(n, partitions, replication) for n in wanted], operation_timeout=timeout
    )
    created = []
    for name, future in futures.items():
        try:
            future.result()
            created.append(name)
        except KafkaException as err:
            if err.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    return created


def topic_partitions(config: dict[str, Any], topic: str, timeout: float = 10.0) -> int:
    meta = AdminClient(dict(config)).list_topics(topic, timeout=timeout)
    info = meta.topics.get(topic)
    if info is None or info.error is not None:
        return 0
    return len(info.partitions)


class TrackedProducer:
    """A producer that remembers delivery failures, so a caller can flush and then check them."""

    def __init__(self, config: dict[str, str], **overrides: Any) -> None:
        self._producer = Producer(
            {
                **config,
                "enable.idempotence": True,
                "linger.ms": 20,
                "batch.num.messages": 10000,
                "queue.buffering.max.messages": 500000,
                "compression.type": "lz4",
                **overrides,
            }
        )
        self.failures: list[KafkaError] = []

    def _on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self.failures.append(err)

    def produce(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        on_delivered: Callable[[Message], None] | None = None,
    ) -> None:
        """Queue one message; ``on_delivered`` (optional) gets it once the broker acknowledged it,
        with its partition and offset (during a later poll or flush)."""
        callback: Callable[[KafkaError | None, Message], None] = self._on_delivery
        if on_delivered is not None:
            delivered = on_delivered

            def report(err: KafkaError | None, msg: Message) -> None:
                self._on_delivery(err, msg)
                if err is None:
                    delivered(msg)

            callback = report

        while True:
            try:
                self._producer.produce(topic, value=value, key=key, on_delivery=callback)
                return
            except BufferError:
                self._producer.poll(0.1)

    def poll(self) -> None:
        self._producer.poll(0)

    def flush_or_raise(self, timeout: float = 60.0) -> None:
        """Wait for every acknowledgement; raise if any message was not delivered."""
        remaining = self._producer.flush(timeout)
        if remaining or self.failures:
            first = self.failures[0] if self.failures else None
            count = len(self.failures) + remaining
            self.failures.clear()
            raise DeliveryFailed(f"{count} message(s) not acknowledged by the broker: {first}")

"""Kafka helpers shared by the services: topics, an idempotent producer, dead letters."""

from __future__ import annotations

import contextlib
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from shared.observability import metrics
from shared.observability.context import capture, to_kafka_headers
from shared.topics import PARTITIONS, Topic

log = logging.getLogger(__name__)

DEAD_LETTER_REASON = "x-dead-letter-reason"
DEAD_LETTER_SOURCE = "x-dead-letter-source"


@retry(
    retry=retry_if_exception_type(KafkaConnectionError),
    wait=wait_exponential(multiplier=0.2, max=2),
    stop=stop_after_delay(60),
    reraise=True,
)
async def ensure_topics(bootstrap_servers: str) -> None:
    """Create Bridgework's topics with their partition counts; existing ones are left alone."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name=topic.value, num_partitions=PARTITIONS[topic], replication_factor=1)
            for topic in Topic
            if topic.value not in existing
        ]
        if missing:
            # Another service may have created them first.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()


def idempotent_producer(bootstrap_servers: str) -> AIOKafkaProducer:
    """acks=all with idempotence: a retried send is written once, in order, per partition."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
    )


async def dead_letter(
    producer: AIOKafkaProducer, source_topic: str, key: bytes | None, body: bytes, reason: str
) -> None:
    """Park a message no consumer can read, with the reason, so the consumer can move on."""
    headers = [
        (DEAD_LETTER_REASON, reason[:2000].encode()),
        (DEAD_LETTER_SOURCE, source_topic.encode()),
        # The change's correlation id and trace go with it, and on again when it is replayed.
        *to_kafka_headers(capture()),
    ]
    await producer.send_and_wait(Topic.DEAD_LETTERS.value, body, key=key, headers=headers)
    metrics.DEAD_LETTERED.labels(source_topic=source_topic).inc()
    metrics.EVENTS_FAILED.labels(topic=source_topic, reason="dead-lettered").inc()
    # The reason can quote the payload (names, emails): it travels in the header, not the log.
    log.warning("dead-lettered a message from %s (reason in its headers)", source_topic)

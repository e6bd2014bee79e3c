"""Kafka helpers shared by the services: topics, an idempotent producer, dead letters."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    KafkaConnectionError,
    MessageSizeTooLargeError,
    RecordTooLargeError,
    TopicAlreadyExistsError,
)
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from shared.observability import metrics
from shared.observability.context import capture, to_kafka_headers
from shared.settings import KafkaSettings
from shared.topics import TOPIC_CONFIGS, Topic, partition_count

log = logging.getLogger(__name__)

DEAD_LETTER_REASON = "x-dead-letter-reason"
DEAD_LETTER_SOURCE = "x-dead-letter-source"  # the original topic
DEAD_LETTER_PARTITION = "x-dead-letter-partition"
DEAD_LETTER_OFFSET = "x-dead-letter-offset"
DEAD_LETTER_KIND = "x-dead-letter-kind"  # malformed, unknown_type, unknown_version, invalid, ...
DEAD_LETTER_CONSUMER = "x-dead-letter-consumer"  # which service parked it
# Only on a dead letter whose copy was cut short to fit (see ``fitting_copy``): the original's
# size in bytes and SHA-256 digest (hex), of its value and, when that was cut too, its key.
DEAD_LETTER_TRUNCATED = "x-dead-letter-truncated"  # "value", "key" or "key,value"
DEAD_LETTER_ORIGINAL_SIZE = "x-dead-letter-original-size"
DEAD_LETTER_ORIGINAL_SHA256 = "x-dead-letter-original-sha256"
DEAD_LETTER_ORIGINAL_KEY_SIZE = "x-dead-letter-original-key-size"
DEAD_LETTER_ORIGINAL_KEY_SHA256 = "x-dead-letter-original-key-sha256"
# The most a dead letter copies of a message (key and value together): half the producer's
# default request limit (1 MiB), so the copy plus its headers always fits, whatever arrived.
DEAD_LETTER_MAX_COPY_BYTES = 512 * 1024
DEAD_LETTER_MAX_KEY_BYTES = 1024
DEAD_LETTER_MAX_REASON_CHARS = 2000
Header = tuple[str, bytes]


@retry(
    retry=retry_if_exception_type(KafkaConnectionError),
    wait=wait_exponential(multiplier=0.2, max=2),
    stop=stop_after_delay(60),
    reraise=True,
)
async def ensure_topics(settings: KafkaSettings) -> None:
    """Create Bridgework's topics with the deployment's partitions, replication factor and
    min.insync.replicas, and each topic's own configs (retention); existing ones are left
    alone (a topic's partitions and replicas are changed with Kafka's own tools)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [new_topic(topic, settings) for topic in Topic if topic.value not in existing]
        if missing:
            # Another service may have created them first.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()


def new_topic(topic: Topic, settings: KafkaSettings) -> NewTopic:
    return NewTopic(
        name=topic.value,
        num_partitions=partition_count(topic, settings.kafka_partitions),
        replication_factor=settings.kafka_replication_factor,
        topic_configs={
            "min.insync.replicas": str(settings.kafka_min_insync_replicas),
            **TOPIC_CONFIGS.get(topic, {}),
        },
    )


def idempotent_producer(bootstrap_servers: str) -> AIOKafkaProducer:
    """acks=all with idempotence: a retried send is written once, in order, per partition.

    No linger: a relay hands a batch's rows to the producer without yielding to the event loop
    (``send`` suspends only when the buffer is full), so they leave in one request anyway, and
    a linger only held each batch back for it (docs/scaling.md, "The producer's linger,
    again")."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        enable_idempotence=True,
        acks="all",
        linger_ms=0,
    )


Batch = dict[TopicPartition, list["ConsumerRecord[bytes, bytes]"]]


def take_fresh_records(consumer: AIOKafkaConsumer, wait_ms: int) -> None:
    """Make ``consumer.getmany`` also take what the broker received while the last batch was
    being handled.

    aiokafka fetches a partition again only once its buffered records are taken, so the records
    ``getmany`` returns were fetched just after the previous batch was taken: whatever arrived
    during that batch's handling waits in the broker for one more batch. Taking the buffer sends
    that fetch; waiting ``wait_ms`` at most for its answer puts those records in this batch and
    cuts a whole batch's time from their latency. Every record still comes through
    ``getmany``, so the subscriber commits, or seeks back to, all of them."""
    plain = consumer.getmany

    async def getmany(
        *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> Batch:
        batch: Batch = await plain(*partitions, timeout_ms=timeout_ms, max_records=max_records)
        left = None if max_records is None else max_records - sum(map(len, batch.values()))
        if batch and (left is None or left > 0):
            fresh: Batch = await plain(*partitions, timeout_ms=wait_ms, max_records=left)
            for partition, records in fresh.items():
                batch.setdefault(partition, []).extend(records)  # later offsets, in order
        return batch

    setattr(consumer, "getmany", getmany)  # noqa: B010 (an instance's method, replaced)


@dataclass(frozen=True)
class Origin:
    """Where a message was read from: copied into its dead letter's headers."""

    topic: str
    partition: int | None = None
    offset: int | None = None


def dead_letter_headers(origin: Origin, consumer: str, kind: str, reason: str) -> list[Header]:
    headers = {
        DEAD_LETTER_REASON: reason[:DEAD_LETTER_MAX_REASON_CHARS],
        DEAD_LETTER_KIND: kind[:100],
        DEAD_LETTER_SOURCE: origin.topic[:300],
        DEAD_LETTER_PARTITION: "" if origin.partition is None else str(origin.partition),
        DEAD_LETTER_OFFSET: "" if origin.offset is None else str(origin.offset),
        DEAD_LETTER_CONSUMER: consumer[:100],
    }
    return [(name, value.encode(errors="replace")) for name, value in headers.items()]


@dataclass(frozen=True)
class DeadLetterCopy:
    """What a dead letter carries of the original message: all of it when it fits, else its
    beginning, with headers giving the original's size and digest (so the copy can be matched
    with the original, and is never replayed as if it were whole)."""

    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...] = ()

    @property
    def truncated(self) -> bool:
        return bool(self.headers)


def fitting_copy(
    key: bytes | None, value: bytes | None, max_bytes: int = DEAD_LETTER_MAX_COPY_BYTES
) -> DeadLetterCopy:
    """The original when key and value fit in ``max_bytes``; else the key's first
    ``DEAD_LETTER_MAX_KEY_BYTES`` and as much of the value as then fits."""
    key_size, value_size = len(key or b""), len(value or b"")
    if key_size + value_size <= max_bytes:
        return DeadLetterCopy(key, value)
    cut: list[str] = []
    headers: list[Header] = []
    if key is not None and key_size > DEAD_LETTER_MAX_KEY_BYTES:
        cut.append("key")
        headers += _original(DEAD_LETTER_ORIGINAL_KEY_SIZE, DEAD_LETTER_ORIGINAL_KEY_SHA256, key)
        key = key[:DEAD_LETTER_MAX_KEY_BYTES]
    room = max(max_bytes - len(key or b""), 0)
    if value is not None and value_size > room:
        cut.append("value")
        headers += _original(DEAD_LETTER_ORIGINAL_SIZE, DEAD_LETTER_ORIGINAL_SHA256, value)
        value = value[:room]
    return DeadLetterCopy(key, value, ((DEAD_LETTER_TRUNCATED, ",".join(cut).encode()), *headers))


def digest_only(key: bytes | None, value: bytes | None) -> DeadLetterCopy:
    """Nothing of the original but the size and digest of its key and value."""
    headers = [
        *_original(DEAD_LETTER_ORIGINAL_KEY_SIZE, DEAD_LETTER_ORIGINAL_KEY_SHA256, key or b""),
        *_original(DEAD_LETTER_ORIGINAL_SIZE, DEAD_LETTER_ORIGINAL_SHA256, value or b""),
    ]
    return DeadLetterCopy(None, b"", ((DEAD_LETTER_TRUNCATED, b"key,value"), *headers))


def _original(size_header: str, digest_header: str, data: bytes) -> list[Header]:
    return [
        (size_header, str(len(data)).encode()),
        (digest_header, hashlib.sha256(data).hexdigest().encode()),
    ]


async def dead_letter(
    producer: AIOKafkaProducer,
    origin: Origin,
    key: bytes | None,
    body: bytes | None,
    reason: str,
    *,
    consumer: str = "",
    kind: str = "invalid",
) -> None:
    """Park a message no consumer can read, so the consumer can move on. The dead letter's value
    is the original payload, byte for byte, unless it is too large to park whole (then its
    beginning, see ``fitting_copy``); the headers say why, and where it came from. The change's
    correlation id and trace go with it, and on again when it is replayed."""
    headers = [*dead_letter_headers(origin, consumer, kind, reason), *to_kafka_headers(capture())]
    copy = fitting_copy(key, body)
    try:
        await producer.send_and_wait(
            Topic.DEAD_LETTERS.value, copy.value, key=copy.key, headers=[*headers, *copy.headers]
        )
    except (MessageSizeTooLargeError, RecordTooLargeError):
        # A broker configured below the copy's size: the letter goes without any of the
        # original (size and digest only), rather than hold up the partition.
        copy = digest_only(key, body)
        await producer.send_and_wait(
            Topic.DEAD_LETTERS.value, copy.value, key=copy.key, headers=[*headers, *copy.headers]
        )
    metrics.DEAD_LETTERED.labels(source_topic=origin.topic).inc()
    metrics.EVENTS_FAILED.labels(topic=origin.topic, reason="dead-lettered").inc()
    # The reason can quote the payload (names, emails): it travels in the header, not the log.
    log.warning(
        "dead-lettered a message from %s[%s]@%s (%s%s; reason in its headers)",
        origin.topic,
        origin.partition,
        origin.offset,
        kind,
        ", copy truncated" if copy.truncated else "",
    )

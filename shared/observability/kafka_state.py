"""What the broker knows about Bridgework's consumers: lag per group and topic, topic sizes.
Used by the services' lag gauge and by ``bridgework status``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


@contextlib.asynccontextmanager
async def _offsets_reader(bootstrap_servers: str) -> AsyncIterator[AIOKafkaConsumer]:
    # No group: this consumer only asks for offsets, it never joins or commits.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    found: list[TopicPartition] = []
    for topic in topics:
        partitions = await consumer.partitions_for_topic(topic) or set()
        found += [TopicPartition(topic, p) for p in sorted(partitions)]
    return found


async def consumer_lag(bootstrap_servers: str, group: str, topics: Iterable[str]) -> dict[str, int]:
    """Messages per topic that ``group`` has not committed yet (a partition the group never
    committed counts from its beginning)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    async with _offsets_reader(bootstrap_servers) as consumer:
        partitions = await _partitions(consumer, topics)
        ends, starts = await asyncio.gather(
            consumer.end_offsets(partitions), consumer.beginning_offsets(partitions)
        )
    lag: dict[str, int] = {}
    for partition in partitions:
        mark = committed.get(partition)
        position = mark.offset if mark is not None and mark.offset >= 0 else starts[partition]
        lag[partition.topic] = lag.get(partition.topic, 0) + max(ends[partition] - position, 0)
    return lag


async def topic_size(bootstrap_servers: str, topic: str) -> int:
    """Messages currently held by a topic (end minus beginning offsets, over its partitions)."""
    async with _offsets_reader(bootstrap_servers) as consumer:
        partitions = await _partitions(consumer, [topic])
        ends, starts = await asyncio.gather(
            consumer.end_offsets(partitions), consumer.beginning_offsets(partitions)
        )
    return sum(ends[p] - starts[p] for p in partitions)

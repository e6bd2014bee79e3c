"""What the broker knows about Bridgework's consumers: lag per group and topic, topic sizes.
Used by the services' lag gauge and by ``bridgework status``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CoordinatorLoadInProgressError, GroupCoordinatorNotAvailableError
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential


@contextlib.asynccontextmanager
async def _admin(bootstrap_servers: str) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def _partitions(admin: AIOKafkaAdminClient, topics: Iterable[str]) -> list[TopicPartition]:
    described = await admin.describe_topics([str(t) for t in topics])
    return sorted(
        TopicPartition(topic["topic"], partition["partition"])
        for topic in described
        for partition in topic["partitions"]
    )


async def _offsets(
    bootstrap_servers: str, partitions: list[TopicPartition]
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """(beginning, end) offsets of each partition."""
    # No group: this consumer only asks for offsets, it never joins or commits.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    # Let the consumer's background task take its first step: aiokafka's stop() cancels it,
    # and a task cancelled before it ever ran raises CancelledError out of stop().
    await asyncio.sleep(0)
    try:
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return starts, ends


# A broker just started has no group coordinator until its offsets topic exists: ask again.
@retry(
    retry=retry_if_exception_type(
        (GroupCoordinatorNotAvailableError, CoordinatorLoadInProgressError)
    ),
    wait=wait_exponential(multiplier=0.2, max=2),
    stop=stop_after_delay(20),
    reraise=True,
)
async def consumer_lag(bootstrap_servers: str, group: str, topics: Iterable[str]) -> dict[str, int]:
    """Messages per topic that ``group`` has not committed yet (a partition the group never
    committed counts from its beginning)."""
    async with _admin(bootstrap_servers) as admin:
        committed = await admin.list_consumer_group_offsets(group)
        partitions = await _partitions(admin, topics)
    starts, ends = await _offsets(bootstrap_servers, partitions)
    lag: dict[str, int] = {}
    for partition in partitions:
        mark = committed.get(partition)
        position = mark.offset if mark is not None and mark.offset >= 0 else starts[partition]
        lag[partition.topic] = lag.get(partition.topic, 0) + max(ends[partition] - position, 0)
    return lag


async def topic_size(bootstrap_servers: str, topic: str) -> int:
    """Messages currently held by a topic (end minus beginning offsets, over its partitions)."""
    async with _admin(bootstrap_servers) as admin:
        partitions = await _partitions(admin, [topic])
    starts, ends = await _offsets(bootstrap_servers, partitions)
    return sum(ends[p] - starts[p] for p in partitions)


async def end_offsets(bootstrap_servers: str, topics: Iterable[str]) -> dict[TopicPartition, int]:
    """Each partition's end offset: where the next message will go."""
    async with _admin(bootstrap_servers) as admin:
        partitions = await _partitions(admin, topics)
    return (await _offsets(bootstrap_servers, partitions))[1]


async def has_consumed(
    bootstrap_servers: str, group: str, marks: dict[TopicPartition, int]
) -> bool:
    """Whether ``group`` has committed every partition at least up to its mark (an end offset
    taken earlier): it has applied every message that was there."""
    async with _admin(bootstrap_servers) as admin:
        committed = await admin.list_consumer_group_offsets(group, partitions=list(marks))
    positions = {tp: mark.offset for tp, mark in committed.items() if mark is not None}
    return all(positions.get(tp, -1) >= mark for tp, mark in marks.items() if mark > 0)

"""The outbox relay against the real broker: everything published, once, even with two relays."""

from __future__ import annotations

import asyncio
import contextlib
import json
from uuid import uuid4

import asyncpg
import pytest
from aiokafka import ConsumerRecord

from shared.events import PersonErased
from shared.kafka import idempotent_producer
from shared.outbox import OutboxRelay, add_to_outbox
from shared.settings import Settings
from shared.topics import Topic
from tests.support.kafka import read_topic

pytestmark = pytest.mark.integration


async def test_two_relays_publish_every_event_exactly_once(
    settings: Settings, matcher_pool: asyncpg.Pool
) -> None:
    batch = f"relay-{uuid4().hex[:6]}"
    events = [PersonErased(entity_key=f"{batch}-{i}", person_id=uuid4()) for i in range(300)]
    async with matcher_pool.acquire() as conn, conn.transaction():
        await add_to_outbox(conn, events)

    producer = idempotent_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        relays = [OutboxRelay(matcher_pool, producer, batch_size=25) for _ in range(2)]
        published = await asyncio.gather(*(_drain(relay) for relay in relays))
    finally:
        await producer.stop()

    assert sum(published) >= 300
    records = await _published(settings, batch, 300)
    ids = [json.loads(r.value)["event_id"] for r in records]
    assert len(ids) == 300
    assert set(ids) == {str(e.event_id) for e in events}
    async with matcher_pool.acquire() as conn:
        assert await relays[0].backlog() == 0
        unpublished = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE message_key LIKE $1 AND published_at IS NULL",
            f"{batch}%",
        )
    assert unpublished == 0


async def test_a_batch_is_stored_in_its_events_order_each_with_its_trace(
    matcher_pool: asyncpg.Pool,
) -> None:
    """One statement stores a batch's rows: ids follow the events' order (the relay's order),
    and each row keeps the trace context given for its own event."""
    batch = f"rows-{uuid4().hex[:6]}"
    events = [PersonErased(entity_key=f"{batch}-{i}", person_id=uuid4()) for i in range(40)]
    contexts = [{"x-correlation-id": f"change-{i}"} for i in range(40)]
    async with matcher_pool.acquire() as conn, conn.transaction():
        await add_to_outbox(conn, events, contexts)
        with pytest.raises(ValueError, match="40 events but 1 trace contexts"):
            await add_to_outbox(conn, events, contexts[:1])
        rows = await conn.fetch(
            "SELECT event_id, payload, trace_context FROM outbox"
            " WHERE message_key LIKE $1 ORDER BY id",
            f"{batch}-%",
        )
    assert [r["event_id"] for r in rows] == [e.event_id for e in events]
    assert [r["trace_context"] for r in rows] == contexts
    assert [r["payload"]["person_id"] for r in rows] == [str(e.person_id) for e in events]


async def test_racing_relays_keep_each_entitys_events_in_order(
    settings: Settings, matcher_pool: asyncpg.Pool
) -> None:
    """Two relays draining one outbox at once (two replicas): each key's events reach Kafka in
    the order they were stored, as consumers need (a person's erasure after their profile)."""
    batch = f"order-{uuid4().hex[:6]}"
    keys = [f"{batch}-{k}" for k in range(6)]
    events = [PersonErased(entity_key=keys[i % 6], person_id=uuid4()) for i in range(300)]
    async with matcher_pool.acquire() as conn:
        for chunk in range(0, 300, 10):  # stored by many transactions, as changes are
            async with conn.transaction():
                await add_to_outbox(conn, events[chunk : chunk + 10])

    # Each relay with its own producer, as in replicas of their own.
    producers = [idempotent_producer(settings.kafka_bootstrap_servers) for _ in range(3)]
    for producer in producers:
        await producer.start()
    try:
        relays = [OutboxRelay(matcher_pool, producer, batch_size=7) for producer in producers]
        await asyncio.gather(*(_drain_until_empty(relay) for relay in relays))
    finally:
        for producer in producers:
            await producer.stop()

    records = await _published(settings, batch, 300)
    for key in keys:
        stored = [str(e.event_id) for e in events if e.entity_key == key]
        on_kafka = [json.loads(r.value)["event_id"] for r in records if r.key == key.encode()]
        assert on_kafka == stored


async def _drain_until_empty(relay: OutboxRelay) -> None:
    """Publish until the outbox is empty, as a relay's loop does (it tries again when another
    relay held the lock)."""
    while await relay.backlog():
        if not await relay.publish_batch():
            await asyncio.sleep(0.001)


async def _drain(relay: OutboxRelay) -> int:
    total = 0
    while published := await relay.publish_batch():
        total += published
    return total


async def test_a_running_relay_publishes_each_commit_when_woken(
    settings: Settings, matcher_pool: asyncpg.Pool
) -> None:
    """The relay's loop stops after a short batch and sleeps until a commit's NOTIFY wakes it:
    rows committed one transaction after another, while it publishes, all reach Kafka long
    before its poll would have found them."""
    batch = f"woken-{uuid4().hex[:6]}"
    events = [PersonErased(entity_key=f"{batch}-{i}", person_id=uuid4()) for i in range(60)]
    producer = idempotent_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    relay = OutboxRelay(matcher_pool, producer, poll_seconds=3600, batch_size=4)
    running = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.2)  # listening
        async with matcher_pool.acquire() as conn:
            for chunk in range(0, 60, 3):  # short batches, each its own commit
                async with conn.transaction():
                    await add_to_outbox(conn, events[chunk : chunk + 3])
                await asyncio.sleep(0.005)
        async with asyncio.timeout(20):
            while await relay.backlog():
                await asyncio.sleep(0.05)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await producer.stop()

    records = await _published(settings, batch, 60)
    assert sorted(json.loads(r.value)["event_id"] for r in records) == sorted(
        str(e.event_id) for e in events
    )


async def _published(
    settings: Settings, batch: str, count: int
) -> list[ConsumerRecord[bytes, bytes]]:
    """The people topic's records of this test's events (their keys start with ``batch``)."""
    return await read_topic(
        settings.kafka_bootstrap_servers,
        Topic.PEOPLE,
        lambda r: r.key is not None and r.key.decode().startswith(batch),
        count=count,
    )

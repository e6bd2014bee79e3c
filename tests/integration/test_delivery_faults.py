"""Effectively once under delivery faults, against the real broker and database: a consumer that
dies after its effect but before committing its offset, a relay killed with SIGKILL mid-batch,
and dead letters that say where a message came from and are counted."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from devtools import ROOT
from shared.consuming import EventConsumer
from shared.events import Event, PersonErased
from shared.kafka import (
    DEAD_LETTER_CONSUMER,
    DEAD_LETTER_KIND,
    DEAD_LETTER_OFFSET,
    DEAD_LETTER_PARTITION,
    DEAD_LETTER_SOURCE,
    idempotent_producer,
)
from shared.outbox import OutboxRelay, add_to_outbox
from shared.settings import Settings
from shared.topics import Topic
from tests.support.kafka import read_topic

pytestmark = pytest.mark.integration


@pytest.fixture
async def producer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    producer = idempotent_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    yield producer
    await producer.stop()


async def effects_table(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS fault_effects (event_id uuid NOT NULL)")


async def effect_count(pool: asyncpg.Pool, event_id: UUID) -> int:
    async with pool.acquire() as conn:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM fault_effects WHERE event_id = $1", event_id
        )
        return count


async def record_effect(conn: asyncpg.Connection, event: Event) -> None:
    await conn.execute("INSERT INTO fault_effects (event_id) VALUES ($1)", event.event_id)


async def read_one_uncommitted(
    bootstrap: str, group: str, topic: str, key: bytes
) -> ConsumerRecord[bytes, bytes]:
    """Join ``group`` and read up to the record with ``key``; never commit (as in a crash)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                for record in records:
                    if record.key == key:
                        return record
        raise AssertionError("the record never arrived")
    finally:
        await consumer.stop()  # leaves the group without committing anything


async def test_a_consumer_that_dies_before_committing_rereads_and_changes_nothing_twice(
    settings: Settings, matcher_pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    await effects_table(matcher_pool)
    event = PersonErased(entity_key=f"crash-{uuid4().hex[:6]}", person_id=uuid4())
    key = event.entity_key.encode()
    await producer.send_and_wait(Topic.PEOPLE.value, event.to_json_bytes(), key=key)
    consumer = EventConsumer("fault-commit", matcher_pool, producer, record_effect)
    group = f"fault-{uuid4().hex[:6]}"

    # First life: the effect commits, then the process dies before the offset commit.
    first = await read_one_uncommitted(settings.kafka_bootstrap_servers, group, Topic.PEOPLE, key)
    await consumer.handle(first.value, first.key, first.topic, first.partition, first.offset)
    assert await effect_count(matcher_pool, event.event_id) == 1

    # Second life, same group: the uncommitted message comes again, and changes nothing.
    again = await read_one_uncommitted(settings.kafka_bootstrap_servers, group, Topic.PEOPLE, key)
    assert (again.partition, again.offset) == (first.partition, first.offset)
    await consumer.handle(again.value, again.key, again.topic, again.partition, again.offset)
    assert await effect_count(matcher_pool, event.event_id) == 1


RELAY_SCRIPT = """
import asyncio, sys
from shared.db import create_pool
from shared.kafka import idempotent_producer
from shared.outbox import OutboxRelay

async def main() -> None:
    pool = await create_pool(sys.argv[1], "matcher", min_size=1, max_size=2)
    producer = idempotent_producer(sys.argv[2])
    await producer.start()
    print("relay started", flush=True)
    await OutboxRelay(pool, producer, poll_seconds=0.1, batch_size=int(sys.argv[3])).run()

asyncio.run(main())
"""


async def unpublished(pool: asyncpg.Pool, prefix: str) -> int:
    async with pool.acquire() as conn:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE message_key LIKE $1 AND published_at IS NULL",
            f"{prefix}%",
        )
        return count


async def test_a_relay_killed_mid_batch_loses_nothing(
    settings: Settings, matcher_pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    prefix = f"sigkill-{uuid4().hex[:6]}"
    events = [PersonErased(entity_key=f"{prefix}-{i}", person_id=uuid4()) for i in range(3000)]
    async with matcher_pool.acquire() as conn, conn.transaction():
        await add_to_outbox(conn, events)

    args = [settings.database_url, settings.kafka_bootstrap_servers, "200"]
    relay = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RELAY_SCRIPT, *args, cwd=ROOT
    )
    try:
        deadline = time.monotonic() + 60
        while await unpublished(matcher_pool, prefix) == len(events):
            assert time.monotonic() < deadline, "the relay never started publishing"
            await asyncio.sleep(0.05)
    finally:
        relay.send_signal(signal.SIGKILL)  # mid-stream: some batches sent, some not marked
        await relay.wait()
    left = await unpublished(matcher_pool, prefix)
    assert 0 < left < len(events), "kill it mid-stream, not before or after"

    # A new relay finishes the job, as its loop would: it finds the relay lock held until
    # PostgreSQL has ended the killed relay's transaction (publish_batch returns 0 then), and
    # tries again.
    replacement = OutboxRelay(matcher_pool, producer, batch_size=500)
    deadline = time.monotonic() + 30
    while await unpublished(matcher_pool, prefix):
        assert time.monotonic() < deadline, "the replacement relay never took over"
        if not await replacement.publish_batch():
            await asyncio.sleep(0.05)
    records = await read_topic(
        settings.kafka_bootstrap_servers,
        Topic.PEOPLE,
        lambda r: r.key is not None and r.key.decode().startswith(prefix),
        count=len(events),
        timeout=60,
    )
    published = {json.loads(r.value)["event_id"] for r in records}
    assert published == {str(e.event_id) for e in events}  # nothing lost; re-sends possible


async def test_a_dead_letter_names_its_origin_and_is_counted(
    settings: Settings, matcher_pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    consumer = EventConsumer("fault-dlq", matcher_pool, producer, record_effect)
    counted: list[tuple[str, str]] = []
    consumer.on_dead_letter.append(lambda name, kind: counted.append((name, kind)))
    key = f"dlq-{uuid4().hex[:6]}".encode()
    body = b'{"event_type": "person.teleported", "entity_key": "x"}'
    await consumer.handle(body, key, Topic.PEOPLE, 4, 1234)
    [record] = await read_topic(
        settings.kafka_bootstrap_servers, Topic.DEAD_LETTERS, lambda r: r.key == key
    )
    headers = {name: value.decode() for name, value in record.headers}
    assert record.value == body
    assert headers[DEAD_LETTER_SOURCE] == Topic.PEOPLE
    assert (headers[DEAD_LETTER_PARTITION], headers[DEAD_LETTER_OFFSET]) == ("4", "1234")
    assert headers[DEAD_LETTER_KIND] == "unknown_type"
    assert headers[DEAD_LETTER_CONSUMER] == "fault-dlq"
    assert consumer.dead_letters == {"unknown_type": 1}
    assert counted == [("fault-dlq", "unknown_type")]


async def test_a_consumer_retries_while_the_database_is_away_and_never_skips(
    settings: Settings, matcher_pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    """The database goes away mid-handling (its connections terminated, as in a restart):
    the event is retried until it applies, not parked."""
    await effects_table(matcher_pool)
    event = PersonErased(entity_key=f"away-{uuid4().hex[:6]}", person_id=uuid4())
    calls = 0

    async def flaky(conn: asyncpg.Connection, event: Event) -> None:
        nonlocal calls
        calls += 1
        if calls <= 2:  # the server kills our session, as `pg_ctl stop -m fast` does
            await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        await record_effect(conn, event)

    consumer = EventConsumer("fault-away", matcher_pool, producer, flaky)
    await consumer.handle(event.to_json_bytes(), None, Topic.PEOPLE, 0, 0)
    assert calls == 3
    assert await effect_count(matcher_pool, event.event_id) == 1
    assert consumer.dead_letters == {}

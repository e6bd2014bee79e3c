"""Batch consumption keeps the one-at-a-time guarantees, against the real database and broker:
each event applied once (duplicates inside a batch and redelivered batches change nothing), an
unreadable or failing message parked alone while the rest of its batch commits, and the
matcher's bulk writes leaving exactly the state that applying events one by one leaves."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from urllib.parse import urlsplit
from uuid import uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord

from services.matcher.bootstrap import apply_event, apply_events
from shared.consuming import BatchEventConsumer, Contexts, DatabaseUnavailable, claim_many
from shared.events import AvailabilityChanged, Event, PersonErased, PersonProfile, PersonUpserted
from shared.kafka import DEAD_LETTER_KIND, idempotent_producer
from shared.observability.context import CORRELATION_HEADER, current_correlation_id
from shared.people import Mode, Role, Sector, SkillLevel, WorkingPattern
from shared.regions import Region
from shared.settings import Settings
from shared.topics import Topic
from tests.support.kafka import read_topic
from tests.support.matcher import network_upserted
from tests.support.metrics import metric

pytestmark = pytest.mark.integration


@pytest.fixture
async def producer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    producer = idempotent_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    yield producer
    await producer.stop()


def records(
    bodies: Sequence[bytes],
    topic: str = Topic.PEOPLE.value,
    correlation_ids: Sequence[str] = (),
) -> list[ConsumerRecord]:  # type: ignore[type-arg]
    return [
        ConsumerRecord(
            topic=topic,
            partition=0,
            offset=offset,
            timestamp=0,
            timestamp_type=0,
            key=f"batch-{offset}".encode(),
            value=body,
            checksum=None,
            serialized_key_size=0,
            serialized_value_size=len(body),
            headers=(
                ((CORRELATION_HEADER, correlation_ids[offset].encode()),)
                if offset < len(correlation_ids)
                else ()
            ),
        )
        for offset, body in enumerate(bodies)
    ]


async def test_a_batch_applies_each_event_once_and_parks_only_the_bad_messages(
    settings: Settings, matcher_pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    async with matcher_pool.acquire() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS batch_effects (event_id uuid NOT NULL)")
    poison = PersonErased(entity_key="poison", person_id=uuid4())

    async def record_effect(conn: asyncpg.Connection, event: Event) -> None:
        if event.event_id == poison.event_id:
            raise ValueError("this event cannot be applied")
        await conn.execute("INSERT INTO batch_effects (event_id) VALUES ($1)", event.event_id)

    consumer = BatchEventConsumer(f"batch-{uuid4().hex[:6]}", matcher_pool, producer, record_effect)
    good = [PersonErased(entity_key=f"p{i}", person_id=uuid4()) for i in range(5)]
    bodies = [e.to_json_bytes() for e in good]
    batch = records(
        [bodies[0], b"{not json", bodies[1], poison.to_json_bytes(), *bodies[2:], bodies[0]]
    )

    people = Topic.PEOPLE.value
    before = batch_metrics(people)
    await consumer.handle_batch(batch)
    await consumer.handle_batch(batch)  # redelivered whole: nothing changes twice
    grown = {name: value - before[name] for name, value in batch_metrics(people).items()}
    # Each delivery: every message handled; one malformed and one failing message parked.
    assert grown == {"consumed": 2 * len(batch), "dead_lettered": 4, "failed": 4, "retried": 0}

    async with matcher_pool.acquire() as conn:
        applied = await conn.fetch(
            "SELECT event_id, count(*) AS n FROM batch_effects WHERE event_id = ANY($1::uuid[])"
            " GROUP BY event_id",
            [e.event_id for e in [*good, poison]],
        )
    assert {r["event_id"]: r["n"] for r in applied} == {e.event_id: 1 for e in good}
    assert consumer.dead_letters["malformed"] == 2  # once per delivery of the batch
    assert consumer.dead_letters["apply_failed"] == 2
    parked = await read_topic(
        settings.kafka_bootstrap_servers,
        Topic.DEAD_LETTERS.value,
        lambda r: r.value == poison.to_json_bytes(),
        count=2,
    )
    assert {dict(r.headers)[DEAD_LETTER_KIND] for r in parked} == {b"apply_failed"}


def batch_metrics(topic: str) -> dict[str, float]:
    return {
        "consumed": metric("bridgework_events_consumed_total", topic=topic),
        "dead_lettered": metric("bridgework_dead_lettered_total", source_topic=topic),
        "failed": metric("bridgework_events_failed_total", topic=topic, reason="dead-lettered"),
        "retried": metric("bridgework_events_failed_total", topic=topic, reason="retried"),
    }


def profile(person_id: object, network: str, rng: random.Random) -> PersonProfile:
    return PersonProfile.model_validate(
        {
            "person_id": person_id,
            "role": Role.MENTOR,
            "name": "Bulk Person",
            "email": "bulk@example.org",
            "job_title": "CIO",
            "trust_code": "RBULK",
            "network_id": network,
            "region": Region.LONDON,
            "mode": Mode.EITHER,
            "working_pattern": WorkingPattern.FULL_TIME,
            "sector": Sector.NHS,
            "skills": [SkillLevel(skill="board-influence", level=rng.randint(4, 7))],
            "capacity": rng.choice([1, 2, 3]),
            "hours_per_month": rng.choice([2, 4]),
        }
    )


def random_history(rng: random.Random, prefix: str) -> list[Event]:
    """Profiles moving between networks, availability changes and erasures, interleaved."""
    people = [uuid4() for _ in range(12)]
    events: list[Event] = []
    for _ in range(120):
        person = rng.choice(people)
        key = str(person)
        roll = rng.random()
        if roll < 0.45:
            network = f"{prefix}-{rng.randint(1, 3)}"
            events.append(PersonUpserted(entity_key=key, profile=profile(person, network, rng)))
        elif roll < 0.9:
            events.append(
                AvailabilityChanged(
                    entity_key=key,
                    person_id=person,
                    paused=rng.random() < 0.3,
                    capacity=rng.choice([0, 1, 2]),
                    hours_per_month=rng.choice([1, 3, 5]),
                )
            )
        else:
            events.append(PersonErased(entity_key=key, person_id=person))
    return events


async def state(conn: asyncpg.Connection, prefix: str) -> tuple[list[tuple[object, ...]], set[str]]:
    people = await conn.fetch(
        "SELECT id, network_id, profile, paused, capacity, hours_per_month FROM people"
        " WHERE network_id LIKE $1 || '-%' ORDER BY id",
        prefix,
    )
    dirty = await conn.fetch(
        "SELECT network_id FROM dirty_networks WHERE network_id LIKE $1 || '-%'", prefix
    )
    return [tuple(r.values()) for r in people], {r["network_id"] for r in dirty}


async def state_after(
    pool: asyncpg.Pool, prefix: str, apply: Callable[[asyncpg.Connection], Awaitable[None]]
) -> tuple[list[tuple[object, ...]], set[str]]:
    """The state ``apply`` leaves, read inside its transaction, which is then rolled back."""
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            await apply(conn)
            return await state(conn, prefix)
        finally:
            await transaction.rollback()


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_bulk_writes_leave_the_state_that_one_event_at_a_time_leaves(
    matcher_pool: asyncpg.Pool, seed: int
) -> None:
    prefix = f"bulk-{uuid4().hex[:6]}"
    events = random_history(random.Random(seed), prefix)

    async def one_by_one(conn: asyncpg.Connection) -> None:
        for event in events:
            await apply_event(conn, event)

    async def in_bulk(conn: asyncpg.Connection) -> None:
        await apply_events(conn, events)

    expected = await state_after(matcher_pool, prefix, one_by_one)
    assert expected[0], "the history leaves some people behind"
    assert await state_after(matcher_pool, prefix, in_bulk) == expected


async def test_each_event_of_a_batch_is_applied_under_its_own_correlation_id(
    matcher_pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    seen: dict[object, str | None] = {}

    async def record_correlation(conn: asyncpg.Connection, event: Event) -> None:
        seen[event.event_id] = current_correlation_id()

    consumer = BatchEventConsumer(
        f"batch-{uuid4().hex[:6]}", matcher_pool, producer, record_correlation
    )
    events = [PersonErased(entity_key=f"p{i}", person_id=uuid4()) for i in range(3)]
    ids = [f"change-{uuid4().hex[:8]}" for _ in events]
    await consumer.handle_batch(records([e.to_json_bytes() for e in events], correlation_ids=ids))

    assert seen == {event.event_id: id_ for event, id_ in zip(events, ids, strict=True)}


async def test_a_dirty_network_follows_the_latest_change_of_the_batch_that_touched_it(
    matcher_pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    prefix = f"ctx-{uuid4().hex[:6]}"
    rng = random.Random(7)
    people = [uuid4() for _ in range(3)]
    events: list[Event] = [
        PersonUpserted(entity_key=str(people[0]), profile=profile(people[0], f"{prefix}-1", rng)),
        PersonUpserted(entity_key=str(people[1]), profile=profile(people[1], f"{prefix}-2", rng)),
        PersonUpserted(entity_key=str(people[2]), profile=profile(people[2], f"{prefix}-2", rng)),
        AvailabilityChanged(
            entity_key=str(people[0]),
            person_id=people[0],
            paused=True,
            capacity=1,
            hours_per_month=2,
        ),
    ]
    ids = [f"{prefix}-change-{i}" for i in range(len(events))]

    async def bulk(conn: asyncpg.Connection, batch: Sequence[Event], contexts: Contexts) -> None:
        await apply_events(conn, batch, contexts)

    consumer = BatchEventConsumer(f"batch-{prefix}", matcher_pool, producer, apply_event, bulk)
    async with matcher_pool.acquire() as conn:  # only a known network is marked
        for network in (f"{prefix}-1", f"{prefix}-2"):
            await apply_event(conn, network_upserted(network))
    await consumer.handle_batch(records([e.to_json_bytes() for e in events], correlation_ids=ids))

    async with matcher_pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT network_id, trace_context FROM dirty_networks WHERE network_id LIKE $1",
            f"{prefix}-%",
        )
    assert {r["network_id"]: r["trace_context"][CORRELATION_HEADER] for r in rows} == {
        f"{prefix}-1": ids[3],  # the availability change came after the profile
        f"{prefix}-2": ids[2],
    }


async def test_a_broken_connection_state_is_retried_not_parked(
    matcher_pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    """asyncpg's "another operation is in progress", left by a connection that broke
    mid-query while PostgreSQL restarted, is about the connection, not the message."""
    failures = [asyncpg.exceptions.InternalClientError("cannot switch to state 15")]
    applied: list[Event] = []

    async def flaky(conn: asyncpg.Connection, event: Event) -> None:
        if failures:
            raise failures.pop()
        applied.append(event)

    consumer = BatchEventConsumer(f"batch-{uuid4().hex[:6]}", matcher_pool, producer, flaky)
    event = PersonErased(entity_key="p", person_id=uuid4())
    await consumer.handle_batch(records([event.to_json_bytes()]))
    assert applied == [event]
    assert not consumer.dead_letters


async def test_an_event_failing_while_the_database_is_away_waits_instead_of_being_parked(
    matcher_pool: asyncpg.Pool, producer: AIOKafkaProducer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fails(conn: asyncpg.Connection, event: Event) -> None:
        raise ValueError("an error raised as the database went away")

    async def database_away() -> bool:
        return False

    consumer = BatchEventConsumer(f"batch-{uuid4().hex[:6]}", matcher_pool, producer, fails)
    monkeypatch.setattr(consumer, "_database_answers", database_away)
    event = PersonErased(entity_key="p", person_id=uuid4())
    before = batch_metrics(Topic.PEOPLE.value)
    with pytest.raises(DatabaseUnavailable):
        await consumer.handle_batch(records([event.to_json_bytes()]))
    assert not consumer.dead_letters
    grown = {k: v - before[k] for k, v in batch_metrics(Topic.PEOPLE.value).items()}
    # Counted as retried (the batch is redelivered), neither handled nor parked.
    assert grown == {"consumed": 0, "dead_lettered": 0, "failed": 0, "retried": 1}


async def test_the_database_check_tells_a_live_database_from_a_missing_one(
    settings: Settings, matcher_pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    async def nothing(conn: asyncpg.Connection, event: Event) -> None:
        return None

    live = BatchEventConsumer("check", matcher_pool, producer, nothing)
    assert await live._database_answers()
    nowhere = settings.database_url.replace(f":{urlsplit(settings.database_url).port}", ":9")
    missing_pool = await asyncpg.create_pool(nowhere, min_size=0)
    try:
        gone = BatchEventConsumer("check", missing_pool, producer, nothing)
        assert not await gone._database_answers()
    finally:
        await missing_pool.close()


async def test_a_batch_partly_seen_before_claims_only_its_new_events(
    matcher_pool: asyncpg.Pool,
) -> None:
    """The plain insert fails on the ids seen before; its savepoint leaves the batch's
    transaction usable, and the conflict-aware insert claims the new ones, each once."""
    consumer = f"claims-{uuid4().hex[:6]}"
    seen = [PersonErased(entity_key=f"seen{i}", person_id=uuid4()) for i in range(3)]
    new = [PersonErased(entity_key=f"new{i}", person_id=uuid4()) for i in range(4)]
    async with matcher_pool.acquire() as conn:
        with pytest.raises(RuntimeError, match="in the transaction"):
            await claim_many(conn, consumer, seen)  # claims alone would outlive their effects
        async with conn.transaction():
            assert await claim_many(conn, consumer, seen) == seen  # all new: the plain insert
        batch = [new[0], seen[0], new[1], new[1], seen[2], new[2], new[3], seen[1]]
        async with conn.transaction():
            assert await claim_many(conn, consumer, batch) == new
            assert await conn.fetchval("SELECT 1") == 1  # the transaction goes on
        claimed = await conn.fetchval(
            "SELECT count(*) FROM processed_events WHERE consumer = $1", consumer
        )
    assert claimed == len(seen) + len(new)


async def test_two_consumers_claiming_the_same_events_at_once_apply_each_once(
    matcher_pool: asyncpg.Pool,
) -> None:
    """Two replicas of one consumer with the same batch in flight (a rebalance): the second's
    plain insert waits for the first's commit, then fails, and claims only what is left."""
    consumer = f"claims-{uuid4().hex[:6]}"
    events = [PersonErased(entity_key=f"p{i}", person_id=uuid4()) for i in range(6)]
    first_claimed = asyncio.Event()
    release_first = asyncio.Event()

    async def first() -> list[Event]:
        async with matcher_pool.acquire() as conn, conn.transaction():
            fresh = await claim_many(conn, consumer, events[:4])
            first_claimed.set()
            await release_first.wait()
            return fresh

    async def second() -> list[Event]:
        await first_claimed.wait()
        async with matcher_pool.acquire() as conn, conn.transaction():
            return await claim_many(conn, consumer, events)

    first_task = asyncio.create_task(first())
    second_task = asyncio.create_task(second())
    await asyncio.sleep(0.3)
    assert not second_task.done()  # waiting on the first's uncommitted rows
    release_first.set()
    assert await first_task == events[:4]
    assert await second_task == events[4:]

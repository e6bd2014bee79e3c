"""Idempotent consumption and dead letters, against the real database and broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from services.matcher.bootstrap import apply_event
from shared.consuming import EventConsumer
from shared.events import Event, PersonErased, PersonProfile, PersonUpserted
from shared.kafka import DEAD_LETTER_REASON, idempotent_producer
from shared.people import Mode, Role, Sector, SkillGap, WorkingPattern
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


def mentee_upserted() -> PersonUpserted:
    person_id = uuid4()
    profile = PersonProfile(
        person_id=person_id,
        role=Role.MENTEE,
        name="Ben",
        email="ben@example.org",
        job_title="Analyst",
        trust_code="T2",
        network_id=f"net-{uuid4().hex[:6]}",
        region=Region.MIDLANDS,
        mode=Mode.REMOTE,
        working_pattern=WorkingPattern.PART_TIME,
        sector=Sector.SOCIAL_CARE,
        gaps=(SkillGap(skill="data-analytics", current=1, target=4),),
    )
    return PersonUpserted(entity_key=str(person_id), profile=profile)


async def test_an_event_delivered_twice_takes_effect_once(
    matcher_pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    async with matcher_pool.acquire() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS effects (event_id uuid NOT NULL)")

    async def record_effect(conn: asyncpg.Connection, event: Event) -> None:
        await conn.execute("INSERT INTO effects (event_id) VALUES ($1)", event.event_id)

    consumer = EventConsumer("test-effects", matcher_pool, producer, record_effect)
    event = mentee_upserted()
    for _ in range(3):
        await consumer.handle(event.to_json_bytes(), event.entity_key.encode(), Topic.PEOPLE)
    async with matcher_pool.acquire() as conn:
        effects = await conn.fetchval(
            "SELECT count(*) FROM effects WHERE event_id = $1", event.event_id
        )
    assert effects == 1


async def test_the_matcher_state_changes_once_and_erasure_removes_the_person(
    matcher_pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    consumer = EventConsumer("matcher", matcher_pool, producer, apply_event)
    upserted = mentee_upserted()
    network = network_upserted(upserted.profile.network_id)
    await consumer.handle(network.to_json_bytes(), None, Topic.NETWORKS)
    await consumer.handle(upserted.to_json_bytes(), None, Topic.PEOPLE)
    await consumer.handle(upserted.to_json_bytes(), None, Topic.PEOPLE)
    person_id = upserted.profile.person_id
    async with matcher_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM people WHERE id = $1", person_id) == 1
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM dirty_networks WHERE network_id = $1",
                upserted.profile.network_id,
            )
            == 1
        )
    erased = PersonErased(entity_key=str(person_id), person_id=person_id)
    await consumer.handle(erased.to_json_bytes(), None, Topic.PEOPLE)
    # A replay of the old upsert is recognised as already processed: the person stays gone.
    await consumer.handle(upserted.to_json_bytes(), None, Topic.PEOPLE)
    async with matcher_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM people WHERE id = $1", person_id) == 0


async def test_unreadable_messages_go_to_the_dead_letter_topic_with_the_reason(
    settings: Settings, matcher_pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    consumer = EventConsumer("matcher", matcher_pool, producer, apply_event)
    key = f"poison-{uuid4().hex[:6]}".encode()
    people = Topic.PEOPLE.value
    parked = metric("bridgework_dead_lettered_total", source_topic=people)
    failed = metric("bridgework_events_failed_total", topic=people, reason="dead-lettered")
    await consumer.handle(b"\x00 not json at all", key, Topic.PEOPLE)
    assert metric("bridgework_dead_lettered_total", source_topic=people) == parked + 1
    assert (
        metric("bridgework_events_failed_total", topic=people, reason="dead-lettered") == failed + 1
    )
    [record] = await read_topic(
        settings.kafka_bootstrap_servers, Topic.DEAD_LETTERS, lambda r: r.key == key
    )
    headers = dict(record.headers)
    assert record.value == b"\x00 not json at all"
    assert headers[DEAD_LETTER_REASON].decode().startswith("not a valid Bridgework event")


async def test_a_failing_effect_is_rolled_back_and_parked(
    settings: Settings, matcher_pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    async def broken(conn: asyncpg.Connection, event: Event) -> None:
        raise ValueError("cannot apply this one")

    consumer = EventConsumer("test-broken", matcher_pool, producer, broken)
    event = mentee_upserted()
    await consumer.handle(event.to_json_bytes(), event.entity_key.encode(), Topic.PEOPLE)
    [record] = await read_topic(
        settings.kafka_bootstrap_servers,
        Topic.DEAD_LETTERS,
        lambda r: r.key == event.entity_key.encode(),
    )
    assert dict(record.headers)[DEAD_LETTER_REASON] == b"ValueError: cannot apply this one"
    async with matcher_pool.acquire() as conn:
        claimed = await conn.fetchval(
            "SELECT count(*) FROM processed_events"
            " WHERE consumer = 'test-broken' AND event_id = $1",
            event.event_id,
        )
    assert claimed == 0

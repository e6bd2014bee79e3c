"""Erasure survives a replay: a fresh consumer group reading the people topic from the earliest
offset, into fresh matcher and notifier databases, does not bring an erased person back.

Every event about a person is keyed by their id, so it lands on one partition in order: the
erasure always comes after their profile, and a replay ends with them erased."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from devtools import ROOT
from devtools.stack import drop_database, fresh_database
from services.matcher.bootstrap import apply_event as matcher_apply
from services.notifier.bootstrap import apply_event as notifier_apply
from shared.consuming import EventConsumer
from shared.db import create_pool, migrate_async
from shared.kafka import idempotent_producer
from shared.settings import Settings
from shared.topics import Topic
from tests.support.kafka import read_topic

pytestmark = pytest.mark.integration


@pytest.fixture
async def replay_database(settings: Settings) -> AsyncIterator[str]:
    """A database of its own: the state a service would rebuild from the log alone."""
    url = await fresh_database(settings.database_url, f"bridgework_replay_{uuid4().hex[:8]}")
    try:
        yield url
    finally:
        await drop_database(settings.database_url, url)


async def create_and_erase(http: httpx.AsyncClient, bootstrap: str) -> tuple[list[UUID], UUID]:
    """Through the API: two people join, one changes availability, then is erased, and one more
    is erased; returns (erased ids, kept id)."""
    tag = uuid4().hex[:6]
    network = {
        "name": "Replay",
        "coordinators": [{"name": "C", "email": "coordinator@replay.example.org"}],
    }
    (await http.put(f"/networks/replay-{tag}", json=network)).raise_for_status()
    trust = {"name": "Replay Trust", "region": "London", "network_id": f"replay-{tag}"}
    (await http.put(f"/trusts/RP{tag}", json=trust)).raise_for_status()
    ids = []
    for index in range(3):
        mentor = {
            "name": f"Replay Person {index}",
            "email": f"replay.{index}.{tag}@example.org",
            "job_title": "CIO",
            "trust_code": f"RP{tag}",
            "skills": [{"skill": "data-analytics", "level": 6}],
            "capacity": 1,
            "hours_per_month": 4,
        }
        response = await http.post("/mentors", json=mentor)
        ids.append(UUID(response.raise_for_status().json()["id"]))
    pause = {"paused": True}
    (await http.put(f"/people/{ids[0]}/availability", json=pause)).raise_for_status()
    # Their profiles reach the log first (an erasure would delete unpublished copies).
    await read_topic(
        bootstrap,
        Topic.PEOPLE,
        lambda r: r.key in {str(i).encode() for i in ids},
        count=4,
    )
    for erased in ids[:2]:
        (await http.delete(f"/people/{erased}")).raise_for_status()
    # Wait for the relay: the erasures are on the topic.
    await read_topic(
        bootstrap,
        Topic.PEOPLE,
        lambda r: (
            r.key in {str(i).encode() for i in ids[:2]} and b"person.erased" in (r.value or b"")
        ),
        count=2,
    )
    return ids[:2], ids[2]


async def replay(bootstrap: str, keys: set[bytes], consumers: list[EventConsumer]) -> int:
    """A fresh group reads the people topic from the earliest offset; returns records applied."""
    reader = AIOKafkaConsumer(
        Topic.PEOPLE.value,
        bootstrap_servers=bootstrap,
        group_id=f"replay-{uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await reader.start()
    applied = 0
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            batch = await reader.getmany(timeout_ms=500)
            for records in batch.values():
                for record in (r for r in records if r.key in keys):
                    for consumer in consumers:
                        await consumer.handle(
                            record.value, record.key, record.topic, record.partition, record.offset
                        )
                    applied += 1
    finally:
        await reader.stop()
    return applied


async def test_replaying_the_people_topic_does_not_bring_an_erased_person_back(
    settings: Settings, api_client: httpx.AsyncClient, replay_database: str
) -> None:
    erased, kept = await create_and_erase(api_client, settings.kafka_bootstrap_servers)
    services = ROOT / "services"
    pools: dict[str, asyncpg.Pool] = {}
    producer: AIOKafkaProducer = idempotent_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        for schema in ("matcher", "notifier"):
            await migrate_async(replay_database, schema, Path(services / schema / "migrations"))
            pools[schema] = await create_pool(replay_database, schema, min_size=1, max_size=3)
        consumers = [
            EventConsumer("matcher", pools["matcher"], producer, matcher_apply),
            EventConsumer("notifier", pools["notifier"], producer, notifier_apply),
        ]
        keys = {str(i).encode() for i in [*erased, kept]}
        # The whole history: 3 profiles, 1 availability change, 2 erasures.
        assert await replay(settings.kafka_bootstrap_servers, keys, consumers) >= 6
        for pool in pools.values():
            async with pool.acquire() as conn:
                rows = await conn.fetch(
                    "SELECT id FROM people WHERE id = ANY($1::uuid[])", [*erased, kept]
                )
                present = {r["id"] for r in rows}
                assert present == {kept}  # the replay worked, and the erased stayed erased

        # Replayed again into the same state (another fresh group): nothing is applied twice.
        async with pools["matcher"].acquire() as conn:
            before = await conn.fetchval("SELECT count(*) FROM processed_events")
        await replay(settings.kafka_bootstrap_servers, keys, consumers)
        async with pools["matcher"].acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM processed_events") == before
            assert await conn.fetchval("SELECT count(*) FROM people") == 1
        assert all(not c.dead_letters for c in consumers)
    finally:
        await producer.stop()
        for pool in pools.values():
            await pool.close()

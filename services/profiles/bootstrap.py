"""The profiles process's start-up: migrations, topics, the database pool, the Kafka producer,
the outbox relay, the read model's consumer and the sampled gauges; and its readiness checks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import asyncpg
from fastapi import FastAPI

from services.profiles import read_model
from shared.consuming import BatchEventConsumer
from shared.db import create_pool, migrate_async
from shared.kafka import ensure_topics, idempotent_producer
from shared.observability.health import readiness
from shared.observability.ops_server import Readiness
from shared.observability.progress import PartitionProgress
from shared.observability.service_ops import (
    sample_consumer_lag,
    sample_forever,
    sample_outbox_backlog,
    service_checks,
)
from shared.outbox import OutboxRelay
from shared.service import event_broker, take_fresh_batches
from shared.settings import Settings

SCHEMA = "profiles"
MIGRATIONS = Path(__file__).parent / "migrations"


def lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """What runs while the app serves: it sets ``app.state.pool``, ``app.state.producer`` and
    ``app.state.consumer``."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await migrate_async(settings.database_url, SCHEMA, MIGRATIONS)
        await ensure_topics(settings.kafka_bootstrap_servers)
        pool = await create_pool(settings.database_url, SCHEMA, min_size=2, max_size=10)
        producer = idempotent_producer(settings.kafka_bootstrap_servers)
        await producer.start()
        relay = OutboxRelay(pool, producer, poll_seconds=settings.outbox_poll_seconds)
        relay_task = asyncio.create_task(relay.run(), name="outbox-relay")
        samples_task = asyncio.create_task(
            sample_forever(settings.metrics_sample_seconds, _samples(settings, pool)),
            name="metrics-samples",
        )
        # The coordinators' read model follows the proposals and decisions topics.
        consumer = BatchEventConsumer(read_model.CONSUMER, pool, producer, read_model.apply_event)
        broker = event_broker(read_model.CONSUMER, read_model.TOPICS, settings, lambda: consumer)
        await broker.start()
        take_fresh_batches(broker, settings)
        app.state.pool = pool
        app.state.producer = producer
        app.state.consumer = consumer
        try:
            yield
        finally:
            await broker.stop()
            for task in (relay_task, samples_task):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await producer.stop()
            await pool.close()

    return lifespan


def _samples(settings: Settings, pool: asyncpg.Pool) -> list[Callable[[], Awaitable[None]]]:
    """The sampled gauges: the outbox backlog, and the read model's consumer lag (the
    coordinators' pages fall behind the matcher when it grows)."""
    group = f"bridgework-{read_model.CONSUMER}"
    topics = [t.value for t in read_model.TOPICS]
    return [
        lambda: sample_outbox_backlog(pool, SCHEMA),
        lambda: sample_consumer_lag(settings.kafka_bootstrap_servers, group, topics),
    ]


def app_readiness(app: FastAPI, settings: Settings) -> Readiness:
    def progress() -> PartitionProgress | None:
        consumer: BatchEventConsumer | None = getattr(app.state, "consumer", None)
        return consumer.progress if consumer else None

    checks = service_checks(
        settings,
        lambda: getattr(app.state, "pool", None),
        lambda: getattr(app.state, "producer", None),
        progress,
    )

    async def ready() -> tuple[bool, dict[str, str]]:
        return await readiness(checks, settings.health_timeout_seconds)

    return ready

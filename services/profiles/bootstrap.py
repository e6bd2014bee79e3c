"""The profiles process's wiring, on the shared start-up path (shared/service.py): migrations,
topics, the database pool, the Kafka producer, the coordinators' read model consuming its
topics (shared/topology.py) through its handlers, the outbox relay and the sampled gauges; and
its readiness checks."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from services.profiles.coordination.read_model import ReadModelRepository
from services.profiles.handlers import CONSUMER, handle_event
from services.profiles.trusts.deadlines import ConsentDeadlines
from shared.consuming import BatchEventConsumer
from shared.events import Event
from shared.observability.ops_server import OpsServer, Readiness
from shared.observability.progress import PartitionProgress
from shared.observability.service_ops import ops_port, service_readiness
from shared.outbox import OutboxRelay
from shared.service import ServiceRuntime, ServiceSpec
from shared.settings import Settings

SCHEMA = CONSUMER  # the service's database schema
MIGRATIONS = Path(__file__).parent / "migrations"


async def apply_event(conn: asyncpg.Connection, event: Event) -> None:
    """The read model's handlers (handlers.py) on the event's transaction."""
    await handle_event(ReadModelRepository(conn), event)


def service_spec(settings: Settings) -> ServiceSpec:
    def background(
        pool: asyncpg.Pool, producer: AIOKafkaProducer
    ) -> list[Coroutine[Any, Any, None]]:
        return [
            OutboxRelay(pool, producer, poll_seconds=settings.outbox_poll_seconds).run(),
            ConsentDeadlines(pool, settings.consent_deadline_poll_seconds).run(),
        ]

    return ServiceSpec(name=SCHEMA, migrations=MIGRATIONS, apply=apply_event, background=background)


def lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """What runs while the app serves: it sets ``app.state.pool``, ``app.state.producer`` and
    ``app.state.consumer``."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with ServiceRuntime(service_spec(settings), settings).running() as runtime:
            app.state.pool = runtime.pool
            app.state.producer = runtime.producer
            app.state.consumer = runtime.consumer
            if settings.environment != "production":
                yield  # the app serves /metrics itself
                return
            operations = OpsServer(
                SCHEMA, app_readiness(app, settings), settings.ops_host, ops_port(settings, SCHEMA)
            )
            await operations.start()
            try:
                yield
            finally:
                await operations.stop()

    return lifespan


def app_readiness(app: FastAPI, settings: Settings) -> Readiness:
    def progress() -> PartitionProgress | None:
        consumer: BatchEventConsumer | None = getattr(app.state, "consumer", None)
        return consumer.progress if consumer else None

    return service_readiness(
        settings,
        lambda: getattr(app.state, "pool", None),
        lambda: getattr(app.state, "producer", None),
        progress,
    )

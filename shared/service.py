"""The shape every event-consuming service shares: migrate, connect, consume with an explicit
ack policy, run background loops, and release everything on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY

from shared.consuming import Apply, ApplyMany, BatchEventConsumer, keep_raw_body
from shared.db import create_pool, migrate_async
from shared.kafka import ensure_topics, idempotent_producer, take_fresh_records
from shared.logs import service_logger
from shared.observability import service_ops
from shared.settings import Settings
from shared.topics import Topic

BackgroundWork = Callable[[asyncpg.Pool, AIOKafkaProducer], Sequence[Coroutine[Any, Any, None]]]


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # also the database schema and the consumer name in processed_events
    migrations: Path
    topics: tuple[Topic, ...]
    apply: Apply
    background: BackgroundWork
    # Applies a batch of new events in one go (bulk statements); else ``apply`` one by one.
    apply_many: ApplyMany | None = None


@dataclass
class _Runtime:
    pool: asyncpg.Pool | None = None
    producer: AIOKafkaProducer | None = None
    consumer: BatchEventConsumer | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def event_broker(
    name: str,
    topics: Sequence[Topic],
    settings: Settings,
    consumer: Callable[[], BatchEventConsumer | None],
) -> KafkaBroker:
    """A broker whose one subscriber hands every batch of events of ``topics`` to
    ``consumer()``."""
    group = f"bridgework-{name}"
    # FastStream's middlewares: a consumer span per batch (the per-message spans that continue
    # each record's traceparent are BatchEventConsumer's) and faststream_* Prometheus series.
    broker = KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=group,
        logger=service_logger(),
        # FastStream's own per-message lines at DEBUG: ours (with the correlation id) say it.
        log_level=logging.DEBUG,
        middlewares=(
            KafkaTelemetryMiddleware(),
            KafkaPrometheusMiddleware(registry=REGISTRY, app_name=group),
        ),
    )

    if not topics:
        return broker  # a process that only publishes (the matcher's rounds-only role)

    # Offsets are committed only after the handler returns (its effect is committed), and a
    # transient failure seeks back so the batch is redelivered: at-least-once, never at-most.
    # Messages come in batches (one transaction, one offset commit each): see shared/consuming.
    @broker.subscriber(
        *topics,
        group_id=group,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        batch=True,
        max_records=settings.consumer_batch_max_records,
        batch_timeout_ms=settings.consumer_batch_timeout_ms,
        fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
        decoder=keep_raw_body,  # the bytes as they are: the consumer decodes and validates
    )
    async def on_events(message: KafkaMessage) -> None:
        # Each record gets its own consumer span, correlation id, log line and count: see
        # BatchEventConsumer (FastStream's span for a batch starts a trace of its own).
        current = consumer()
        assert current is not None
        await current.handle_batch(message.raw_message)  # type: ignore[arg-type]

    return broker


def take_fresh_batches(broker: KafkaBroker, settings: Settings) -> None:
    """Once ``broker`` has started: its consumers' batches take in what arrived while the last
    batch was being handled (``shared.kafka.take_fresh_records``)."""
    if not settings.consumer_fresh_fetch_ms:
        return
    for subscriber in broker.subscribers:
        consumer = getattr(subscriber, "consumer", None)
        if consumer is not None:
            take_fresh_records(consumer, settings.consumer_fresh_fetch_ms)


def create_consumer_app(spec: ServiceSpec, settings: Settings) -> FastStream:
    runtime = _Runtime()
    group = f"bridgework-{spec.name}"
    broker = event_broker(spec.name, spec.topics, settings, lambda: runtime.consumer)
    ops = service_ops.ops_server(
        settings,
        spec.name,
        lambda: runtime.pool,
        lambda: runtime.producer,
        lambda: runtime.consumer.progress if runtime.consumer else None,
    )

    app = FastStream(broker, logger=service_logger())

    @app.on_startup
    async def connect() -> None:
        await ops.start()  # live at once; ready once the database and broker answer
        await migrate_async(settings.database_url, spec.name, spec.migrations)
        await ensure_topics(settings.kafka_bootstrap_servers)
        runtime.pool = await create_pool(settings.database_url, spec.name, min_size=2, max_size=10)
        runtime.producer = idempotent_producer(settings.kafka_bootstrap_servers)
        await runtime.producer.start()
        runtime.consumer = BatchEventConsumer(
            spec.name, runtime.pool, runtime.producer, spec.apply, spec.apply_many
        )

    @app.after_startup
    async def start_background_work() -> None:
        take_fresh_batches(broker, settings)
        assert runtime.pool is not None
        assert runtime.producer is not None
        pool = runtime.pool
        samples = [lambda: service_ops.sample_outbox_backlog(pool, spec.name)]
        if spec.topics:
            samples.append(
                lambda: service_ops.sample_consumer_lag(
                    settings.kafka_bootstrap_servers, group, [t.value for t in spec.topics]
                )
            )
        work = [
            *spec.background(runtime.pool, runtime.producer),
            service_ops.sample_forever(settings.metrics_sample_seconds, samples),
        ]
        runtime.tasks = [asyncio.create_task(w) for w in work]

    @app.on_shutdown
    async def stop_background_work() -> None:
        for task in runtime.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @app.after_shutdown
    async def disconnect() -> None:
        if runtime.producer is not None:
            await runtime.producer.stop()
        if runtime.pool is not None:
            await runtime.pool.close()
        await ops.stop()

    return app

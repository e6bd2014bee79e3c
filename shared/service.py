"""The shape every service shares: migrate, connect, consume its topics (shared/topology.py)
with an explicit ack policy, run background loops, and release everything on shutdown.

``ServiceRuntime`` is that start-up and shutdown, once; ``create_consumer_app`` runs it as a
FastStream application (the matcher, the notifier), and the profiles service's FastAPI lifespan
runs the same steps (services/profiles/bootstrap.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Collection, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
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
from shared.observability import metrics, service_ops
from shared.observability.context import tracing_on
from shared.settings import Settings
from shared.topics import Topic
from shared.topology import consumed_by, consumer_group

log = logging.getLogger(__name__)
STOP_SECONDS = 10.0  # how long shutdown waits for the background loops to end

BackgroundWork = Callable[[asyncpg.Pool, AIOKafkaProducer], Sequence[Coroutine[Any, Any, None]]]


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # also the database schema, the consumer name in processed_events and its group
    migrations: Path
    apply: Apply
    background: BackgroundWork
    # Applies a batch of new events in one go (bulk statements); else ``apply`` one by one.
    apply_many: ApplyMany | None = None
    # A process that only publishes (the matcher's rounds-only role) subscribes to nothing.
    consumes: bool = True

    @property
    def topics(self) -> tuple[Topic, ...]:
        return consumed_by(self.name) if self.consumes else ()


class RebalanceLog(ConsumerRebalanceListener):  # type: ignore[misc]
    """Logs each partition assignment the group hands this consumer, and counts it: how an
    operator (and the cluster chaos run) sees replicas joining and leaving."""

    def __init__(self, group: str) -> None:
        self.group = group

    async def on_partitions_revoked(self, revoked: Collection[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Collection[TopicPartition]) -> None:
        metrics.CONSUMER_REBALANCES.labels(group=self.group).inc()
        partitions = ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))
        log.info("%s rebalanced: assigned %d partitions: %s", self.group, len(assigned), partitions)


class FastStreamInternalsMoved(RuntimeError):
    """FastStream no longer works the way ``take_fresh_batches`` relies on: fail at start-up
    rather than run without the feature (see tests/unit/test_fresh_batches.py)."""


def event_broker(
    name: str,
    topics: Sequence[Topic],
    settings: Settings,
    consumer: Callable[[], BatchEventConsumer | None],
) -> KafkaBroker:
    """A broker whose one subscriber hands every batch of events of ``topics`` to
    ``consumer()``."""
    group = consumer_group(name)
    # FastStream's middlewares: faststream_* Prometheus series, and with tracing on a consumer
    # span per batch (the per-message spans that continue each record's traceparent are
    # BatchEventConsumer's). Without a tracer provider that span records nothing, but the
    # telemetry middleware would still read every record's headers for the batch's links and
    # baggage: CPU per message in the consumer's hot path, for nothing.
    telemetry = (KafkaTelemetryMiddleware(),) if tracing_on() else ()
    broker = KafkaBroker(
        settings.kafka_brokers,
        client_id=group,
        logger=service_logger(),
        # FastStream's own per-message lines at DEBUG: ours (with the correlation id) say it.
        log_level=logging.DEBUG,
        middlewares=(
            *telemetry,
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
        listener=RebalanceLog(group),
    )
    async def on_events(message: KafkaMessage) -> None:
        # Each record gets its own consumer span, correlation id, log line and count: see
        # BatchEventConsumer (FastStream's span for a batch starts a trace of its own).
        current = consumer()
        assert current is not None
        await current.handle_batch(message.raw_message)  # type: ignore[arg-type]

    return broker


def fetching_consumer(subscriber: object) -> AIOKafkaConsumer:
    """The aiokafka consumer a started FastStream Kafka subscriber fetches its batches with:
    FastStream (0.6, 0.7) keeps it in the subscriber's ``consumer`` attribute and calls its
    ``getmany`` for every batch."""
    consumer = getattr(subscriber, "consumer", None)
    if not callable(getattr(consumer, "getmany", None)):
        raise FastStreamInternalsMoved(
            f"a started FastStream subscriber ({type(subscriber).__name__}) has no aiokafka"
            " consumer with getmany in its `consumer` attribute: the fresh-records fetch"
            " (BRIDGEWORK_CONSUMER_FRESH_FETCH_MS) cannot be installed. Set it to 0 to run"
            " without it, or adapt shared/service.py to this FastStream version."
        )
    return consumer  # type: ignore[return-value]


def take_fresh_batches(broker: KafkaBroker, settings: Settings) -> None:
    """Once ``broker`` has started: its consumers' batches take in what arrived while the last
    batch was being handled (``shared.kafka.take_fresh_records``)."""
    if not settings.consumer_fresh_fetch_ms:
        return
    for subscriber in broker.subscribers:
        take_fresh_records(fetching_consumer(subscriber), settings.consumer_fresh_fetch_ms)


class ServiceRuntime:
    """A service's connections, consumer and background work, from start-up to shutdown: the
    steps every service takes, in order (``connect``, the broker starts, ``start_background``;
    then ``stop_background``, the broker stops, ``disconnect``)."""

    def __init__(self, spec: ServiceSpec, settings: Settings) -> None:
        self.spec = spec
        self.settings = settings
        self.pool: asyncpg.Pool | None = None
        self.producer: AIOKafkaProducer | None = None
        self.consumer: BatchEventConsumer | None = None
        self.broker = event_broker(spec.name, spec.topics, settings, lambda: self.consumer)
        self._tasks: list[asyncio.Task[None]] = []

    async def connect(self) -> None:
        spec, settings = self.spec, self.settings
        await migrate_async(settings.database_url, spec.name, spec.migrations)
        await ensure_topics(settings)
        self.pool = await create_pool(settings.database_url, spec.name, min_size=2, max_size=10)
        self.producer = idempotent_producer(settings.kafka_bootstrap_servers)
        await self.producer.start()
        self.consumer = BatchEventConsumer(
            spec.name, self.pool, self.producer, spec.apply, spec.apply_many
        )

    async def start_background(self) -> None:
        """After the broker has started: the fresh-records fetch, the service's own loops, and
        the sampled gauges (outbox backlog, consumer lag)."""
        take_fresh_batches(self.broker, self.settings)
        assert self.pool is not None
        assert self.producer is not None
        work = [
            *self.spec.background(self.pool, self.producer),
            service_ops.sample_forever(self.settings.metrics_sample_seconds, self._samples()),
        ]
        self._tasks = [asyncio.create_task(w) for w in work]

    def _samples(self) -> list[Callable[[], Coroutine[Any, Any, None]]]:
        pool, spec, settings = self.pool, self.spec, self.settings
        assert pool is not None
        samples = [lambda: service_ops.sample_outbox_backlog(pool, spec.name)]
        if spec.topics:
            group, topics = consumer_group(spec.name), [t.value for t in spec.topics]
            samples.append(
                lambda: service_ops.sample_consumer_lag(
                    settings.kafka_bootstrap_servers, group, topics
                )
            )
        return samples

    async def stop_background(self) -> None:
        """Cancel the service's loops and wait for them, at most ``STOP_SECONDS``: a loop that
        does not stop in time is named in the log, and shutdown goes on rather than hang (a
        test module's teardown once waited for ever on one)."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            done, pending = await asyncio.wait(self._tasks, timeout=STOP_SECONDS)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.error(
                        "%s: a background loop had failed",
                        self.spec.name,
                        exc_info=task.exception(),
                    )
            for task in pending:
                log.warning("%s: a background loop did not stop: %s", self.spec.name, task)
        self._tasks = []

    async def disconnect(self) -> None:
        if self.producer is not None:
            await self.producer.stop()
        if self.pool is not None:
            try:  # close waits for every connection to be released: not for ever
                await asyncio.wait_for(self.pool.close(), STOP_SECONDS)
            except TimeoutError:
                log.warning("%s: connections still in use at shutdown; closed", self.spec.name)
                self.pool.terminate()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ServiceRuntime]:
        """Every step, for an application that is not FastStream's (a FastAPI lifespan)."""
        await self.connect()
        try:
            await self.broker.start()
            try:
                await self.start_background()
                yield self
            finally:
                await self.stop_background()
                await self.broker.stop()
        finally:
            await self.disconnect()


def create_consumer_app(spec: ServiceSpec, settings: Settings) -> FastStream:
    """The service as a FastStream application, with its operations server (health, metrics)."""
    runtime = ServiceRuntime(spec, settings)
    ops = service_ops.ops_server(
        settings,
        spec.name,
        lambda: runtime.pool,
        lambda: runtime.producer,
        lambda: runtime.consumer.progress if runtime.consumer else None,
    )
    app = FastStream(runtime.broker, logger=service_logger())

    @app.on_startup
    async def connect() -> None:
        await ops.start()  # live at once; ready once the database and broker answer
        await runtime.connect()

    app.after_startup(runtime.start_background)
    app.on_shutdown(runtime.stop_background)

    @app.after_shutdown
    async def disconnect() -> None:
        await runtime.disconnect()
        await ops.stop()

    return app

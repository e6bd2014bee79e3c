"""Operability of a consumer service (the matcher, the notifier): its operations server,
readiness checks, and the sampled gauges (consumer lag, outbox backlog)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
from aiokafka import AIOKafkaProducer

from shared.observability import metrics
from shared.observability.health import database_check, kafka_check, readiness, stall_check
from shared.observability.kafka_state import consumer_lag
from shared.observability.ops_server import OpsServer, Readiness
from shared.observability.progress import PartitionProgress
from shared.outbox import unpublished
from shared.settings import Settings

log = logging.getLogger(__name__)

# The profiles service serves them on its HTTP port, but on this port of its own in production.
DEFAULT_OPS_PORTS = {"matcher": 8001, "notifier": 8002, "profiles": 8003}


def ops_port(settings: Settings, service: str) -> int:
    return settings.ops_port if settings.ops_port is not None else DEFAULT_OPS_PORTS[service]


def ops_server(
    settings: Settings,
    service: str,
    pool: Callable[[], asyncpg.Pool | None],
    producer: Callable[[], AIOKafkaProducer | None],
    progress: Callable[[], PartitionProgress | None],
) -> OpsServer:
    ready = service_readiness(settings, pool, producer, progress)
    return OpsServer(service, ready, settings.ops_host, ops_port(settings, service))


def service_readiness(
    settings: Settings,
    pool: Callable[[], asyncpg.Pool | None],
    producer: Callable[[], AIOKafkaProducer | None],
    progress: Callable[[], PartitionProgress | None],
) -> Readiness:
    """Ready once the service's database and broker answer, and while no partition has kept
    its consumer retrying for longer than ``consumer_stall_seconds``."""
    checks = {
        "database": database_check(pool),
        "kafka": kafka_check(producer),
        "consumer": stall_check(progress, settings.consumer_stall_seconds),
    }

    async def ready() -> tuple[bool, dict[str, str]]:
        return await readiness(checks, settings.health_timeout_seconds)

    return ready


async def sample_outbox_backlog(pool: asyncpg.Pool, service: str) -> None:
    async with pool.acquire() as connection:
        backlog = await unpublished(connection)
    if backlog is not None:  # None: this service publishes nothing
        metrics.OUTBOX_BACKLOG.labels(service=service).set(backlog)


async def sample_consumer_lag(bootstrap_servers: str, group: str, topics: Sequence[str]) -> None:
    for topic, lag in (await consumer_lag(bootstrap_servers, group, topics)).items():
        metrics.CONSUMER_LAG.labels(group=group, topic=topic).set(lag)


async def sample_forever(seconds: float, samples: Sequence[Callable[[], Awaitable[None]]]) -> None:
    """Refresh the sampled gauges every ``seconds``; a failed sample waits for the next turn."""
    while True:
        for sample in samples:
            try:
                await sample()
            except Exception as error:  # a gauge that is late must never stop the service
                log.debug("metrics sample failed: %s", type(error).__name__)
        await asyncio.sleep(seconds)

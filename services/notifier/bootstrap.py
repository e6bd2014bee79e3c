"""The notifier service's wiring, on the shared start-up path (shared/service.py): it consumes
network, people, placement, proposal and decision events (shared/topology.py); emails
coordinators their proposals, introduces approved matches, and sends self-service links."""

from __future__ import annotations

from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from faststream import FastStream

from services.notifier.handlers import handle_event
from services.notifier.mailer import MailQueue, sample_mail_queue
from services.notifier.reminders import reminders_for
from services.notifier.repository import NotifierRepository
from shared.events import Event
from shared.observability.service_ops import sample_forever
from shared.service import ServiceSpec, create_consumer_app
from shared.settings import Settings


async def apply_event(conn: asyncpg.Connection, event: Event) -> None:
    """The notifier's handlers (handlers.py), then the reminders the event schedules or
    cancels (reminders.py), on the event's transaction."""
    store = NotifierRepository(conn)
    await handle_event(store, event)
    await reminders_for(store, event)


def create_app(settings: Settings | None = None) -> FastStream:
    settings = settings or Settings()

    def background(
        pool: asyncpg.Pool, _producer: AIOKafkaProducer
    ) -> list[Coroutine[Any, Any, None]]:
        # The mail queue's gauge is sampled like the outbox backlog (shared/service.py).
        gauges = sample_forever(settings.metrics_sample_seconds, [lambda: sample_mail_queue(pool)])
        return [MailQueue(pool, settings).run(), gauges]

    spec = ServiceSpec(
        name="notifier",
        migrations=Path(__file__).parent / "migrations",
        apply=apply_event,
        background=background,
    )
    return create_consumer_app(spec, settings)

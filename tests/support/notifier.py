"""Driving the notifier in-process: events into its consumer, its emails queued and sent."""

from __future__ import annotations

import asyncpg

from services.notifier.handlers import announce_proposals, ask_consents, introduce_approved
from services.notifier.mailer import MailQueue
from services.notifier.repository import NotifierRepository
from shared.consuming import EventConsumer
from shared.events import Event
from shared.topics import Topic


async def deliver(consumer: EventConsumer, *events: Event) -> None:
    for event in events:
        await consumer.handle(event.to_json_bytes(), None, Topic.PEOPLE)


async def send_everything(queue: MailQueue, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await announce_proposals(NotifierRepository(conn))
        await introduce_approved(NotifierRepository(conn))
        await ask_consents(NotifierRepository(conn))
    while await queue.send_due():
        pass

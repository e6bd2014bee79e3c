"""Exactly-once effects from at-least-once delivery, and dead letters for unreadable messages.

A consumer records (consumer name, event id) in ``processed_events`` in the same transaction as
the event's effect, so a redelivered event changes nothing. Offsets are committed by FastStream
only after the handler returns (ack policy NACK_ON_ERROR), i.e. after the effect is durable.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from faststream.message import StreamMessage
from tenacity import (
    before_sleep_log,
    retry,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

from shared.events import Event, UnreadableEvent, decode_event
from shared.kafka import Origin, dead_letter

log = logging.getLogger(__name__)

Apply = Callable[[asyncpg.Connection, Event], Awaitable[None]]

# Worth retrying: the database is restarting or unreachable. Anything else is about the message.
# A server shutting down ends open sessions with "terminating connection due to administrator
# command" (an operator intervention, SQLSTATE 57P01): that is the database going away, not a
# bad message, so it is retried like a lost connection. So are serialization failures.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TransactionRollbackError,
    asyncpg.TooManyConnectionsError,
)


async def keep_raw_body(message: StreamMessage[Any]) -> bytes:
    """FastStream decoder that hands the handler the message bytes untouched."""
    body: bytes = message.body
    return body


async def claim(connection: asyncpg.Connection, consumer: str, event: Event) -> bool:
    """True the first time this consumer sees the event; False on every redelivery."""
    status: str = await connection.execute(
        """
        INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2)
        ON CONFLICT DO NOTHING
        """,
        consumer,
        event.event_id,
    )
    return status == "INSERT 0 1"


DeadLetterHook = Callable[[str, str], None]  # (consumer name, kind)


class EventConsumer:
    """Applies each event once; parks what it cannot read or apply, counts it, and moves on.

    ``dead_letters`` counts parked messages by kind (malformed, unknown_type, unknown_version,
    invalid, apply_failed); ``on_dead_letter`` hooks (e.g. a metrics counter) are called with
    (consumer name, kind) for each one."""

    def __init__(
        self, name: str, pool: asyncpg.Pool, producer: AIOKafkaProducer, apply: Apply
    ) -> None:
        self.name = name
        self._pool = pool
        self._producer = producer
        self._apply = apply
        self.dead_letters: Counter[str] = Counter()
        self.on_dead_letter: list[DeadLetterHook] = []

    async def handle(
        self,
        body: bytes | None,
        key: bytes | None,
        topic: str,
        partition: int | None = None,
        offset: int | None = None,
    ) -> None:
        origin = Origin(topic, partition, offset)
        try:
            event = decode_event(body)
        except UnreadableEvent as error:
            await self._park(origin, key, body, error.kind, str(error))
            return
        try:
            await self._apply_once(event)
        except TRANSIENT_ERRORS:
            raise  # nack: the message is redelivered, never skipped
        except Exception as error:  # the effect rolled back; park the message, keep going
            # Type only: an error message can quote personal data; the full reason is parked
            # with the message on the dead-letter topic.
            log.error(
                "%s could not apply %s %s: %s",
                self.name,
                event.event_type_name(),
                event.event_id,
                type(error).__name__,
            )
            reason = f"{type(error).__name__}: {error}"
            await self._park(origin, key, body, "apply_failed", reason)

    async def _park(
        self, origin: Origin, key: bytes | None, body: bytes | None, kind: str, reason: str
    ) -> None:
        await dead_letter(self._producer, origin, key, body, reason, consumer=self.name, kind=kind)
        self.dead_letters[kind] += 1
        for hook in self.on_dead_letter:
            hook(self.name, kind)

    @retry(
        retry=retry_if_exception_type(TRANSIENT_ERRORS),
        wait=wait_exponential(multiplier=0.2, max=5),
        stop=stop_after_delay(60),
        before_sleep=before_sleep_log(log, logging.WARNING),
        reraise=True,
    )
    async def _apply_once(self, event: Event) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            if await claim(connection, self.name, event):
                await self._apply(connection, event)

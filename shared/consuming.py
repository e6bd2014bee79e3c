"""Exactly-once effects from at-least-once delivery, and dead letters for unreadable messages.

A consumer records (consumer name, event id) in ``processed_events`` in the same transaction as
the event's effect, so a redelivered event changes nothing. Offsets are committed by FastStream
only after the handler returns (ack policy NACK_ON_ERROR), i.e. after the effect is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord
from faststream.message import StreamMessage
from tenacity import (
    before_sleep_log,
    retry,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

from shared.events import Event, UnreadableEvent, decode_event
from shared.gc_tuning import collector_paused
from shared.kafka import Origin, dead_letter
from shared.observability import metrics
from shared.observability.context import (
    Carrier,
    attached,
    capture,
    from_kafka_headers,
    message_span,
    tracing_on,
    untraced_carrier,
)
from shared.observability.progress import PartitionProgress

log = logging.getLogger(__name__)

Apply = Callable[[asyncpg.Connection, Event], Awaitable[None]]

# Worth retrying: the database is restarting or unreachable. Anything else is about the message.
# A server shutting down ends open sessions with "terminating connection due to administrator
# command" (an operator intervention, SQLSTATE 57P01): that is the database going away, not a
# bad message, so it is retried like a lost connection. So are serialization failures, and
# asyncpg's own state errors ("another operation is in progress"), which a connection broken
# mid-query leaves behind (the chaos run's PostgreSQL restart found one).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TransactionRollbackError,
    asyncpg.TooManyConnectionsError,
)
DATABASE_CHECK_SECONDS = 5.0


class DatabaseUnavailable(ConnectionError):
    """An event failed while the database did not answer: retried, never parked."""


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


@dataclass(frozen=True)
class Unreadable:
    """A message to dead-letter instead of applying: ``kind`` for counting, ``reason`` for the
    dead letter's header."""

    kind: str
    reason: str


def read_message(body: bytes | None) -> Event | Unreadable:
    """Every consumer's decoding of a message (the matcher's, the notifier's and the profiles
    read model's): its event, or why it goes to the dead letters. Never raises, whatever the
    bytes, so no message can hold up its partition (tests/unit/test_poison_messages.py)."""
    try:
        return decode_event(body)
    except UnreadableEvent as error:
        return Unreadable(error.kind, str(error))


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
        event = read_message(body)
        if isinstance(event, Unreadable):
            await self._park(origin, key, body, event.kind, event.reason)
            return
        try:
            await self._apply_once(event)
        except TRANSIENT_ERRORS:
            raise  # nack: the message is redelivered, never skipped
        except Exception as error:  # the effect rolled back; park the message, keep going
            if not await self._database_answers():
                # Whatever the error says, it came while the database was going away: the
                # message is probably fine, so it waits for the database, not the dead letters.
                raise DatabaseUnavailable(type(error).__name__) from error
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

    async def _database_answers(self) -> bool:
        try:
            async with asyncio.timeout(DATABASE_CHECK_SECONDS):
                async with self._pool.acquire() as connection:
                    await connection.fetchval("SELECT 1")
        except (TimeoutError, *TRANSIENT_ERRORS, asyncpg.PostgresError):
            return False
        return True

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


# --- Batches (issue 6: pipeline performance) ----------------------------------------------
# The same guarantees as one message at a time, with one transaction and one offset commit
# per batch instead of per message: the batch's event ids are claimed in processed_events with
# one statement in the transaction that applies their effects, and FastStream commits the
# batch's offsets only after the handler returned (a transient error seeks every partition
# back to the batch's first record). An event that cannot be applied rolls the batch back, and
# the batch is then replayed one message at a time, so only that event is parked.

# Each event's carrier (its message's correlation id and consumer span, see
# ``shared.observability.context.message_span``) by event id: bulk writers store it where a
# change asks for later work (a dirty network, an outbox row), so that work follows the change.
Contexts = Mapping[UUID, Carrier]
ApplyMany = Callable[[asyncpg.Connection, Sequence[Event], Contexts], Awaitable[None]]


async def claim_many(
    connection: asyncpg.Connection, consumer: str, events: Sequence[Event]
) -> list[Event]:
    """The events this consumer has not seen before, in order, each once. In the transaction
    that applies their effects: the claims commit with them, or not at all.

    A batch is nearly always new, so its ids are first added with a plain insert, under a
    savepoint: ``ON CONFLICT`` checks the index before each row and inserts it speculatively,
    which cost 1.5 to 2 times the plain insert (docs/scaling.md, "Time-ordered event ids, a
    plain claim, and profiles stored as written"). When one id was claimed before, the plain
    insert fails as a whole, the savepoint is rolled back, and the conflict-aware insert
    claims the others and names them."""
    if not connection.is_in_transaction():
        raise RuntimeError("claims are made in the transaction of the events' effects")
    ids = list(dict.fromkeys(e.event_id for e in events))
    try:
        async with connection.transaction():
            await connection.execute(
                "INSERT INTO processed_events (consumer, event_id) SELECT $1, unnest($2::uuid[])",
                consumer,
                ids,
            )
    except asyncpg.UniqueViolationError:
        claimed = await _claim_unseen(connection, consumer, ids)
    else:
        claimed = set(ids)
    fresh = []
    for event in events:
        if event.event_id in claimed:
            claimed.discard(event.event_id)  # a duplicate inside the batch applies once
            fresh.append(event)
    return fresh


async def _claim_unseen(
    connection: asyncpg.Connection, consumer: str, ids: list[UUID]
) -> set[UUID]:
    """The ids not claimed before, now claimed."""
    rows = await connection.fetch(
        """
        INSERT INTO processed_events (consumer, event_id)
        SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id
        """,
        consumer,
        ids,
    )
    return {row["event_id"] for row in rows}


def entity_layers(events: Sequence[Event]) -> list[list[Event]]:
    """Split events into layers in which each entity appears at most once: layer k holds every
    entity's k-th event. Applying the layers in turn keeps each entity's events in order (the
    only order Kafka promises: one key, one partition), so a layer can be written in bulk."""
    layers: list[list[Event]] = []
    seen: Counter[tuple[str, str]] = Counter()
    for event in events:
        entity = (event.topic.value, event.entity_key)
        depth = seen[entity]
        seen[entity] += 1
        if depth == len(layers):
            layers.append([])
        layers[depth].append(event)
    return layers


def context_of(event: Event, contexts: Contexts | None) -> Carrier:
    """The carrier of the message that brought ``event``; the current change's when unknown."""
    if contexts is not None and event.event_id in contexts:
        return contexts[event.event_id]
    return capture()


Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


class BatchEventConsumer(EventConsumer):
    """Each message of a batch keeps its own correlation id and trace: it gets a consumer span
    (child of the span that published it), and its event is applied, parked, logged and
    counted under that span and id, so one change stays one trace through a batch."""

    def __init__(
        self,
        name: str,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        apply: Apply,
        apply_many: ApplyMany | None = None,
    ) -> None:
        super().__init__(name, pool, producer, apply)
        self._apply_many = apply_many
        self.progress = PartitionProgress(f"bridgework-{name}")

    async def handle_batch(self, records: Sequence[Record]) -> None:
        partitions = {(record.topic, record.partition) for record in records}
        self.progress.trying(partitions)
        try:
            # Every event decoded lives until the batch's transaction ends: the collections
            # its allocations would set off free nothing (``collector_paused`` says more).
            with collector_paused():
                await self._handle_batch(records)
        except BaseException:
            self.progress.failed(partitions)  # redelivered: its partitions have not moved
            raise
        self.progress.moved(partitions)

    async def _handle_batch(self, records: Sequence[Record]) -> None:
        with contextlib.ExitStack() as spans:
            if tracing_on():
                carriers = [
                    spans.enter_context(
                        message_span(from_kafka_headers(r.headers), f"{r.topic} process")
                    )
                    for r in records
                ]
            else:  # no span would be recorded: the same carriers without them
                carriers = [untraced_carrier(from_kafka_headers(r.headers)) for r in records]
            received = list(zip(records, carriers, strict=True))
            try:
                await self._handle_received(received)
            except Exception:
                for record, carrier in received:
                    with attached(carrier):
                        metrics.EVENTS_FAILED.labels(topic=record.topic, reason="retried").inc()
                raise
            for topic, handled in Counter(record.topic for record in records).items():
                metrics.EVENTS_CONSUMED.labels(topic=topic).inc(handled)
            if not log.isEnabledFor(logging.INFO):
                return  # each line under its message's correlation id, when there are lines
            for record, carrier in received:
                with attached(carrier):
                    log.info(
                        "%s handled %s partition %d offset %d",
                        self.name,
                        record.topic,
                        record.partition,
                        record.offset,
                    )

    async def _handle_received(self, received: Sequence[tuple[Record, Carrier]]) -> None:
        readable: list[tuple[Event, Record, Carrier]] = []
        for record, carrier in received:
            event = read_message(record.value)
            if isinstance(event, Unreadable):
                origin = Origin(record.topic, record.partition, record.offset)
                with attached(carrier):
                    await self._park(origin, record.key, record.value, event.kind, event.reason)
            else:
                readable.append((event, record, carrier))
        if not readable:
            return
        contexts = {event.event_id: carrier for event, _, carrier in readable}
        try:
            await self._apply_batch_once([event for event, _, _ in readable], contexts)
        except TRANSIENT_ERRORS:
            raise  # nack: the whole batch is redelivered, never skipped
        except Exception as error:
            log.warning(
                "%s: a batch of %d rolled back (%s); applying it one event at a time",
                self.name,
                len(readable),
                type(error).__name__,
            )
            for _, record, carrier in readable:
                with attached(carrier):
                    await self.handle(
                        record.value, record.key, record.topic, record.partition, record.offset
                    )

    @retry(
        retry=retry_if_exception_type(TRANSIENT_ERRORS),
        wait=wait_exponential(multiplier=0.2, max=5),
        stop=stop_after_delay(60),
        before_sleep=before_sleep_log(log, logging.WARNING),
        reraise=True,
    )
    async def _apply_batch_once(self, events: Sequence[Event], contexts: Contexts) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            fresh = await claim_many(connection, self.name, events)
            if self._apply_many is not None:
                await self._apply_many(connection, fresh, contexts)
            else:
                for event in fresh:
                    with attached(context_of(event, contexts)):
                        await self._apply(connection, event)

"""Transactional outbox: an event is written in the same transaction as the change it
describes, and a relay publishes it to Kafka afterwards. Nothing is stored-but-not-published.

Each service that publishes has an ``outbox`` table in its own schema (see its migrations).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence

import asyncpg
from aiokafka import AIOKafkaProducer
from opentelemetry.trace import SpanKind

from shared.events import Event
from shared.observability import metrics
from shared.observability.context import Carrier, capture, continued, to_kafka_headers

log = logging.getLogger(__name__)

OUTBOX_CHANNEL = "outbox"


async def add_to_outbox(
    connection: asyncpg.Connection,
    events: Sequence[Event],
    trace_contexts: Sequence[Carrier] | None = None,
) -> None:
    """Record events inside the caller's transaction, and wake the relay on commit. Each row
    keeps the correlation id and trace context of the change (``trace_contexts``, one per
    event, when a batch's events come from different changes), sent on as Kafka headers."""
    if trace_contexts is None:
        trace_contexts = [capture()] * len(events)
    if len(trace_contexts) != len(events):
        raise ValueError(f"{len(events)} events but {len(trace_contexts)} trace contexts")
    if not events:
        return
    # One statement for the whole batch (one executemany statement a row was 59,000 statements
    # in two minutes of arrivals), and its notification in the same round trip; the rows take
    # their ids in the events' order, which is the order the relay publishes them in.
    await connection.execute(
        """
        WITH stored AS (
          INSERT INTO outbox (event_id, topic, message_key, payload, trace_context)
          SELECT r.event_id, r.topic, r.message_key, r.payload::jsonb, r.trace_context::jsonb
          FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])
            WITH ORDINALITY AS r(event_id, topic, message_key, payload, trace_context, position)
          ORDER BY r.position
        )
        SELECT pg_notify($6, '')
        """,
        [e.event_id for e in events],
        [e.topic.value for e in events],
        [e.entity_key for e in events],
        # JSON text serialised by pydantic (in Rust), cast by the server: cheaper than dumping
        # to Python objects for asyncpg's json.dumps.
        [e.model_dump_json() for e in events],
        [json.dumps(context) for context in trace_contexts],
        OUTBOX_CHANNEL,  # delivered on commit, as NOTIFY's
    )


# With the schema's name hashed, the advisory lock that lets one relay of a schema publish at a
# time (services/notifier/mailer.py uses 0x42574D, "BWM").
RELAY_LOCK_CLASS = 0x42574F  # "BWO"


class OutboxRelay:
    """Publishes unpublished outbox rows in order. Any number of relays may run (one per
    replica); one publishes at a time, holding its schema's advisory lock for the batch, since
    two relays sending different batches at once could put one entity's later event on Kafka
    before its earlier one. A row is marked published only after Kafka acknowledged it, so a
    crash means a re-send (consumers are idempotent), never a loss; the lock goes with the
    crashed relay's connection, and another relay takes over."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        poll_seconds: float = 0.5,
        batch_size: int = 500,
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._poll_seconds = poll_seconds
        self._batch_size = batch_size
        self._wake = asyncio.Event()

    async def run(self) -> None:
        async with self._pool.acquire() as listener:
            await listener.add_listener(OUTBOX_CHANNEL, self._on_notify)
            try:
                await self._publish_forever()
            finally:
                await listener.remove_listener(OUTBOX_CHANNEL, self._on_notify)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _publish_forever(self) -> None:
        while True:
            try:
                # A short batch took every row committed before it; a row committed since
                # has woken the relay (its NOTIFY), so no empty batch is needed to be sure.
                while await self.publish_batch() == self._batch_size:
                    pass
            except (OSError, asyncpg.PostgresError) as error:
                log.warning("outbox relay will retry: %s", error)
            except Exception:
                log.exception("outbox relay failed; will retry")
            await self._sleep_until_woken()

    async def _sleep_until_woken(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)
        self._wake.clear()

    async def publish_batch(self) -> int:
        """Publish one batch; returns how many rows it published."""
        async with self._pool.acquire() as connection, connection.transaction():
            # The schema's lock and the rows in one round trip: the lock is tried once, before
            # the scan (an uncorrelated subquery), and without it nothing is read: another relay
            # is publishing, and it takes these rows too, in order. A row that relay marked
            # after this statement's snapshot is skipped all the same: FOR UPDATE reads the
            # row's committed version again and re-checks ``published_at IS NULL``.
            rows = await connection.fetch(
                """
                SELECT id, topic, message_key, payload::text AS payload, trace_context
                FROM outbox
                WHERE (SELECT pg_try_advisory_xact_lock($2, hashtext(current_schema())))
                  AND published_at IS NULL
                ORDER BY id LIMIT $1 FOR UPDATE
                """,
                self._batch_size,
                RELAY_LOCK_CLASS,
            )
            if not rows:
                return 0
            sends = [await self._send(row) for row in rows]
            await asyncio.gather(*sends)
            await connection.execute(
                # The moment Kafka acknowledged them, not when this transaction began.
                "UPDATE outbox SET published_at = clock_timestamp() WHERE id = ANY($1::bigint[])",
                [row["id"] for row in rows],
            )
        for row in rows:
            metrics.OUTBOX_PUBLISHED.labels(topic=row["topic"]).inc()
        log.debug("outbox published %d events", len(rows))
        return len(rows)

    async def _send(self, row: asyncpg.Record) -> asyncio.Future[object]:
        # The message carries the change's correlation id, and a traceparent of this publish
        # span (a child of the span that wrote the row), so consumers continue the trace.
        with continued(row["trace_context"], f"{row['topic']} publish", SpanKind.PRODUCER):
            future: asyncio.Future[object] = await self._producer.send(
                row["topic"],
                row["payload"].encode(),
                key=row["message_key"].encode(),
                headers=to_kafka_headers(capture()),
            )
        return future

    async def backlog(self) -> int:
        async with self._pool.acquire() as connection:
            return await unpublished(connection) or 0


async def unpublished(connection: asyncpg.Connection) -> int | None:
    """How many outbox rows wait for the relay; None where the schema has no outbox (yet)."""
    if await connection.fetchval("SELECT to_regclass('outbox') IS NULL"):
        return None
    count: int = await connection.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    return count

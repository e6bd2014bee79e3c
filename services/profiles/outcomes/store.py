"""A match's life in the profiles tables: its life events (``match_life``, one row per event,
written once whichever way it arrives: the use case that took the step or the decisions topic)
and the proposal's ``closed`` status. Every statement runs on the caller's connection."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg
from pydantic import TypeAdapter

from services.profiles.outcomes.life import LifeEvent, MatchLife, life_of
from shared.events import MatchClosed

_LIFE_EVENT: TypeAdapter[LifeEvent] = TypeAdapter(LifeEvent)


async def keep_life_event(conn: asyncpg.Connection, event: LifeEvent) -> bool:
    """Store the event once; a closing closes the proposal. False when it was stored before."""
    inserted = await conn.fetchval(
        """
        INSERT INTO match_life (event_id, match_id, network_id, event_type, occurred_at, event)
        VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING RETURNING true
        """,
        event.event_id,
        event.match_id,
        event.network_id,
        event.event_type,
        event.occurred_at,
        event.model_dump(mode="json"),
    )
    if inserted and isinstance(event, MatchClosed):
        # status_changed_at stays the decision's: when the match was introduced.
        await conn.execute(
            "UPDATE proposals SET status = 'closed' WHERE match_id = $1 AND status = 'approved'",
            event.match_id,
        )
    return bool(inserted)


async def match_row(
    conn: asyncpg.Connection, match_id: UUID, *, lock: bool = False
) -> asyncpg.Record | None:
    """The proposal behind the match (locked for a step that changes it)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT match_id, network_id, kind, status, provider_id, mentee_id, explanation,"
        " status_changed_at FROM proposals WHERE match_id = $1" + (" FOR UPDATE" if lock else ""),
        match_id,
    )
    return row


def introduced_at(row: asyncpg.Record) -> datetime | None:
    """When an approved (or since closed) match was approved and its people introduced."""
    if row["status"] not in ("approved", "closed"):
        return None
    at: datetime | None = row["status_changed_at"]
    return at


async def life_events(conn: asyncpg.Connection, match_ids: Sequence[UUID]) -> list[LifeEvent]:
    rows = await conn.fetch(
        "SELECT event FROM match_life WHERE match_id = ANY($1::uuid[]) ORDER BY occurred_at",
        list(match_ids),
    )
    return [_LIFE_EVENT.validate_python(row["event"]) for row in rows]


async def load_life(conn: asyncpg.Connection, row: asyncpg.Record) -> MatchLife:
    events = await life_events(conn, [row["match_id"]])
    return life_of(row["match_id"], introduced_at(row), events)

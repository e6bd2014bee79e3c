"""The coordinators' read model's tables as the profiles handlers (services/profiles/handlers.py)
use them: every statement they run, on the connection of the event's transaction."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from services.profiles.outcomes.store import keep_life_event
from shared.events import (
    CheckInRecorded,
    FirstConversationHeld,
    MatchClosed,
    MatchProposed,
    RoundCompleted,
)


class ReadModelRepository:
    """The read model's store (``handlers.ReadModelStore``) on one connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def network_exists(self, network_id: str) -> bool:
        exists: bool = await self.conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM networks WHERE id = $1)", network_id
        )
        return exists

    async def add_proposal(self, event: MatchProposed, by_hand: bool = False) -> None:
        await self.conn.execute(
            """
            INSERT INTO proposals (match_id, network_id, kind, provider_id, mentee_id, score,
                                   explanation, exchange_id, proposed_at, by_hand)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (match_id) DO NOTHING
            """,
            event.match_id,
            event.network_id,
            event.kind.value,
            event.provider_id,
            event.mentee_id,
            event.score,
            event.explanation.model_dump(mode="json"),
            event.exchange_id,
            event.occurred_at,
            by_hand,
        )

    async def proposal_status(self, match_id: UUID) -> str | None:
        status: str | None = await self.conn.fetchval(
            "SELECT status FROM proposals WHERE match_id = $1 FOR UPDATE", match_id
        )
        return status

    async def set_status(
        self,
        match_id: UUID,
        status: str,
        at: datetime,
        reason: str,
        decided_by: str | None = None,
    ) -> None:
        await self.conn.execute(
            "UPDATE proposals SET status = $2, status_changed_at = $3, reason = $4,"
            " decided_by = coalesce($5, decided_by) WHERE match_id = $1",
            match_id,
            status,
            at,
            reason,
            decided_by,
        )

    async def add_fairness_report(self, event: RoundCompleted) -> None:
        await self.conn.execute(
            "INSERT INTO fairness_reports (network_id, recorded_at, report) VALUES ($1, $2, $3)",
            event.network_id,
            event.occurred_at,
            event.fairness.model_dump(mode="json"),
        )

    async def keep_life_event(
        self, event: FirstConversationHeld | CheckInRecorded | MatchClosed
    ) -> None:
        await keep_life_event(self.conn, event)

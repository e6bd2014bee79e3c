"""The coordinators' read model: proposals, withdrawals, decisions and fairness figures as the
events on Kafka tell them. Applied once per event (shared/consuming.py) in its transaction."""

from __future__ import annotations

import asyncpg

from shared.events import Event, MatchDecided, MatchProposed, MatchWithdrawn, RoundCompleted
from shared.topology import consumed_by

CONSUMER = "profiles"
TOPICS = consumed_by(CONSUMER)


async def apply_event(conn: asyncpg.Connection, event: Event) -> None:
    match event:
        case MatchProposed():
            await conn.execute(
                """
                INSERT INTO proposals (match_id, network_id, kind, provider_id, mentee_id, score,
                                       explanation, exchange_id, proposed_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
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
            )
        case MatchWithdrawn():
            # A decision taken first stands; the matcher treats it as final too.
            await conn.execute(
                "UPDATE proposals SET status = 'withdrawn', status_changed_at = $2, reason = $3"
                " WHERE match_id = $1 AND status = 'pending'",
                event.match_id,
                event.occurred_at,
                event.reason,
            )
        case MatchDecided():
            # Decisions are stored when taken (decisions.py); this covers other replicas.
            await conn.execute(
                "UPDATE proposals SET status = $2, status_changed_at = $3, decided_by = $4,"
                " reason = $5 WHERE match_id = $1 AND status = 'pending'",
                event.match_id,
                "approved" if event.approved else "rejected",
                event.occurred_at,
                event.decided_by,
                event.reason,
            )
        case RoundCompleted():
            await conn.execute(
                "INSERT INTO fairness_reports (network_id, recorded_at, report)"
                " VALUES ($1, $2, $3)",
                event.network_id,
                event.occurred_at,
                event.fairness.model_dump(mode="json"),
            )

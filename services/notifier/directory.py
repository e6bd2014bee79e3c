"""The notifier's tables: who to write to, and which emails each event asks for."""

from __future__ import annotations

import asyncpg

from shared.events import (
    Event,
    MatchProposed,
    MatchWithdrawn,
    NetworkUpserted,
    PersonErased,
    PersonUpserted,
    PlacementUpserted,
    TrustUpserted,
)
from shared.observability.context import capture


async def apply_event(conn: asyncpg.Connection, event: Event) -> None:
    match event:
        case NetworkUpserted():
            await conn.execute(
                """
                INSERT INTO networks (id, name, coordinators) VALUES ($1, $2, $3)
                ON CONFLICT (id) DO UPDATE
                  SET name = excluded.name, coordinators = excluded.coordinators
                """,
                event.network_id,
                event.name,
                [c.model_dump(mode="json") for c in event.coordinators],
            )
        case TrustUpserted():
            await conn.execute(
                "INSERT INTO trusts (code, name) VALUES ($1, $2)"
                " ON CONFLICT (code) DO UPDATE SET name = excluded.name",
                event.trust_code,
                event.name,
            )
        case PersonUpserted():
            p = event.profile
            await conn.execute(
                """
                INSERT INTO people (id, role, name, email, job_title, trust_code)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (id) DO UPDATE SET role = excluded.role, name = excluded.name,
                  email = excluded.email, job_title = excluded.job_title,
                  trust_code = excluded.trust_code
                """,
                p.person_id,
                p.role.value,
                p.name,
                p.email,
                p.job_title,
                p.trust_code,
            )
        case PersonErased():
            await _forget(conn, event)
        case PlacementUpserted():
            pl = event.placement
            await conn.execute(
                "INSERT INTO placements (id, role, host_trust_code) VALUES ($1, $2, $3)"
                " ON CONFLICT (id) DO UPDATE SET role = excluded.role,"
                " host_trust_code = excluded.host_trust_code",
                pl.placement_id,
                pl.role,
                pl.host_trust_code,
            )
        case MatchProposed():
            await _queue_proposal_emails(conn, event)
        case MatchWithdrawn():
            await _cancel_unsent(conn, event)
        case _:
            pass


async def _forget(conn: asyncpg.Connection, event: PersonErased) -> None:
    """Erasure: the person goes, and so does every unsent email about them."""
    await conn.execute("DELETE FROM people WHERE id = $1", event.person_id)
    await conn.execute(
        """
        UPDATE emails SET status = 'cancelled' WHERE status = 'pending' AND match_id IN (
          SELECT match_id FROM proposals
          WHERE event->>'provider_id' = $1 OR event->>'mentee_id' = $1)
        """,
        str(event.person_id),
    )
    await conn.execute(
        "DELETE FROM proposals WHERE event->>'provider_id' = $1 OR event->>'mentee_id' = $1",
        str(event.person_id),
    )


async def _cancel_unsent(conn: asyncpg.Connection, event: MatchWithdrawn) -> None:
    """A withdrawn proposal is not announced any more; what was already sent stays sent."""
    await conn.execute(
        "UPDATE emails SET status = 'cancelled' WHERE match_id = $1 AND status = 'pending'",
        event.match_id,
    )
    await conn.execute("UPDATE proposals SET announced = true WHERE match_id = $1", event.match_id)


async def _queue_proposal_emails(conn: asyncpg.Connection, event: MatchProposed) -> None:
    """Keep the proposal; the mail queue announces it once its network's coordinators are known
    (network events travel on another topic and may arrive later)."""
    await conn.execute(
        "INSERT INTO proposals (match_id, network_id, event, trace_context)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        event.match_id,
        event.network_id,
        event.model_dump(mode="json"),
        capture(),  # the proposal's correlation id and trace, for its emails
    )


async def announce_proposals(conn: asyncpg.Connection) -> int:
    """Queue one email per coordinator for each proposal whose network is known; at most once,
    whatever happens (the dedupe key)."""
    rows = await conn.fetch(
        """
        SELECT p.match_id, p.trace_context, n.coordinators
        FROM proposals p JOIN networks n ON n.id = p.network_id
        WHERE NOT p.announced ORDER BY p.match_id FOR UPDATE OF p SKIP LOCKED
        """
    )
    emails = [
        (
            f"proposal:{row['match_id']}:{c['email'].lower()}",
            row["match_id"],
            c["name"],
            c["email"],
            row["trace_context"],
        )
        for row in rows
        for c in row["coordinators"]
    ]
    await conn.executemany(
        """
        INSERT INTO emails (dedupe_key, purpose, match_id, recipient_name, recipient_email,
                            trace_context)
        VALUES ($1, 'proposal', $2, $3, $4, $5) ON CONFLICT (dedupe_key) DO NOTHING
        """,
        emails,
    )
    await conn.execute(
        "UPDATE proposals SET announced = true WHERE match_id = ANY($1::uuid[])",
        [row["match_id"] for row in rows],
    )
    return len(rows)

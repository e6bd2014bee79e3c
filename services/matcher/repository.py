"""The matcher's tables as its event handlers (handlers.py) use them: every statement they run,
on the connection of the event's transaction. No decisions here: what to write is decided in
handlers.py."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from services.matcher.handlers import ProposalRow
from shared.events import (
    AvailabilityChanged,
    Event,
    MatchingWeightsApplied,
    MatchProposed,
    MatchRestated,
    PersonProfile,
    PlacementProfile,
    TrustUpserted,
)
from shared.observability.context import Carrier, capture
from shared.outbox import add_to_outbox


async def mark_dirty_many(conn: asyncpg.Connection, marks: Mapping[str, Carrier]) -> None:
    """Ask for a matching round for these networks once their events have gone quiet; each
    round carries on the correlation id and trace (the carrier) of its network's latest
    change. A network the matcher does not know is not marked: it waits for its
    NetworkUpserted, which marks it."""
    network_ids = sorted(marks)  # one lock order for every writer: no deadlocks
    await conn.execute(
        """
        INSERT INTO dirty_networks (network_id, trace_context)
        SELECT m.network_id, m.trace_context::jsonb
        FROM unnest($1::text[], $2::text[]) AS m(network_id, trace_context)
        JOIN networks n ON n.id = m.network_id
        ORDER BY m.network_id
        ON CONFLICT (network_id) DO UPDATE
          SET last_change_at = now(), trace_context = excluded.trace_context
        """,
        network_ids,
        [json.dumps(marks[n]) for n in network_ids],
    )


async def mark_dirty(conn: asyncpg.Connection, network_id: str) -> None:
    """``mark_dirty_many`` for one network, under the current change's carrier."""
    await mark_dirty_many(conn, {network_id: capture()})


def _proposal(row: asyncpg.Record) -> ProposalRow:
    return ProposalRow(
        match_id=row["match_id"],
        network_id=row["network_id"],
        status=row["status"],
        provider_id=row["provider_id"],
        mentee_id=row["mentee_id"],
    )


class MatcherRepository:
    """The matcher's store (``handlers.MatcherStore``) on one connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add_network(self, network_id: str) -> None:
        await self.conn.execute(
            "INSERT INTO networks (id) VALUES ($1) ON CONFLICT DO NOTHING", network_id
        )

    async def upsert_trust(self, event: TrustUpserted) -> str | None:
        previous: str | None = await self.conn.fetchval(
            "SELECT network_id FROM trusts WHERE code = $1", event.trust_code
        )
        await self.conn.execute(
            """
            INSERT INTO trusts (code, network_id, name, region, latitude, longitude, is_small)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (code) DO UPDATE SET network_id = excluded.network_id,
              name = excluded.name, region = excluded.region, latitude = excluded.latitude,
              longitude = excluded.longitude, is_small = excluded.is_small
            """,
            event.trust_code,
            event.network_id,
            event.name,
            event.region.value,
            event.latitude,
            event.longitude,
            event.is_small,
        )
        return previous

    async def move_trust_members(self, trust_code: str, network_id: str) -> list[UUID]:
        """Its people and the placements it hosts go to ``network_id``; returns their ids."""
        people = await self.conn.fetch(
            """
            UPDATE people SET network_id = $2,
              profile = jsonb_set(profile::jsonb, '{network_id}', to_jsonb($2::text))::json
            WHERE trust_code = $1 AND network_id <> $2 RETURNING id
            """,
            trust_code,
            network_id,
        )
        placements = await self.conn.fetch(
            """
            UPDATE placements SET network_id = $2,
              profile = jsonb_set(profile, '{network_id}', to_jsonb($2::text))
            WHERE profile->>'host_trust_code' = $1 AND network_id <> $2 RETURNING id
            """,
            trust_code,
            network_id,
        )
        return [row["id"] for row in [*people, *placements]]

    async def upsert_people(
        self,
        profiles: Sequence[PersonProfile],
        availability: Sequence[AvailabilityChanged | None] | None = None,
    ) -> dict[UUID, str]:
        """Upsert many people (each at most once) in one statement; returns the network each
        known person was in before. The ``previous`` CTE reads the rows as they were before the
        statement's own insert (one snapshot for the whole statement).

        ``availability``: for each profile, the availability change that followed it (its
        person's next event, in the same batch) or None. The row is then written as the change
        leaves it, instead of being written again by ``change_availabilities``; without one, a
        known person's ``paused`` stays as it was."""
        changes = availability or [None] * len(profiles)
        # The profile goes as JSON text serialised by pydantic (in Rust), stored as written.
        rows = await self.conn.fetch(
            """
            WITH incoming AS (
              SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[],
                                   $5::float8[], $6::float8[], $7::boolean[], $8::text[])
                AS p(id, role, network_id, profile, capacity, hours_per_month, paused,
                     trust_code)
            ), previous AS (
              SELECT id, network_id, paused FROM people WHERE id = ANY($1::uuid[])
            ), stored AS (
              INSERT INTO people (id, role, network_id, profile, capacity, hours_per_month,
                                  paused, trust_code)
              SELECT i.id, i.role, i.network_id, i.profile::json, i.capacity, i.hours_per_month,
                     COALESCE(i.paused, previous.paused, false), i.trust_code
              FROM incoming i LEFT JOIN previous ON previous.id = i.id
              ON CONFLICT (id) DO UPDATE SET role = excluded.role,
                network_id = excluded.network_id, profile = excluded.profile,
                capacity = excluded.capacity, hours_per_month = excluded.hours_per_month,
                paused = excluded.paused, trust_code = excluded.trust_code
            )
            SELECT id, network_id FROM previous
            """,
            [p.person_id for p in profiles],
            [p.role.value for p in profiles],
            [p.network_id for p in profiles],
            [p.model_dump_json() for p in profiles],
            [
                p.capacity if c is None else c.capacity
                for p, c in zip(profiles, changes, strict=True)
            ],
            [
                p.hours_per_month if c is None else c.hours_per_month
                for p, c in zip(profiles, changes, strict=True)
            ],
            [None if c is None else c.paused for c in changes],
            [p.trust_code for p in profiles],
        )
        return {row["id"]: row["network_id"] for row in rows}

    async def change_availabilities(
        self, changes: Sequence[AvailabilityChanged]
    ) -> dict[UUID, str]:
        """Returns the network of each person changed (unknown people are not)."""
        rows = await self.conn.fetch(
            """
            UPDATE people p SET paused = c.paused, capacity = c.capacity,
              hours_per_month = c.hours_per_month
            FROM unnest($1::uuid[], $2::boolean[], $3::float8[], $4::float8[])
              AS c(id, paused, capacity, hours_per_month)
            WHERE p.id = c.id RETURNING p.id, p.network_id
            """,
            [c.person_id for c in changes],
            [c.paused for c in changes],
            [c.capacity for c in changes],
            [c.hours_per_month for c in changes],
        )
        return {row["id"]: row["network_id"] for row in rows}

    async def delete_person(self, person_id: UUID) -> tuple[str | None, list[ProposalRow]]:
        """Forget the person and every proposal that names them; returns their network and the
        proposals removed."""
        network_id = await self.conn.fetchval(
            "DELETE FROM people WHERE id = $1 RETURNING network_id", person_id
        )
        removed = await self.conn.fetch(
            """
            DELETE FROM proposals WHERE provider_id = $1 OR mentee_id = $1
            RETURNING match_id, network_id, status, provider_id, mentee_id
            """,
            person_id,
        )
        return network_id, [_proposal(row) for row in removed]

    async def upsert_placement(self, placement: PlacementProfile) -> None:
        await self.conn.execute(
            """
            INSERT INTO placements (id, network_id, profile) VALUES ($1, $2, $3)
            ON CONFLICT (id) DO UPDATE
              SET network_id = excluded.network_id, profile = excluded.profile
            """,
            placement.placement_id,
            placement.network_id,
            placement.model_dump(mode="json"),
        )

    async def delete_placement(self, placement_id: UUID) -> str | None:
        network_id: str | None = await self.conn.fetchval(
            "DELETE FROM placements WHERE id = $1 RETURNING network_id", placement_id
        )
        return network_id

    async def proposals_naming(self, ids: Collection[UUID]) -> list[ProposalRow]:
        rows = await self.conn.fetch(
            """
            SELECT match_id, network_id, status, provider_id, mentee_id FROM proposals
            WHERE provider_id = ANY($1::uuid[]) OR mentee_id = ANY($1::uuid[])
            ORDER BY match_id
            """,
            list(ids),
        )
        return [_proposal(row) for row in rows]

    async def withdraw(self, match_ids: Collection[UUID]) -> list[ProposalRow]:
        rows = await self.conn.fetch(
            """
            UPDATE proposals SET status = 'withdrawn' WHERE match_id = ANY($1::uuid[])
            RETURNING match_id, network_id, status, provider_id, mentee_id
            """,
            list(match_ids),
        )
        return [_proposal(row) for row in rows]

    async def withdraw_pending(self, match_ids: Collection[UUID]) -> list[ProposalRow]:
        """Withdraw those still pending (a round's replaced proposals: one decided since the
        round read them stays as decided)."""
        if not match_ids:  # no statement: its triggers on proposals would still run
            return []
        rows = await self.conn.fetch(
            """
            UPDATE proposals SET status = 'withdrawn'
            WHERE match_id = ANY($1::uuid[]) AND status = 'pending'
            RETURNING match_id, network_id, status, provider_id, mentee_id
            """,
            list(match_ids),
        )
        return [_proposal(row) for row in rows]

    async def move_proposals(self, match_ids: Collection[UUID], network_id: str) -> None:
        await self.conn.execute(
            "UPDATE proposals SET network_id = $2 WHERE match_id = ANY($1::uuid[])",
            list(match_ids),
            network_id,
        )

    async def proposal(self, match_id: UUID) -> ProposalRow | None:
        row = await self.conn.fetchrow(
            "SELECT match_id, network_id, status, provider_id, mentee_id FROM proposals"
            " WHERE match_id = $1",
            match_id,
        )
        return None if row is None else _proposal(row)

    async def record_decision(self, match_id: UUID, status: str, decided_at: datetime) -> None:
        await self.conn.execute(
            "UPDATE proposals SET status = $2, decided_at = $3 WHERE match_id = $1",
            match_id,
            status,
            decided_at,
        )

    async def add_approved(self, match: MatchProposed, decided_at: datetime) -> None:
        await self.conn.execute(
            """
            INSERT INTO proposals (match_id, network_id, kind, provider_id, mentee_id, score,
                                   explanation, status, decided_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, 'approved', $8)
            ON CONFLICT (match_id) DO NOTHING
            """,
            match.match_id,
            match.network_id,
            match.kind.value,
            match.provider_id,
            match.mentee_id,
            match.score,
            match.explanation.model_dump(mode="json"),
            decided_at,
        )

    async def record_closing(self, match_id: UUID, outcome: str, closed_at: datetime) -> None:
        await self.conn.execute(
            "UPDATE proposals SET status = 'closed', outcome = $2, closed_at = $3"
            " WHERE match_id = $1",
            match_id,
            outcome,
            closed_at,
        )

    async def restore_proposal(self, event: MatchRestated, status: str) -> bool:
        """Store a restated match unless one with its id, or a live one of its pair, is here, or
        its mentee (or mentor) is not; True when stored."""
        stored = await self.conn.fetchval(
            """
            INSERT INTO proposals (match_id, network_id, kind, provider_id, mentee_id, score,
                                   explanation, exchange_id, status, decided_at, outcome,
                                   closed_at)
            SELECT $1::uuid, $2::text, $3::text, $4::uuid, $5::uuid, $6::float8, $7::jsonb,
              $8::text, $9::text, $10::timestamptz, $11::text, $12::timestamptz
            WHERE EXISTS (SELECT 1 FROM people WHERE id = $5)
              AND ($3 = 'secondment' OR EXISTS (SELECT 1 FROM people WHERE id = $4))
            ON CONFLICT DO NOTHING RETURNING true
            """,
            event.match_id,
            event.network_id,
            event.kind.value,
            event.provider_id,
            event.mentee_id,
            event.score,
            event.explanation.model_dump(mode="json"),
            event.exchange_id,
            status,
            event.decided_at,
            None if event.outcome is None else event.outcome.value,
            event.closed_at,
        )
        return bool(stored)

    async def set_weights(self, event: MatchingWeightsApplied) -> bool:
        updated = await self.conn.fetchval(
            "UPDATE networks SET weights = $2, weights_version = $3"
            " WHERE id = $1 AND coalesce(weights_version, 0) < $3 RETURNING true",
            event.network_id,
            event.weights.model_dump(mode="json"),
            event.version,
        )
        return bool(updated)

    async def mark_dirty(self, marks: Mapping[str, Carrier]) -> None:
        await mark_dirty_many(self.conn, marks)

    async def publish(self, events: Sequence[Event]) -> None:
        await add_to_outbox(self.conn, events)

"""The matcher's own tables: how each event changes them, and what a round reads from them."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from services.matcher.engine.contract import (
    MatchingInput,
    MenteeInput,
    MentorInput,
    PlacementInput,
    TrustInfo,
)
from shared.events import (
    AvailabilityChanged,
    Event,
    MatchDecided,
    PersonErased,
    PersonProfile,
    PersonUpserted,
    PlacementProfile,
    PlacementUpserted,
    PlacementWithdrawn,
    TrustUpserted,
)
from shared.people import Role

LIVE = ("pending", "approved")


async def mark_dirty(conn: asyncpg.Connection, network_id: str) -> None:
    """Ask for a matching round for this network once its events have gone quiet."""
    await conn.execute(
        """
        INSERT INTO dirty_networks (network_id) VALUES ($1)
        ON CONFLICT (network_id) DO UPDATE SET last_change_at = now()
        """,
        network_id,
    )


async def apply_event(conn: asyncpg.Connection, event: Event) -> None:
    match event:
        case TrustUpserted():
            await _upsert_trust(conn, event)
        case PersonUpserted():
            await _upsert_person(conn, event.profile)
        case AvailabilityChanged():
            await _change_availability(conn, event)
        case PersonErased():
            await _erase_person(conn, event.person_id)
        case PlacementUpserted():
            await _upsert_placement(conn, event.placement)
        case PlacementWithdrawn():
            await _withdraw_placement(conn, event.placement_id)
        case MatchDecided():
            await _record_decision(conn, event)
        case _:
            pass  # not the matcher's concern (networks, its own proposals)


async def _upsert_trust(conn: asyncpg.Connection, event: TrustUpserted) -> None:
    await conn.execute(
        """
        INSERT INTO trusts (code, network_id, name, region, latitude, longitude, is_small)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (code) DO UPDATE SET network_id = excluded.network_id, name = excluded.name,
          region = excluded.region, latitude = excluded.latitude,
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
    await mark_dirty(conn, event.network_id)


async def _upsert_person(conn: asyncpg.Connection, profile: PersonProfile) -> None:
    previous_network = await conn.fetchval(
        "SELECT network_id FROM people WHERE id = $1", profile.person_id
    )
    await conn.execute(
        """
        INSERT INTO people (id, role, network_id, profile, capacity, hours_per_month)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (id) DO UPDATE SET role = excluded.role, network_id = excluded.network_id,
          profile = excluded.profile, capacity = excluded.capacity,
          hours_per_month = excluded.hours_per_month
        """,
        profile.person_id,
        profile.role.value,
        profile.network_id,
        profile.model_dump(mode="json"),
        profile.capacity,
        profile.hours_per_month,
    )
    for network_id in {profile.network_id, previous_network} - {None}:
        await mark_dirty(conn, network_id)


async def _change_availability(conn: asyncpg.Connection, event: AvailabilityChanged) -> None:
    network_id = await conn.fetchval(
        """
        UPDATE people SET paused = $2, capacity = $3, hours_per_month = $4
        WHERE id = $1 RETURNING network_id
        """,
        event.person_id,
        event.paused,
        event.capacity,
        event.hours_per_month,
    )
    if network_id is not None:
        await mark_dirty(conn, network_id)


async def _erase_person(conn: asyncpg.Connection, person_id: UUID) -> None:
    """Forget the person and every proposal that names them."""
    network_id = await conn.fetchval(
        "DELETE FROM people WHERE id = $1 RETURNING network_id", person_id
    )
    await conn.execute("DELETE FROM proposals WHERE provider_id = $1 OR mentee_id = $1", person_id)
    if network_id is not None:
        await mark_dirty(conn, network_id)


async def _upsert_placement(conn: asyncpg.Connection, placement: PlacementProfile) -> None:
    await conn.execute(
        """
        INSERT INTO placements (id, network_id, profile) VALUES ($1, $2, $3)
        ON CONFLICT (id) DO UPDATE SET network_id = excluded.network_id, profile = excluded.profile
        """,
        placement.placement_id,
        placement.network_id,
        placement.model_dump(mode="json"),
    )
    await mark_dirty(conn, placement.network_id)


async def _withdraw_placement(conn: asyncpg.Connection, placement_id: UUID) -> None:
    network_id = await conn.fetchval(
        "DELETE FROM placements WHERE id = $1 RETURNING network_id", placement_id
    )
    await conn.execute(
        "UPDATE proposals SET status = 'withdrawn' WHERE provider_id = $1 AND status = 'pending'",
        placement_id,
    )
    if network_id is not None:
        await mark_dirty(conn, network_id)


async def _record_decision(conn: asyncpg.Connection, event: MatchDecided) -> None:
    network_id = await conn.fetchval(
        """
        UPDATE proposals SET status = $2, decided_at = $3
        WHERE match_id = $1 AND status = 'pending' RETURNING network_id
        """,
        event.match_id,
        "approved" if event.approved else "rejected",
        event.occurred_at,
    )
    if network_id is not None:
        await mark_dirty(conn, network_id)


async def load_round_input(conn: asyncpg.Connection, network_id: str) -> MatchingInput:
    """What is still open in the network: capacity not taken by live proposals, mentees not
    yet matched, pairs rejected before."""
    trusts = await conn.fetch("SELECT * FROM trusts WHERE network_id = $1", network_id)
    people = await conn.fetch(
        """
        SELECT p.*, coalesce(sum(1) FILTER (WHERE l.provider_id = p.id), 0) AS provided,
               coalesce(sum(1) FILTER (WHERE l.mentee_id = p.id), 0) AS received
        FROM people p
        LEFT JOIN proposals l
          ON (l.provider_id = p.id OR l.mentee_id = p.id) AND l.status = ANY($2::text[])
        WHERE p.network_id = $1
        GROUP BY p.id
        """,
        network_id,
        list(LIVE),
    )
    placements = await conn.fetch(
        """
        SELECT pl.profile, count(l.match_id) AS taken FROM placements pl
        LEFT JOIN proposals l ON l.provider_id = pl.id AND l.status = ANY($2::text[])
        WHERE pl.network_id = $1 GROUP BY pl.id
        """,
        network_id,
        list(LIVE),
    )
    rejected = await conn.fetch(
        "SELECT provider_id, mentee_id FROM proposals"
        " WHERE network_id = $1 AND status = 'rejected'",
        network_id,
    )
    return MatchingInput(
        trusts=tuple(_trust(row) for row in trusts),
        mentors=tuple(
            m for row in people if row["role"] == Role.MENTOR and (m := _open_mentor(row))
        ),
        mentees=tuple(
            _mentee(row) for row in people if row["role"] == Role.MENTEE and row["received"] == 0
        ),
        placements=tuple(p for row in placements if (p := _open_placement(row))),
        rejected_pairs=frozenset((str(r["provider_id"]), str(r["mentee_id"])) for r in rejected),
    )


def _trust(row: asyncpg.Record) -> TrustInfo:
    return TrustInfo(
        code=row["code"],
        name=row["name"],
        region=row["region"],
        latitude=row["latitude"],
        longitude=row["longitude"],
        is_small=row["is_small"],
    )


def _open_mentor(row: asyncpg.Record) -> MentorInput | None:
    remaining = row["capacity"] - row["provided"]
    if row["paused"] or remaining <= 0:
        return None
    profile = PersonProfile.model_validate(row["profile"])
    return MentorInput(
        id=str(profile.person_id),
        trust_code=profile.trust_code,
        region=profile.region,
        skills=profile.skills,
        capacity=remaining,
        hours_per_month=row["hours_per_month"],
        mode=profile.mode,
        bio=profile.bio,
    )


def _mentee(row: asyncpg.Record) -> MenteeInput:
    profile = PersonProfile.model_validate(row["profile"])
    return MenteeInput(
        id=str(profile.person_id),
        trust_code=profile.trust_code,
        region=profile.region,
        gaps=profile.gaps,
        working_pattern=profile.working_pattern,
        sector=profile.sector,
        mode=profile.mode,
        goals=profile.goals,
        open_to_secondment=profile.open_to_secondment,
    )


def _open_placement(row: asyncpg.Record) -> PlacementInput | None:
    placement = PlacementProfile.model_validate(row["profile"])
    remaining = placement.places - row["taken"]
    if remaining <= 0:
        return None
    return PlacementInput(
        id=str(placement.placement_id),
        host_trust_code=placement.host_trust_code,
        region=placement.region,
        role=placement.role,
        skills_developed=placement.skills_developed,
        places=remaining,
        months=placement.months,
        fte=placement.fte,
    )

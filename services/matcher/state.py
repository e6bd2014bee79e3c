"""The matcher's own tables: how each event changes them, and what a round reads from them."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg
from pydantic import BaseModel, ConfigDict

from services.matcher.engine.contract import (
    MatchingInput,
    MenteeInput,
    MentorInput,
    PendingProposal,
    PlacementInput,
    TrustInfo,
)
from shared.consuming import Contexts, context_of, entity_layers
from shared.events import (
    AvailabilityChanged,
    Event,
    MatchDecided,
    MatchWithdrawn,
    PersonErased,
    PersonProfile,
    PersonUpserted,
    PlacementProfile,
    PlacementUpserted,
    PlacementWithdrawn,
    TrustUpserted,
)
from shared.matching import MatchKind
from shared.observability import metrics
from shared.observability.context import Carrier, attached, capture
from shared.outbox import add_to_outbox
from shared.people import Mode, Role, Sector, SkillGap, SkillLevel, WorkingPattern
from shared.regions import Region


async def mark_dirty_many(conn: asyncpg.Connection, marks: Mapping[str, Carrier]) -> None:
    """``mark_dirty`` for many networks at once, each with the carrier of its latest change."""
    network_ids = sorted(marks)  # one lock order for every writer: no deadlocks
    await conn.execute(
        """
        INSERT INTO dirty_networks (network_id, trace_context)
        SELECT m.network_id, m.trace_context::jsonb
        FROM unnest($1::text[], $2::text[]) AS m(network_id, trace_context)
        ON CONFLICT (network_id) DO UPDATE
          SET last_change_at = now(), trace_context = excluded.trace_context
        """,
        network_ids,
        [json.dumps(marks[n]) for n in network_ids],
    )


async def mark_dirty(conn: asyncpg.Connection, network_id: str) -> None:
    """Ask for a matching round for this network once its events have gone quiet. The round
    carries on the correlation id and trace of the latest change that asked for it."""
    await conn.execute(
        """
        INSERT INTO dirty_networks (network_id, trace_context) VALUES ($1, $2)
        ON CONFLICT (network_id) DO UPDATE
          SET last_change_at = now(), trace_context = excluded.trace_context
        """,
        network_id,
        capture(),
    )


async def publish_withdrawals(
    conn: asyncpg.Connection, rows: list[asyncpg.Record], reason: str
) -> None:
    """Tell everyone (coordinators, the notifier) that these pending proposals no longer stand."""
    events = [
        MatchWithdrawn(
            entity_key=str(r["match_id"]),
            match_id=r["match_id"],
            network_id=r["network_id"],
            reason=reason,
        )
        for r in rows
    ]
    if events:
        await add_to_outbox(conn, events)


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


async def apply_events(
    conn: asyncpg.Connection, events: Sequence[Event], contexts: Contexts | None = None
) -> None:
    """The effect of ``apply_event`` on each event in turn, with fewer round trips: in each
    layer (every entity at most once, see ``entity_layers``) profiles and availability changes
    are written with one statement per kind, and their networks marked dirty with one more.

    Each event counts as its own change (``contexts``: its message's carrier): a network's
    dirty mark keeps the carrier of the latest event that touched it, in the order applied, as
    ``mark_dirty`` does one event at a time; other events are applied under their carrier."""
    position = {event.event_id: i for i, event in enumerate(events)}
    for layer in entity_layers(events):
        upserts = [e for e in layer if isinstance(e, PersonUpserted)]
        changes = [e for e in layer if isinstance(e, AvailabilityChanged)]
        touched = [
            *await _upsert_people(conn, upserts),
            *await _change_availabilities(conn, changes),
        ]
        touched.sort(key=lambda pair: position[pair[0].event_id])
        marks = {network_id: context_of(event, contexts) for event, network_id in touched}
        if marks:
            await mark_dirty_many(conn, marks)
        for event in layer:
            if not isinstance(event, PersonUpserted | AvailabilityChanged):
                with attached(context_of(event, contexts)):
                    await apply_event(conn, event)


async def _upsert_people(
    conn: asyncpg.Connection, upserts: list[PersonUpserted]
) -> list[tuple[Event, str]]:
    """Upsert many people at once; returns each event with a network its person is in or has
    left."""
    if not upserts:
        return []
    profiles = [e.profile for e in upserts]
    previous = {
        row["id"]: row["network_id"]
        for row in await conn.fetch(
            "SELECT id, network_id FROM people WHERE id = ANY($1::uuid[])",
            [p.person_id for p in profiles],
        )
    }
    # The profile goes as JSON text serialised by pydantic (in Rust), cast by the server.
    await conn.executemany(
        """
        INSERT INTO people (id, role, network_id, profile, capacity, hours_per_month)
        VALUES ($1, $2, $3, $4::text::jsonb, $5, $6)
        ON CONFLICT (id) DO UPDATE SET role = excluded.role, network_id = excluded.network_id,
          profile = excluded.profile, capacity = excluded.capacity,
          hours_per_month = excluded.hours_per_month
        """,
        [
            (
                p.person_id,
                p.role.value,
                p.network_id,
                p.model_dump_json(),
                p.capacity,
                p.hours_per_month,
            )
            for p in profiles
        ],
    )
    touched: list[tuple[Event, str]] = []
    for event in upserts:
        left = previous.get(event.profile.person_id)
        touched += [(event, n) for n in {event.profile.network_id, left} - {None} if n]
    return touched


async def _change_availabilities(
    conn: asyncpg.Connection, changes: list[AvailabilityChanged]
) -> list[tuple[Event, str]]:
    if not changes:
        return []
    rows = await conn.fetch(
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
    by_person = {c.person_id: c for c in changes}  # a layer has each person at most once
    return [(by_person[row["id"]], row["network_id"]) for row in rows]


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
    removed = await conn.fetch(
        """
        DELETE FROM proposals WHERE provider_id = $1 OR mentee_id = $1
        RETURNING match_id, network_id, status
        """,
        person_id,
    )
    pending = [row for row in removed if row["status"] == "pending"]
    await publish_withdrawals(conn, pending, "a participant left Bridgework")
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
    withdrawn = await conn.fetch(
        """
        UPDATE proposals SET status = 'withdrawn' WHERE provider_id = $1 AND status = 'pending'
        RETURNING match_id, network_id
        """,
        placement_id,
    )
    await publish_withdrawals(conn, withdrawn, "the placement was withdrawn")
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
        metrics.DECISIONS.labels(outcome="approved" if event.approved else "rejected").inc()
        await mark_dirty(conn, network_id)


PairKey = tuple[str, str, str]  # (kind, provider id, mentee id)


@dataclass(frozen=True)
class RoundInput:
    data: MatchingInput
    pending_match_ids: dict[PairKey, UUID]


async def load_round_input(conn: asyncpg.Connection, network_id: str) -> RoundInput:
    """What the network's round works with: capacity not taken by approved matches, mentees
    still seeking each kind of match, pending proposals (kept unless clearly beaten), pairs
    rejected before."""
    trusts = await conn.fetch("SELECT * FROM trusts WHERE network_id = $1", network_id)
    people = await conn.fetch(
        f"""
        SELECT {PEOPLE_COLUMNS},
          (SELECT count(*) FROM proposals a
           WHERE a.provider_id = p.id AND a.status = 'approved') AS approved_as_provider,
          (SELECT count(*) FROM proposals a WHERE a.mentee_id = p.id AND a.status = 'approved'
             AND a.kind = 'mentoring') AS approved_mentoring,
          (SELECT count(*) FROM proposals a WHERE a.mentee_id = p.id AND a.status = 'approved'
             AND a.kind = 'secondment') AS approved_secondment
        FROM people p WHERE p.network_id = $1
        """,
        network_id,
    )
    placements = await conn.fetch(
        """
        SELECT pl.profile, (SELECT count(*) FROM proposals a
                            WHERE a.provider_id = pl.id AND a.status = 'approved') AS taken
        FROM placements pl WHERE pl.network_id = $1
        """,
        network_id,
    )
    proposals = await conn.fetch(
        """
        SELECT match_id, kind, provider_id, mentee_id, exchange_id, status FROM proposals
        WHERE network_id = $1 AND status IN ('pending', 'rejected')
        """,
        network_id,
    )
    pending = [row for row in proposals if row["status"] == "pending"]
    data = MatchingInput(
        trusts=tuple(_trust(row) for row in trusts),
        mentors=tuple(
            m for row in people if row["role"] == Role.MENTOR and (m := _open_mentor(row))
        ),
        mentees=tuple(
            e for row in people if row["role"] == Role.MENTEE and (e := _open_mentee(row))
        ),
        placements=tuple(p for row in placements if (p := _open_placement(row))),
        rejected_pairs=frozenset(
            (str(r["provider_id"]), str(r["mentee_id"]))
            for r in proposals
            if r["status"] == "rejected"
        ),
        pending=tuple(
            PendingProposal(
                kind=MatchKind(r["kind"]),
                provider_id=str(r["provider_id"]),
                mentee_id=str(r["mentee_id"]),
                exchange_id=r["exchange_id"],
            )
            for r in pending
        ),
    )
    return RoundInput(
        data=data,
        pending_match_ids={
            (r["kind"], str(r["provider_id"]), str(r["mentee_id"])): r["match_id"] for r in pending
        },
    )


def _trust(row: asyncpg.Record, network_id: str | None = None) -> TrustInfo:
    """``network_id`` when the trust goes into an input of several networks (arrivals)."""
    return _trust_info(
        row["code"],
        row["name"],
        row["region"],
        row["latitude"],
        row["longitude"],
        row["is_small"],
        network_id,
    )


@functools.lru_cache(maxsize=10_000)
def _trust_info(
    code: str,
    name: str,
    region: str,
    latitude: float | None,
    longitude: float | None,
    is_small: bool,
    network_id: str | None,
) -> TrustInfo:
    # Trusts are re-read by every batch of arrivals and every round, and rarely change.
    return TrustInfo(
        code=code,
        name=name,
        region=Region(region),
        latitude=latitude,
        longitude=longitude,
        is_small=is_small,
        network_id=network_id,
    )


class StoredProfile(BaseModel):
    """The part of a stored profile (a ``PersonProfile``, validated when its event arrived)
    that matching reads: not the name or email address, whose validation (EmailStr) was most
    of the cost of loading the people of a batch's networks."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    person_id: UUID
    trust_code: str
    region: Region
    mode: Mode
    working_pattern: WorkingPattern
    sector: Sector
    skills: tuple[SkillLevel, ...] = ()
    bio: str = ""
    gaps: tuple[SkillGap, ...] = ()
    goals: str = ""
    open_to_secondment: bool = False


# The people columns a round reads, the profile as JSON text (parsed and cached below).
PEOPLE_COLUMNS = (
    "p.id, p.role, p.network_id, p.paused, p.capacity, p.hours_per_month,"
    " p.profile::text AS profile_json"
)


@functools.lru_cache(maxsize=20_000)
def stored_profile(profile_json: str) -> StoredProfile:
    """A stored profile, parsed once per version: every batch of arrivals and every round
    reads its networks' mentors again, and their profiles rarely change between reads."""
    return StoredProfile.model_validate_json(profile_json)


@functools.lru_cache(maxsize=20_000)
def _mentor_input(profile_json: str, capacity: float, hours_per_month: float) -> MentorInput:
    profile = stored_profile(profile_json)
    return MentorInput(
        id=str(profile.person_id),
        trust_code=profile.trust_code,
        region=profile.region,
        skills=profile.skills,
        capacity=capacity,
        hours_per_month=hours_per_month,
        mode=profile.mode,
        bio=profile.bio,
    )


def _open_mentor(row: asyncpg.Record) -> MentorInput | None:
    remaining = row["capacity"] - row["approved_as_provider"]
    if row["paused"] or remaining <= 0:
        return None
    return _mentor_input(row["profile_json"], remaining, row["hours_per_month"])


def _open_mentee(row: asyncpg.Record) -> MenteeInput | None:
    """The mentee as far as they still seek a match: an approved mentor or secondment ends
    that kind of search, not the other."""
    if row["paused"]:  # withdrawn (self-service): matched with nobody
        return None
    profile = stored_profile(row["profile_json"])
    seeking_mentoring = row["approved_mentoring"] == 0
    open_to_secondment = profile.open_to_secondment and row["approved_secondment"] == 0
    if not (seeking_mentoring or open_to_secondment):
        return None
    return MenteeInput(
        id=str(profile.person_id),
        trust_code=profile.trust_code,
        region=profile.region,
        gaps=profile.gaps,
        working_pattern=profile.working_pattern,
        sector=profile.sector,
        mode=profile.mode,
        goals=profile.goals,
        open_to_secondment=open_to_secondment,
        seeking_mentoring=seeking_mentoring,
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

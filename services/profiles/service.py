"""The profiles service's use cases. Each stores its change and the matching event in one
transaction (the outbox), so a change is never stored without being published."""

from __future__ import annotations

from uuid import UUID, uuid4

import asyncpg

from services.profiles.schemas import (
    AvailabilityIn,
    MenteeIn,
    MentorIn,
    NetworkIn,
    PersonOut,
    PlacementIn,
    PlacementOut,
    TrustIn,
)
from shared.events import (
    AvailabilityChanged,
    NetworkUpserted,
    PersonErased,
    PersonProfile,
    PersonUpserted,
    PlacementProfile,
    PlacementUpserted,
    PlacementWithdrawn,
    TrustUpserted,
)
from shared.outbox import add_to_outbox
from shared.people import Role
from shared.regions import Region


class NotFound(LookupError):
    def __init__(self, what: str, key: object) -> None:
        super().__init__(f"{what} {key} not found")


class Invalid(ValueError):
    """A request that is well-formed but refers to something that does not exist."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Conflict(ValueError):
    pass


async def upsert_network(conn: asyncpg.Connection, network_id: str, data: NetworkIn) -> None:
    async with conn.transaction():
        coordinators = [c.model_dump(mode="json") for c in data.coordinators]
        await conn.execute(
            """
            INSERT INTO networks (id, name, coordinators) VALUES ($1, $2, $3)
            ON CONFLICT (id) DO UPDATE
              SET name = excluded.name, coordinators = excluded.coordinators, updated_at = now()
            """,
            network_id,
            data.name,
            coordinators,
        )
        event = NetworkUpserted(
            entity_key=network_id,
            network_id=network_id,
            name=data.name,
            coordinators=tuple(data.coordinators),
        )
        await add_to_outbox(conn, [event])


async def upsert_trust(conn: asyncpg.Connection, code: str, data: TrustIn) -> None:
    async with conn.transaction():
        if not await conn.fetchval("SELECT 1 FROM networks WHERE id = $1", data.network_id):
            raise Invalid("network_id", f"unknown network {data.network_id!r}")
        await conn.execute(
            """
            INSERT INTO trusts
              (code, name, region, network_id, latitude, longitude, is_small, contact_email)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (code) DO UPDATE SET name = excluded.name, region = excluded.region,
              network_id = excluded.network_id, latitude = excluded.latitude,
              longitude = excluded.longitude, is_small = excluded.is_small,
              contact_email = excluded.contact_email, updated_at = now()
            """,
            code,
            data.name,
            data.region.value,
            data.network_id,
            data.latitude,
            data.longitude,
            data.is_small,
            data.contact_email,
        )
        event = TrustUpserted(entity_key=code, trust_code=code, **data.model_dump())
        await add_to_outbox(conn, [event])


async def _trust_home(conn: asyncpg.Connection, code: str, field: str) -> asyncpg.Record:
    trust = await conn.fetchrow("SELECT region, network_id FROM trusts WHERE code = $1", code)
    if trust is None:
        raise Invalid(field, f"unknown trust {code!r}: add it with PUT /trusts/{code} first")
    return trust


def _person_event(
    person_id: UUID, data: MentorIn | MenteeIn, trust: asyncpg.Record, paused: bool
) -> PersonUpserted:
    role = Role.MENTOR if isinstance(data, MentorIn) else Role.MENTEE
    fields = data.model_dump()
    if paused:
        fields["capacity"] = 0.0  # a paused mentor keeps their stated capacity here, not there
    profile = PersonProfile(
        person_id=person_id,
        role=role,
        network_id=trust["network_id"],
        region=Region(trust["region"]),
        **fields,
    )
    return PersonUpserted(entity_key=str(person_id), profile=profile)


async def save_person(
    conn: asyncpg.Connection, data: MentorIn | MenteeIn, person_id: UUID | None = None
) -> UUID:
    """Create a person (no id) or replace one's profile; publish person.upserted."""
    role = Role.MENTOR if isinstance(data, MentorIn) else Role.MENTEE
    async with conn.transaction():
        trust = await _trust_home(conn, data.trust_code, "trust_code")
        if person_id is None:
            person_id = uuid4()
            paused = False
            try:
                await conn.execute(
                    "INSERT INTO people (id, role, email, trust_code, details)"
                    " VALUES ($1, $2, $3, $4, $5)",
                    person_id,
                    role.value,
                    data.email,
                    data.trust_code,
                    data.model_dump(mode="json"),
                )
            except asyncpg.UniqueViolationError as error:
                raise Conflict(f"a {role.value} with email {data.email} already exists") from error
        else:
            row = await conn.fetchrow(
                "UPDATE people SET email = $3, trust_code = $4, details = $5, updated_at = now()"
                " WHERE id = $1 AND role = $2 RETURNING paused",
                person_id,
                role.value,
                data.email,
                data.trust_code,
                data.model_dump(mode="json"),
            )
            if row is None:
                raise NotFound(role.value, person_id)
            paused = row["paused"]
        await add_to_outbox(conn, [_person_event(person_id, data, trust, paused)])
    return person_id


def _details(role: str, details: dict[str, object]) -> MentorIn | MenteeIn:
    return (
        MentorIn.model_validate(details)
        if role == Role.MENTOR
        else MenteeIn.model_validate(details)
    )


async def get_person(conn: asyncpg.Connection, person_id: UUID) -> PersonOut:
    row = await conn.fetchrow("SELECT role, paused, details FROM people WHERE id = $1", person_id)
    if row is None:
        raise NotFound("person", person_id)
    return PersonOut(
        id=person_id,
        role=Role(row["role"]),
        paused=row["paused"],
        details=_details(row["role"], row["details"]),
    )


async def set_availability(conn: asyncpg.Connection, person_id: UUID, data: AvailabilityIn) -> None:
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT role, details FROM people WHERE id = $1 FOR UPDATE", person_id
        )
        if row is None:
            raise NotFound("person", person_id)
        if row["role"] != Role.MENTOR:
            raise Invalid("person_id", "availability applies to mentors only")
        mentor = MentorIn.model_validate(row["details"])
        mentor = mentor.model_copy(
            update={
                k: v
                for k, v in (("capacity", data.capacity), ("hours_per_month", data.hours_per_month))
                if v is not None
            }
        )
        await conn.execute(
            "UPDATE people SET paused = $2, details = $3, updated_at = now() WHERE id = $1",
            person_id,
            data.paused,
            mentor.model_dump(mode="json"),
        )
        event = AvailabilityChanged(
            entity_key=str(person_id),
            person_id=person_id,
            paused=data.paused,
            capacity=0.0 if data.paused else mentor.capacity,
            hours_per_month=0.0 if data.paused else mentor.hours_per_month,
        )
        await add_to_outbox(conn, [event])


async def erase_person(conn: asyncpg.Connection, person_id: UUID) -> None:
    """UK GDPR erasure: delete the row and every unpublished copy of their data; tell everyone."""
    async with conn.transaction():
        deleted = await conn.fetchval("DELETE FROM people WHERE id = $1 RETURNING id", person_id)
        if deleted is None:
            raise NotFound("person", person_id)
        await conn.execute(
            "DELETE FROM outbox WHERE message_key = $1 AND topic = $2",
            str(person_id),
            PersonUpserted.topic.value,
        )
        await add_to_outbox(conn, [PersonErased(entity_key=str(person_id), person_id=person_id)])


def _placement_event(
    placement_id: UUID, data: PlacementIn, trust: asyncpg.Record
) -> PlacementUpserted:
    placement = PlacementProfile(
        placement_id=placement_id,
        network_id=trust["network_id"],
        region=Region(trust["region"]),
        **data.model_dump(),
    )
    return PlacementUpserted(entity_key=str(placement_id), placement=placement)


async def save_placement(
    conn: asyncpg.Connection, data: PlacementIn, placement_id: UUID | None = None
) -> UUID:
    async with conn.transaction():
        trust = await _trust_home(conn, data.host_trust_code, "host_trust_code")
        details = data.model_dump(mode="json")
        if placement_id is None:
            placement_id = uuid4()
            await conn.execute(
                "INSERT INTO placements (id, host_trust_code, details) VALUES ($1, $2, $3)",
                placement_id,
                data.host_trust_code,
                details,
            )
        else:
            updated = await conn.fetchval(
                "UPDATE placements SET host_trust_code = $2, details = $3, updated_at = now()"
                " WHERE id = $1 AND withdrawn_at IS NULL RETURNING id",
                placement_id,
                data.host_trust_code,
                details,
            )
            if updated is None:
                raise NotFound("open placement", placement_id)
        await add_to_outbox(conn, [_placement_event(placement_id, data, trust)])
    return placement_id


async def get_placement(conn: asyncpg.Connection, placement_id: UUID) -> PlacementOut:
    row = await conn.fetchrow(
        "SELECT details, withdrawn_at FROM placements WHERE id = $1", placement_id
    )
    if row is None:
        raise NotFound("placement", placement_id)
    return PlacementOut(
        id=placement_id,
        withdrawn=row["withdrawn_at"] is not None,
        details=PlacementIn.model_validate(row["details"]),
    )


async def withdraw_placement(conn: asyncpg.Connection, placement_id: UUID) -> None:
    async with conn.transaction():
        withdrawn = await conn.fetchval(
            "UPDATE placements SET withdrawn_at = now() WHERE id = $1 AND withdrawn_at IS NULL"
            " RETURNING id",
            placement_id,
        )
        if withdrawn is None:
            raise NotFound("open placement", placement_id)
        event = PlacementWithdrawn(entity_key=str(placement_id), placement_id=placement_id)
        await add_to_outbox(conn, [event])


async def get_network(conn: asyncpg.Connection, network_id: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT id, name, coordinators FROM networks WHERE id = $1", network_id
    )
    if row is None:
        raise NotFound("network", network_id)
    return row


async def get_trust(conn: asyncpg.Connection, code: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT code, name, region, network_id, latitude, longitude, is_small, contact_email"
        " FROM trusts WHERE code = $1",
        code,
    )
    if row is None:
        raise NotFound("trust", code)
    return row

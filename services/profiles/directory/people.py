"""Mentors and mentees: their profiles, availability and erasure. Each use case stores its change
and the matching event in one transaction (the outbox), so a change is never stored without
being published."""

from __future__ import annotations

from uuid import UUID, uuid4

import asyncpg

from services.profiles.api.schemas import AvailabilityIn, MenteeIn, MentorIn, PersonOut
from services.profiles.directory.errors import Conflict, Invalid, NotFound
from services.profiles.directory.trusts import trust_home
from shared.events import AvailabilityChanged, PersonErased, PersonProfile, PersonUpserted
from shared.outbox import add_to_outbox
from shared.people import Role
from shared.regions import Region


def person_event(
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
    """Create a person (no id) or replace one's profile; publish person.upserted. An address is
    unique per network and role: the same address in another network is another person."""
    role = Role.MENTOR if isinstance(data, MentorIn) else Role.MENTEE
    async with conn.transaction():
        trust = await trust_home(conn, data.trust_code, "trust_code")
        try:
            if person_id is None:
                person_id = uuid4()
                paused = False
                await conn.execute(
                    "INSERT INTO people (id, role, email, trust_code, network_id, details)"
                    " VALUES ($1, $2, $3, $4, $5, $6)",
                    person_id,
                    role.value,
                    data.email,
                    data.trust_code,
                    trust["network_id"],
                    data.model_dump(mode="json"),
                )
            else:
                row = await conn.fetchrow(
                    "UPDATE people SET email = $3, trust_code = $4, network_id = $5,"
                    " details = $6, updated_at = now()"
                    " WHERE id = $1 AND role = $2 RETURNING paused",
                    person_id,
                    role.value,
                    data.email,
                    data.trust_code,
                    trust["network_id"],
                    data.model_dump(mode="json"),
                )
                if row is None:
                    raise NotFound(role.value, person_id)
                paused = row["paused"]
        except asyncpg.UniqueViolationError as error:
            # Only the trust's own network is searched: nothing of another network is told.
            raise Conflict(
                f"a {role.value} with email {data.email} already exists in network"
                f" {trust['network_id']}"
            ) from error
        await add_to_outbox(conn, [person_event(person_id, data, trust, paused)])
    return person_id


def person_details(role: str, details: dict[str, object]) -> MentorIn | MenteeIn:
    return (
        MentorIn.model_validate(details)
        if role == Role.MENTOR
        else MenteeIn.model_validate(details)
    )


def availability_event(
    person_id: UUID, data: MentorIn | MenteeIn, paused: bool
) -> AvailabilityChanged:
    """A mentor's capacity and hours while available (none while paused); a mentee has none."""
    capacity, hours = 0.0, 0.0
    if isinstance(data, MentorIn) and not paused:
        capacity, hours = data.capacity, data.hours_per_month
    return AvailabilityChanged(
        entity_key=str(person_id),
        person_id=person_id,
        paused=paused,
        capacity=capacity,
        hours_per_month=hours,
    )


async def get_person(conn: asyncpg.Connection, person_id: UUID, lock: bool = False) -> PersonOut:
    """``lock``: hold the row until the transaction ends (a PUT's If-Match check)."""
    row = await conn.fetchrow(
        "SELECT role, paused, details FROM people WHERE id = $1" + (" FOR UPDATE" if lock else ""),
        person_id,
    )
    if row is None:
        raise NotFound("person", person_id)
    return PersonOut(
        id=person_id,
        role=Role(row["role"]),
        paused=row["paused"],
        details=person_details(row["role"], row["details"]),
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
            # Resumed, a withdrawn mentor takes part again too.
            "UPDATE people SET paused = $2, withdrawn = withdrawn AND $2, details = $3,"
            " updated_at = now() WHERE id = $1",
            person_id,
            data.paused,
            mentor.model_dump(mode="json"),
        )
        event = availability_event(person_id, mentor, data.paused)
        if data.paused and data.paused_until is not None:  # the mentor is reminded that day
            event = event.model_copy(update={"paused_until": data.paused_until})
        await add_to_outbox(conn, [event])


async def set_taking_part(conn: asyncpg.Connection, person_id: UUID, *, taking_part: bool) -> None:
    """Withdraw (stop taking part: no capacity, so the matcher matches nobody with them and
    withdraws their pending proposals) or take part again (a mentor's stated capacity back).
    A withdrawn person is paused and withdrawn; a mentor's pause alone is set_availability."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "UPDATE people SET paused = $2, withdrawn = $2, updated_at = now() WHERE id = $1"
            " RETURNING role, details",
            person_id,
            not taking_part,
        )
        if row is None:
            raise NotFound("person", person_id)
        capacity = hours = 0.0
        if taking_part and row["role"] == Role.MENTOR:
            mentor = MentorIn.model_validate(row["details"])
            capacity, hours = mentor.capacity, mentor.hours_per_month
        event = AvailabilityChanged(
            entity_key=str(person_id),
            person_id=person_id,
            paused=not taking_part,
            capacity=capacity,
            hours_per_month=hours,
        )
        await add_to_outbox(conn, [event])


async def erase_person(conn: asyncpg.Connection, person_id: UUID) -> None:
    """UK GDPR erasure: delete the row and every unpublished copy of their data; tell everyone."""
    async with conn.transaction():
        deleted = await conn.fetchval("DELETE FROM people WHERE id = $1 RETURNING id", person_id)
        if deleted is None:
            raise NotFound("person", person_id)
        # Their matches' check-in notes and closing reasons go with them.
        await conn.execute(
            "DELETE FROM match_life WHERE match_id IN (SELECT match_id FROM proposals"
            " WHERE provider_id = $1 OR mentee_id = $1)",
            person_id,
        )
        await conn.execute(
            "DELETE FROM outbox WHERE message_key = $1 AND topic = $2",
            str(person_id),
            PersonUpserted.topic.value,
        )
        await add_to_outbox(conn, [PersonErased(entity_key=str(person_id), person_id=person_id)])


async def set_open_to_secondment(
    conn: asyncpg.Connection, person_id: UUID, trust_code: str, *, open_to_secondment: bool
) -> bool:
    """A trust puts one of its mentees forward for secondment (or takes them off); returns
    False when the person is not a mentee of that trust. Republished as person.upserted."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT details FROM people WHERE id = $1 AND role = 'mentee' AND trust_code = $2"
            " FOR UPDATE",
            person_id,
            trust_code,
        )
        if row is None:
            return False
        mentee = MenteeIn.model_validate(row["details"])
        mentee = mentee.model_copy(update={"open_to_secondment": open_to_secondment})
        await save_person(conn, mentee, person_id)
    return True

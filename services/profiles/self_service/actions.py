"""What a participant's self-service link can do, as use cases: request a link, and pause,
resume, withdraw or be erased (each audited as ``participant:<id>``)."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

import asyncpg

from services.profiles.accounts.audit import record_audit
from services.profiles.api.schemas import AvailabilityIn
from services.profiles.directory import people
from shared.events import SelfServiceLinkRequested
from shared.outbox import add_to_outbox
from shared.people import Role

MAX_EMAIL_LENGTH = 320
LINK_REQUEST_INTERVAL_SECONDS = 300.0


class Action(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    WITHDRAW = "withdraw"
    ERASE = "erase"


def allowed_actions(role: Role, paused: bool) -> list[Action]:
    """What a participant can do now: mentors pause and resume; anyone who takes part can
    withdraw; anyone withdrawn can take part again; anyone can ask to be erased."""
    if paused:
        return [Action.RESUME, Action.ERASE]
    if role is Role.MENTOR:
        return [Action.PAUSE, Action.WITHDRAW, Action.ERASE]
    return [Action.WITHDRAW, Action.ERASE]


async def request_link(conn: asyncpg.Connection, email: str) -> int:
    """Publish a link request for each person with this address (a mentor and a mentee, and the
    people of several networks, may share one; each link manages its own participation);
    returns how many, which the page never shows. At most one link per person every few
    minutes, so the form cannot be used to flood someone's inbox."""
    found = await conn.fetch(
        """
        SELECT id FROM people p WHERE lower(email) = lower($1) AND NOT EXISTS (
          SELECT 1 FROM outbox o WHERE o.message_key = p.id::text
            AND o.payload->>'event_type' = $2
            AND o.created_at > now() - make_interval(secs => $3))
        """,
        email.strip()[:MAX_EMAIL_LENGTH],
        SelfServiceLinkRequested.model_fields["event_type"].default,
        LINK_REQUEST_INTERVAL_SECONDS,
    )
    await add_to_outbox(
        conn,
        [SelfServiceLinkRequested(entity_key=str(row["id"]), person_id=row["id"]) for row in found],
    )
    return len(found)


async def participant(
    conn: asyncpg.Connection, person_id: UUID, lock: bool = False
) -> tuple[Role, bool, str] | None:
    row = await conn.fetchrow(
        "SELECT role, paused, details->>'name' AS name FROM people WHERE id = $1"
        + (" FOR UPDATE" if lock else ""),
        person_id,
    )
    return None if row is None else (Role(row["role"]), row["paused"], row["name"])


AUDIT_ACTIONS = {
    Action.PAUSE: "participant.paused",
    Action.RESUME: "participant.resumed",
    Action.WITHDRAW: "participant.withdrew",
    Action.ERASE: "person.erased",
}


async def perform(conn: asyncpg.Connection, person_id: UUID, role: Role, action: Action) -> None:
    """Carry out the action through the profiles use cases, audited in the same transaction."""
    if action is Action.ERASE:
        await people.erase_person(conn, person_id)
    elif role is Role.MENTOR:
        # Paused or withdrawn, a mentor's capacity goes to zero; resumed, it comes back.
        await people.set_availability(
            conn, person_id, AvailabilityIn(paused=action is not Action.RESUME)
        )
    else:
        await people.set_taking_part(conn, person_id, taking_part=action is Action.RESUME)
    await record_audit(
        conn,
        actor=f"participant:{person_id}",
        action=AUDIT_ACTIONS[action],
        subject=str(person_id),
        reason="self-service link",
    )

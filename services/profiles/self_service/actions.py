"""What a participant's self-service link can do, as use cases: request a link, and pause,
resume, withdraw or be erased (each audited as ``participant:<id>``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

import asyncpg
from starlette.datastructures import FormData

from services.profiles.accounts.audit import record_audit
from services.profiles.api.schemas import AvailabilityIn
from services.profiles.directory import people
from services.profiles.self_service import profile_form
from services.profiles.trusts import staff_requests
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


class Participation(StrEnum):
    TAKING_PART = "taking part"
    PAUSED = "paused"  # a mentor's break: no new mentees for now
    WITHDRAWN = "withdrawn"  # stopped taking part


def participation(role: Role, paused: bool, withdrawn: bool) -> Participation:
    # A mentee has no pause: paused, they withdrew (rows from before `withdrawn` existed too).
    if withdrawn or (paused and role is Role.MENTEE):
        return Participation.WITHDRAWN
    return Participation.PAUSED if paused else Participation.TAKING_PART


def allowed_actions(role: Role, state: Participation) -> list[Action]:
    """What a participant can do now: mentors pause and resume; anyone who takes part (or is
    paused) can withdraw; anyone withdrawn can take part again; anyone can ask to be erased."""
    if state is Participation.WITHDRAWN:
        return [Action.RESUME, Action.ERASE]
    if state is Participation.PAUSED:
        return [Action.RESUME, Action.WITHDRAW, Action.ERASE]
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


@dataclass(frozen=True)
class Participant:
    role: Role
    state: Participation
    name: str
    details: dict[str, Any]


async def participant(
    conn: asyncpg.Connection, person_id: UUID, lock: bool = False
) -> Participant | None:
    row = await conn.fetchrow(
        "SELECT role, paused, withdrawn, details FROM people WHERE id = $1"
        + (" FOR UPDATE" if lock else ""),
        person_id,
    )
    if row is None:
        return None
    role = Role(row["role"])
    state = participation(role, row["paused"], row["withdrawn"])
    return Participant(role, state, row["details"]["name"], row["details"])


AUDIT_ACTIONS = {
    Action.PAUSE: "participant.paused",
    Action.RESUME: "participant.resumed",
    Action.WITHDRAW: "participant.withdrew",
    Action.ERASE: "person.erased",
}


async def perform(conn: asyncpg.Connection, person_id: UUID, action: Action) -> None:
    """Carry out the action through the profiles use cases, audited in the same transaction."""
    if action is Action.ERASE:
        await people.erase_person(conn, person_id)
    elif action is Action.PAUSE:
        # Paused, a mentor's capacity goes to zero; resumed, it comes back.
        await people.set_availability(conn, person_id, AvailabilityIn(paused=True))
    else:
        await people.set_taking_part(conn, person_id, taking_part=action is Action.RESUME)
    await record_audit(
        conn,
        actor=f"participant:{person_id}",
        action=AUDIT_ACTIONS[action],
        subject=str(person_id),
        reason="self-service link",
    )


async def change_profile(
    conn: asyncpg.Connection, person_id: UUID, person: Participant, form: FormData
) -> None:
    """The participant's own edit of what they may change (profile_form.EDITABLE); the rest of
    their stored profile stays. Published as person.upserted and audited. A mentee's tick
    "open to a secondment" is a request to their home trust, not yet a candidacy."""
    editable = profile_form.EDITABLE[person.role]
    fields = {**person.details, **profile_form.form_fields(person.role, form, editable)}
    if person.role is Role.MENTEE:
        # Ticking asks the home trust (staff_requests.py); unticking needs nobody's agreement.
        asks, considered = (
            bool(fields["open_to_secondment"]),
            bool(person.details.get("open_to_secondment")),
        )
        fields["open_to_secondment"] = asks and considered
        if asks and not considered:
            await staff_requests.ask(conn, person_id)
        elif not asks:
            await staff_requests.withdraw(conn, person_id)
    profile = profile_form.read_profile(person.role, fields)
    await people.save_person(conn, profile, person_id)
    await record_audit(
        conn,
        actor=f"participant:{person_id}",
        action="participant.profile_changed",
        subject=str(person_id),
        reason="self-service link",
    )

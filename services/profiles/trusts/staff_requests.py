"""A member of staff's own request to be considered for secondment, as use cases.

The participant asks on their own page (/me); the request waits for their home trust's contact,
who agrees (the person becomes a secondment candidate: ``open_to_secondment``, republished as
person.upserted, so the matcher considers them from the next round) or declines with a reason.
The decision is audited and published (``secondment.request_decided``) in one transaction.
Until a trust agrees, the person is not a candidate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

import asyncpg

from services.profiles.accounts.audit import record_audit
from services.profiles.directory import people
from shared.events import SecondmentRequestDecided
from shared.outbox import add_to_outbox
from shared.text import recorded_reason


class RequestStatus(StrEnum):
    WAITING = "waiting"
    AGREED = "agreed"
    DECLINED = "declined"


class RequestRefused(ValueError):
    """No such request waits for this trust; the message says so, for the trust's contact."""


class ReasonNeeded(ValueError):
    """A decline without a reason (or an unreadable one); nothing was recorded."""


@dataclass(frozen=True)
class StaffRequest:
    status: RequestStatus
    reason: str
    requested_at: datetime


@dataclass(frozen=True)
class WaitingRequest:
    """A request the coordinator sees waiting on a trust."""

    person: str
    trust: str
    requested_at: datetime


async def request_of(conn: asyncpg.Connection, person_id: UUID) -> StaffRequest | None:
    row = await conn.fetchrow(
        "SELECT status, reason, requested_at FROM secondment_requests WHERE person_id = $1",
        person_id,
    )
    if row is None:
        return None
    return StaffRequest(RequestStatus(row["status"]), row["reason"], row["requested_at"])


async def ask(conn: asyncpg.Connection, person_id: UUID) -> bool:
    """The participant asks to be considered; returns False when a request already waits."""
    created = await conn.fetchval(
        """
        INSERT INTO secondment_requests (person_id, status) VALUES ($1, 'waiting')
        ON CONFLICT (person_id) DO UPDATE SET status = 'waiting', reason = '',
            requested_at = now(), decided_by = NULL, decided_at = NULL
            WHERE secondment_requests.status <> 'waiting'
        RETURNING true
        """,
        person_id,
    )
    if created:
        await record_audit(
            conn,
            actor=f"participant:{person_id}",
            action="secondment.requested",
            subject=str(person_id),
            reason="self-service link",
        )
    return bool(created)


async def withdraw(conn: asyncpg.Connection, person_id: UUID) -> None:
    """The participant no longer asks: a request still waiting goes."""
    await conn.execute(
        "DELETE FROM secondment_requests WHERE person_id = $1 AND status = 'waiting'", person_id
    )


async def decide(
    conn: asyncpg.Connection,
    *,
    trust_code: str,
    person_id: UUID,
    agree: bool,
    reason: str,
    actor: str,
) -> None:
    """The home trust's contact agrees to (or declines, with a reason) a waiting request of one
    of its own staff; another trust's member of staff is as if absent."""
    try:
        reason = recorded_reason(
            reason, None if agree else "Say why: the reason is recorded and shown to them."
        )
    except ValueError as error:
        raise ReasonNeeded(str(error)) from error
    async with conn.transaction():
        found = await conn.fetchval(
            """
            SELECT r.person_id FROM secondment_requests r JOIN people p ON p.id = r.person_id
            WHERE r.person_id = $1 AND p.trust_code = $2 AND p.role = 'mentee'
              AND r.status = 'waiting'
            FOR UPDATE OF r
            """,
            person_id,
            trust_code,
        )
        if found is None:
            raise RequestRefused("No request of this trust's staff waits for an answer here.")
        status = RequestStatus.AGREED if agree else RequestStatus.DECLINED
        await conn.execute(
            "UPDATE secondment_requests SET status = $2, reason = $3, decided_by = $4,"
            " decided_at = now() WHERE person_id = $1",
            person_id,
            status.value,
            reason,
            actor,
        )
        if agree:
            await people.set_open_to_secondment(
                conn, person_id, trust_code, open_to_secondment=True
            )
        await record_audit(
            conn,
            actor=actor,
            action=f"secondment_request.{status.value}",
            subject=str(person_id),
            reason=reason,
            details={"trust_code": trust_code},
        )
        event = SecondmentRequestDecided(
            entity_key=str(person_id),
            person_id=person_id,
            trust_code=trust_code,
            agreed=agree,
            reason=reason,
            decided_by=actor,
        )
        await add_to_outbox(conn, [event])


async def waiting_in(conn: asyncpg.Connection, network_id: str) -> list[WaitingRequest]:
    """The network's staff requests still waiting on their trust (the coordinator's view)."""
    rows = await conn.fetch(
        """
        SELECT p.details->>'name' AS person, t.name AS trust, r.requested_at
        FROM secondment_requests r
        JOIN people p ON p.id = r.person_id
        JOIN trusts t ON t.code = p.trust_code
        WHERE p.network_id = $1 AND r.status = 'waiting'
        ORDER BY r.requested_at
        """,
        network_id,
    )
    return [WaitingRequest(**dict(row)) for row in rows]

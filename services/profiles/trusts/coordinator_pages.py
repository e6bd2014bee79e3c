"""The coordinator's view of the network's trusts: each trust's contacts (add, remove), what
each secondment waits on (whose consent, until when), the staff requests waiting on their
trust, and small trusts' share of the staff sent
and received."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, ValidationError

from services.profiles.coordination.queries import network_name
from services.profiles.dependencies import Connection
from services.profiles.pages import CheckedForm, Coordinating, PageRefused, flash, render
from services.profiles.trusts import staff_requests
from services.profiles.trusts.contacts import (
    ContactRefused,
    NewContact,
    TrustContactRow,
    add_contact,
    contacts_of,
    remove_contact,
)

router = APIRouter(prefix="/dashboard/{network_id}/trusts", include_in_schema=False)


class TrustLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    is_small: bool
    contacts: list[TrustContactRow]
    sent: int
    received: int


class Waiting(BaseModel):
    """One consent a secondment waits for."""

    model_config = ConfigDict(frozen=True)

    candidate: str
    placement: str
    party: str
    trust: str
    deadline: datetime

    def overdue(self, now: datetime) -> bool:
        return self.deadline < now


async def trust_lines(conn: asyncpg.Connection, network_id: str) -> list[TrustLine]:
    rows = await conn.fetch(
        """
        SELECT t.code, t.name, t.is_small,
          (SELECT count(*) FROM secondments s WHERE s.home_trust_code = t.code
             AND s.status IN ('agreed', 'started', 'ended', 'ended_early')) AS sent,
          (SELECT count(*) FROM secondments s WHERE s.host_trust_code = t.code
             AND s.status IN ('agreed', 'started', 'ended', 'ended_early')) AS received
        FROM trusts t WHERE t.network_id = $1 ORDER BY t.name
        """,
        network_id,
    )
    return [
        TrustLine(
            **dict(row),
            contacts=await contacts_of(conn, row["code"]),
        )
        for row in rows
    ]


async def waiting(conn: asyncpg.Connection, network_id: str) -> list[Waiting]:
    rows = await conn.fetch(
        """
        SELECT mentee.details->>'name' AS candidate, pl.details->>'role' AS placement,
               c.party, t.name AS trust, c.deadline
        FROM consents c
        JOIN secondments s ON s.match_id = c.match_id
        JOIN proposals p ON p.match_id = s.match_id
        JOIN trusts t ON t.code = c.trust_code
        LEFT JOIN people mentee ON mentee.id = p.mentee_id
        LEFT JOIN placements pl ON pl.id = p.provider_id
        WHERE s.network_id = $1 AND s.status = 'awaiting_consent' AND c.answer IS NULL
        ORDER BY c.deadline, t.name
        """,
        network_id,
    )
    return [
        Waiting(
            candidate=r["candidate"] or "(no longer in Bridgework)",
            placement=r["placement"] or "",
            party=r["party"],
            trust=r["trust"],
            deadline=r["deadline"],
        )
        for r in rows
    ]


class Settled(BaseModel):
    """A secondment that will not go ahead (refused, or not agreed), and why."""

    model_config = ConfigDict(frozen=True)

    candidate: str
    placement: str
    status: str
    reason: str
    settled_at: datetime


async def not_going_ahead(conn: asyncpg.Connection, network_id: str) -> list[Settled]:
    """The network's secondments refused or not agreed in the last 30 days, latest first: a
    trust's refusal, another refusal in its exchange, or no answer by the deadline."""
    rows = await conn.fetch(
        """
        SELECT coalesce(mentee.details->>'name', '(no longer in Bridgework)') AS candidate,
               coalesce(pl.details->>'role', '') AS placement, s.status, s.reason,
               s.updated_at AS settled_at
        FROM secondments s
        JOIN proposals p ON p.match_id = s.match_id
        LEFT JOIN people mentee ON mentee.id = p.mentee_id
        LEFT JOIN placements pl ON pl.id = p.provider_id
        WHERE s.network_id = $1 AND s.status IN ('refused', 'not_agreed')
          AND s.updated_at > now() - interval '30 days'
        ORDER BY s.updated_at DESC LIMIT 100
        """,
        network_id,
    )
    return [Settled(**dict(row)) for row in rows]


def small_share(trusts: list[TrustLine]) -> dict[str, float | None]:
    """Small trusts' share of the staff sent and received, and of the trusts."""

    def share(small: int, total: int) -> float | None:
        return small / total if total else None

    small = [t for t in trusts if t.is_small]
    return {
        "trusts": share(len(small), len(trusts)),
        "sent": share(sum(t.sent for t in small), sum(t.sent for t in trusts)),
        "received": share(sum(t.received for t in small), sum(t.received for t in trusts)),
    }


async def _page(
    request: Request, conn: asyncpg.Connection, network_id: str, error: str | None, code: int
) -> Response:
    trusts = await trust_lines(conn, network_id)
    context = {
        "network_id": network_id,
        "network_name": await network_name(conn, network_id),
        "trusts": trusts,
        "waiting": await waiting(conn, network_id),
        "requests": await staff_requests.waiting_in(conn, network_id),
        "not_going_ahead": await not_going_ahead(conn, network_id),
        "share": small_share(trusts),
        "now": datetime.now(UTC),
        "error": error,
    }
    return render(request, "trusts.html", context, code)


@router.get("")
async def trusts_page(
    request: Request, network_id: str, account: Coordinating, conn: Connection
) -> Response:
    return await _page(request, conn, network_id, None, 200)


async def _in_network(conn: asyncpg.Connection, network_id: str, code: str) -> None:
    found = await conn.fetchval(
        "SELECT 1 FROM trusts WHERE code = $1 AND network_id = $2", code, network_id
    )
    if found is None:
        raise PageRefused(404, "No such trust", "There is no such trust in your network.")


@router.post("/{trust_code}/contacts")
async def add(
    request: Request,
    network_id: str,
    trust_code: str,
    account: Coordinating,
    form: CheckedForm,
    conn: Connection,
) -> Response:
    await _in_network(conn, network_id, trust_code)
    try:
        new = NewContact(name=str(form.get("name", "")), email=str(form.get("email", "")))
        await add_contact(conn, trust_code, new, actor=account.email)
    except ValidationError as error:
        message = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in error.errors())
        return await _page(request, conn, network_id, message, 422)
    except ContactRefused as error:
        return await _page(request, conn, network_id, str(error), 422)
    flash(
        request, f"Added {new.email} as a contact of {trust_code}: they sign in at /trust/sign-in."
    )
    return RedirectResponse(f"/dashboard/{network_id}/trusts", status.HTTP_303_SEE_OTHER)


@router.post("/{trust_code}/contacts/remove")
async def remove(
    request: Request,
    network_id: str,
    trust_code: str,
    account: Coordinating,
    form: CheckedForm,
    conn: Connection,
) -> Response:
    await _in_network(conn, network_id, trust_code)
    email = str(form.get("email", ""))
    try:
        await remove_contact(conn, trust_code, email, actor=account.email)
    except ContactRefused as error:
        return await _page(request, conn, network_id, str(error), 422)
    flash(request, f"Removed {email} from {trust_code}'s contacts; their sessions have ended.")
    return RedirectResponse(f"/dashboard/{network_id}/trusts", status.HTTP_303_SEE_OTHER)

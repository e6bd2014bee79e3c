"""The reads behind a trust's pages: only the trust's own placements, staff, secondments and
consents, and only secondments (never mentoring)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import BaseModel, ConfigDict

from services.profiles.api.schemas import PlacementIn
from services.profiles.coordination.dashboard import ProposalView, proposal_view
from services.profiles.coordination.queries import PROPOSALS_SQL

# The coordinators' proposals query, its own WHERE replaced: a trust's secondments, as host
# (its placements) or as home (its staff).
_TRUST_PROPOSALS_SQL = (
    PROPOSALS_SQL.partition("\nWHERE ")[0]
    + """
WHERE p.kind = 'secondment' AND (placement.host_trust_code = $1 OR mentee.trust_code = $1)
ORDER BY p.proposed_at DESC, p.match_id
LIMIT 200
"""
)


class TrustView(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    network_id: str
    is_small: bool


class PlacementRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: UUID
    details: PlacementIn
    paused: bool
    withdrawn: bool
    taken: int  # places held by secondments agreed or under way

    @property
    def state(self) -> str:
        return "withdrawn" if self.withdrawn else "paused" if self.paused else "open"


class StaffRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: UUID
    name: str
    job_title: str
    open_to_secondment: bool
    taking_part: bool
    asks: bool  # their own request to be considered waits for the trust's answer


class SecondmentRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    match_id: UUID
    status: str
    side: str  # "host" or "home": which this trust is
    candidate: str
    placement: str
    host_trust: str
    home_trust: str
    start_date: date | None
    end_date: date | None
    reason: str
    consents: dict[str, str]  # party -> "waiting", "given", "refused" or "expired"
    my_consent_waiting: bool
    deadline: datetime | None


class Movement(BaseModel):
    """Staff this trust sent and received in one month (secondments agreed and after)."""

    model_config = ConfigDict(frozen=True)

    month: str  # 2026-12
    sent: int
    received: int


async def trust(conn: asyncpg.Connection, code: str) -> TrustView | None:
    row = await conn.fetchrow(
        "SELECT code, name, network_id, is_small FROM trusts WHERE code = $1", code
    )
    return None if row is None else TrustView(**dict(row))


async def placements(conn: asyncpg.Connection, code: str) -> list[PlacementRow]:
    rows = await conn.fetch(
        """
        SELECT pl.id, pl.details, pl.paused_at IS NOT NULL AS paused,
               pl.withdrawn_at IS NOT NULL AS withdrawn,
               count(s.match_id) FILTER (WHERE s.status IN ('agreed', 'started')) AS taken
        FROM placements pl
        LEFT JOIN proposals p ON p.provider_id = pl.id AND p.kind = 'secondment'
        LEFT JOIN secondments s ON s.match_id = p.match_id
        WHERE pl.host_trust_code = $1
        GROUP BY pl.id ORDER BY pl.withdrawn_at IS NOT NULL, pl.created_at DESC
        """,
        code,
    )
    return [PlacementRow(**dict(row)) for row in rows]


async def placement(conn: asyncpg.Connection, code: str, placement_id: UUID) -> PlacementRow | None:
    """One of the trust's open placements (another trust's is as if absent)."""
    found = [p for p in await placements(conn, code) if p.id == placement_id and not p.withdrawn]
    return found[0] if found else None


async def staff(conn: asyncpg.Connection, code: str) -> list[StaffRow]:
    """The trust's mentees: whom it can put forward for a secondment (their mentoring is not
    shown here)."""
    rows = await conn.fetch(
        """
        SELECT p.id, p.details, p.paused, r.status = 'waiting' AS asks
        FROM people p LEFT JOIN secondment_requests r ON r.person_id = p.id
        WHERE p.trust_code = $1 AND p.role = 'mentee' ORDER BY p.details->>'name'
        """,
        code,
    )
    return [
        StaffRow(
            id=r["id"],
            name=r["details"]["name"],
            job_title=r["details"]["job_title"],
            open_to_secondment=bool(r["details"].get("open_to_secondment")),
            taking_part=not r["paused"],
            asks=bool(r["asks"]) and not r["details"].get("open_to_secondment"),
        )
        for r in rows
    ]


async def proposals(conn: asyncpg.Connection, code: str) -> list[ProposalView]:
    rows = await conn.fetch(_TRUST_PROPOSALS_SQL, code)
    return [proposal_view(dict(row)) for row in rows]


async def secondments(conn: asyncpg.Connection, code: str) -> list[SecondmentRow]:
    rows = await conn.fetch(
        """
        SELECT s.match_id, s.status, s.host_trust_code, s.home_trust_code, s.start_date,
               s.end_date, s.reason, host.name AS host_name, home.name AS home_name,
               mentee.details->>'name' AS candidate, pl.details->>'role' AS placement,
               jsonb_object_agg(c.party, coalesce(c.answer, 'waiting')) AS consents,
               min(c.deadline) FILTER (WHERE c.trust_code = $1 AND c.answer IS NULL) AS deadline
        FROM secondments s
        JOIN proposals p ON p.match_id = s.match_id
        JOIN consents c ON c.match_id = s.match_id
        JOIN trusts host ON host.code = s.host_trust_code
        JOIN trusts home ON home.code = s.home_trust_code
        LEFT JOIN people mentee ON mentee.id = p.mentee_id
        LEFT JOIN placements pl ON pl.id = p.provider_id
        WHERE $1 IN (s.host_trust_code, s.home_trust_code)
        GROUP BY s.match_id, host.name, home.name, mentee.details, pl.details
        ORDER BY s.updated_at DESC LIMIT 200
        """,
        code,
    )
    return [_secondment(row, code) for row in rows]


def _secondment(row: asyncpg.Record, code: str) -> SecondmentRow:
    side = "host" if row["host_trust_code"] == code else "home"
    consents: dict[str, Any] = row["consents"]
    return SecondmentRow(
        match_id=row["match_id"],
        status=row["status"],
        side=side,
        candidate=row["candidate"] or "(no longer in Bridgework)",
        placement=row["placement"] or "",
        host_trust=row["host_name"],
        home_trust=row["home_name"],
        start_date=row["start_date"],
        end_date=row["end_date"],
        reason=row["reason"],
        consents={k: str(v) for k, v in consents.items()},
        my_consent_waiting=row["status"] == "awaiting_consent" and row["deadline"] is not None,
        deadline=row["deadline"],
    )


async def movements(conn: asyncpg.Connection, code: str) -> list[Movement]:
    """Per month of agreement, the staff sent (as home) and received (as host), for secondments
    agreed, under way or ended."""
    rows = await conn.fetch(
        """
        SELECT to_char(coalesce(start_date, updated_at::date), 'YYYY-MM') AS month,
               count(*) FILTER (WHERE home_trust_code = $1) AS sent,
               count(*) FILTER (WHERE host_trust_code = $1) AS received
        FROM secondments
        WHERE $1 IN (host_trust_code, home_trust_code)
          AND status IN ('agreed', 'started', 'ended', 'ended_early')
        GROUP BY 1 ORDER BY 1
        """,
        code,
    )
    return [Movement(**dict(row)) for row in rows]

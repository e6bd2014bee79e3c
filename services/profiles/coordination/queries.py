"""The reads behind the coordinators' pages: the read model joined with the profiles tables
(names come from here, so an erased person disappears from the pages too)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.profiles.coordination.charts import Flow
from services.profiles.coordination.dashboard import (
    MentorLoad,
    OpenPlacement,
    ProposalView,
    WaitingMentee,
    proposal_view,
)
from shared.events import FairnessFigures
from shared.regions import Region

PROPOSALS_SQL = """
SELECT p.match_id, p.network_id, p.kind, p.status, p.score, p.explanation, p.exchange_id,
       p.proposed_at, p.status_changed_at, p.decided_by, p.reason,
       mentee.details AS mentee, mentee.trust_code AS mentee_trust,
       mentee_trust.name AS mentee_trust_name, mentee_trust.region AS mentee_region,
       mentor.details AS mentor, mentor_trust.name AS mentor_trust_name,
       placement.details AS placement, placement.host_trust_code,
       host.name AS host_trust_name
FROM proposals p
LEFT JOIN people mentee ON mentee.id = p.mentee_id
LEFT JOIN trusts mentee_trust ON mentee_trust.code = mentee.trust_code
LEFT JOIN people mentor ON mentor.id = p.provider_id AND p.kind = 'mentoring'
LEFT JOIN trusts mentor_trust ON mentor_trust.code = mentor.trust_code
LEFT JOIN placements placement ON placement.id = p.provider_id AND p.kind = 'secondment'
LEFT JOIN trusts host ON host.code = placement.host_trust_code
WHERE p.network_id = $1 AND ($2::text IS NULL OR p.status = $2)
ORDER BY p.proposed_at, p.match_id
"""


async def proposals(
    conn: asyncpg.Connection, network_id: str, status: str | None = None
) -> list[ProposalView]:
    rows = await conn.fetch(PROPOSALS_SQL, network_id, status)
    return [proposal_view(dict(row)) for row in rows]


async def network_name(conn: asyncpg.Connection, network_id: str) -> str | None:
    name: str | None = await conn.fetchval("SELECT name FROM networks WHERE id = $1", network_id)
    return name


async def regions(conn: asyncpg.Connection, network_id: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT DISTINCT region FROM trusts WHERE network_id = $1 ORDER BY region", network_id
    )
    return [Region(row["region"]).label for row in rows]


async def mentor_loads(conn: asyncpg.Connection, network_id: str) -> list[MentorLoad]:
    rows = await conn.fetch(
        """
        SELECT m.details, m.paused,
               count(p.match_id) FILTER (WHERE p.status = 'approved') AS approved,
               count(p.match_id) FILTER (WHERE p.status = 'pending') AS pending
        FROM people m JOIN trusts t ON t.code = m.trust_code
        LEFT JOIN proposals p ON p.provider_id = m.id AND p.kind = 'mentoring'
        WHERE m.role = 'mentor' AND t.network_id = $1
        GROUP BY m.id ORDER BY m.details->>'name'
        """,
        network_id,
    )
    return [
        MentorLoad(
            name=row["details"]["name"],
            capacity=0.0 if row["paused"] else float(row["details"]["capacity"]),
            approved=row["approved"],
            pending=row["pending"],
            paused=row["paused"],
        )
        for row in rows
    ]


async def waiting_mentees(conn: asyncpg.Connection, network_id: str) -> list[WaitingMentee]:
    """Mentees with no approved match yet, longest waiting first."""
    rows = await conn.fetch(
        """
        SELECT m.details, t.name AS trust_name, m.created_at,
               count(p.match_id) FILTER (WHERE p.status = 'pending') AS pending
        FROM people m JOIN trusts t ON t.code = m.trust_code
        LEFT JOIN proposals p ON p.mentee_id = m.id
        WHERE m.role = 'mentee' AND t.network_id = $1
        GROUP BY m.id, t.name
        HAVING count(p.match_id) FILTER (WHERE p.status = 'approved') = 0
        ORDER BY m.created_at
        """,
        network_id,
    )
    return [
        WaitingMentee(
            name=row["details"]["name"],
            detail=f"{row['details']['job_title']}, {row['trust_name']}",
            waiting_since=row["created_at"],
            pending=row["pending"],
        )
        for row in rows
    ]


async def open_placements(conn: asyncpg.Connection, network_id: str) -> list[OpenPlacement]:
    rows = await conn.fetch(
        """
        SELECT pl.details, t.name AS host,
               count(p.match_id) FILTER (WHERE p.status = 'approved') AS approved
        FROM placements pl JOIN trusts t ON t.code = pl.host_trust_code
        LEFT JOIN proposals p ON p.provider_id = pl.id AND p.kind = 'secondment'
        WHERE pl.withdrawn_at IS NULL AND t.network_id = $1
        GROUP BY pl.id, t.name ORDER BY t.name
        """,
        network_id,
    )
    return [
        OpenPlacement(
            role=row["details"]["role"],
            host=row["host"],
            places=row["details"]["places"],
            approved=row["approved"],
        )
        for row in rows
    ]


async def decisions(conn: asyncpg.Connection, network_id: str) -> list[tuple[datetime, bool]]:
    rows = await conn.fetch(
        "SELECT status_changed_at, status <> 'rejected' AS approved FROM proposals"
        " WHERE network_id = $1 AND status IN ('approved', 'rejected', 'closed')",
        network_id,
    )
    return [(row["status_changed_at"], row["approved"]) for row in rows]


async def secondment_flows(
    conn: asyncpg.Connection, network_id: str
) -> tuple[list[Flow], dict[str, str]]:
    """Live secondments (pending or approved) as home trust -> host trust, and trust names."""
    flows = [
        Flow(
            home=v.home_trust,
            host=v.host_trust,
            approved=v.status == "approved",
            exchange_id=v.exchange_id,
        )
        for v in await proposals(conn, network_id)
        if v.kind == "secondment"
        and v.status in ("pending", "approved")
        and v.home_trust
        and v.host_trust
    ]
    rows = await conn.fetch("SELECT code, name FROM trusts WHERE network_id = $1", network_id)
    return flows, {row["code"]: row["name"] for row in rows}


async def latest_fairness(conn: asyncpg.Connection, network_id: str) -> FairnessFigures | None:
    report = await conn.fetchval(
        "SELECT report FROM fairness_reports WHERE network_id = $1"
        " ORDER BY recorded_at DESC, id DESC LIMIT 1",
        network_id,
    )
    return None if report is None else FairnessFigures.model_validate(report)


async def networks(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, name, coordinators FROM networks ORDER BY id"
    )
    return rows

"""The reads behind the coordinators' pages: the read model joined with the profiles tables
(names come from here, so an erased person disappears from the pages too)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from services.profiles.coordination.charts import Flow
from services.profiles.coordination.dashboard import (
    PAGE_SIZE,
    MentorLoad,
    OpenPlacement,
    ProposalFilter,
    ProposalPage,
    ProposalView,
    WaitingMentee,
    proposal_view,
)
from shared.events import FairnessFigures
from shared.regions import Region

PROPOSAL_COLUMNS = """
SELECT p.match_id, p.network_id, p.kind, p.status, p.score, p.explanation, p.exchange_id,
       p.proposed_at, p.status_changed_at, p.decided_by, p.reason, p.provider_id, p.mentee_id,
       p.by_hand,
       mentee.details AS mentee, mentee.trust_code AS mentee_trust,
       mentee_trust.name AS mentee_trust_name, mentee_trust.region AS mentee_region,
       mentor.details AS mentor, mentor_trust.name AS mentor_trust_name,
       placement.details AS placement, placement.host_trust_code,
       host.name AS host_trust_name
"""
PROPOSAL_JOINS = """
FROM proposals p
LEFT JOIN people mentee ON mentee.id = p.mentee_id
LEFT JOIN trusts mentee_trust ON mentee_trust.code = mentee.trust_code
LEFT JOIN people mentor ON mentor.id = p.provider_id AND p.kind = 'mentoring'
LEFT JOIN trusts mentor_trust ON mentor_trust.code = mentor.trust_code
LEFT JOIN placements placement ON placement.id = p.provider_id AND p.kind = 'secondment'
LEFT JOIN trusts host ON host.code = placement.host_trust_code
"""
PROPOSALS_SQL = (
    PROPOSAL_COLUMNS
    + PROPOSAL_JOINS
    + """
WHERE p.network_id = $1 AND ($2::text IS NULL OR p.status = $2)
ORDER BY p.proposed_at, p.match_id
"""
)
# The proposals page: pending proposals matching the filters ($2..$5), one page of them in the
# chosen order ($6), and how many match in all (a window count over the same rows).
PENDING_MATCHING = """
WHERE p.network_id = $1 AND p.status = 'pending'
  AND ($2::text IS NULL OR p.kind = $2)
  AND ($3::text IS NULL OR mentee_trust.region = $3)
  AND ($4::timestamptz IS NULL OR p.proposed_at <= $4)
  AND ($5::text IS NULL OR mentee.details->>'name' ILIKE $5
       OR mentor.details->>'name' ILIKE $5 OR placement.details->>'role' ILIKE $5)
"""
# Only the page's rows are joined with everything the page shows: the filtering, counting,
# sorting and paging go through the proposals' own columns (and a person's name when
# searching), so the time stays flat as proposals grow.
PAGE_SQL = (
    """
WITH matching AS (
    SELECT p.match_id, p.score, p.proposed_at
    FROM proposals p
    LEFT JOIN people mentee ON mentee.id = p.mentee_id
    LEFT JOIN trusts mentee_trust ON mentee_trust.code = mentee.trust_code
    LEFT JOIN people mentor ON mentor.id = p.provider_id AND p.kind = 'mentoring'
    LEFT JOIN placements placement ON placement.id = p.provider_id AND p.kind = 'secondment'
"""
    + PENDING_MATCHING
    + """
), shown AS (
    SELECT match_id FROM matching
    ORDER BY CASE WHEN $6 = 'score' THEN -score END, proposed_at, match_id
    LIMIT $7 OFFSET $8
)
"""
    + PROPOSAL_COLUMNS.rstrip()
    + ", (SELECT count(*) FROM matching) AS matching"
    + PROPOSAL_JOINS
    + """
WHERE p.match_id IN (SELECT match_id FROM shown)
ORDER BY CASE WHEN $6 = 'score' THEN -p.score END, p.proposed_at, p.match_id
"""
)
COUNT_SQL = (
    "SELECT count(*) FROM proposals p"
    " LEFT JOIN people mentee ON mentee.id = p.mentee_id"
    " LEFT JOIN trusts mentee_trust ON mentee_trust.code = mentee.trust_code"
    " LEFT JOIN people mentor ON mentor.id = p.provider_id AND p.kind = 'mentoring'"
    " LEFT JOIN placements placement ON placement.id = p.provider_id"
    " AND p.kind = 'secondment'" + PENDING_MATCHING
)


async def proposals(
    conn: asyncpg.Connection, network_id: str, status: str | None = None
) -> list[ProposalView]:
    rows = await conn.fetch(PROPOSALS_SQL, network_id, status)
    return [proposal_view(dict(row)) for row in rows]


async def proposal_page(
    conn: asyncpg.Connection, network_id: str, chosen: ProposalFilter, now: datetime
) -> ProposalPage:
    """One page of the pending proposals matching ``chosen``, with the counts the page shows."""
    days = chosen.older_than_days
    older = None if days is None else now - timedelta(days=days)
    filters = (
        network_id,
        chosen.kind.value if chosen.kind else None,
        chosen.region_code,
        older,
        chosen.search_pattern(),
    )
    offset = (chosen.page - 1) * PAGE_SIZE
    rows = await conn.fetch(PAGE_SQL, *filters, chosen.sort, PAGE_SIZE, offset)
    matching = rows[0]["matching"] if rows else await conn.fetchval(COUNT_SQL, *filters)
    pending = await conn.fetchval(
        "SELECT count(*) FROM proposals WHERE network_id = $1 AND status = 'pending'", network_id
    )
    return ProposalPage(
        proposals=[proposal_view(dict(row)) for row in rows],
        matching=matching,
        pending=pending,
        page=chosen.page,
    )


async def exchange_sizes(conn: asyncpg.Connection, exchange_ids: Iterable[str]) -> dict[str, int]:
    """How many pending proposals each of these exchanges has (decided together)."""
    rows = await conn.fetch(
        "SELECT exchange_id, count(*) AS size FROM proposals"
        " WHERE exchange_id = ANY($1::text[]) AND status = 'pending' GROUP BY exchange_id",
        sorted(set(exchange_ids)),
    )
    return {row["exchange_id"]: row["size"] for row in rows}


async def recently_decided(
    conn: asyncpg.Connection, network_id: str, limit: int = 10
) -> list[ProposalView]:
    rows = await conn.fetch(
        PROPOSAL_COLUMNS
        + PROPOSAL_JOINS
        + "WHERE p.network_id = $1 AND p.status IN ('approved', 'rejected')"
        " ORDER BY p.status_changed_at DESC, p.match_id LIMIT $2",
        network_id,
        limit,
    )
    return [proposal_view(dict(row)) for row in rows]


async def proposal(
    conn: asyncpg.Connection, network_id: str, match_id: UUID
) -> ProposalView | None:
    row = await conn.fetchrow(
        PROPOSAL_COLUMNS + PROPOSAL_JOINS + "WHERE p.network_id = $1 AND p.match_id = $2",
        network_id,
        match_id,
    )
    return None if row is None else proposal_view(dict(row))


async def selected(
    conn: asyncpg.Connection, network_id: str, match_ids: Sequence[UUID]
) -> list[ProposalView]:
    """These proposals of the network (others are left out), oldest first."""
    rows = await conn.fetch(
        PROPOSAL_COLUMNS
        + PROPOSAL_JOINS
        + "WHERE p.network_id = $1 AND p.match_id = ANY($2::uuid[])"
        " ORDER BY p.proposed_at, p.match_id",
        network_id,
        list(match_ids),
    )
    return [proposal_view(dict(row)) for row in rows]


async def exchange_partners(
    conn: asyncpg.Connection, network_id: str, match_ids: Sequence[UUID]
) -> list[ProposalView]:
    """The pending proposals of the exchanges these proposals belong to (decided with them)."""
    rows = await conn.fetch(
        PROPOSAL_COLUMNS
        + PROPOSAL_JOINS
        + "WHERE p.network_id = $1 AND p.status = 'pending' AND p.exchange_id IN ("
        " SELECT exchange_id FROM proposals WHERE network_id = $1"
        " AND match_id = ANY($2::uuid[]) AND exchange_id IS NOT NULL)"
        " ORDER BY p.proposed_at, p.match_id",
        network_id,
        list(match_ids),
    )
    return [proposal_view(dict(row)) for row in rows]


async def person_in_network(
    conn: asyncpg.Connection, network_id: str, person_id: UUID
) -> asyncpg.Record | None:
    """The person, with their trust's name, if they take part in this network."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT p.id, p.role, p.email, p.paused, p.withdrawn, p.details, p.created_at,"
        " t.name AS trust_name"
        " FROM people p JOIN trusts t ON t.code = p.trust_code"
        " WHERE p.id = $1 AND t.network_id = $2",
        person_id,
        network_id,
    )
    return row


async def mentors_of(conn: asyncpg.Connection, network_id: str) -> list[asyncpg.Record]:
    """The network's mentors, by name, for a coordinator to choose from."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT p.id, p.details->>'name' AS name, p.details->>'job_title' AS job_title,"
        " t.name AS trust_name FROM people p JOIN trusts t ON t.code = p.trust_code"
        " WHERE t.network_id = $1 AND p.role = 'mentor' ORDER BY 2, p.id",
        network_id,
    )
    return rows


async def trusts_of(conn: asyncpg.Connection, network_id: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT code, name FROM trusts WHERE network_id = $1 ORDER BY name", network_id
    )
    return rows


async def trust_in_network(conn: asyncpg.Connection, network_id: str, code: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM trusts WHERE code = $1 AND network_id = $2", code, network_id
        )
    )


async def proposals_about(
    conn: asyncpg.Connection, network_id: str, person_id: UUID
) -> list[ProposalView]:
    """Every proposal of the network about this person, newest first."""
    rows = await conn.fetch(
        PROPOSAL_COLUMNS
        + PROPOSAL_JOINS
        + "WHERE p.network_id = $1 AND (p.mentee_id = $2 OR p.provider_id = $2)"
        " ORDER BY p.proposed_at DESC, p.match_id",
        network_id,
        person_id,
    )
    return [proposal_view(dict(row)) for row in rows]


# A browsing session: visits closer together than this share one "since you last looked".
BROWSING_GAP = timedelta(minutes=30)
# Visits this close to the one recorded are not written again (paging through writes nothing).
SEEN_PRECISION = timedelta(minutes=1)


async def changed_since_last_look(
    conn: asyncpg.Connection, email: str, network_id: str, now: datetime
) -> tuple[datetime | None, list[ProposalView]]:
    """When this coordinator last looked before this browsing session, and the proposals
    withdrawn or replaced since then; records this visit."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT seen_at, shown_since FROM proposals_seen"
            " WHERE email = $1 AND network_id = $2 FOR UPDATE",
            email,
            network_id,
        )
        if row is None:
            since = None
        elif now - row["seen_at"] > BROWSING_GAP:
            since = row["seen_at"]
        else:
            since = row["shown_since"]
        if row is None or now - row["seen_at"] > SEEN_PRECISION or since != row["shown_since"]:
            await conn.execute(
                "INSERT INTO proposals_seen (email, network_id, seen_at, shown_since)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (email, network_id)"
                " DO UPDATE SET seen_at = excluded.seen_at, shown_since = excluded.shown_since",
                email,
                network_id,
                now,
                since or now,
            )
    if since is None:
        return None, []
    rows = await conn.fetch(
        PROPOSAL_COLUMNS
        + PROPOSAL_JOINS
        + "WHERE p.network_id = $1 AND p.status = 'withdrawn' AND p.status_changed_at > $2"
        " ORDER BY p.status_changed_at DESC, p.match_id LIMIT 50",
        network_id,
        since,
    )
    return since, [proposal_view(dict(row)) for row in rows]


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
        SELECT m.id, m.details, m.paused, m.withdrawn,
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
            id=row["id"],
            name=row["details"]["name"],
            capacity=0.0 if row["paused"] else float(row["details"]["capacity"]),
            approved=row["approved"],
            pending=row["pending"],
            paused=row["paused"],
            withdrawn=row["withdrawn"],
        )
        for row in rows
    ]


async def waiting_mentees(conn: asyncpg.Connection, network_id: str) -> list[WaitingMentee]:
    """Mentees taking part with no approved match yet, longest waiting first (a withdrawn
    mentee waits for nothing)."""
    rows = await conn.fetch(
        """
        SELECT m.id, m.details, t.name AS trust_name, m.created_at,
               count(p.match_id) FILTER (WHERE p.status = 'pending') AS pending
        FROM people m JOIN trusts t ON t.code = m.trust_code
        LEFT JOIN proposals p ON p.mentee_id = m.id
        WHERE m.role = 'mentee' AND t.network_id = $1 AND NOT m.paused AND NOT m.withdrawn
        GROUP BY m.id, t.name
        HAVING count(p.match_id) FILTER (WHERE p.status = 'approved') = 0
        ORDER BY m.created_at
        """,
        network_id,
    )
    return [
        WaitingMentee(
            id=row["id"],
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

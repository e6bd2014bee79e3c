"""What an operator or the demo asks of the matcher: a round for a network now and its outcome,
the proposals awaiting a decision, the latest fairness figures, and a network's proposals and
rounds for an export. Each takes a connection to the matcher's schema
(``shared.db.connection(url, "matcher")``)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from pydantic import BaseModel

from services.matcher.engine.fairness import FairnessReport
from services.matcher.repository import mark_dirty


class UnknownNetwork(LookupError):
    """The matcher has no trust and no person of this network."""


class RoundOutcome(BaseModel):
    new_proposals: int
    kept_proposals: int
    replaced_proposals: int
    seconds: float


async def request_round(conn: asyncpg.Connection, network_id: str) -> int:
    """Make the network's round due at once, for any matcher replica to run; returns how many
    rounds it had before (for ``round_after``). The round carries the caller's correlation id."""
    async with conn.transaction():
        known = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM networks WHERE id = $1)", network_id
        )
        if not known:
            raise UnknownNetwork(network_id)
        rounds: int = await conn.fetchval(
            "SELECT count(*) FROM rounds WHERE network_id = $1", network_id
        )
        await mark_dirty(conn, network_id)
        # Due at once: the quiet period is for bursts of events, not for an operator.
        await conn.execute(
            "UPDATE dirty_networks SET first_change_at = now() - interval '1 day',"
            " last_change_at = now() - interval '1 day' WHERE network_id = $1",
            network_id,
        )
    return rounds


async def round_after(
    conn: asyncpg.Connection, network_id: str, rounds_before: int
) -> RoundOutcome | None:
    """The network's first round after its first ``rounds_before``, once it has run."""
    row = await conn.fetchrow(
        "SELECT new_proposals, kept_proposals, replaced_proposals, seconds FROM rounds"
        " WHERE network_id = $1 ORDER BY id OFFSET $2 LIMIT 1",
        network_id,
        rounds_before,
    )
    return None if row is None else RoundOutcome.model_validate(dict(row))


async def wait_for_round(
    conn: asyncpg.Connection, network_id: str, rounds_before: int, timeout: float
) -> RoundOutcome | None:
    """``round_after``, waiting up to ``timeout`` seconds for the round to run."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (outcome := await round_after(conn, network_id, rounds_before)) is None:
        if asyncio.get_running_loop().time() >= deadline:
            return None
        await asyncio.sleep(0.2)
    return outcome


async def pending_proposals(conn: asyncpg.Connection) -> dict[str, int]:
    """Proposals awaiting a coordinator's decision, per network; empty before the matcher has
    migrated its schema."""
    try:
        rows = await conn.fetch(
            "SELECT network_id, count(*) AS pending FROM proposals"
            " WHERE status = 'pending' GROUP BY network_id ORDER BY network_id"
        )
    except asyncpg.UndefinedTableError:
        return {}
    return {row["network_id"]: row["pending"] for row in rows}


async def latest_fairness(conn: asyncpg.Connection) -> dict[str, FairnessReport]:
    """Each network's fairness report of its latest round."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (network_id) network_id, fairness FROM rounds"
        " ORDER BY network_id, ran_at DESC"
    )
    return {row["network_id"]: FairnessReport.model_validate(row["fairness"]) for row in rows}


EXPORTS: dict[str, str] = {
    "proposals": "SELECT match_id, kind, provider_id, mentee_id, score, status, explanation,"
    " exchange_id, created_at, decided_at FROM proposals WHERE network_id = $1"
    " ORDER BY created_at, match_id",
    "rounds": "SELECT ran_at, mentors, mentees, placements, new_proposals, kept_proposals,"
    " replaced_proposals, seconds, fairness, fairness_price FROM rounds WHERE network_id = $1"
    " ORDER BY id",
}


async def export_network(
    conn: asyncpg.Connection, network_id: str
) -> dict[str, list[dict[str, Any]]]:
    """The network's proposals and rounds, one list of rows per table."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):  # one snapshot
        return {
            name: [dict(row) for row in await conn.fetch(query, network_id)]
            for name, query in EXPORTS.items()
        }

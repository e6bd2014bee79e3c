"""Coordinators' decisions. A decision updates the read model, writes the audit record and puts
MatchDecided in the outbox in ONE transaction: decided, recorded and published, or none of it.

Secondments of one exchange cycle (same exchange_id) are decided together: approving or
rejecting one decides them all, and if any of them can no longer be decided, none is. An
approved secondment then waits for its host and home trusts' consents (trusts/consents.py),
asked in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg

from services.profiles.accounts.audit import record_audit
from services.profiles.trusts.consents import request_consents
from shared.events import MatchDecided
from shared.outbox import add_to_outbox
from shared.text import recorded_reason


class DecisionRefused(ValueError):
    """The decision cannot be taken; the message says why, for the coordinator."""


class ProposalNotFound(LookupError):
    """No such proposal in this network (another network's proposal looks the same)."""


def check_reason(approved: bool, reason: str) -> str:
    required = None if approved else "Say why the match is rejected: the reason is recorded."
    try:
        return recorded_reason(reason, required)
    except ValueError as error:
        raise DecisionRefused(str(error)) from error


def refusal_for(status: str) -> str | None:
    """Why a proposal in ``status`` cannot be decided, or None when it can."""
    if status == "pending":
        return None
    if status == "withdrawn":
        return "This proposal was withdrawn by the matcher, so it can no longer be decided."
    return f"This proposal was already {status}."


async def decide(
    conn: asyncpg.Connection,
    *,
    network_id: str,
    match_ids: Sequence[UUID],
    approved: bool,
    reason: str,
    decided_by: str,
    via: str = "web",
    consent_days: int = 7,
) -> list[UUID]:
    """Decide the proposals (and their exchange partners); returns every match decided. The
    trusts of an approved secondment have ``consent_days`` to answer."""
    reason = check_reason(approved, reason)
    if not match_ids:
        raise DecisionRefused("No proposal was selected.")
    async with conn.transaction():
        rows = await _lock_with_exchange_partners(conn, network_id, match_ids)
        found = {row["match_id"] for row in rows}
        if any(match_id not in found for match_id in match_ids):
            raise ProposalNotFound("no such proposal in this network")
        for row in rows:
            refusal = refusal_for(row["status"])
            if refusal is not None:
                if row["match_id"] not in match_ids:
                    refusal = f"It is part of an exchange with another proposal. {refusal}"
                raise DecisionRefused(refusal)
        decided = [row["match_id"] for row in rows]
        await conn.execute(
            "UPDATE proposals SET status = $2, status_changed_at = now(), decided_by = $3,"
            " reason = $4 WHERE match_id = ANY($1::uuid[])",
            decided,
            "approved" if approved else "rejected",
            decided_by,
            reason,
        )
        for row in rows:
            await record_audit(
                conn,
                actor=decided_by,
                action="match.approved" if approved else "match.rejected",
                subject=str(row["match_id"]),
                reason=reason,
                details={"network_id": network_id, "exchange_id": row["exchange_id"], "via": via},
            )
        events = [
            MatchDecided(
                entity_key=str(match_id),
                match_id=match_id,
                network_id=network_id,
                approved=approved,
                reason=reason,
                decided_by=decided_by,
            )
            for match_id in decided
        ]
        await add_to_outbox(conn, events)
        if approved:
            deadline = datetime.now(UTC) + timedelta(days=consent_days)
            await request_consents(conn, network_id, decided, deadline)
    return decided


async def _lock_with_exchange_partners(
    conn: asyncpg.Connection, network_id: str, match_ids: Sequence[UUID]
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT match_id, status, exchange_id FROM proposals
        WHERE network_id = $1 AND (match_id = ANY($2::uuid[]) OR exchange_id IN (
            SELECT exchange_id FROM proposals
            WHERE match_id = ANY($2::uuid[]) AND network_id = $1 AND exchange_id IS NOT NULL))
        ORDER BY match_id
        FOR UPDATE
        """,
        network_id,
        list(match_ids),
    )
    return rows

"""The audit trail: every decision, erasure and import, recorded append-only (who, when, what,
why). Recorded in the same transaction as the change it describes, so neither exists alone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict


class AuditRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    recorded_at: datetime
    actor: str  # who: an account's email, "participant:<id>", "cli:<user>" or "system"
    action: str  # what: e.g. "match.approved", "person.erased", "import.people"
    subject: str  # on what: a match id, person id, file name ...
    reason: str
    details: dict[str, Any]


async def record_audit(
    connection: asyncpg.Connection,
    *,
    actor: str,
    action: str,
    subject: str,
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    await connection.execute(
        "INSERT INTO audit_log (actor, action, subject, reason, details)"
        " VALUES ($1, $2, $3, $4, $5)",
        actor,
        action,
        subject,
        reason,
        details or {},
    )


async def list_audit(
    pool: asyncpg.Pool, *, limit: int = 200, before_id: int | None = None
) -> list[AuditRecord]:
    """The newest records first; page back with ``before_id``."""
    rows = await pool.fetch(
        "SELECT id, recorded_at, actor, action, subject, reason, details FROM audit_log"
        " WHERE ($1::bigint IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
        before_id,
        limit,
    )
    return [AuditRecord.model_validate(dict(row)) for row in rows]


async def link_token_used(connection: asyncpg.Connection, token_id: Any) -> bool:
    used = await connection.fetchval("SELECT 1 FROM used_link_tokens WHERE token_id = $1", token_id)
    return bool(used)


async def claim_link_token(connection: asyncpg.Connection, token_id: Any, purpose: str) -> bool:
    """Mark a link as used; False when it was used before (a replayed link)."""
    inserted = await connection.fetchval(
        "INSERT INTO used_link_tokens (token_id, purpose) VALUES ($1, $2)"
        " ON CONFLICT (token_id) DO NOTHING RETURNING true",
        token_id,
        purpose,
    )
    return bool(inserted)

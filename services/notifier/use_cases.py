"""What an operator asks of the notifier (``bridgework emails``, ``bridgework status``): the
emails whose delivery is uncertain and those that failed, re-sending them or recording them as
delivered, and the mail queue's counts. Each takes a connection to the notifier's schema
(``shared.db.connection(url, "notifier")``).

An email is left ``uncertain`` when the SMTP connection (or the notifier) broke after the whole
message went out and before the server answered (services/notifier/mailer.py): perhaps
delivered, so it is never sent again unless an operator, having looked its Message-ID up in the
mail server's log, says so. An email is ``failed`` when the server refused its recipient for
good, or when it could not be built at all (a header the mail library refuses): it waits for an
operator to fix the cause and re-send it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg
from pydantic import BaseModel

from services.notifier.mailer import message_id, unsettled_counts
from shared.settings import Settings


class UncertainEmail(BaseModel):
    id: int
    purpose: str
    match_id: UUID | None
    message_id: str  # what to look up in the mail server's log
    sending_since: datetime
    last_error: str


async def uncertain_emails(conn: asyncpg.Connection, settings: Settings) -> list[UncertainEmail]:
    rows = await conn.fetch(
        "SELECT id, purpose, match_id, dedupe_key, created_at, sending_since, last_error"
        " FROM emails WHERE status = 'uncertain' ORDER BY id"
    )
    return [
        UncertainEmail(
            id=row["id"],
            purpose=row["purpose"],
            match_id=row["match_id"],
            message_id=message_id(settings, row["dedupe_key"]),
            sending_since=row["sending_since"] or row["created_at"],
            last_error=row["last_error"] or "",
        )
        for row in rows
    ]


class FailedEmail(BaseModel):
    id: int
    purpose: str
    match_id: UUID | None
    queued_at: datetime
    last_error: str  # refused by the server, or "could not be built: ..."


async def failed_emails(conn: asyncpg.Connection) -> list[FailedEmail]:
    rows = await conn.fetch(
        "SELECT id, purpose, match_id, created_at, last_error"
        " FROM emails WHERE status = 'failed' ORDER BY id"
    )
    return [
        FailedEmail(
            id=row["id"],
            purpose=row["purpose"],
            match_id=row["match_id"],
            queued_at=row["created_at"],
            last_error=row["last_error"] or "",
        )
        for row in rows
    ]


async def resend(conn: asyncpg.Connection, ids: Sequence[int]) -> list[int]:
    """Queue these uncertain emails again (the server's log showed they were not delivered),
    or these failed ones (their cause fixed); returns the ids changed. One that is neither
    (sent, cancelled, already re-queued) is left alone."""
    rows = await conn.fetch(
        """
        UPDATE emails SET status = 'pending', attempt_id = NULL, next_attempt_at = now(),
            last_error = status || '; re-queued by an operator'
        WHERE status IN ('uncertain', 'failed') AND id = ANY($1::bigint[]) RETURNING id
        """,
        list(ids),
    )
    return sorted(row["id"] for row in rows)


async def mark_delivered(conn: asyncpg.Connection, ids: Sequence[int]) -> list[int]:
    """Record these uncertain emails as sent (the server's log showed they arrived); returns
    the ids changed, leaving any that is not uncertain alone."""
    rows = await conn.fetch(
        """
        UPDATE emails SET status = 'sent', sent_at = coalesce(sending_since, now()),
            last_error = 'uncertain; found delivered by an operator'
        WHERE status = 'uncertain' AND id = ANY($1::bigint[]) RETURNING id
        """,
        list(ids),
    )
    return sorted(row["id"] for row in rows)


async def mail_queue(conn: asyncpg.Connection) -> dict[str, int]:
    """Emails per unsettled status; empty before the notifier has migrated its schema."""
    try:
        return await unsettled_counts(conn)
    except asyncpg.UndefinedTableError:
        return {}

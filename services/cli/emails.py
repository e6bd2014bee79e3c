"""``bridgework emails``: the emails the notifier cannot be sure it delivered, or could not send.

An email is left ``uncertain`` when the SMTP connection (or the notifier) broke after the whole
message went out and before the server answered: perhaps delivered, so the notifier never sends
it again by itself. The operator looks its Message-ID up in the mail server's log, then either
re-queues it (``resend``: it was not delivered) or records it as delivered (``delivered``).

An email is ``failed`` when the mail server refused its recipient for good, or when it could
not be built at all (a header the mail library refuses): ``failed`` lists them with the reason;
once the cause is fixed (e.g. the person's name corrected), ``resend`` queues them again.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import asyncpg
import typer
from rich.console import Console
from rich.table import Table

from services.notifier.mailer import message_id
from shared.settings import Settings

emails = typer.Typer(
    help="Emails whose delivery is uncertain or that failed: list, re-send, or mark delivered."
)
console = Console()

LISTED = """
    SELECT id, purpose, match_id, dedupe_key, created_at, sending_since, last_error
    FROM notifier.emails WHERE status = $1 ORDER BY id
"""
# Only uncertain or failed emails change: one sent, cancelled or already re-queued is left alone.
RESEND = """
    UPDATE notifier.emails SET status = 'pending', attempt_id = NULL, next_attempt_at = now(),
        last_error = status || '; re-queued by an operator'
    WHERE status IN ('uncertain', 'failed') AND id = ANY($1::bigint[]) RETURNING id
"""
MARK_DELIVERED = """
    UPDATE notifier.emails SET status = 'sent', sent_at = coalesce(sending_since, now()),
        last_error = 'uncertain; found delivered by an operator'
    WHERE status = 'uncertain' AND id = ANY($1::bigint[]) RETURNING id
"""


async def emails_in(settings: Settings, status: str) -> list[dict[str, str]]:
    """The emails in ``status`` (uncertain or failed), oldest first."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch(LISTED, status)
    finally:
        await conn.close()
    return [
        {
            "id": str(row["id"]),
            "purpose": row["purpose"],
            "match_id": str(row["match_id"] or ""),
            "message_id": message_id(settings, row["dedupe_key"]),
            "sending_since": str(row["sending_since"] or row["created_at"]),
            "queued": str(row["created_at"]),
            "last_error": row["last_error"] or "",
        }
        for row in rows
    ]


async def change_uncertain(settings: Settings, query: str, ids: list[int]) -> list[int]:
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch(query, ids)
    finally:
        await conn.close()
    return sorted(row["id"] for row in rows)


@emails.command("uncertain")
def list_uncertain(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """List the emails that may or may not have been delivered, with the Message-ID to look
    up in the mail server's log."""
    found = asyncio.run(emails_in(Settings(), "uncertain"))
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    table = Table("id", "purpose", "Message-ID", "sending since", "why", title="Uncertain emails")
    for email in found:
        table.add_row(
            email["id"],
            email["purpose"],
            email["message_id"],
            email["sending_since"],
            email["last_error"],
        )
    console.print(table)
    console.print(f"{len(found)} uncertain; `bridgework emails resend ID…` or `… delivered ID…`")


@emails.command("failed")
def list_failed(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """List the emails that failed for good: refused by the mail server, or impossible to
    build (the reason says which). Nothing retries them until `resend`."""
    found = asyncio.run(emails_in(Settings(), "failed"))
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    table = Table("id", "purpose", "match", "queued", "why", title="Failed emails")
    for email in found:
        table.add_row(
            email["id"], email["purpose"], email["match_id"], email["queued"], email["last_error"]
        )
    console.print(table)
    console.print(f"{len(found)} failed; fix the cause, then `bridgework emails resend ID…`")


def _apply(query: str, ids: list[int], done: str) -> None:
    changed = asyncio.run(change_uncertain(Settings(), query, ids))
    skipped = sorted(set(ids) - set(changed))
    typer.echo(f"{done}: {', '.join(map(str, changed)) or 'none'}")
    if skipped:
        typer.echo(
            f"neither uncertain nor failed (unknown, sent, cancelled or already re-queued),"
            f" left alone:"
            f" {', '.join(map(str, skipped))}",
            err=True,
        )
        raise typer.Exit(1)


@emails.command("resend")
def resend(
    ids: Annotated[
        list[int], typer.Argument(help="Ids from `bridgework emails uncertain` or `… failed`")
    ],
) -> None:
    """Queue uncertain emails again, after the mail server's log showed they were not
    delivered, or failed ones once their cause is fixed. The notifier sends each once more."""
    _apply(RESEND, ids, "re-queued")


@emails.command("delivered")
def delivered(
    ids: Annotated[list[int], typer.Argument(help="Ids from `bridgework emails uncertain`")],
) -> None:
    """Record uncertain emails as sent, after the mail server's log showed they arrived."""
    _apply(MARK_DELIVERED, ids, "recorded as sent")

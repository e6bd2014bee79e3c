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
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, TypeVar

import asyncpg
import typer
from rich.console import Console
from rich.table import Table

from services.notifier import use_cases
from shared.db import connection
from shared.settings import Settings

emails = typer.Typer(
    help="Emails whose delivery is uncertain or that failed: list, re-send, or mark delivered."
)
console = Console()

T = TypeVar("T")


def _notifier(settings: Settings, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    async def run() -> T:
        async with connection(settings.database_url, "notifier") as conn:
            return await work(conn)

    return asyncio.run(run())


def uncertain_emails(settings: Settings) -> list[dict[str, str]]:
    found = _notifier(settings, lambda conn: use_cases.uncertain_emails(conn, settings))
    return [
        {
            "id": str(email.id),
            "purpose": email.purpose,
            "match_id": str(email.match_id or ""),
            "message_id": email.message_id,
            "sending_since": str(email.sending_since),
            "last_error": email.last_error,
        }
        for email in found
    ]


@emails.command("uncertain")
def list_uncertain(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """List the emails that may or may not have been delivered, with the Message-ID to look
    up in the mail server's log."""
    found = uncertain_emails(Settings())
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
    found = _notifier(Settings(), use_cases.failed_emails)
    if as_json:
        typer.echo(json.dumps([email.model_dump(mode="json") for email in found], indent=2))
        return
    table = Table("id", "purpose", "match", "queued", "why", title="Failed emails")
    for email in found:
        match = str(email.match_id or "")
        table.add_row(str(email.id), email.purpose, match, str(email.queued_at), email.last_error)
    console.print(table)
    console.print(f"{len(found)} failed; fix the cause, then `bridgework emails resend ID…`")


Change = Callable[[asyncpg.Connection, Sequence[int]], Awaitable[list[int]]]


def _apply(change: Change, ids: list[int], done: str) -> None:
    changed = _notifier(Settings(), lambda conn: change(conn, ids))
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
    _apply(use_cases.resend, ids, "re-queued")


@emails.command("delivered")
def delivered(
    ids: Annotated[list[int], typer.Argument(help="Ids from `bridgework emails uncertain`")],
) -> None:
    """Record uncertain emails as sent, after the mail server's log showed they arrived."""
    _apply(use_cases.mark_delivered, ids, "recorded as sent")

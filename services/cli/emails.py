"""``bridgework emails``: the emails the notifier cannot be sure it delivered.

An email is left ``uncertain`` when the SMTP connection (or the notifier) broke after the whole
message went out and before the server answered: perhaps delivered, so the notifier never sends
it again by itself. The operator looks its Message-ID up in the mail server's log, then either
re-queues it (``resend``: it was not delivered) or records it as delivered (``delivered``).
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

emails = typer.Typer(help="Emails whose delivery is uncertain: list, re-send, or mark delivered.")
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


Change = Callable[[asyncpg.Connection, Sequence[int]], Awaitable[list[int]]]


def _apply(change: Change, ids: list[int], done: str) -> None:
    changed = _notifier(Settings(), lambda conn: change(conn, ids))
    skipped = sorted(set(ids) - set(changed))
    typer.echo(f"{done}: {', '.join(map(str, changed)) or 'none'}")
    if skipped:
        typer.echo(
            f"not uncertain (unknown, sent, cancelled or already re-queued), left alone:"
            f" {', '.join(map(str, skipped))}",
            err=True,
        )
        raise typer.Exit(1)


@emails.command("resend")
def resend(
    ids: Annotated[list[int], typer.Argument(help="Ids from `bridgework emails uncertain`")],
) -> None:
    """Queue uncertain emails again, after the mail server's log showed they were not
    delivered. The notifier sends each once more."""
    _apply(use_cases.resend, ids, "re-queued")


@emails.command("delivered")
def delivered(
    ids: Annotated[list[int], typer.Argument(help="Ids from `bridgework emails uncertain`")],
) -> None:
    """Record uncertain emails as sent, after the mail server's log showed they arrived."""
    _apply(use_cases.mark_delivered, ids, "recorded as sent")

"""``bridgework accounts ...`` (administrators and coordinators) and ``bridgework export ...``.

The first administrator is created here; they then manage networks and coordinators in the web
pages. There is no default password: the command asks for one (or reads
BRIDGEWORK_NEW_PASSWORD, for scripts) and refuses short ones."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import asyncpg
import typer
from pydantic import ValidationError

from services.profiles.accounts import api_tokens
from services.profiles.accounts.accounts import (
    AccountRefused,
    NewAccount,
    create_account,
    list_accounts,
)
from services.profiles.accounts.permissions import AccountRole
from services.profiles.bootstrap import MIGRATIONS, SCHEMA
from services.profiles.coordination import queries
from services.profiles.coordination.dashboard import matches_csv
from shared.db import create_pool, migrate_async
from shared.settings import Settings

accounts = typer.Typer(help="Sign-in accounts for administrators and coordinators.")
T = TypeVar("T")

Password = Annotated[
    str,
    typer.Option(
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        envvar="BRIDGEWORK_NEW_PASSWORD",
        help="asked for when not given; at least 12 characters",
    ),
]


@asynccontextmanager
async def profiles_connection(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    await migrate_async(settings.database_url, SCHEMA, MIGRATIONS)
    pool = await create_pool(settings.database_url, SCHEMA, min_size=1, max_size=1)
    try:
        async with pool.acquire() as connection:
            yield connection
    finally:
        await pool.close()


def _run(work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    async def main() -> T:
        async with profiles_connection(Settings()) as connection:
            return await work(connection)

    return asyncio.run(main())


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _create(new_account: Callable[[], NewAccount]) -> None:
    try:
        new = new_account()
        account = _run(lambda conn: create_account(conn, new, actor=_actor()))
    except (ValidationError, AccountRefused) as error:
        typer.echo(f"Refused, nothing was created: {error}", err=True)
        raise typer.Exit(code=1) from error
    typer.echo(f"Created {account.role.value} account {account.email}.")


@accounts.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="the administrator's email (their sign-in)")],
    name: Annotated[str, typer.Option(help="the administrator's name")],
    password: Password,
) -> None:
    """Create an administrator account (manages networks and coordinators)."""
    _create(
        lambda: NewAccount(
            email=email, name=name, role=AccountRole.ADMINISTRATOR, password=password
        )
    )


@accounts.command("create-coordinator")
def create_coordinator(
    network: Annotated[str, typer.Option(help="the network's id")],
    email: Annotated[str, typer.Option(help="the coordinator's email (their sign-in)")],
    name: Annotated[str, typer.Option(help="the coordinator's name")],
    password: Password,
) -> None:
    """Create a coordinator account for one network (they also receive its proposal emails)."""
    _create(
        lambda: NewAccount(
            email=email,
            name=name,
            role=AccountRole.COORDINATOR,
            network_id=network,
            password=password,
        )
    )


@accounts.command("list")
def list_all() -> None:
    """List the accounts: email, role and network."""
    for account in _run(list_accounts):
        typer.echo(f"{account.email}\t{account.role.value}\t{account.network_id or ''}")


@accounts.command("create-api-token")
def create_api_token(
    name: Annotated[str, typer.Option(help="who holds it, e.g. 'north-east-hr' (audit records)")],
    network: Annotated[
        str | None,
        typer.Option(help="the one network it may reach; without: every network (administrator)"),
    ] = None,
    days: Annotated[
        int, typer.Option(help=f"how long it works (at most {api_tokens.MAX_LIFETIME_DAYS})")
    ] = api_tokens.DEFAULT_LIFETIME_DAYS,
) -> None:
    """Make a bearer token for the JSON API and print it, once: only its hash is kept."""
    try:
        token = _run(
            lambda conn: api_tokens.create_api_token(
                conn, name, network, actor=_actor(), lifetime_days=days
            )
        )
    except api_tokens.TokenRefused as error:
        typer.echo(f"Refused, nothing was created: {error}", err=True)
        raise typer.Exit(code=1) from error
    reach = f"network {network}" if network else "every network (administrator)"
    typer.echo(
        f"Created API token {name!r} for {reach}, working for {days} days; it is shown only now:",
        err=True,
    )
    typer.echo(token)  # alone on standard output, for scripts


@accounts.command("revoke-api-token")
def revoke_api_token(
    name: Annotated[str, typer.Option(help="the token's name")],
) -> None:
    """Revoke an API token: it stops working at once."""
    try:
        _run(lambda conn: api_tokens.revoke_api_token(conn, name, actor=_actor()))
    except api_tokens.TokenRefused as error:
        typer.echo(f"Refused: {error}", err=True)
        raise typer.Exit(code=1) from error
    typer.echo(f"Revoked API token {name!r}.")


@accounts.command("list-api-tokens")
def list_tokens() -> None:
    """List the API tokens: name, network, made when and by whom, expiry, last use, state."""
    for info in _run(api_tokens.list_api_tokens):
        revoked = f"revoked {info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else "live"
        used = f"{info.last_used_at:%Y-%m-%d %H:%M}" if info.last_used_at else "never used"
        typer.echo(
            f"{info.name}\t{info.network_id or '(every network)'}\t"
            f"{info.created_at:%Y-%m-%d %H:%M}\t{info.created_by}\t"
            f"expires {info.expires_at:%Y-%m-%d}\t{used}\t{revoked}"
        )


def export_matches(
    network: Annotated[str, typer.Option(help="the network's id")],
    output: Annotated[
        Path | None, typer.Option(help="CSV file to write; standard output when not given")
    ] = None,
) -> None:
    """Every proposal of a network and what became of it, as CSV."""

    async def read(conn: asyncpg.Connection) -> str | None:
        if await queries.network_name(conn, network) is None:
            return None
        return matches_csv(await queries.proposals(conn, network))

    body = _run(read)
    if body is None:
        typer.echo(f"Unknown network {network!r}.", err=True)
        raise typer.Exit(code=1)
    if output is None:
        typer.echo(body, nl=False)
    else:
        output.write_text(body, encoding="utf-8")
        typer.echo(f"Wrote {body.count(chr(10)) - 1} matches to {output}.", err=True)

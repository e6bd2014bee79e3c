"""``bridgework import people|placements|trusts FILE``: spreadsheets into Bridgework, with a
progress bar and a row-by-row report. Exits 1 when any row (or the file) was refused."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated

import asyncpg
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from services.profiles.bootstrap import MIGRATIONS, SCHEMA
from services.profiles.imports.importers import (
    ImportReport,
    import_people_csv,
    import_placements_csv,
    import_trusts_ods,
)
from shared.db import create_pool, migrate_async
from shared.settings import Settings

app = typer.Typer(
    help="Import people, placements or NHS trusts from a CSV file.", no_args_is_help=True
)

FileArgument = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="the CSV file")
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="check every row against the database; store nothing")
]
Partial = Annotated[
    bool,
    typer.Option(
        "--partial",
        help="store the accepted rows even when others are refused (default: all or nothing)",
    ),
]
Importer = Callable[..., Awaitable[ImportReport]]


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


async def _run(
    importer: Importer, data: bytes, network: str | None, **options: bool
) -> ImportReport:
    settings = Settings()
    console = Console(stderr=True)
    await migrate_async(settings.database_url, SCHEMA, MIGRATIONS)
    pool: asyncpg.Pool = await create_pool(settings.database_url, SCHEMA, min_size=1, max_size=2)
    try:
        with Progress(
            TextColumn("[bold]Importing"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("rows", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            return await importer(
                pool, data, actor=_actor(), network_id=network, progress=progress, **options
            )
    finally:
        await pool.close()


def show(report: ImportReport) -> None:
    console = Console()  # made per call: it follows the terminal's width (COLUMNS) now
    table = Table(title=f"Import of {report.kind.value}", show_lines=False)
    table.add_column("row", justify="right")
    table.add_column("key")
    table.add_column("result")
    table.add_column("why")
    for outcome in report.rows:
        result = (
            f"[green]{outcome.action or 'accepted'}[/]" if outcome.accepted else "[red]refused[/]"
        )
        table.add_row(str(outcome.row), outcome.key, result, "\n".join(outcome.reasons))
    if report.rows:
        console.print(table)
    console.print(report.summary, markup=False, highlight=False)


def _finish(report: ImportReport) -> None:
    show(report)
    if report.problems or report.refused:
        raise typer.Exit(code=1)


@app.command()
def people(
    file: FileArgument,
    network: Annotated[
        str | None, typer.Option(help="refuse people whose trust is in another network")
    ] = None,
    dry_run: DryRun = False,
    partial: Partial = False,
) -> None:
    """Mentors and mentees (columns: role, name, email, job_title, trust_code, ...)."""
    report = asyncio.run(
        _run(import_people_csv, file.read_bytes(), network, dry_run=dry_run, partial=partial)
    )
    _finish(report)


@app.command()
def placements(
    file: FileArgument,
    network: Annotated[
        str | None, typer.Option(help="refuse placements whose trust is in another network")
    ] = None,
    dry_run: DryRun = False,
    partial: Partial = False,
) -> None:
    """Secondment placements (columns: host_trust_code, role, skills_developed, months, fte)."""
    report = asyncio.run(
        _run(import_placements_csv, file.read_bytes(), network, dry_run=dry_run, partial=partial)
    )
    _finish(report)


@app.command()
def trusts(
    file: FileArgument,
    network: Annotated[str, typer.Option(help="the network the trusts join")],
    dry_run: DryRun = False,
    partial: Partial = False,
) -> None:
    """NHS trusts from an NHS Organisation Data Service (ODS) file."""
    report = asyncio.run(
        _run(import_trusts_ods, file.read_bytes(), network, dry_run=dry_run, partial=partial)
    )
    _finish(report)

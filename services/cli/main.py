"""``bridgework``: one entry point; each group of commands lives in its own module and is
registered here (imports and exports for coordinators, operations for the platform team)."""

from __future__ import annotations

from importlib.metadata import version as installed_version

import typer

from services.cli import accounts, emails, imports, operations

app = typer.Typer(
    name="bridgework",
    help="Bridgework: mentoring and secondment matching for NHS digital-leadership networks.",
    no_args_is_help=True,
)


app.add_typer(imports.app, name="import")
app.add_typer(operations.app)  # status, dlq replay, rerun-round, republish, export network
# Coordinators' "export matches" sits beside the operators' "export network", in one group.
operations.export.command("matches")(accounts.export_matches)
app.add_typer(accounts.accounts, name="accounts")
app.add_typer(emails.emails, name="emails")


@app.callback()
def root() -> None:
    """Bridgework's commands; `bridgework COMMAND --help` tells more."""


@app.command()
def version() -> None:
    """Print the installed Bridgework version."""
    typer.echo(installed_version("bridgework"))


def main() -> None:
    app()


if __name__ == "__main__":
    main()

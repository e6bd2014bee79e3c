"""``bridgework accounts`` and ``bridgework export`` against the real database."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from typer.testing import CliRunner, Result

from services.cli.main import app
from shared.settings import Settings

pytestmark = pytest.mark.integration
PASSWORD = "a long enough password"


async def invoke(cli: CliRunner, *args: Any, **kwargs: Any) -> Result:
    """The CLI runs its own event loop (asyncio.run): a thread of its own, as in a shell."""
    return await asyncio.to_thread(cli.invoke, *args, **kwargs)


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("BRIDGEWORK_DATABASE_URL", settings.database_url)
    return CliRunner()


async def test_create_admin_asks_for_a_password_and_refuses_short_or_repeated_ones(
    cli: CliRunner, settings: Settings
) -> None:
    email = f"root.{uuid4().hex[:6]}@bridgework.example"
    args = ["accounts", "create-admin", "--email", email, "--name", "Root"]
    result = await invoke(cli, app, args, input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert f"Created administrator account {email}" in result.output

    conn = await asyncpg.connect(settings.database_url)
    try:
        row = await conn.fetchrow(
            "SELECT role, password_hash FROM profiles.accounts WHERE email = $1", email
        )
        audited = await conn.fetchval(
            "SELECT actor FROM profiles.audit_log WHERE subject = $1", email
        )
    finally:
        await conn.close()
    assert row["role"] == "administrator"
    assert row["password_hash"].startswith("$argon2id$")
    assert audited.startswith("cli:")

    again = await invoke(cli, app, args, env={"BRIDGEWORK_NEW_PASSWORD": PASSWORD})
    assert again.exit_code == 1
    assert "already exists" in again.output
    other = f"short.{uuid4().hex[:6]}@bridgework.example"
    short = await invoke(
        cli,
        app,
        ["accounts", "create-admin", "--email", other, "--name", "S"],
        env={"BRIDGEWORK_NEW_PASSWORD": "short"},
    )
    assert short.exit_code == 1
    assert "at least 12 characters" in short.output
    listed = await invoke(cli, app, ["accounts", "list"])
    assert email in listed.output
    assert other not in listed.output


async def test_export_matches_writes_the_networks_proposals_as_csv(
    cli: CliRunner, settings: Settings
) -> None:
    network = f"cli-{uuid4().hex[:6]}"
    match_id = uuid4()
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute(
            "INSERT INTO profiles.networks (id, name, coordinators) VALUES ($1, 'N', '[]')",
            network,
        )
        await conn.execute(
            """
            INSERT INTO profiles.proposals (match_id, network_id, kind, provider_id, mentee_id,
                score, explanation, proposed_at)
            VALUES ($1, $2, 'mentoring', $3, $4, 0.5,
                '{"skills_covered": [], "region_reason": "remote", "parts": []}', now())
            """,
            match_id,
            network,
            uuid4(),
            uuid4(),
        )
    finally:
        await conn.close()
    result = await invoke(cli, app, ["export", "matches", "--network", network])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["match_id"], r["status"]) for r in rows] == [(str(match_id), "pending")]
    unknown = await invoke(cli, app, ["export", "matches", "--network", "no-such-network"])
    assert unknown.exit_code == 1

"""``bridgework accounts`` and ``bridgework export`` against the real database."""

from __future__ import annotations

import asyncio
import csv
import hashlib
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
    assert result.stdout.startswith("\ufeff")  # UTF-8 with BOM: spreadsheets read it right
    rows = list(csv.DictReader(io.StringIO(result.stdout.removeprefix("\ufeff"))))
    assert [(r["match_id"], r["status"]) for r in rows] == [(str(match_id), "pending")]
    unknown = await invoke(cli, app, ["export", "matches", "--network", "no-such-network"])
    assert unknown.exit_code == 1


async def test_api_tokens_are_printed_once_kept_as_a_hash_revoked_and_audited(
    cli: CliRunner, settings: Settings
) -> None:
    network = f"tok-{uuid4().hex[:6]}"
    name = f"{network}-hr"
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute(
            "INSERT INTO profiles.networks (id, name, coordinators) VALUES ($1, 'N', '[]')",
            network,
        )
    finally:
        await conn.close()
    args = ["accounts", "create-api-token", "--name", name, "--network", network]
    made = await invoke(cli, app, args)
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()  # alone on standard output, for scripts
    assert token.startswith("bw_")
    assert len(token) > 40
    again = await invoke(cli, app, args)
    assert (again.exit_code, "revoke it first" in again.output) == (1, True)
    unknown = await invoke(
        cli, app, ["accounts", "create-api-token", "--name", "x", "--network", "no-such"]
    )
    assert (unknown.exit_code, "unknown network" in unknown.output) == (1, True)
    listed = await invoke(cli, app, ["accounts", "list-api-tokens"])
    assert f"{name}\t{network}" in listed.output
    assert token not in listed.output

    revoked = await invoke(cli, app, ["accounts", "revoke-api-token", "--name", name])
    assert revoked.exit_code == 0, revoked.output
    twice = await invoke(cli, app, ["accounts", "revoke-api-token", "--name", name])
    assert twice.exit_code == 1

    conn = await asyncpg.connect(settings.database_url)
    try:
        stored = await conn.fetchrow(
            "SELECT token_hash, revoked_at, revoked_by FROM profiles.api_tokens WHERE name = $1",
            name,
        )
        audited = await conn.fetch(
            "SELECT actor, action, details FROM profiles.audit_log WHERE subject = $1 ORDER BY id",
            name,
        )
    finally:
        await conn.close()
    assert stored["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert stored["revoked_at"] is not None
    assert stored["revoked_by"].startswith("cli:")
    assert [(r["action"], r["actor"].startswith("cli:")) for r in audited] == [
        ("api_token.created", True),
        ("api_token.revoked", True),
    ]
    assert all(token not in str(r["details"]) for r in audited)

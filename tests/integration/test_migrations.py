from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import asyncpg
import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from devtools.stack import drop_database, fresh_database
from shared.db import migrate_async, migration_config
from shared.settings import Settings

pytestmark = pytest.mark.integration
SERVICES = Path(__file__).resolve().parents[2] / "services"


@pytest.fixture
async def new_database(base_settings: Settings) -> AsyncIterator[str]:
    """An empty database of the test's own (no schema yet), dropped afterwards."""
    url = await fresh_database(base_settings.database_url, f"bridgework_new_{uuid4().hex[:8]}")
    yield url
    await drop_database(base_settings.database_url, url)


def head_revision(service: str) -> str:
    config = Config()
    config.set_main_option("script_location", str(SERVICES / service / "migrations"))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


@pytest.mark.parametrize("service", ["profiles", "matcher", "notifier"])
async def test_migrations_reach_head_are_recorded_and_rerun_safely(
    settings: Settings, service: str
) -> None:
    for _ in range(2):  # the second run finds nothing to do
        await migrate_async(settings.database_url, service, SERVICES / service / "migrations")
    conn = await asyncpg.connect(settings.database_url)
    try:
        versions = await conn.fetch(f"SELECT version_num FROM {service}.alembic_version")
        columns = {
            (r["table_name"], r["column_name"])
            for r in await conn.fetch(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = $1",
                service,
            )
        }
    finally:
        await conn.close()
    assert [v["version_num"] for v in versions] == [head_revision(service)]
    assert ("outbox", "payload") in columns or service == "notifier"
    assert ("processed_events", "event_id") in columns or service == "profiles"


async def test_matcher_migrations_applied_in_order(settings: Settings) -> None:
    """0002 alters the table 0001 creates: it can only have run after it."""
    await migrate_async(settings.database_url, "matcher", SERVICES / "matcher" / "migrations")
    conn = await asyncpg.connect(settings.database_url)
    try:
        has_column = await conn.fetchval(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'matcher'"
            " AND table_name = 'proposals' AND column_name = 'exchange_id'"
        )
    finally:
        await conn.close()
    assert has_column == 1


async def test_a_url_with_a_percent_encoded_password_migrates(new_database: str) -> None:
    """Alembic read the URL as a ConfigParser value, where ``%`` interpolates: a password with
    a percent-encoded character (``p%40ss``, "p@ss") stopped every service at its start."""
    server = urlsplit(new_database)
    if server.password is not None:
        pytest.skip("the server's URL carries a password of its own: this test adds one")
    # The local server trusts its user: the password is sent, and only the URL is tested.
    with_password = server._replace(
        netloc=f"{server.username}:p%40ss%25@{server.hostname}:{server.port}"
    )
    url = urlunsplit(with_password)
    await migrate_async(url, "matcher", SERVICES / "matcher" / "migrations")
    conn = await asyncpg.connect(url)
    try:
        versions = await conn.fetch("SELECT version_num FROM matcher.alembic_version")
    finally:
        await conn.close()
    assert [v["version_num"] for v in versions] == [head_revision("matcher")]


async def migrate_in_a_process(url: str, service: str) -> None:
    """One replica's start-up migration, in a process of its own as replicas are (Alembic's
    context is global to a process)."""
    code = "import sys; from shared.db import migrate; migrate(*sys.argv[1:])"
    migrations = str(SERVICES / service / "migrations")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        url,
        service,
        migrations,
        cwd=SERVICES.parent,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()[-2000:]


async def test_replicas_starting_together_on_a_new_database_migrate_once(
    new_database: str,
) -> None:
    """Several replicas (deploy/k8s runs two matchers) start at once: one creates the schema
    and migrates, the others wait for its lock and find nothing to do."""
    url = new_database
    services = ("profiles", "matcher", "notifier")
    await asyncio.gather(*(migrate_in_a_process(url, s) for s in services for _ in range(3)))
    conn = await asyncpg.connect(url)
    try:
        for service in services:
            versions = await conn.fetch(f"SELECT version_num FROM {service}.alembic_version")
            assert [v["version_num"] for v in versions] == [head_revision(service)]
    finally:
        await conn.close()


def move_matcher(url: str, direction: str, revision: str) -> None:
    """Alembic's upgrade or downgrade of the matcher's schema to ``revision``."""
    config = migration_config(url, "matcher", SERVICES / "matcher" / "migrations")
    getattr(command, direction)(config, revision)


async def test_stored_profiles_become_json_with_their_trust_as_a_column_and_back(
    new_database: str,
) -> None:
    """1901 on a database with people in it: each keeps their profile, now as ``json``, with
    their trust code copied out of it; going back restores ``jsonb`` and drops the column."""
    url = new_database
    person = uuid4()
    profile = {"person_id": str(person), "trust_code": "RX1", "bio": "Data and digital"}
    await asyncio.to_thread(move_matcher, url, "upgrade", "1900")
    conn = await asyncpg.connect(url, server_settings={"search_path": "matcher"})
    try:
        await conn.execute(
            "INSERT INTO people (id, role, network_id, profile) VALUES ($1, 'mentee', 'n',"
            " $2::jsonb)",
            person,
            json.dumps(profile),
        )
        await asyncio.to_thread(move_matcher, url, "upgrade", "head")
        row = await conn.fetchrow(
            "SELECT trust_code, profile::text AS text, pg_typeof(profile)::text AS type FROM people"
        )
        assert (row["trust_code"], row["type"]) == ("RX1", "json")
        assert json.loads(row["text"]) == profile
        await asyncio.to_thread(move_matcher, url, "downgrade", "1900")
        row = await conn.fetchrow(
            "SELECT profile::text AS text, pg_typeof(profile)::text AS type FROM people"
        )
        assert row["type"] == "jsonb"
        assert json.loads(row["text"]) == profile
        assert not await conn.fetchval(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'matcher'"
            " AND table_name = 'people' AND column_name = 'trust_code'"
        )
    finally:
        await conn.close()

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from shared.db import migrate_async
from shared.settings import Settings

pytestmark = pytest.mark.integration
SERVICES = Path(__file__).resolve().parents[2] / "services"


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

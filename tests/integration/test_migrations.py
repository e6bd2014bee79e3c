from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from shared.db import migrate_async
from shared.settings import Settings

pytestmark = pytest.mark.integration
SERVICES = Path(__file__).resolve().parents[2] / "services"


@pytest.mark.parametrize("service", ["profiles", "matcher", "notifier"])
async def test_migrations_apply_in_order_are_recorded_and_rerun_safely(
    settings: Settings, service: str
) -> None:
    await migrate_async(settings.database_url, service, SERVICES / service / "migrations")
    await migrate_async(settings.database_url, service, SERVICES / service / "migrations")
    conn = await asyncpg.connect(settings.database_url)
    try:
        versions = await conn.fetch(f"SELECT version_num FROM {service}.alembic_version")
        tables = {
            r["table_name"]
            for r in await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", service
            )
        }
    finally:
        await conn.close()
    assert [v["version_num"] for v in versions] == ["0001"]
    assert "processed_events" in tables or service == "profiles"
    assert {"outbox", "people"} <= tables or service == "notifier"

"""A service's schema, migrated, on the test session's database."""

from __future__ import annotations

import asyncpg

from devtools import ROOT
from shared.db import create_pool, migrate_async
from shared.settings import Settings


async def migrated_pool(settings: Settings, schema: str) -> asyncpg.Pool:
    """A pool on ``schema`` (a service's name) after its migrations have run."""
    migrations = ROOT / "services" / schema / "migrations"
    await migrate_async(settings.database_url, schema, migrations)
    return await create_pool(settings.database_url, schema, min_size=1, max_size=5)

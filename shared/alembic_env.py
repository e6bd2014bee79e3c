"""The body of every service's Alembic ``env.py``: migrations run inside the service's schema."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def _run(connection: Connection, schema: str) -> None:
    # One replica migrating at a time, even when several start together: the lock comes first,
    # since two concurrent CREATE SCHEMA IF NOT EXISTS can still collide. It is held by the
    # connection's one transaction (Alembic joins it), committed after the last migration.
    connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": schema})
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    connection.execute(text(f'SET search_path TO "{schema}"'))
    context.configure(connection=connection, version_table_schema=schema)
    with context.begin_transaction():
        context.run_migrations()


async def _migrate_online() -> None:
    config = context.config
    schema = config.attributes["schema"]
    engine = create_async_engine(config.attributes["database_url"])
    async with engine.connect() as connection:
        await connection.run_sync(_run, schema)
        await connection.commit()
    await engine.dispose()


def run() -> None:
    asyncio.run(_migrate_online())

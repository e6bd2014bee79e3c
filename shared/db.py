"""PostgreSQL helpers: one schema per service, migrations with Alembic, asyncpg pools."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg
import sqlalchemy.exc
from alembic import command
from alembic.config import Config
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential


def sqlalchemy_url(database_url: str) -> str:
    """Alembic talks to PostgreSQL through SQLAlchemy's asyncpg dialect."""
    scheme, rest = database_url.split("://", 1)
    return f"postgresql+asyncpg://{rest}" if scheme in {"postgres", "postgresql"} else database_url


def database_named(database_url: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``database_url``: its user, password,
    host and options (``?sslmode=require``, a socket's ``?host=``) kept as they are."""
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def database_name(database_url: str) -> str:
    """The database a URL names (its path, percent-decoded)."""
    return unquote(urlsplit(database_url).path.lstrip("/"))


def migration_config(database_url: str, schema: str, migrations_dir: Path) -> Config:
    """Alembic's configuration for one service's migrations of its schema.

    The URL goes in ``attributes``, not ``sqlalchemy.url``: Alembic's options are ConfigParser
    values, where ``%`` starts an interpolation, so a percent-encoded password (``p%40ss``)
    failed every migration, and with it the service's start."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.attributes["database_url"] = sqlalchemy_url(database_url)
    config.attributes["schema"] = schema
    return config


def migrate(database_url: str, schema: str, migrations_dir: Path) -> None:
    """Apply a service's migrations in order; Alembic records each in <schema>.alembic_version."""
    command.upgrade(migration_config(database_url, schema, migrations_dir), "head")


# The database is starting, restarting or unreachable: worth waiting for at start-up.
UNREACHABLE_DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
)


@retry(
    retry=retry_if_exception_type(UNREACHABLE_DATABASE_ERRORS),
    wait=wait_exponential(multiplier=0.2, max=2),
    stop=stop_after_delay(60),
    reraise=True,
)
async def migrate_async(database_url: str, schema: str, migrations_dir: Path) -> None:
    """Migrate, waiting up to a minute for a database that is (re)starting: a service started
    while PostgreSQL restarts waits for it instead of exiting."""
    # Alembic's env runs its own event loop, so it gets a thread of its own.
    await asyncio.to_thread(migrate, database_url, schema, migrations_dir)


async def _init_connection(connection: asyncpg.Connection) -> None:
    await connection.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
    )


def _server_settings(schema: str) -> dict[str, str]:
    return {
        "search_path": schema,
        "application_name": f"bridgework-{schema}",
        # Plan each execution for the tables as they are now. After five executions PostgreSQL
        # may keep a prepared statement's generic plan for good, and one made while a table was
        # nearly empty stays until the table's next ANALYZE (autovacuum's, up to a minute
        # later): the arrivals' newcomer check then scanned every mentoring proposal once per
        # newcomer, and the matcher fell up to 20 s behind (docs/scaling.md, "Stale plans").
        "plan_cache_mode": "force_custom_plan",
        # No JIT compiling. A round's read of its network's people is planned above JIT's cost
        # threshold in a large network, and compiling it took about 0.2 s of a 0.03 s read,
        # on every call (each execution is planned afresh, above): 7.6 s of PostgreSQL's CPU
        # in a five-minute sustained run (docs/scaling.md, "Collector pauses, and a compile on
        # every round's read").
        "jit": "off",
    }


@retry(
    retry=retry_if_exception_type(UNREACHABLE_DATABASE_ERRORS),
    wait=wait_exponential(multiplier=0.2, max=2),
    stop=stop_after_delay(60),
    reraise=True,
)
async def create_pool(database_url: str, schema: str, **kwargs: Any) -> asyncpg.Pool:
    """A pool whose connections see the service's own schema first."""
    pool = await asyncpg.create_pool(
        database_url,
        init=_init_connection,
        server_settings=_server_settings(schema),
        **kwargs,
    )
    assert pool is not None
    return pool


@asynccontextmanager
async def connection(database_url: str, schema: str) -> AsyncIterator[asyncpg.Connection]:
    """One connection that sees the service's own schema first, as its pool's do: what a
    command (the CLI, the demo) needs to call one of the service's use cases."""
    conn = await asyncpg.connect(database_url, server_settings=_server_settings(schema))
    try:
        await _init_connection(conn)
        yield conn
    finally:
        await conn.close()

"""The services' connections plan each execution for the tables as they are, and compile none
(shared/db.py).

A prepared statement's generic plan, kept after its fifth execution, is made for the table
statistics of that moment; one made while ``proposals`` was nearly empty scanned every mentoring
proposal once per newcomer as the table grew, until autovacuum analysed it again
(docs/scaling.md, "Stale plans")."""

from __future__ import annotations

import json
from uuid import uuid4

import asyncpg
import pytest

from shared.db import connection
from shared.settings import Settings

pytestmark = pytest.mark.integration

NEWCOMER_CHECK = (
    "SELECT count(*) FROM proposals a WHERE a.mentee_id = $1 AND a.kind = 'mentoring'"
    " AND a.status = 'pending'"
)


async def _plans(conn: asyncpg.Connection, executions: int) -> asyncpg.Record:
    for _ in range(executions):
        await conn.fetchval(NEWCOMER_CHECK, uuid4())
    plans: asyncpg.Record = await conn.fetchrow(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1",
        NEWCOMER_CHECK,
    )
    return plans


async def test_a_pool_connection_never_keeps_a_generic_plan(matcher_pool: asyncpg.Pool) -> None:
    async with matcher_pool.acquire() as conn:
        plans = await _plans(conn, 12)
    assert plans["generic_plans"] == 0
    assert plans["custom_plans"] >= 12


async def test_a_command_connection_never_keeps_one_either(
    settings: Settings, matcher_pool: asyncpg.Pool
) -> None:
    async with connection(settings.database_url, "matcher") as conn:
        plans = await _plans(conn, 12)
    assert plans["generic_plans"] == 0


async def test_without_the_setting_postgresql_would_keep_one(matcher_pool: asyncpg.Pool) -> None:
    """The check above can fail: PostgreSQL's own choice (``auto``) switches to the generic
    plan after five custom ones."""
    async with matcher_pool.acquire() as conn:
        await conn.execute("SET plan_cache_mode = auto")
        try:
            plans = await _plans(conn, 12)
        finally:
            await conn.execute("RESET plan_cache_mode")
    assert plans["generic_plans"] > 0


# Estimated above jit_above_cost (100,000 by default), as a round's read of a large network is.
COSTLY = "SELECT sum(g) FROM generate_series(1, 20000000) g"


async def _compiles(conn: asyncpg.Connection) -> bool:
    plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {COSTLY}")
    return "JIT" in json.loads(plan)[0]


async def test_a_service_connection_compiles_no_query(
    settings: Settings, matcher_pool: asyncpg.Pool
) -> None:
    async with matcher_pool.acquire() as conn:
        assert not await _compiles(conn)
    async with connection(settings.database_url, "matcher") as conn:
        assert not await _compiles(conn)


async def test_without_the_setting_postgresql_would_compile_it(matcher_pool: asyncpg.Pool) -> None:
    """The check above can fail, on a server built with JIT."""
    async with matcher_pool.acquire() as conn:
        await conn.execute("SET jit = on")
        try:
            if not await conn.fetchval("SELECT pg_jit_available()"):
                pytest.skip("this PostgreSQL server has no JIT provider (llvmjit)")
            assert await _compiles(conn)
        finally:
            await conn.execute("RESET jit")

"""The pipeline benchmark's clock for the ingest reads an index, not the table it is timing,
and plans each poll for the table as it is.

Its poll runs every 20 ms while the matcher writes: a scan of ``processed_events`` cost 28 ms
of CPU a poll at 200,000 events, and a generic plan kept from the table's first seconds took
28-44 ms a poll by the end of a drain, on the two cores the ingest is measured on
(docs/scaling.md, "The ingest's own clock")."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from bench.bench_pipeline import CLAIMED_BY_MATCHER, polling
from shared.settings import Settings

pytestmark = pytest.mark.integration

CLAIMED_BY_ANYONE = "SELECT count(*) FROM matcher.processed_events WHERE event_id = ANY($1::uuid[])"


@pytest.fixture
async def claimed(matcher_pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A connection whose transaction (rolled back) sees 50,000 events claimed by the matcher,
    and fresh statistics for them."""
    async with matcher_pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            await conn.execute(
                "INSERT INTO matcher.processed_events (consumer, event_id)"
                " SELECT 'matcher', gen_random_uuid() FROM generate_series(1, 50000)"
            )
            await conn.execute("ANALYZE matcher.processed_events")
            yield conn
        finally:
            await transaction.rollback()


async def _plan(conn: asyncpg.Connection, query: str, ids: list[UUID]) -> dict[str, Any]:
    text = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {query}", ids)
    plan: dict[str, Any] = json.loads(text)[0]["Plan"]
    return plan


def _scans(plan: dict[str, Any]) -> set[str]:
    found = {plan["Node Type"]} if "Scan" in plan["Node Type"] else set()
    for child in plan.get("Plans", []):
        found |= _scans(child)
    return found


async def test_the_ingest_poll_reads_the_primary_key(claimed: asyncpg.Connection) -> None:
    ids = [uuid4() for _ in range(24)]  # one last event a partition
    assert _scans(await _plan(claimed, CLAIMED_BY_MATCHER, ids)) <= {
        "Index Only Scan",
        "Index Scan",
        "Bitmap Index Scan",
        "Bitmap Heap Scan",
    }


async def test_without_the_consumer_it_would_scan_the_table(claimed: asyncpg.Connection) -> None:
    """The check above can fail: the ids alone are not a prefix of the key."""
    ids = [uuid4() for _ in range(24)]
    assert "Seq Scan" in _scans(await _plan(claimed, CLAIMED_BY_ANYONE, ids))


async def test_the_poll_counts_the_matchers_claims(claimed: asyncpg.Connection) -> None:
    ids = [
        row["event_id"]
        for row in await claimed.fetch(
            "SELECT event_id FROM matcher.processed_events WHERE consumer = 'matcher' LIMIT 5"
        )
    ]
    await claimed.execute(
        "INSERT INTO matcher.processed_events (consumer, event_id) VALUES ('other', $1)", ids[0]
    )
    assert await claimed.fetchval(CLAIMED_BY_MATCHER, [*ids, uuid4()]) == 5


async def _generic_plans(conn: asyncpg.Connection) -> int:
    ids = [uuid4() for _ in range(24)]
    for _ in range(12):
        await conn.fetchval(CLAIMED_BY_MATCHER, ids)
    plans: int = await conn.fetchval(
        "SELECT generic_plans FROM pg_prepared_statements WHERE statement = $1",
        CLAIMED_BY_MATCHER,
    )
    return plans


async def test_the_polls_never_keep_a_generic_plan(
    settings: Settings, matcher_pool: asyncpg.Pool
) -> None:
    async with polling(settings.database_url) as conn:
        assert await _generic_plans(conn) == 0


async def test_a_plain_connection_would_keep_one(
    settings: Settings, matcher_pool: asyncpg.Pool
) -> None:
    """The check above can fail: the bench's polls connected this way until 2026-12-06."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        assert await _generic_plans(conn) > 0
    finally:
        await conn.close()

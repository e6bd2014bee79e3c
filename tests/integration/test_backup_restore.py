"""Backing up and restoring the profiles service's database (docs/operations.md) with the
PostgreSQL tools of the project's own install: after a restore, every event the backup holds
unpublished goes out once, none it holds published goes out again, and the changes made after
the restore follow them."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest

from devtools import ROOT
from devtools.stack import drop_database, fresh_database
from services.profiles.directory.networks import save_network
from shared.kafka import idempotent_producer
from shared.outbox import OutboxRelay
from shared.settings import Settings
from shared.topics import Topic
from tests.support.database import migrated_pool
from tests.support.kafka import read_topic

pytestmark = pytest.mark.integration


def pg_bin() -> str:
    """Where the project's own PostgreSQL install keeps its tools."""
    found = subprocess.run(
        ["bash", str(ROOT / "devtools" / "postgres.sh"), "bin"],
        capture_output=True,
        text=True,
        check=True,
    )
    return found.stdout.strip()


async def pg_tool(name: str, *args: str) -> None:
    """Run PostgreSQL's ``name`` (pg_dump, pg_restore) from that install."""
    tool = await asyncio.create_subprocess_exec(f"{await asyncio.to_thread(pg_bin)}/{name}", *args)
    assert await tool.wait() == 0, f"{name} failed"


@pytest.fixture
async def own_settings(settings: Settings) -> AsyncIterator[Settings]:
    """A database of this test's own: it drops the profiles schema."""
    url = await fresh_database(settings.database_url, f"bridgework_restore_{uuid4().hex[:8]}")
    yield settings.model_copy(update={"database_url": url})
    await drop_database(settings.database_url, url)


async def change_networks(pool: asyncpg.Pool, names: list[str]) -> None:
    async with pool.acquire() as conn:
        for name in names:
            await save_network(conn, name, f"Network {name}", [])


async def publish_all(pool: asyncpg.Pool, settings: Settings) -> int:
    producer = idempotent_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        relay, published = OutboxRelay(pool, producer), 0
        while sent := await relay.publish_batch():
            published += sent
        return published
    finally:
        await producer.stop()


async def test_a_restored_outbox_publishes_what_was_unpublished_once_and_nothing_again(
    own_settings: Settings, tmp_path: Path
) -> None:
    tag = uuid4().hex[:6]
    published, unpublished, after = (
        [f"bk-{tag}-{part}-{n}" for n in range(3)] for part in ("a", "b", "c")
    )
    own_url = own_settings.database_url
    pool = await migrated_pool(own_settings, "profiles")
    try:
        await change_networks(pool, published)
        assert await publish_all(pool, own_settings) == 3
        await change_networks(pool, unpublished)  # stored; the relay has not sent them yet
        dump = tmp_path / "profiles.dump"
        await pg_tool(
            "pg_dump", "--format=custom", "--schema=profiles", "--file", str(dump), own_url
        )
        async with pool.acquire() as conn:
            await conn.execute("DROP SCHEMA profiles CASCADE")  # the database is lost
    finally:
        await pool.close()

    await pg_tool("pg_restore", "--single-transaction", "--dbname", own_url, str(dump))
    pool = await migrated_pool(own_settings, "profiles")  # nothing to migrate: at head
    try:
        assert await publish_all(pool, own_settings) == 3  # the backup's unpublished ones
        await change_networks(pool, after)
        assert await publish_all(pool, own_settings) == 3
    finally:
        await pool.close()

    records = await read_topic(
        own_settings.kafka_bootstrap_servers,
        Topic.NETWORKS,
        lambda r: r.key is not None and r.key.decode().startswith(f"bk-{tag}-"),
        count=9,
    )
    keys = [r.key.decode() for r in records if r.key is not None]
    assert keys == published + unpublished + after  # each once, in the order stored
    event_ids = [json.loads(r.value)["event_id"] for r in records if r.value is not None]
    assert len(set(event_ids)) == 9

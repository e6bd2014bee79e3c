"""Networks and their coordinators (who receive the proposals and their decision links)."""

from __future__ import annotations

import asyncpg

from services.profiles.api.schemas import NetworkIn
from services.profiles.directory.errors import NotFound
from shared.events import NetworkUpserted
from shared.outbox import add_to_outbox


async def upsert_network(conn: asyncpg.Connection, network_id: str, data: NetworkIn) -> None:
    async with conn.transaction():
        coordinators = [c.model_dump(mode="json") for c in data.coordinators]
        await conn.execute(
            """
            INSERT INTO networks (id, name, coordinators) VALUES ($1, $2, $3)
            ON CONFLICT (id) DO UPDATE
              SET name = excluded.name, coordinators = excluded.coordinators, updated_at = now()
            """,
            network_id,
            data.name,
            coordinators,
        )
        event = NetworkUpserted(
            entity_key=network_id,
            network_id=network_id,
            name=data.name,
            coordinators=tuple(data.coordinators),
        )
        await add_to_outbox(conn, [event])


async def get_network(conn: asyncpg.Connection, network_id: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT id, name, coordinators FROM networks WHERE id = $1", network_id
    )
    if row is None:
        raise NotFound("network", network_id)
    return row

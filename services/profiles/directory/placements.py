"""Secondment placements: offered by a host trust, withdrawn when no longer open."""

from __future__ import annotations

from uuid import UUID, uuid4

import asyncpg

from services.profiles.api.schemas import PlacementIn, PlacementOut
from services.profiles.directory.errors import NotFound
from services.profiles.directory.trusts import trust_home
from shared.events import PlacementProfile, PlacementUpserted, PlacementWithdrawn
from shared.outbox import add_to_outbox
from shared.regions import Region


def placement_event(
    placement_id: UUID, data: PlacementIn, trust: asyncpg.Record
) -> PlacementUpserted:
    placement = PlacementProfile(
        placement_id=placement_id,
        network_id=trust["network_id"],
        region=Region(trust["region"]),
        **data.model_dump(),
    )
    return PlacementUpserted(entity_key=str(placement_id), placement=placement)


async def save_placement(
    conn: asyncpg.Connection, data: PlacementIn, placement_id: UUID | None = None
) -> UUID:
    async with conn.transaction():
        trust = await trust_home(conn, data.host_trust_code, "host_trust_code")
        details = data.model_dump(mode="json")
        if placement_id is None:
            placement_id = uuid4()
            await conn.execute(
                "INSERT INTO placements (id, host_trust_code, details) VALUES ($1, $2, $3)",
                placement_id,
                data.host_trust_code,
                details,
            )
        else:
            updated = await conn.fetchval(
                "UPDATE placements SET host_trust_code = $2, details = $3, updated_at = now()"
                " WHERE id = $1 AND withdrawn_at IS NULL RETURNING id",
                placement_id,
                data.host_trust_code,
                details,
            )
            if updated is None:
                raise NotFound("open placement", placement_id)
        await add_to_outbox(conn, [placement_event(placement_id, data, trust)])
    return placement_id


async def get_placement(conn: asyncpg.Connection, placement_id: UUID) -> PlacementOut:
    row = await conn.fetchrow(
        "SELECT details, withdrawn_at FROM placements WHERE id = $1", placement_id
    )
    if row is None:
        raise NotFound("placement", placement_id)
    return PlacementOut(
        id=placement_id,
        withdrawn=row["withdrawn_at"] is not None,
        details=PlacementIn.model_validate(row["details"]),
    )


async def withdraw_placement(conn: asyncpg.Connection, placement_id: UUID) -> None:
    async with conn.transaction():
        withdrawn = await conn.fetchval(
            "UPDATE placements SET withdrawn_at = now() WHERE id = $1 AND withdrawn_at IS NULL"
            " RETURNING id",
            placement_id,
        )
        if withdrawn is None:
            raise NotFound("open placement", placement_id)
        event = PlacementWithdrawn(entity_key=str(placement_id), placement_id=placement_id)
        await add_to_outbox(conn, [event])

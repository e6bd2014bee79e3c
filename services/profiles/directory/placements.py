"""Secondment placements: offered by a host trust, paused and resumed (out of matching a while,
kept), withdrawn when no longer open."""

from __future__ import annotations

from uuid import UUID, uuid4

import asyncpg

from services.profiles.api.schemas import PLACEMENT_PAGE_FIELDS, PlacementIn, PlacementOut
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
        **data.model_dump(exclude=PLACEMENT_PAGE_FIELDS),
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
            paused = await conn.fetchval(
                "UPDATE placements SET host_trust_code = $2, details = $3, updated_at = now()"
                " WHERE id = $1 AND withdrawn_at IS NULL RETURNING paused_at IS NOT NULL",
                placement_id,
                data.host_trust_code,
                details,
            )
            if paused is None:
                raise NotFound("open placement", placement_id)
            if paused:  # the matcher hears of it again when it is resumed
                return placement_id
        await add_to_outbox(conn, [placement_event(placement_id, data, trust)])
    return placement_id


async def set_paused(conn: asyncpg.Connection, placement_id: UUID, paused: bool) -> None:
    """Pause (the matcher forgets it, its pending proposals are withdrawn) or resume (it is
    matched again); a placement already so is left alone."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "UPDATE placements SET paused_at = CASE WHEN $2 THEN now() END, updated_at = now()"
            " WHERE id = $1 AND withdrawn_at IS NULL AND (paused_at IS NOT NULL) <> $2"
            " RETURNING host_trust_code, details",
            placement_id,
            paused,
        )
        if row is None:
            return
        if paused:
            event = PlacementWithdrawn(entity_key=str(placement_id), placement_id=placement_id)
            await add_to_outbox(conn, [event])
            return
        data = PlacementIn.model_validate(row["details"])
        trust = await trust_home(conn, row["host_trust_code"], "host_trust_code")
        await add_to_outbox(conn, [placement_event(placement_id, data, trust)])


async def get_placement(
    conn: asyncpg.Connection, placement_id: UUID, lock: bool = False
) -> PlacementOut:
    """``lock``: hold the row until the transaction ends (a PUT's If-Match check)."""
    row = await conn.fetchrow(
        "SELECT details, withdrawn_at, paused_at FROM placements WHERE id = $1"
        + (" FOR UPDATE" if lock else ""),
        placement_id,
    )
    if row is None:
        raise NotFound("placement", placement_id)
    return PlacementOut(
        id=placement_id,
        withdrawn=row["withdrawn_at"] is not None,
        paused=row["paused_at"] is not None,
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

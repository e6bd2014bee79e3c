"""The JSON API's secondment placements: create, replace, read and withdraw."""

from __future__ import annotations

from uuid import UUID

from fastapi import status

from services.profiles.api import access
from services.profiles.api.auth import NO_CONTENT, Client, api_router
from services.profiles.api.schemas import Created, PlacementIn, PlacementOut
from services.profiles.dependencies import Connection
from services.profiles.directory import placements

router = api_router()


@router.post("/placements", status_code=status.HTTP_201_CREATED, tags=["placements"])
async def create_placement(body: PlacementIn, conn: Connection, client: Client) -> Created:
    async with conn.transaction():
        await access.require_named_trust(conn, client, body.host_trust_code)
        return Created(id=await placements.save_placement(conn, body))


@router.put("/placements/{placement_id}", status_code=NO_CONTENT, tags=["placements"])
async def update_placement(
    placement_id: UUID, body: PlacementIn, conn: Connection, client: Client
) -> None:
    async with conn.transaction():
        await access.require_placement_in_reach(conn, client, placement_id, lock=True)
        await access.require_named_trust(conn, client, body.host_trust_code)
        await placements.save_placement(conn, body, placement_id)


@router.get("/placements/{placement_id}", tags=["placements"])
async def get_placement(placement_id: UUID, conn: Connection, client: Client) -> PlacementOut:
    await access.require_placement_in_reach(conn, client, placement_id)
    return await placements.get_placement(conn, placement_id)


@router.delete("/placements/{placement_id}", status_code=NO_CONTENT, tags=["placements"])
async def withdraw_placement(placement_id: UUID, conn: Connection, client: Client) -> None:
    async with conn.transaction():
        await access.require_placement_in_reach(conn, client, placement_id, lock=True)
        await placements.withdraw_placement(conn, placement_id)

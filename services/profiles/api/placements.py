"""The JSON API's secondment placements: create, replace, read and withdraw."""

from __future__ import annotations

from uuid import UUID

from fastapi import Response, status

from services.profiles.api import access, versions
from services.profiles.api.auth import NO_CONTENT, Client, api_router
from services.profiles.api.schemas import Created, PlacementIn, PlacementOut
from services.profiles.api.versions import PRECONDITION, IfMatch
from services.profiles.dependencies import Connection
from services.profiles.directory import placements

router = api_router()


@router.post("/placements", status_code=status.HTTP_201_CREATED, tags=["placements"])
async def create_placement(
    body: PlacementIn, conn: Connection, client: Client, response: Response
) -> Created:
    async with conn.transaction():
        await access.require_named_trust(conn, client, body.host_trust_code)
        placement_id = await placements.save_placement(conn, body)
        versions.tag_response(response, await placements.get_placement(conn, placement_id))
    return Created(id=placement_id)


@router.put(
    "/placements/{placement_id}",
    status_code=NO_CONTENT,
    tags=["placements"],
    responses=PRECONDITION,
)
async def update_placement(
    placement_id: UUID,
    body: PlacementIn,
    conn: Connection,
    client: Client,
    response: Response,
    if_match: IfMatch = None,
) -> None:
    async with conn.transaction():
        await access.require_placement_in_reach(conn, client, placement_id, lock=True)
        await versions.require_version(
            if_match,
            lambda: placements.get_placement(conn, placement_id, lock=True),
            f"placement {placement_id}",
        )
        await access.require_named_trust(conn, client, body.host_trust_code)
        await placements.save_placement(conn, body, placement_id)
        versions.tag_response(response, await placements.get_placement(conn, placement_id))


@router.get("/placements/{placement_id}", tags=["placements"])
async def get_placement(
    placement_id: UUID, conn: Connection, client: Client, response: Response
) -> PlacementOut:
    await access.require_placement_in_reach(conn, client, placement_id)
    placement = await placements.get_placement(conn, placement_id)
    versions.tag_response(response, placement)
    return placement


@router.delete("/placements/{placement_id}", status_code=NO_CONTENT, tags=["placements"])
async def withdraw_placement(placement_id: UUID, conn: Connection, client: Client) -> None:
    async with conn.transaction():
        await access.require_placement_in_reach(conn, client, placement_id, lock=True)
        await placements.withdraw_placement(conn, placement_id)

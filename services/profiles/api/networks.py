"""The JSON API's networks: an administrator's token's alone (they list the coordinators)."""

from __future__ import annotations

import asyncpg
from fastapi import Response

from services.profiles.api import access, versions
from services.profiles.api.auth import NO_CONTENT, Client, PathIdentifier, api_router
from services.profiles.api.schemas import NetworkIn, NetworkOut
from services.profiles.api.versions import PRECONDITION, IfMatch
from services.profiles.dependencies import Connection
from services.profiles.directory import networks
from services.profiles.directory.errors import NotFound

router = api_router()


async def _network(conn: asyncpg.Connection, network_id: str, lock: bool) -> NetworkOut | None:
    row = await networks.find_network(conn, network_id, lock)
    if row is None:
        return None
    return NetworkOut(id=row["id"], name=row["name"], coordinators=row["coordinators"])


@router.put(
    "/networks/{network_id}", status_code=NO_CONTENT, tags=["networks"], responses=PRECONDITION
)
async def put_network(
    network_id: PathIdentifier,
    body: NetworkIn,
    conn: Connection,
    client: Client,
    response: Response,
    if_match: IfMatch = None,
) -> None:
    access.require_network_manager(client)
    async with conn.transaction():
        await versions.require_version(
            if_match, lambda: _network(conn, network_id, lock=True), f"network {network_id}"
        )
        await networks.upsert_network(conn, network_id, body)
        versions.tag_response(response, await _present(conn, network_id))


@router.get("/networks/{network_id}", tags=["networks"])
async def get_network(
    network_id: PathIdentifier, conn: Connection, client: Client, response: Response
) -> NetworkOut:
    access.require_network_manager(client)  # it lists the coordinators
    network = await _present(conn, network_id)
    versions.tag_response(response, network)
    return network


async def _present(conn: asyncpg.Connection, network_id: str) -> NetworkOut:
    network = await _network(conn, network_id, lock=False)
    if network is None:
        raise NotFound("network", network_id)
    return network

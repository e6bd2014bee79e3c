"""The JSON API's networks: an administrator's token's alone (they list the coordinators)."""

from __future__ import annotations

from services.profiles.api import access
from services.profiles.api.auth import NO_CONTENT, Client, PathIdentifier, api_router
from services.profiles.api.schemas import NetworkIn, NetworkOut
from services.profiles.dependencies import Connection
from services.profiles.directory import networks

router = api_router()


@router.put("/networks/{network_id}", status_code=NO_CONTENT, tags=["networks"])
async def put_network(
    network_id: PathIdentifier, body: NetworkIn, conn: Connection, client: Client
) -> None:
    access.require_network_manager(client)
    await networks.upsert_network(conn, network_id, body)


@router.get("/networks/{network_id}", tags=["networks"])
async def get_network(network_id: PathIdentifier, conn: Connection, client: Client) -> NetworkOut:
    access.require_network_manager(client)  # it lists the coordinators
    row = await networks.get_network(conn, network_id)
    return NetworkOut(id=row["id"], name=row["name"], coordinators=row["coordinators"])

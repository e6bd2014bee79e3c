"""The JSON API's trusts: a network's token reaches its own network's trusts."""

from __future__ import annotations

from services.profiles.api import access
from services.profiles.api.auth import NO_CONTENT, Client, PathIdentifier, api_router
from services.profiles.api.schemas import TrustIn, TrustOut
from services.profiles.dependencies import Connection
from services.profiles.directory import trusts

router = api_router()


@router.put("/trusts/{code}", status_code=NO_CONTENT, tags=["trusts"])
async def put_trust(code: PathIdentifier, body: TrustIn, conn: Connection, client: Client) -> None:
    async with conn.transaction():
        await access.require_trust_writable(conn, client, code, body.network_id)
        await trusts.upsert_trust(conn, code, body)


@router.get("/trusts/{code}", tags=["trusts"])
async def get_trust(code: PathIdentifier, conn: Connection, client: Client) -> TrustOut:
    await access.require_trust_in_reach(conn, client, code)
    return TrustOut.model_validate(dict(await trusts.get_trust(conn, code)))

"""The JSON API's trusts: a network's token reaches its own network's trusts."""

from __future__ import annotations

import asyncpg
from fastapi import Response

from services.profiles.api import access, versions
from services.profiles.api.auth import NO_CONTENT, Client, PathIdentifier, api_router
from services.profiles.api.schemas import TrustIn, TrustOut
from services.profiles.api.versions import PRECONDITION, IfMatch
from services.profiles.dependencies import Connection
from services.profiles.directory import trusts
from services.profiles.directory.errors import NotFound

router = api_router()


async def _trust(conn: asyncpg.Connection, code: str, lock: bool = False) -> TrustOut | None:
    row = await trusts.find_trust(conn, code, lock)
    return None if row is None else TrustOut.model_validate(dict(row))


async def _present(conn: asyncpg.Connection, code: str) -> TrustOut:
    trust = await _trust(conn, code)
    if trust is None:
        raise NotFound("trust", code)
    return trust


@router.put("/trusts/{code}", status_code=NO_CONTENT, tags=["trusts"], responses=PRECONDITION)
async def put_trust(
    code: PathIdentifier,
    body: TrustIn,
    conn: Connection,
    client: Client,
    response: Response,
    if_match: IfMatch = None,
) -> None:
    async with conn.transaction():
        await access.require_trust_writable(conn, client, code, body.network_id)
        await versions.require_version(
            if_match, lambda: _trust(conn, code, lock=True), f"trust {code}"
        )
        await trusts.upsert_trust(conn, code, body)
        versions.tag_response(response, await _present(conn, code))


@router.get("/trusts/{code}", tags=["trusts"])
async def get_trust(
    code: PathIdentifier, conn: Connection, client: Client, response: Response
) -> TrustOut:
    await access.require_trust_in_reach(conn, client, code)
    trust = await _present(conn, code)
    versions.tag_response(response, trust)
    return trust

"""The JSON API's permission checks, run in the request's transaction before its use case.

A token scoped to a network reaches only that network's trusts, people and placements. A
person, placement or trust of another network, addressed by its id, is "not found" (404, as if
absent: it is not revealed); a body that would put something into another network is refused
with 403. Networks themselves (their coordinators receive the signed decision links) are an
administrator's token's alone."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from services.profiles.accounts.permissions import (
    ApiClient,
    api_may_manage_networks,
    api_may_use_network,
)
from services.profiles.directory.errors import NotFound


class Forbidden(PermissionError):
    """The token may not do this; the message says why."""


def require_network_manager(client: ApiClient) -> None:
    if not api_may_manage_networks(client):
        raise Forbidden("networks and their coordinators need an administrator's API token")


async def require_trust_in_reach(conn: asyncpg.Connection, client: ApiClient, code: str) -> None:
    """For reading a trust by its code."""
    if client.is_administrator:
        return
    network = await conn.fetchval("SELECT network_id FROM trusts WHERE code = $1", code)
    if network is None or not api_may_use_network(client, network):
        raise NotFound("trust", code)


async def require_trust_writable(
    conn: asyncpg.Connection, client: ApiClient, code: str, network_id: str
) -> None:
    """For PUT /trusts/{code}: into the token's network, and not taken from another one."""
    if client.is_administrator:
        return
    current = await conn.fetchval("SELECT network_id FROM trusts WHERE code = $1 FOR UPDATE", code)
    if not api_may_use_network(client, network_id) or (
        current is not None and not api_may_use_network(client, current)
    ):
        raise Forbidden(f"this API token may change trusts of network {client.network_id} only")


async def require_named_trust(conn: asyncpg.Connection, client: ApiClient, code: str) -> None:
    """The trust a person or placement body names (an unknown one is the use case's 422)."""
    if client.is_administrator:
        return
    network = await conn.fetchval("SELECT network_id FROM trusts WHERE code = $1 FOR SHARE", code)
    if network is not None and not api_may_use_network(client, network):
        raise Forbidden(f"trust {code} is not in network {client.network_id}, this token's")


# The query of a person's or placement's network, through its trust, by what a refusal calls it.
_NETWORK_OF = {
    "person": "SELECT t.network_id FROM people p JOIN trusts t ON t.code = p.trust_code",
    "placement": (
        "SELECT t.network_id FROM placements p JOIN trusts t ON t.code = p.host_trust_code"
    ),
}


async def _require_in_reach(
    conn: asyncpg.Connection, client: ApiClient, kind: str, row_id: UUID, lock: bool
) -> None:
    if client.is_administrator:
        return
    network = await conn.fetchval(
        _NETWORK_OF[kind] + " WHERE p.id = $1" + (" FOR UPDATE OF p" if lock else ""), row_id
    )
    if network is None or not api_may_use_network(client, network):
        raise NotFound(kind, row_id)


async def require_person_in_reach(
    conn: asyncpg.Connection, client: ApiClient, person_id: UUID, *, lock: bool = False
) -> None:
    """``lock``: hold the person's row until the transaction ends, so the check still holds
    when the change is written."""
    await _require_in_reach(conn, client, "person", person_id, lock)


async def require_placement_in_reach(
    conn: asyncpg.Connection, client: ApiClient, placement_id: UUID, *, lock: bool = False
) -> None:
    """``lock`` as for a person."""
    await _require_in_reach(conn, client, "placement", placement_id, lock)

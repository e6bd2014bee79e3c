"""A network's directory for an export (``bridgework export network``): the network, its trusts,
and the people and placements of those trusts, one list of rows per table."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.profiles.directory.errors import NotFound

EXPORTS: dict[str, str] = {
    "network": "SELECT id, name, coordinators FROM networks WHERE id = $1",
    "trusts": "SELECT code, name, region, latitude, longitude, is_small FROM trusts"
    " WHERE network_id = $1 ORDER BY code",
    "people": "SELECT p.id, p.role, p.email, p.trust_code, p.paused, p.details FROM people p"
    " JOIN trusts t ON t.code = p.trust_code WHERE t.network_id = $1 ORDER BY p.id",
    "placements": "SELECT pl.id, pl.host_trust_code, pl.details, pl.withdrawn_at FROM"
    " placements pl JOIN trusts t ON t.code = pl.host_trust_code WHERE t.network_id = $1"
    " ORDER BY pl.id",
}


async def export_network(
    conn: asyncpg.Connection, network_id: str
) -> dict[str, list[dict[str, Any]]]:
    """Raises NotFound for a network that does not exist."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):  # one snapshot
        tables = {
            name: [dict(row) for row in await conn.fetch(query, network_id)]
            for name, query in EXPORTS.items()
        }
    if not tables["network"]:
        raise NotFound("network", network_id)
    return tables

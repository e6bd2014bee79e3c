"""Networks and their coordinators (who receive the proposals and their decision links).

``save_network`` is the one writer of a network's row and of its ``NetworkUpserted``: the JSON
API, the administrators' pages and the accounts' use cases all change a network through it."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.profiles.api.schemas import NetworkIn
from services.profiles.directory.errors import NotFound
from shared.events import Coordinator, MatchLifeSettings, NetworkUpserted, ProposalEmails
from shared.outbox import add_to_outbox


async def save_network(
    conn: asyncpg.Connection,
    network_id: str,
    name: str,
    coordinators: Sequence[Coordinator],
    life: MatchLifeSettings | None = None,
) -> None:
    """Store the network as given and publish it, in one transaction. ``life`` (when matches
    are followed up) stays as stored when not given."""
    async with conn.transaction():
        stored = await conn.fetchrow(
            """
            INSERT INTO networks (id, name, coordinators, life_settings)
            VALUES ($1, $2, $3, coalesce($4, '{}'::jsonb))
            ON CONFLICT (id) DO UPDATE
              SET name = excluded.name, coordinators = excluded.coordinators,
                  life_settings = coalesce($4, networks.life_settings), updated_at = now()
            RETURNING life_settings
            """,
            network_id,
            name,
            [c.model_dump(mode="json") for c in coordinators],
            None if life is None else life.model_dump(mode="json"),
        )
        event = NetworkUpserted(
            entity_key=network_id,
            network_id=network_id,
            name=name,
            coordinators=tuple(coordinators),
            life=MatchLifeSettings.model_validate(stored["life_settings"]),
        )
        await add_to_outbox(conn, [event])


async def upsert_network(conn: asyncpg.Connection, network_id: str, data: NetworkIn) -> None:
    await save_network(conn, network_id, data.name, data.coordinators, data.life)


async def _locked(conn: asyncpg.Connection, network_id: str) -> tuple[str, list[Coordinator]]:
    """The network's name and coordinators, its row held until the transaction ends."""
    row = await conn.fetchrow(
        "SELECT name, coordinators FROM networks WHERE id = $1 FOR UPDATE", network_id
    )
    if row is None:
        raise NotFound("network", network_id)
    return row["name"], [Coordinator.model_validate(c) for c in row["coordinators"]]


async def add_coordinator(conn: asyncpg.Connection, network_id: str, new: Coordinator) -> None:
    """List ``new`` among the network's coordinators (once: nothing changes if they are)."""
    async with conn.transaction():
        name, coordinators = await _locked(conn, network_id)
        if any(c.email.lower() == new.email.lower() for c in coordinators):
            return
        await save_network(conn, network_id, name, [*coordinators, new])


async def remove_coordinator(conn: asyncpg.Connection, network_id: str, email: str) -> None:
    """Take ``email`` off the network's coordinators: no more proposal emails or links."""
    async with conn.transaction():
        name, coordinators = await _locked(conn, network_id)
        remaining = [c for c in coordinators if c.email.lower() != email.lower()]
        await save_network(conn, network_id, name, remaining)


async def choose_proposal_emails(
    conn: asyncpg.Connection, network_id: str, email: str, choice: ProposalEmails
) -> bool:
    """How this coordinator hears of new proposals (published with the network, for the
    notifier); False when they are not among the network's coordinators."""
    async with conn.transaction():
        name, coordinators = await _locked(conn, network_id)
        if not any(c.email.lower() == email.lower() for c in coordinators):
            return False
        chosen = [
            c.model_copy(update={"proposal_emails": choice})
            if c.email.lower() == email.lower()
            else c
            for c in coordinators
        ]
        if chosen != coordinators:
            await save_network(conn, network_id, name, chosen)
        return True


async def proposal_emails_of(
    conn: asyncpg.Connection, network_id: str, email: str
) -> ProposalEmails | None:
    coordinators = await conn.fetchval(
        "SELECT coordinators FROM networks WHERE id = $1", network_id
    )
    for c in coordinators or []:
        if str(c["email"]).lower() == email.lower():
            return ProposalEmails(c.get("proposal_emails", ProposalEmails.IMMEDIATE.value))
    return None


async def network_exists(conn: asyncpg.Connection, network_id: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM networks WHERE id = $1", network_id))


async def find_network(
    conn: asyncpg.Connection, network_id: str, lock: bool = False
) -> asyncpg.Record | None:
    """``lock``: hold the row until the transaction ends (a PUT's If-Match check)."""
    return await conn.fetchrow(
        "SELECT id, name, coordinators FROM networks WHERE id = $1"
        + (" FOR UPDATE" if lock else ""),
        network_id,
    )


async def is_network_coordinator(conn: asyncpg.Connection, network_id: str, email: str) -> bool:
    """Whether ``email`` is listed among the network's coordinators right now."""
    coordinators = await conn.fetchval(
        "SELECT coordinators FROM networks WHERE id = $1", network_id
    )
    return any(str(c["email"]).lower() == email.lower() for c in coordinators or [])


async def life_settings(conn: asyncpg.Connection, network_id: str) -> MatchLifeSettings:
    """When the network's matches are followed up (defaults until set)."""
    stored = await conn.fetchval("SELECT life_settings FROM networks WHERE id = $1", network_id)
    return MatchLifeSettings.model_validate(stored or {})

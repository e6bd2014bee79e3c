"""NHS trusts: each belongs to one network; people and placements belong to a trust."""

from __future__ import annotations

import asyncpg

from services.profiles.api.schemas import TrustIn
from services.profiles.directory.errors import Conflict, Invalid, NotFound
from shared.events import TrustContact, TrustUpserted
from shared.outbox import add_to_outbox


async def upsert_trust(conn: asyncpg.Connection, code: str, data: TrustIn) -> None:
    async with conn.transaction():
        if not await conn.fetchval("SELECT 1 FROM networks WHERE id = $1", data.network_id):
            raise Invalid("network_id", f"unknown network {data.network_id!r}")
        try:
            await conn.execute(
                """
                INSERT INTO trusts
                  (code, name, region, network_id, latitude, longitude, is_small, contact_email)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                ON CONFLICT (code) DO UPDATE SET name = excluded.name, region = excluded.region,
                  network_id = excluded.network_id, latitude = excluded.latitude,
                  longitude = excluded.longitude, is_small = excluded.is_small,
                  contact_email = excluded.contact_email, updated_at = now()
                """,
                code,
                data.name,
                data.region.value,
                data.network_id,
                data.latitude,
                data.longitude,
                data.is_small,
                data.contact_email,
            )
        except asyncpg.UniqueViolationError as error:
            # The trust's people follow it (ON UPDATE CASCADE); the new network has one of them.
            raise Conflict(
                f"trust {code} cannot move to network {data.network_id}: one of its people's"
                " addresses is already a person of the same role there"
            ) from error
        await publish_trust(conn, code)


async def publish_trust(conn: asyncpg.Connection, code: str) -> None:
    """Put the trust as it now is (its contacts too) in the outbox, in the caller's
    transaction: after any change to the trust or to who its contacts are."""
    trust = await get_trust(conn, code)
    contacts = await conn.fetch(
        "SELECT name, email FROM accounts WHERE trust_code = $1 ORDER BY email", code
    )
    event = TrustUpserted(
        entity_key=code,
        trust_code=code,
        contacts=tuple(TrustContact(name=c["name"], email=c["email"]) for c in contacts),
        **TrustIn.model_validate({k: v for k, v in trust.items() if k != "code"}).model_dump(),
    )
    await add_to_outbox(conn, [event])


async def find_trust(
    conn: asyncpg.Connection, code: str, lock: bool = False
) -> asyncpg.Record | None:
    """``lock``: hold the row until the transaction ends (a PUT's If-Match check)."""
    return await conn.fetchrow(
        "SELECT code, name, region, network_id, latitude, longitude, is_small, contact_email"
        " FROM trusts WHERE code = $1" + (" FOR UPDATE" if lock else ""),
        code,
    )


async def get_trust(conn: asyncpg.Connection, code: str) -> asyncpg.Record:
    row = await find_trust(conn, code)
    if row is None:
        raise NotFound("trust", code)
    return row


async def trust_home(conn: asyncpg.Connection, code: str, field: str) -> asyncpg.Record:
    """The trust's region and network, held (FOR SHARE) until the transaction ends: a person or
    placement is stored in the network the trust is in when it commits."""
    trust = await conn.fetchrow(
        "SELECT region, network_id FROM trusts WHERE code = $1 FOR SHARE", code
    )
    if trust is None:
        raise Invalid(field, f"unknown trust {code!r}: add it with PUT /trusts/{code} first")
    return trust

"""Seeding the matcher's tables in-process, as its consumer would."""

from __future__ import annotations

from uuid import UUID, uuid4

import asyncpg

from services.matcher.bootstrap import apply_event
from shared.events import NetworkUpserted, TrustUpserted
from shared.people import Role
from shared.regions import Region
from tests.support.factories import person


def network_upserted(network_id: str) -> NetworkUpserted:
    """The network's event: the matcher matches only the networks it knows."""
    return NetworkUpserted(
        entity_key=network_id, network_id=network_id, name=network_id, coordinators=()
    )


async def seed(conn: asyncpg.Connection) -> tuple[str, UUID, UUID]:
    """A network of two trusts with a mentor and a mentee who fit; returns their ids."""
    network = f"net-{uuid4().hex[:6]}"
    await apply_event(conn, network_upserted(network))
    for code in ("A", "B"):
        await apply_event(
            conn,
            TrustUpserted(
                entity_key=f"{network}{code}",
                trust_code=f"{network}{code}",
                name=f"Trust {code}",
                region=Region.NORTH_WEST,
                network_id=network,
            ),
        )
    mentor = person(Role.MENTOR, network, f"{network}A")
    mentee = person(Role.MENTEE, network, f"{network}B")
    await apply_event(conn, mentor)
    await apply_event(conn, mentee)
    return network, mentor.profile.person_id, mentee.profile.person_id

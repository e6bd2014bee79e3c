"""People are unique per network (issue 14, item 12): a network's API token cannot learn that an
address is a person in another network. The same address may be a mentor in two networks, each
network's person its own; what a network's token is told never depends on another network's
people; within one network an address is still one mentor and one mentee."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from services.profiles.self_service.actions import request_link
from shared.addresses import EmailAddress
from tests.support.api import bearer_headers

pytestmark = pytest.mark.integration

ADDRESS: TypeAdapter[str] = TypeAdapter(EmailAddress)


@dataclass(frozen=True)
class Side:
    network_id: str
    trust_code: str
    headers: dict[str, str]  # a token scoped to this network


def mentor(trust_code: str, email: str, name: str = "Ann Mentor") -> dict[str, Any]:
    return {
        "name": name,
        "email": email,
        "job_title": "CIO",
        "trust_code": trust_code,
        "skills": [{"skill": "board-influence", "level": 6}],
        "capacity": 2,
        "hours_per_month": 4,
    }


@pytest.fixture(scope="module")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://profiles") as http:
        yield http


@pytest.fixture(scope="module")
async def admin(pool: asyncpg.Pool) -> dict[str, str]:
    return await bearer_headers(pool)


async def a_network(client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool) -> Side:
    tag = uuid4().hex[:8]
    network_id, code = f"pn-{tag}", f"PN{tag}"
    network = {"name": f"Network {tag}", "coordinators": [{"name": "C", "email": "c@n.example"}]}
    trust = {"name": "Trust", "region": "London", "network_id": network_id}
    assert (await client.put(f"/networks/{network_id}", json=network, headers=admin)).is_success
    assert (await client.put(f"/trusts/{code}", json=trust, headers=admin)).is_success
    return Side(network_id, code, await bearer_headers(pool, network_id))


async def answers(client: httpx.AsyncClient, side: Side, email: str) -> list[tuple[int, str]]:
    """What ``side``'s token is told when it registers ``email`` twice (status, and the
    answer with the address, ids and the network's own names taken out)."""
    told = []
    for _ in range(2):
        response = await client.post(
            "/mentors", json=mentor(side.trust_code, email), headers=side.headers
        )
        body = response.json()
        detail = str(body.get("detail", "") if "detail" in body else sorted(body))
        for own in (email.lower(), side.network_id, side.trust_code):
            detail = detail.replace(own, "…")
        told.append((response.status_code, detail))
    return told


@given(
    address=st.emails(),
    spelling=st.lists(st.booleans(), min_size=64, max_size=64),
)
@pytest.mark.timeout(900)
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
async def test_what_a_network_is_told_never_depends_on_another_networks_people(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: asyncpg.Pool,
    address: str,
    spelling: list[bool],
) -> None:
    try:
        stored = ADDRESS.validate_python(address)
    except ValidationError:
        assume(False)  # not an address the API takes at all
        return
    # The other network's token types the address in any mix of cases.
    typed = "".join(
        c.upper() if up else c
        for c, up in zip(stored, spelling + [False] * len(stored), strict=False)
    )
    ours, theirs, untouched = [await a_network(client, admin, pool) for _ in range(3)]
    created = await client.post(
        "/mentors", json=mentor(theirs.trust_code, typed), headers=theirs.headers
    )
    assert created.status_code == 201, created.text

    # The same answers as a network where nobody else has the address: created, then a
    # conflict about this network's own mentor.
    told = await answers(client, ours, stored)
    assert told == await answers(client, untouched, stored)
    assert [status for status, _ in told] == [201, 409]

    # The other network's person is still theirs, as they wrote it.
    theirs_now = await client.get(f"/people/{created.json()['id']}", headers=theirs.headers)
    assert theirs_now.json()["details"]["trust_code"] == theirs.trust_code


async def test_the_same_address_is_a_person_in_each_network_with_its_own_erasure_and_link(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    north, south = [await a_network(client, admin, pool) for _ in range(2)]
    email = f"ann.{uuid4().hex[:8]}@example.org"
    ids = {}
    for side, name in ((north, "Ann North"), (south, "Ann South")):
        response = await client.post(
            "/mentors", json=mentor(side.trust_code, email, name), headers=side.headers
        )
        assert response.status_code == 201, response.text
        ids[side.network_id] = response.json()["id"]
    # Each network sees its own person, and not the other's (404, as if absent).
    for side, other in ((north, south), (south, north)):
        mine = await client.get(f"/people/{ids[side.network_id]}", headers=side.headers)
        assert mine.json()["details"]["trust_code"] == side.trust_code
        hidden = await client.get(f"/people/{ids[other.network_id]}", headers=side.headers)
        assert hidden.status_code == 404

    # A self-service link request reaches each person of the address: each manages their own.
    async with pool.acquire() as conn:
        assert await request_link(conn, email.upper()) == 2

    # Erasing one network's person leaves the other's.
    erased = await client.delete(f"/people/{ids[north.network_id]}", headers=north.headers)
    assert erased.status_code == 204
    kept = await client.get(f"/people/{ids[south.network_id]}", headers=south.headers)
    assert kept.status_code == 200
    # Within one network the address is still one mentor: changing another mentor's address
    # to it is a conflict (409), not a server error.
    second = await client.post(
        "/mentors",
        json=mentor(south.trust_code, f"o.{uuid4().hex[:8]}@example.org"),
        headers=south.headers,
    )
    clash = await client.put(
        f"/mentors/{second.json()['id']}",
        json=mentor(south.trust_code, email),
        headers=south.headers,
    )
    assert clash.status_code == 409
    assert south.network_id in clash.json()["detail"]


async def test_a_trust_moves_with_its_people_unless_its_new_network_has_their_address(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    north, south, east = [await a_network(client, admin, pool) for _ in range(3)]
    email = f"bo.{uuid4().hex[:8]}@example.org"
    for side in (north, south):
        made = await client.post(
            "/mentors", json=mentor(side.trust_code, email), headers=side.headers
        )
        assert made.status_code == 201, made.text
    moving = {"name": "Trust", "region": "London"}

    # Into a network that has the address: refused, nothing moves.
    refused = await client.put(
        f"/trusts/{south.trust_code}", json=moving | {"network_id": north.network_id}, headers=admin
    )
    assert refused.status_code == 409
    assert (
        await pool.fetchval("SELECT network_id FROM trusts WHERE code = $1", south.trust_code)
        == south.network_id
    )

    # Into one that does not: the trust's people follow it, and the address is now east's.
    moved = await client.put(
        f"/trusts/{south.trust_code}", json=moving | {"network_id": east.network_id}, headers=admin
    )
    assert moved.status_code == 204
    homes = await pool.fetch("SELECT network_id FROM people WHERE email = $1", email)
    assert sorted(row["network_id"] for row in homes) == sorted([north.network_id, east.network_id])
    again = await client.post("/mentors", json=mentor(east.trust_code, email), headers=east.headers)
    assert again.status_code == 409

"""The JSON API's bearer tokens against the real database: every operation (read from the
app's OpenAPI, so a new route cannot be left out) refuses a request without a live token and
another network's token, and changes nothing; a network's token reaches its own network."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.profiles.accounts.api_tokens import (
    TokenRefused,
    create_api_token,
    revoke_api_token,
)
from services.profiles.app import create_app
from shared.settings import Settings
from tests.support.api import bearer_headers

pytestmark = pytest.mark.integration

# Building the app connects to nothing, so the operations are known when tests are collected.
OPERATIONS = sorted(
    (method.upper(), path)
    for path, operations in create_app(Settings()).openapi()["paths"].items()
    for method in operations
)


@dataclass(frozen=True)
class Network:
    network_id: str
    trust_code: str
    mentor_id: UUID
    mentee_id: UUID
    placement_id: UUID
    mentor_email: str
    headers: dict[str, str]  # a token scoped to this network


def mentor_body(trust_code: str, email: str | None = None) -> dict[str, Any]:
    return {
        "name": "Ann Mentor",
        "email": email or f"ann.{uuid4().hex[:8]}@example.org",
        "job_title": "CIO",
        "trust_code": trust_code,
        "skills": [{"skill": "board-influence", "level": 6}],
        "capacity": 2,
        "hours_per_month": 4,
    }


def mentee_body(trust_code: str) -> dict[str, Any]:
    return {
        "name": "Tom Mentee",
        "email": f"tom.{uuid4().hex[:8]}@example.org",
        "job_title": "Digital Nurse",
        "trust_code": trust_code,
        "gaps": [{"skill": "board-influence", "current": 2, "target": 5}],
    }


def placement_body(trust_code: str) -> dict[str, Any]:
    return {
        "host_trust_code": trust_code,
        "role": "Digital lead",
        "months": 6,
        "fte": 0.6,
        "skills_developed": [{"skill": "change-management", "level": 5}],
    }


def trust_body(network_id: str) -> dict[str, Any]:
    return {"name": "Trust", "region": "London", "network_id": network_id}


def network_body() -> dict[str, Any]:
    return {"name": "Taken over", "coordinators": [{"name": "Eve", "email": "eve@evil.example"}]}


# What each writing operation sends (aimed at ``target``'s network); a new writing route
# fails the tests below until its body is added here.
BODIES: dict[tuple[str, str], Callable[[Network], dict[str, Any]]] = {
    ("PUT", "/networks/{network_id}"): lambda target: network_body(),
    ("PUT", "/trusts/{code}"): lambda target: trust_body(target.network_id),
    ("POST", "/mentors"): lambda target: mentor_body(target.trust_code),
    ("PUT", "/mentors/{person_id}"): lambda target: mentor_body(target.trust_code),
    ("POST", "/mentees"): lambda target: mentee_body(target.trust_code),
    ("PUT", "/mentees/{person_id}"): lambda target: mentee_body(target.trust_code),
    ("PUT", "/people/{person_id}/availability"): lambda target: {"paused": True},
    ("POST", "/placements"): lambda target: placement_body(target.trust_code),
    ("PUT", "/placements/{placement_id}"): lambda target: placement_body(target.trust_code),
}


def request_for(method: str, path: str, target: Network) -> tuple[str, dict[str, Any] | None]:
    """The operation's URL and body, addressing ``target``'s network and its records."""
    person = target.mentee_id if path.startswith("/mentees/") else target.mentor_id
    url = path.format(
        network_id=target.network_id,
        code=target.trust_code,
        person_id=person,
        placement_id=target.placement_id,
    )
    if method in ("GET", "DELETE"):
        return url, None
    if (method, path) not in BODIES:
        pytest.fail(f"{method} {path} is new: add the body it sends to BODIES")
    return url, BODIES[method, path](target)


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://profiles") as client:
        yield client


async def seed(client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool) -> Network:
    tag = uuid4().hex[:6]
    network_id, code = f"auth-{tag}", f"AU{tag}"
    network = {"name": f"Network {tag}", "coordinators": [{"name": "C", "email": "c@n.example"}]}
    responses = [
        await client.put(f"/networks/{network_id}", json=network, headers=admin),
        await client.put(f"/trusts/{code}", json=trust_body(network_id), headers=admin),
    ]
    email = f"ann.{tag}@example.org"
    mentor = await client.post("/mentors", json=mentor_body(code, email), headers=admin)
    mentee = await client.post("/mentees", json=mentee_body(code), headers=admin)
    placement = await client.post("/placements", json=placement_body(code), headers=admin)
    for response in [*responses, mentor, mentee, placement]:
        assert response.status_code < 300, response.text
    return Network(
        network_id=network_id,
        trust_code=code,
        mentor_id=UUID(mentor.json()["id"]),
        mentee_id=UUID(mentee.json()["id"]),
        placement_id=UUID(placement.json()["id"]),
        mentor_email=email,
        headers=await bearer_headers(pool, network_id),
    )


@pytest.fixture(scope="module")
async def networks(app: FastAPI, pool: asyncpg.Pool) -> tuple[Network, Network]:
    admin = await bearer_headers(pool)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://profiles") as client:
        return await seed(client, admin, pool), await seed(client, admin, pool)


async def fingerprint(pool: asyncpg.Pool) -> dict[str, Any]:
    """Everything an API call could change (the outbox by its rows, as the relay marks them
    published meanwhile; a token's last use, which any call with it records, aside)."""
    found: dict[str, Any] = {}
    tokens = "(SELECT id, name, token_hash, network_id, revoked_at, expires_at FROM api_tokens)"
    for table in ("networks", "trusts", "people", "placements", "audit_log", tokens):
        found[table] = await pool.fetchval(
            f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
        )
    found["outbox"] = tuple(await pool.fetchrow("SELECT count(*), max(id) FROM outbox"))
    return found


def revoked_token(pool: asyncpg.Pool) -> Any:
    async def make() -> str:
        async with pool.acquire() as conn:
            name = f"revoked-{uuid4().hex[:8]}"
            token = await create_api_token(conn, name, None, actor="test")
            await revoke_api_token(conn, name, actor="test")
        return token

    return make


async def expired_token(pool: asyncpg.Pool) -> str:
    """A token whose lifetime has passed (made a day long, then moved two days back)."""
    async with pool.acquire() as conn:
        name = f"expired-{uuid4().hex[:8]}"
        token = await create_api_token(conn, name, None, actor="test", lifetime_days=1)
        await conn.execute(
            "UPDATE api_tokens SET created_at = created_at - interval '2 days',"
            " expires_at = expires_at - interval '2 days' WHERE name = $1",
            name,
        )
    return token


@pytest.mark.parametrize(
    "authorization",
    ["none", "garbage", "not bearer", "revoked", "expired"],
)
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
async def test_every_operation_without_a_live_token_is_401_and_changes_nothing(
    http: httpx.AsyncClient,
    pool: asyncpg.Pool,
    networks: tuple[Network, Network],
    method: str,
    path: str,
    authorization: str,
) -> None:
    headers = {
        "none": {},
        "garbage": {"Authorization": "Bearer bw_not-a-token"},
        "not bearer": {"Authorization": "Basic YWRtaW46YWRtaW4="},
        "revoked": {"Authorization": f"Bearer {await revoked_token(pool)()}"},
        "expired": {"Authorization": f"Bearer {await expired_token(pool)}"},
    }[authorization]
    url, body = request_for(method, path, networks[1])
    before = await fingerprint(pool)
    response = await http.request(method, url, json=body, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert networks[1].mentor_email not in response.text
    assert await fingerprint(pool) == before


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
async def test_without_a_token_even_a_malformed_body_is_401(
    http: httpx.AsyncClient, networks: tuple[Network, Network], method: str, path: str
) -> None:
    """The token is checked before the body is read: nothing about the body is answered."""
    url, _ = request_for(method, path, networks[1])
    headers = {"content-type": "application/json"}
    response = await http.request(method, url, content=b'{"name": ', headers=headers)
    assert response.status_code == 401, response.text


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
async def test_every_operation_with_another_networks_token_is_refused_and_changes_nothing(
    http: httpx.AsyncClient,
    pool: asyncpg.Pool,
    networks: tuple[Network, Network],
    method: str,
    path: str,
) -> None:
    own, other = networks
    url, body = request_for(method, path, other)
    before = await fingerprint(pool)
    response = await http.request(method, url, json=body, headers=own.headers)
    # 403: asking to write into the other network (or any network-wide change); 404: a record
    # of the other network addressed by its id, as if it did not exist (it is not revealed).
    assert response.status_code in (403, 404), response.text
    assert other.mentor_email not in response.text
    assert await fingerprint(pool) == before


def test_every_operation_is_documented_as_needing_the_bearer_token() -> None:
    document = create_app(Settings()).openapi()
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation.get("security") == [{"HTTPBearer": []}], (method, path)
            assert {"401", "403"} <= set(operation["responses"]), (method, path)


async def test_a_networks_token_reaches_its_own_network_and_is_audited_as_its_name(
    http: httpx.AsyncClient, pool: asyncpg.Pool, networks: tuple[Network, Network]
) -> None:
    own, other = networks
    headers = own.headers
    assert (await http.get(f"/trusts/{own.trust_code}", headers=headers)).status_code == 200
    created = await http.post("/mentors", json=mentor_body(own.trust_code), headers=headers)
    assert created.status_code == 201, created.text
    person_id = created.json()["id"]
    assert (await http.get(f"/people/{person_id}", headers=headers)).status_code == 200
    body = mentor_body(own.trust_code)
    response = await http.put(f"/mentors/{person_id}", json=body, headers=headers)
    assert response.status_code == 204
    # Not moved into the other network, nor its trust moved into this one.
    moved = await http.put(
        f"/mentors/{person_id}", json=mentor_body(other.trust_code), headers=headers
    )
    assert moved.status_code == 403
    taken = await http.put(
        f"/trusts/{other.trust_code}", json=trust_body(own.network_id), headers=headers
    )
    assert taken.status_code == 403
    own_network = await http.get(f"/networks/{own.network_id}", headers=headers)
    assert own_network.status_code == 403  # networks and coordinators: administrators only

    assert (await http.delete(f"/people/{person_id}", headers=headers)).status_code == 204
    record = await pool.fetchrow(
        "SELECT actor, reason FROM audit_log WHERE action = 'person.erased' AND subject = $1",
        person_id,
    )
    assert record is not None
    token_name = await pool.fetchval(
        "SELECT name FROM api_tokens WHERE network_id = $1 AND revoked_at IS NULL",
        own.network_id,
    )
    assert (record["actor"], record["reason"]) == (f"api:{token_name}", "API: DELETE /people/{id}")


async def test_a_revoked_token_stops_working_at_once(
    http: httpx.AsyncClient, pool: asyncpg.Pool, networks: tuple[Network, Network]
) -> None:
    own, _ = networks
    name = f"hr-{uuid4().hex[:6]}"
    async with pool.acquire() as conn:
        token = await create_api_token(conn, name, own.network_id, actor="test")
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/trusts/{own.trust_code}"
    assert (await http.get(url, headers=headers)).status_code == 200
    async with pool.acquire() as conn:
        await revoke_api_token(conn, name, actor="test")
    assert (await http.get(url, headers=headers)).status_code == 401
    stored = await pool.fetch("SELECT token_hash FROM api_tokens WHERE name = $1", name)
    assert token not in [row["token_hash"] for row in stored]  # only its hash is kept


async def test_a_token_records_its_last_use_and_lasts_only_its_lifetime(
    http: httpx.AsyncClient, pool: asyncpg.Pool, networks: tuple[Network, Network]
) -> None:
    name = f"used-{uuid4().hex[:8]}"
    async with pool.acquire() as conn:
        token = await create_api_token(conn, name, None, actor="test", lifetime_days=30)
        lifetime = await conn.fetchval(
            "SELECT expires_at - created_at FROM api_tokens WHERE name = $1", name
        )
        assert lifetime.days == 30
        assert (
            await conn.fetchval("SELECT last_used_at FROM api_tokens WHERE name = $1", name) is None
        )
    headers = {"Authorization": f"Bearer {token}"}
    network = networks[0]
    assert (await http.get(f"/people/{network.mentor_id}", headers=headers)).status_code == 200
    used = await pool.fetchval("SELECT now() - last_used_at FROM api_tokens WHERE name = $1", name)
    assert used is not None
    assert used.total_seconds() < 60
    async with pool.acquire() as conn:
        with pytest.raises(TokenRefused, match="1 to 365 days"):
            await create_api_token(conn, f"forever-{name}", None, actor="t", lifetime_days=3650)

"""Helpers for the web-page tests: a network with people, accounts, and signed-in clients."""

from __future__ import annotations

import re
from dataclasses import dataclass
from uuid import UUID, uuid4

import asyncpg
import httpx

from services.profiles.accounts.accounts import NewAccount, create_account
from services.profiles.accounts.permissions import AccountRole
from tests.support.api import bearer_headers

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "the page has no CSRF token"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> None:
    page = await client.get("/sign-in")
    response = await client.post(
        "/sign-in",
        data={"csrf_token": csrf_from(page.text), "email": email, "password": password},
    )
    assert response.status_code == 303, response.text


async def csrf_of(client: httpx.AsyncClient) -> str:
    """The signed-in client's CSRF token, read from a page as a browser would."""
    return csrf_from((await client.get("/sign-in")).text)


@dataclass(frozen=True)
class SeededNetwork:
    network_id: str
    trust_codes: tuple[str, str]
    mentor_id: UUID
    mentee_id: UUID
    coordinator_email: str


async def seed_network(
    client: httpx.AsyncClient, pool: asyncpg.Pool, mentee_name: str = "Tariq Mentee"
) -> SeededNetwork:
    """A network with two trusts, a mentor, a mentee and a coordinator account (over HTTP, with
    an administrator's API token; the client's own cookies are left as they are)."""
    headers = await bearer_headers(pool)
    tag = uuid4().hex[:6]
    network_id = f"web-{tag}"
    coordinator = f"cora.{tag}@network.example"
    response = await client.put(
        f"/networks/{network_id}",
        json={"name": f"Network {tag}", "coordinators": [{"name": "Cora", "email": coordinator}]},
        headers=headers,
    )
    assert response.status_code == 204
    codes = (f"A{tag}", f"B{tag}")
    for code, region in zip(codes, ("North West", "Midlands"), strict=True):
        body = {"name": f"Trust {code}", "region": region, "network_id": network_id}
        assert (await client.put(f"/trusts/{code}", json=body, headers=headers)).status_code == 204
    mentor = await client.post(
        "/mentors",
        json={
            "name": f"Morag Mentor {tag}",
            "email": f"morag.{tag}@example.org",
            "job_title": "CCIO",
            "trust_code": codes[0],
            "skills": [{"skill": "clinical-engagement", "level": 7}],
            "capacity": 2,
            "hours_per_month": 4,
        },
        headers=headers,
    )
    mentee = await client.post(
        "/mentees",
        json={
            "name": "Tariq Mentee",
            "email": f"tariq.{tag}@example.org",
            "job_title": "Digital Nurse",
            "trust_code": codes[1],
            "gaps": [{"skill": "clinical-engagement", "current": 2, "target": 5}],
        },
        headers=headers,
    )
    assert (mentor.status_code, mentee.status_code) == (201, 201), mentee.text
    async with pool.acquire() as conn:
        # The API refuses markup in names; the pages must escape whatever is stored all the same.
        await conn.execute(
            "UPDATE people SET details = jsonb_set(details, '{name}', to_jsonb($2::text))"
            " WHERE id = $1",
            UUID(mentee.json()["id"]),
            mentee_name,
        )
        await create_account(
            conn,
            NewAccount(
                email=coordinator,
                name="Cora",
                role=AccountRole.COORDINATOR,
                network_id=network_id,
                password=PASSWORD,
            ),
            actor="test",
        )
    return SeededNetwork(
        network_id=network_id,
        trust_codes=codes,
        mentor_id=UUID(mentor.json()["id"]),
        mentee_id=UUID(mentee.json()["id"]),
        coordinator_email=coordinator,
    )

"""Page tests' helpers: a browser that signs in, reads its CSRF token and posts forms as the
pages do; and a network with people and a coordinator account to sign in as."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
from fastapi import FastAPI

from services.profiles.accounts.accounts import NewAccount, create_account
from services.profiles.accounts.permissions import AccountRole
from shared.links import sign_trust_sign_in_link
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


Form = Mapping[str, str | list[str]]


class Browser:
    """One browser on the profiles app: its own cookie jar (so its own session)."""

    def __init__(self, app: FastAPI) -> None:
        transport = httpx.ASGITransport(app=app)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://profiles")

    async def get(self, url: str, **options: Any) -> httpx.Response:
        return await self.client.get(url, **options)

    async def post(self, url: str, **options: Any) -> httpx.Response:
        """A raw POST: no CSRF token is added (for forged and token-less forms)."""
        return await self.client.post(url, **options)

    async def csrf_token(self) -> str:
        return await csrf_of(self.client)

    async def submit(self, url: str, form: Form | None = None, **options: Any) -> httpx.Response:
        """Post a form as a page of this session would: with the session's CSRF token."""
        data = {"csrf_token": await self.csrf_token(), **(form or {})}
        return await self.client.post(url, data=data, **options)

    async def sign_in(self, email: str, password: str = PASSWORD) -> None:
        await sign_in(self.client, email, password)


class Browsers:
    """Opens browsers for one test and closes them after it."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.opened: list[Browser] = []

    def new(self) -> Browser:
        browser = Browser(self.app)
        self.opened.append(browser)
        return browser

    async def signed_in(self, email: str) -> Browser:
        browser = self.new()
        await browser.sign_in(email)
        return browser

    async def close(self) -> None:
        for browser in self.opened:
            await browser.client.aclose()


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


async def sign_in_as_trust_contact(
    browser: Browser, secret_key: str, trust_code: str, email: str
) -> httpx.Response:
    """Sign in as the notifier's emailed link would: open it, then press Sign in."""
    token = sign_trust_sign_in_link(secret_key, trust_code=trust_code, contact_email=email)
    page = await browser.get(f"/trust/sign-in/{token}")
    assert page.status_code == 200, page.text
    return await browser.client.post(
        f"/trust/sign-in/{token}", data={"csrf_token": csrf_from(page.text)}
    )

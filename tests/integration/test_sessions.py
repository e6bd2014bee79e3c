"""Sessions end on the server (issue 14, item 8) and sign-in lock-outs hold (item 9): a copy
of a cookie opens nothing once its session has ended by sign-out, a password change or the
account's removal; spaces or capitals do not get round a lock-out, nor does spraying one
password over many accounts from one client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from uuid import uuid4

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.profiles.accounts.accounts import NewAccount, create_account, remove_coordinator
from services.profiles.accounts.permissions import AccountRole
from services.profiles.pages import SESSION_COOKIE
from tests.support.pages import PASSWORD, csrf_of, seed_network, sign_in

pytestmark = pytest.mark.integration

Browser = Callable[..., httpx.AsyncClient]
NEW_PASSWORD = "a different long password"


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[Browser]:
    """Each call is one browser (its own cookie jar), from one client address."""
    opened: list[httpx.AsyncClient] = []

    def make(address: str = "127.0.0.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://profiles")
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.aclose()


async def administrator(pool: asyncpg.Pool) -> str:
    email = f"admin.{uuid4().hex[:8]}@bridgework.example"
    new = NewAccount(email=email, name="Ada", role=AccountRole.ADMINISTRATOR, password=PASSWORD)
    async with pool.acquire() as conn:
        await create_account(conn, new, actor="test")
    return email


def copy_of(browser: Browser, signed_in: httpx.AsyncClient) -> httpx.AsyncClient:
    """Another browser holding a copy of the signed-in one's cookie (a stolen cookie)."""
    thief = browser("203.0.113.9")
    thief.cookies.set(SESSION_COOKIE, signed_in.cookies[SESSION_COOKIE])
    return thief


async def test_a_copied_cookie_stops_working_when_its_session_signs_out(
    browser: Browser, pool: asyncpg.Pool
) -> None:
    email = await administrator(pool)
    owner = browser()
    await sign_in(owner, email)
    thief = copy_of(browser, owner)
    assert (await thief.get("/admin")).status_code == 200  # a copy works while it lasts
    signed_out = await owner.post("/sign-out", data={"csrf_token": await csrf_of(owner)})
    assert signed_out.status_code == 303
    after = await thief.get("/admin")
    assert (after.status_code, after.headers["location"][:8]) == (303, "/sign-in")
    assert await pool.fetchval("SELECT count(*) FROM sessions WHERE email = $1", email) == 0


async def test_a_password_change_ends_every_other_session_and_keeps_this_one(
    browser: Browser, pool: asyncpg.Pool
) -> None:
    email = await administrator(pool)
    here, elsewhere = browser(), browser()
    await sign_in(here, email)
    await sign_in(elsewhere, email)
    stolen = copy_of(browser, elsewhere)
    form = {
        "csrf_token": await csrf_of(here),
        "password": PASSWORD,
        "new_password": NEW_PASSWORD,
        "repeat_password": NEW_PASSWORD,
    }
    changed = await here.post("/account/password", data=form)
    assert changed.status_code == 303
    assert (await here.get("/admin")).status_code == 200
    for ended in (elsewhere, stolen):
        assert (await ended.get("/admin")).status_code == 303
    await sign_in(browser(), email, NEW_PASSWORD)
    wrong = form | {"csrf_token": await csrf_of(here), "password": "not the password"}
    assert (await here.post("/account/password", data=wrong)).status_code == 422


async def test_removing_a_coordinator_ends_their_sessions(
    app: FastAPI, browser: Browser, pool: asyncpg.Pool
) -> None:
    network = await seed_network(browser(), pool)
    coordinator = browser()
    await sign_in(coordinator, network.coordinator_email)
    proposals = f"/dashboard/{network.network_id}/proposals"
    assert (await coordinator.get(proposals)).status_code == 200
    async with pool.acquire() as conn:
        await remove_coordinator(conn, network.coordinator_email, actor="test")
        left = await conn.fetchval(
            "SELECT count(*) FROM sessions WHERE email = $1", network.coordinator_email
        )
    assert left == 0
    assert (await coordinator.get(proposals)).status_code == 303


async def test_spaces_and_capitals_around_the_email_do_not_get_round_the_lock_out(
    browser: Browser, pool: asyncpg.Pool
) -> None:
    email = await administrator(pool)
    client = browser("198.51.100.1")
    for typed in (f" {email}", f"{email} ", email.upper(), f"\t{email.title()}", f"  {email}  "):
        wrong = {"csrf_token": await csrf_of(client), "email": typed, "password": "guess" * 3}
        assert (await client.post("/sign-in", data=wrong)).status_code == 401
    right = {"csrf_token": await csrf_of(client), "email": email, "password": PASSWORD}
    assert (await client.post("/sign-in", data=right)).status_code == 429


async def test_one_client_spraying_a_password_over_many_accounts_is_refused(
    browser: Browser, pool: asyncpg.Pool
) -> None:
    victims = [await administrator(pool) for _ in range(3)]
    sprayer = browser("198.51.100.66")
    for n in range(20):
        target = victims[n % 3] if n < 3 else f"nobody.{n}@bridgework.example"
        form = {"csrf_token": await csrf_of(sprayer), "email": target, "password": "Winter2026!"}
        assert (await sprayer.post("/sign-in", data=form)).status_code == 401
    form = {"csrf_token": await csrf_of(sprayer), "email": victims[0], "password": PASSWORD}
    assert (await sprayer.post("/sign-in", data=form)).status_code == 429
    await sign_in(browser("198.51.100.67"), victims[0])  # another client is not held up

"""Security headers on every response of the profiles app, and what production does not serve
(issue 14, item 11). The app is built, not started: these requests reach no database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.profiles.app import create_app
from shared.settings import Settings

PRODUCTION: dict[str, Any] = {
    "environment": "production",
    "secret_key": "q7Rk2vX9mW4pLs8tNc3yHb6jZf1dGa5e",
    "public_base_url": "https://bridgework.example.nhs.uk",
}


async def _client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="https://profiles") as client:
        yield client


@pytest.fixture
async def production() -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(Settings(**PRODUCTION)):
        yield client


@pytest.fixture
async def development() -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(Settings(environment="development")):
        yield client


async def responses(client: httpx.AsyncClient) -> dict[str, httpx.Response]:
    return {
        "page": await client.get("/sign-in"),
        "api without a token": await client.get("/people/00000000-0000-0000-0000-000000000000"),
        "body too large": await client.post("/mentors", content=b"x" * (300 * 1024)),
        "health": await client.get("/health/live"),
        "stylesheet": await client.get("/static/bridgework.css"),
    }


async def test_every_response_says_nosniff_and_no_referrer_and_production_adds_hsts(
    production: httpx.AsyncClient, development: httpx.AsyncClient
) -> None:
    for name, response in (await responses(production)).items():
        assert response.headers["x-content-type-options"] == "nosniff", name
        assert response.headers["referrer-policy"] == "no-referrer", name
        assert response.headers["strict-transport-security"].startswith("max-age="), name
    for name, response in (await responses(development)).items():
        assert response.headers["x-content-type-options"] == "nosniff", name
        assert "strict-transport-security" not in response.headers, name


async def test_api_answers_are_not_stored_and_pages_carry_a_policy(
    production: httpx.AsyncClient,
) -> None:
    found = await responses(production)
    assert found["api without a token"].status_code == 401
    for name in ("page", "api without a token", "body too large"):
        assert found[name].headers["cache-control"] == "no-store", name
    assert found["stylesheet"].headers["cache-control"] == "max-age=3600"
    policy = found["page"].headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert found["page"].headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json", "/metrics"])
async def test_production_serves_no_documentation_or_metrics_on_the_public_port(
    production: httpx.AsyncClient, development: httpx.AsyncClient, path: str
) -> None:
    assert (await production.get(path)).status_code == 404
    assert (await development.get(path)).status_code == 200
    assert (await production.get("/health/live")).status_code == 200

"""Security settings of the web pages that need no database: cookies and headers."""

from __future__ import annotations

import httpx
import pytest

from services.profiles.app import create_app
from shared.settings import Settings


@pytest.mark.parametrize(("environment", "secure"), [("development", False), ("production", True)])
async def test_session_cookies_are_httponly_samesite_and_secure_in_production(
    environment: str, secure: bool
) -> None:
    settings = Settings(
        environment=environment,
        secret_key="a-production-secret-" * 3,
        public_base_url="https://bridgework.example.nhs.uk",
    )
    app = create_app(settings)  # no lifespan: the sign-in page needs no database
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://profiles") as client:
        page = await client.get("/sign-in")
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert ("secure" in cookie.split("; ")) is secure
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"

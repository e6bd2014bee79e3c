"""A database that cannot be reached answers 503 with Retry-After, not 500 (issue 14, item 12):
the profiles app's pool points at a port where no PostgreSQL listens."""

from __future__ import annotations

import asyncpg
import httpx

from devtools.stack import free_port
from services.profiles.app import create_app
from shared.settings import Settings


async def test_a_database_outage_answers_503_and_asks_to_retry() -> None:
    app = create_app(Settings())
    nowhere = f"postgresql://bridgework@127.0.0.1:{free_port()}/bridgework"
    app.state.pool = await asyncpg.create_pool(nowhere, min_size=0, max_size=1, timeout=2)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://profiles") as client:
            api = await client.get(
                "/people/00000000-0000-0000-0000-000000000000",
                headers={"Authorization": "Bearer bw_some-token"},
            )
            page = await client.get("/admin")
    finally:
        await app.state.pool.close()
    for response in (api, page):
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "5"
        assert "nothing was stored" in response.json()["detail"]

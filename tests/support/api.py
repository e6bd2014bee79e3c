"""Calling the profiles JSON API: a token's Authorization header."""

from __future__ import annotations

from uuid import uuid4

import asyncpg

from services.profiles.accounts.api_tokens import create_api_token


async def bearer_headers(pool: asyncpg.Pool, network_id: str | None = None) -> dict[str, str]:
    """A new API token's Authorization header: an administrator's, or one network's."""
    async with pool.acquire() as conn:
        name = f"test-{network_id or 'admin'}-{uuid4().hex[:8]}"
        token = await create_api_token(conn, name, network_id, actor="test")
    return {"Authorization": f"Bearer {token}"}

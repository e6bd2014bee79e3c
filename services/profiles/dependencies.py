"""What routes ask FastAPI for (``Depends``): the app's settings, its database pool and a
connection from it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from shared.settings import Settings


def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def app_pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


async def connection(
    pool: Annotated[asyncpg.Pool, Depends(app_pool)],
) -> AsyncIterator[asyncpg.Connection]:
    async with pool.acquire() as conn:
        yield conn


AppSettings = Annotated[Settings, Depends(app_settings)]
Pool = Annotated[asyncpg.Pool, Depends(app_pool)]
Connection = Annotated[asyncpg.Connection, Depends(connection)]

"""Bearer tokens for the JSON API's clients, made and revoked by an administrator.

A token is 32 random bytes (``secrets.token_urlsafe``), shown once when it is made; only its
SHA-256 is stored. With that much entropy a plain hash cannot be reversed by guessing, and it
lets a request's token be found with one indexed lookup (a slow password hash would cost every
API call tens of milliseconds). Making and revoking a token are audited.

Every token expires (after 90 days unless its maker chose otherwise, at most a year): a token
copied into a forgotten script stops working on its own. Its last use is recorded (to the
minute, so busy clients do not write on every call), for an administrator deciding what to
revoke.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import asyncpg
from pydantic import BaseModel, ConfigDict

from services.profiles.accounts.accounts import DevelopmentOnly
from services.profiles.accounts.audit import record_audit
from services.profiles.accounts.permissions import ApiClient

# Marks a Bridgework token in logs and for secret scanners (a token pasted where it should not be).
TOKEN_PREFIX = "bw_"
MAX_NAME_LENGTH = 100
DEFAULT_LIFETIME_DAYS = 90
MAX_LIFETIME_DAYS = 365
LAST_USE_PRECISION = timedelta(minutes=1)


class TokenRefused(ValueError):
    """The token cannot be made or revoked as asked; the message says why."""


class ApiTokenInfo(BaseModel):
    """What an administrator sees of a token: never the token itself."""

    model_config = ConfigDict(frozen=True)

    name: str
    network_id: str | None
    created_at: datetime
    created_by: str
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_api_token(
    conn: asyncpg.Connection,
    name: str,
    network_id: str | None,
    *,
    actor: str,
    lifetime_days: int = DEFAULT_LIFETIME_DAYS,
) -> str:
    """Make a token (for one network, or for every network when ``network_id`` is None) that
    works for ``lifetime_days``, and return it: this is the only time it is seen."""
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise TokenRefused(f"a token's name is 1 to {MAX_NAME_LENGTH} printable characters")
    if not 1 <= lifetime_days <= MAX_LIFETIME_DAYS:
        raise TokenRefused(f"a token lasts 1 to {MAX_LIFETIME_DAYS} days")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with conn.transaction():
        try:
            await conn.execute(
                "INSERT INTO api_tokens (name, token_hash, network_id, created_by, expires_at)"
                " VALUES ($1, $2, $3, $4, now() + $5::interval)",
                name,
                token_digest(token),
                network_id,
                actor,
                timedelta(days=lifetime_days),
            )
        except asyncpg.UniqueViolationError as error:
            raise TokenRefused(f"a token named {name!r} exists: revoke it first") from error
        except asyncpg.ForeignKeyViolationError as error:
            raise TokenRefused(f"unknown network {network_id!r}") from error
        await record_audit(
            conn,
            actor=actor,
            action="api_token.created",
            subject=name,
            details={"network_id": network_id, "lifetime_days": lifetime_days},
        )
    return token


async def revoke_api_token(conn: asyncpg.Connection, name: str, *, actor: str) -> None:
    """The token stops working at once (every request looks it up)."""
    async with conn.transaction():
        network_id = await conn.fetchrow(
            "UPDATE api_tokens SET revoked_at = now(), revoked_by = $2"
            " WHERE name = $1 AND revoked_at IS NULL RETURNING network_id",
            name.strip(),
            actor,
        )
        if network_id is None:
            raise TokenRefused(f"there is no live token named {name!r}")
        await record_audit(
            conn,
            actor=actor,
            action="api_token.revoked",
            subject=name.strip(),
            details={"network_id": network_id["network_id"]},
        )


async def authenticate(conn: asyncpg.Connection, token: str) -> ApiClient | None:
    """The client holding ``token``; None when it is unknown, revoked or expired."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = await conn.fetchrow(
        "SELECT id, name, network_id, now() - last_used_at < $2 AS used_lately FROM api_tokens"
        " WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()",
        token_digest(token),
        LAST_USE_PRECISION,
    )
    if row is None:
        return None
    if not row["used_lately"]:
        await conn.execute("UPDATE api_tokens SET last_used_at = now() WHERE id = $1", row["id"])
    return ApiClient(name=row["name"], network_id=row["network_id"])


async def list_api_tokens(conn: asyncpg.Connection) -> list[ApiTokenInfo]:
    rows = await conn.fetch(
        "SELECT name, network_id, created_at, created_by, expires_at, last_used_at, revoked_at"
        " FROM api_tokens"
        " ORDER BY revoked_at IS NOT NULL, name, created_at"
    )
    return [ApiTokenInfo.model_validate(dict(row)) for row in rows]


async def development_api_token(
    conn: asyncpg.Connection, name: str, environment: str, *, actor: str
) -> str:
    """An administrator's token made by the demo itself; refused in production, where every
    token is made by an administrator (``bridgework accounts create-api-token``)."""
    if environment == "production":
        raise DevelopmentOnly("demo API tokens are refused in production (BRIDGEWORK_ENVIRONMENT)")
    return await create_api_token(conn, name, None, actor=actor)

"""Server-side sessions for the coordinators' and administrators' pages.

The signed cookie holds only a random session id; the session itself is a row here, looked up
on every request. Ending it (sign-out, a password change, the account's removal: its rows go
with it) takes effect at once, and a copy of the cookie made earlier opens nothing. Only the
id's SHA-256 is stored, so a copy of the table opens no session either.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import asyncpg


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def start_session(
    conn: asyncpg.Connection, email: str, lifetime: timedelta, id_token: str | None = None
) -> str:
    """A new session for the account; returns its id (for the cookie, never stored as is).
    ``id_token``: the identity provider's, kept to end the provider's session on sign-out."""
    session_id = secrets.token_urlsafe(32)
    await conn.execute("DELETE FROM sessions WHERE expires_at < now()")
    await conn.execute(
        "INSERT INTO sessions (id_hash, email, expires_at, id_token)"
        " VALUES ($1, $2, now() + $3::interval, $4)",
        _digest(session_id),
        email,
        lifetime,
        id_token,
    )
    return session_id


async def session_email(conn: asyncpg.Connection, session_id: str) -> str | None:
    """The account (its email) of a live session; None when it has ended or expired."""
    email: str | None = await conn.fetchval(
        "SELECT email FROM sessions WHERE id_hash = $1 AND expires_at > now()",
        _digest(session_id),
    )
    return email


async def end_session(conn: asyncpg.Connection, session_id: str) -> str | None:
    """End one session (sign-out); returns its identity provider's ID token, if any."""
    id_token: str | None = await conn.fetchval(
        "DELETE FROM sessions WHERE id_hash = $1 RETURNING id_token", _digest(session_id)
    )
    return id_token


async def end_sessions_of(conn: asyncpg.Connection, email: str) -> int:
    """End every session of the account (its password changed); returns how many."""
    ended = await conn.fetch("DELETE FROM sessions WHERE email = $1 RETURNING 1", email)
    return len(ended)

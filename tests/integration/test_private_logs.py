"""PostgreSQL's own log carries no email address, whatever the API's callers get wrong.

An error's DETAIL quotes the row ("Key (email)=(...) already exists") and the failing statement
is logged with it by default: devtools/postgres.sh starts the server with terse errors and no
statements (docs/security.md says what to set on a managed server)."""

from __future__ import annotations

import re
from pathlib import Path
from uuid import uuid4

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.profiles.accounts.accounts import AccountRefused, NewAccount, create_account
from services.profiles.accounts.permissions import AccountRole
from tests.support.api import bearer_headers

pytestmark = pytest.mark.integration

EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
PRIVATE_SETTINGS = {
    "log_error_verbosity": "terse",
    "log_min_error_statement": "panic",
    "log_parameter_max_length": "0",
    "log_parameter_max_length_on_error": "0",
}


async def _server_log(conn: asyncpg.Connection) -> Path:
    """devtools/postgres.sh writes the log beside the data directory; skip on another server."""
    data = Path(await conn.fetchval("SHOW data_directory"))
    log = data.parent / "server.log"
    if not log.is_file():
        pytest.skip(f"not the local server of devtools/postgres.sh (no {log})")
    return log


async def test_the_server_is_set_to_keep_values_out_of_its_log(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        settings = {name: await conn.fetchval(f"SHOW {name}") for name in PRIVATE_SETTINGS}
    assert settings == PRIVATE_SETTINGS


async def test_refused_duplicates_leave_no_email_in_the_server_log(
    app: FastAPI, pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        log = await _server_log(conn)
    start = log.stat().st_size
    network = f"net-{uuid4().hex[:6]}"
    email = f"dup.{uuid4().hex[:8]}@example.org"
    headers = await bearer_headers(pool)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://profiles", headers=headers
    ) as client:
        coordinators = [{"name": "Cora", "email": f"cora.{uuid4().hex[:6]}@example.org"}]
        network_body = {"name": "Logs", "coordinators": coordinators}
        assert (await client.put(f"/networks/{network}", json=network_body)).status_code == 204
        trust = f"T{uuid4().hex[:6]}"
        trust_body = {"name": "Log Trust", "region": "London", "network_id": network}
        assert (await client.put(f"/trusts/{trust}", json=trust_body)).status_code == 204
        mentor = {
            "name": "Ann Mentor",
            "email": email,
            "job_title": "CIO",
            "trust_code": trust,
            "skills": [{"skill": "board-influence", "level": 6}],
            "capacity": 2,
            "hours_per_month": 4,
        }
        assert (await client.post("/mentors", json=mentor)).status_code == 201
        assert (await client.post("/mentors", json=mentor)).status_code == 409
    account = NewAccount(
        email=email,
        name="Cora",
        role=AccountRole.COORDINATOR,
        network_id=network,
        password="a-long-enough-password",
    )
    async with pool.acquire() as conn:
        await create_account(conn, account, actor="test")
        with pytest.raises(AccountRefused):
            await create_account(conn, account, actor="test")
    with log.open(encoding="utf-8", errors="replace") as lines:
        lines.seek(start)
        written = lines.read()
    assert "duplicate key" in written  # the errors were logged: only their values were not
    assert EMAIL.findall(written) == []

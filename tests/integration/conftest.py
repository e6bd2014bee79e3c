"""Integration fixtures: a fresh database on the real PostgreSQL, the real Kafka broker, and a
real SMTP server (aiosmtpd) per test."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from uuid import uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI
from prometheus_client import REGISTRY

from devtools.stack import free_port
from services.profiles.accounts.api_tokens import create_api_token
from services.profiles.app import create_app
from shared.settings import Settings


@pytest.fixture(scope="session")
def settings(base_settings: Settings, database_url: str, kafka: str) -> Settings:
    return base_settings.model_copy(
        update={
            "database_url": database_url,
            "kafka_bootstrap_servers": kafka,
            "outbox_poll_seconds": 0.2,
            "mail_retry_seconds": 0.2,
        }
    )


def metric(name: str, **labels: str) -> float:
    """One sample of this process's Prometheus registry, 0 before its series exists (tests
    compare values before and after: the registry is the process's, shared by all tests)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def read_topic(
    bootstrap: str,
    topic: str,
    wanted: Callable[[ConsumerRecord[bytes, bytes]], bool],
    count: int = 1,
    timeout: float = 20.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Records of ``topic`` (from the beginning) that ``wanted`` accepts; waits for ``count``."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    found: list[ConsumerRecord[bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(found) < count:
            batch = await consumer.getmany(timeout_ms=300)
            found += [r for records in batch.values() for r in records if wanted(r)]
        # Linger briefly so duplicates, if any, are seen too.
        batch = await consumer.getmany(timeout_ms=500)
        found += [r for records in batch.values() for r in records if wanted(r)]
    finally:
        await consumer.stop()
    return found


@dataclass
class Inbox:
    port: int
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"


@pytest.fixture
def smtp_inbox() -> Iterator[Inbox]:
    """A real SMTP server on a free port that keeps what it receives."""
    inbox = Inbox(port=free_port())
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    yield inbox
    controller.stop()


@pytest.fixture(scope="module")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The profiles app, started (its pool, relay and read model) once per test module."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="module")
def pool(app: FastAPI) -> asyncpg.Pool:
    """The profiles app's own pool (its schema)."""
    pool: asyncpg.Pool = app.state.pool
    return pool


async def _migrated_pool(settings: Settings, schema: str) -> asyncpg.Pool:
    from pathlib import Path

    from shared.db import create_pool, migrate_async

    migrations = Path(__file__).resolve().parents[2] / "services" / schema / "migrations"
    await migrate_async(settings.database_url, schema, migrations)
    return await create_pool(settings.database_url, schema, min_size=1, max_size=5)


@pytest.fixture(scope="session")
async def matcher_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await _migrated_pool(settings, "matcher")
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def notifier_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await _migrated_pool(settings, "notifier")
    yield pool
    await pool.close()


async def bearer_headers(pool: asyncpg.Pool, network_id: str | None = None) -> dict[str, str]:
    """A new API token's Authorization header: an administrator's, or one network's."""
    async with pool.acquire() as conn:
        name = f"test-{network_id or 'admin'}-{uuid4().hex[:8]}"
        token = await create_api_token(conn, name, network_id, actor="test")
    return {"Authorization": f"Bearer {token}"}

"""Integration fixtures: a fresh database on the real PostgreSQL, the real Kafka broker, and a
real SMTP server (aiosmtpd) per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiosmtpd.controller import Controller
from fastapi import FastAPI

from devtools.stack import free_port
from services.notifier.bootstrap import apply_event as notifier_apply_event
from services.profiles.app import create_app
from shared.consuming import EventConsumer
from shared.settings import Settings
from tests.support.api import bearer_headers
from tests.support.database import migrated_pool
from tests.support.mail import Inbox
from tests.support.pages import Browsers


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


@pytest.fixture
async def browsers(app: FastAPI) -> AsyncIterator[Browsers]:
    """Browsers on the profiles app, each with its own cookie jar; closed after the test."""
    opened = Browsers(app)
    yield opened
    await opened.close()


@pytest.fixture(scope="module")
def pool(app: FastAPI) -> asyncpg.Pool:
    """The profiles app's own pool (its schema)."""
    pool: asyncpg.Pool = app.state.pool
    return pool


@pytest.fixture(scope="session")
async def matcher_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await migrated_pool(settings, "matcher")
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def notifier_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await migrated_pool(settings, "notifier")
    yield pool
    await pool.close()


@pytest.fixture(scope="module")
async def api_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The started profiles app's JSON API, as an administrator (a bearer token)."""
    headers = await bearer_headers(app.state.pool)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://profiles", headers=headers
    ) as client:
        yield client


@pytest.fixture
async def notifier_consumer(settings: Settings, notifier_pool: asyncpg.Pool) -> EventConsumer:
    """The notifier's event consumer on its migrated schema, fed by ``deliver``."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    return EventConsumer("notifier", notifier_pool, producer, notifier_apply_event)

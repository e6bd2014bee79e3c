"""Fixtures shared by every tier: where the reference data lives, and the infrastructure."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, settings

from devtools.reference_data import reason, reference_data_dir
from devtools.stack import drop_database, fresh_database
from shared.kafka import ensure_topics
from shared.settings import Settings
from tests.support.services import require_service

# Properties are judged by their examples, not by wall clock: on a shared 2-core machine (and in
# CI, beside Kafka and PostgreSQL) one slow example is the machine, not the code, and Hypothesis'
# default 200 ms deadline and too-slow health check turned that into failures that passed when
# re-run. A test that needs a time bound says so with a benchmark, not a deadline.
settings.register_profile("bridgework", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("bridgework")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public data beside the checkout (../shared/data); absent in a user's clone."""
    if not reference_data_dir().is_dir():
        pytest.skip(reason())
    return reference_data_dir()


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
async def database_url(base_settings: Settings) -> AsyncIterator[str]:
    """A database of its own for this test session, dropped at the end."""
    server = urlsplit(base_settings.database_url)
    require_service("PostgreSQL", server.hostname or "127.0.0.1", server.port or 5432)
    url = await fresh_database(base_settings.database_url, f"bridgework_test_{uuid4().hex[:8]}")
    yield url
    await drop_database(base_settings.database_url, url)


@pytest.fixture(scope="session")
async def kafka(base_settings: Settings) -> str:
    host, port = base_settings.kafka_bootstrap_servers.split(",")[0].rsplit(":", 1)
    require_service("Kafka", host, int(port))
    await ensure_topics(base_settings)
    return base_settings.kafka_bootstrap_servers

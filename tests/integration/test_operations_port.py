"""The profiles service as it runs in production (issue 14, item 11): the real process
(``python -m services.profiles``, its lifespan and its operations server) on the real database
and broker. /metrics answers on the operations port only; the public port serves the health
probes and no API documentation."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devtools.stack import ServiceProcess, StackConfig, free_port

pytestmark = pytest.mark.integration

PRODUCTION = (
    ("BRIDGEWORK_ENVIRONMENT", "production"),
    ("BRIDGEWORK_SECRET_KEY", "q7Rk2vX9mW4pLs8tNc3yHb6jZf1dGa5e-operations-port"),
)


def _wait_until_ready(process: ServiceProcess, url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(process.log_path.read_text(errors="replace")[-3000:])
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer ready within {timeout:.0f}s")


@pytest.fixture(scope="module")
def production_profiles(
    database_url: str, kafka: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """(public base URL, operations base URL) of a running production profiles service."""
    folder: Path = tmp_path_factory.mktemp("production-profiles")
    config = StackConfig(
        database_url=database_url,
        kafka_bootstrap_servers=kafka,
        http_port=free_port(),
        log_dir=folder / "logs",
        extra_environment=(
            *PRODUCTION,
            # Links in emails need https in production; nothing here sends any.
            ("BRIDGEWORK_PUBLIC_BASE_URL", "https://bridgework.example.nhs.uk"),
        ),
    )
    ops_port = free_port()
    process = ServiceProcess(
        "profiles", [sys.executable, "-m", "services.profiles"], config, ops_port=ops_port
    )
    public, operations = config.base_url, f"http://127.0.0.1:{ops_port}"
    try:
        _wait_until_ready(process, f"{operations}/health/ready")
        yield public, operations
    finally:
        process.stop()


def test_metrics_are_served_on_the_operations_port_only(
    production_profiles: tuple[str, str],
) -> None:
    public, operations = production_profiles
    metrics = httpx.get(f"{operations}/metrics", timeout=5)
    assert metrics.status_code == 200
    assert "bridgework_" in metrics.text
    assert httpx.get(f"{public}/metrics", timeout=5).status_code == 404


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json", "/docs/asyncapi"])
def test_the_public_port_serves_no_api_documentation(
    production_profiles: tuple[str, str], path: str
) -> None:
    public, _ = production_profiles
    assert httpx.get(f"{public}{path}", timeout=5).status_code == 404


def test_the_public_port_keeps_the_health_probes(production_profiles: tuple[str, str]) -> None:
    public, _ = production_profiles
    for probe in ("/health/live", "/health/ready"):
        answer = httpx.get(f"{public}{probe}", timeout=5)
        assert answer.status_code == 200, probe
        assert answer.headers["strict-transport-security"].startswith("max-age=")
    assert httpx.get(f"{public}/health/ready", timeout=5).json()["service"] == "profiles"

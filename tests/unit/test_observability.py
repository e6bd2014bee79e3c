"""Correlation ids, structured logs and readiness: pure logic, no broker or database."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket

import httpx
import pytest

from devtools.stack import free_port
from shared.logs import CorrelationFilter, formatter, use_json
from shared.observability.context import (
    CORRELATION_HEADER,
    acceptable_correlation_id,
    capture,
    continued,
    correlated,
    current_correlation_id,
    from_kafka_headers,
    to_kafka_headers,
)
from shared.observability.health import readiness
from shared.observability.ops_server import OpsServer
from shared.observability.tracing import tracing_mode
from shared.settings import Settings


def test_a_callers_correlation_id_is_kept_and_odd_ones_are_replaced() -> None:
    assert acceptable_correlation_id("req-42.a:b") == "req-42.a:b"
    for odd in (None, "", "a" * 65, "jane.doe@example.org", "x\ninjected line"):
        replaced = acceptable_correlation_id(odd)
        assert replaced != odd
        assert len(replaced) == 32


def test_the_correlation_id_holds_inside_its_block_only() -> None:
    assert current_correlation_id() is None
    with correlated("outer"):
        with correlated("inner"):
            assert current_correlation_id() == "inner"
        assert current_correlation_id() == "outer"
        assert capture()[CORRELATION_HEADER] == "outer"
    assert current_correlation_id() is None


def test_trace_context_round_trips_through_kafka_headers() -> None:
    with correlated("abc"):
        carrier = capture()
    headers = [*to_kafka_headers(carrier), ("x-dead-letter-reason", b"kept apart")]
    assert from_kafka_headers(headers) == {CORRELATION_HEADER: "abc"}
    with continued(from_kafka_headers(headers), "next hop"):
        assert current_correlation_id() == "abc"


def _log_line(json_format: bool) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(CorrelationFilter("matcher"))
    handler.setFormatter(formatter(json_format))
    logger = logging.getLogger("bridgework.test")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with correlated("c0ffee"):
            logger.warning("round for network %s", "n1")
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_json_log_lines_carry_the_service_and_correlation_id() -> None:
    line = json.loads(_log_line(json_format=True))
    assert line.pop("time")
    assert line == {
        "level": "WARNING",
        "service": "matcher",
        "logger": "bridgework.test",
        "correlation_id": "c0ffee",
        "trace_id": "-",
        "message": "round for network n1",
    }


def test_text_log_lines_are_readable() -> None:
    line = _log_line(json_format=False)
    assert line.endswith(" WARNING matcher bridgework.test [c0ffee]: round for network n1\n")


@pytest.mark.parametrize(
    ("log_format", "environment", "expected"),
    [
        ("auto", "production", True),
        ("auto", "development", False),
        ("json", "development", True),
        ("text", "production", False),
    ],
)
def test_json_is_the_default_in_production(
    log_format: str, environment: str, expected: bool
) -> None:
    assert use_json(log_format, environment) is expected


def test_tracing_is_off_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert tracing_mode(Settings()) == "off"
    assert tracing_mode(Settings(tracing="console")) == "console"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert tracing_mode(Settings()) == "otlp"


async def test_readiness_names_each_failing_check_within_the_timeout() -> None:
    async def ok() -> None:
        return None

    async def hangs() -> None:
        await asyncio.sleep(10)

    async def refuses() -> None:
        raise ConnectionRefusedError("no")

    ready, checks = await readiness({"database": ok, "kafka": hangs}, timeout=0.05)
    assert (ready, checks) == (False, {"database": "ok", "kafka": "no answer within 0.05s"})
    ready, checks = await readiness({"database": refuses}, timeout=0.05)
    assert (ready, checks) == (False, {"database": "failed: ConnectionRefusedError"})
    assert await readiness({"database": ok, "kafka": ok}, timeout=0.05) == (
        True,
        {"database": "ok", "kafka": "ok"},
    )


async def test_an_operations_port_already_taken_stops_start_up_with_the_reason() -> None:
    async def ready() -> tuple[bool, dict[str, str]]:
        return True, {}

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match="in use"):
            await OpsServer("matcher", ready, "127.0.0.1", port).start()


async def test_the_operations_server_says_which_service_is_ready() -> None:
    async def ready() -> tuple[bool, dict[str, str]]:
        return True, {"database": "ok"}

    port = free_port()
    server = OpsServer("notifier", ready, "127.0.0.1", port)
    await server.start()
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}/health/ready")
    finally:
        await server.stop()
    assert response.json() == {"service": "notifier", "status": "ok", "checks": {"database": "ok"}}


def test_free_ports_are_never_handed_out_twice() -> None:
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)

"""FastStream's telemetry middleware is installed only where it records something: with a
tracer provider. Without one it would still read every record's headers for a batch span that
nobody records (shared/service.py, ``event_broker``)."""

from __future__ import annotations

import pytest
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware

import shared.service
from shared.service import event_broker
from shared.settings import Settings
from shared.topics import Topic


@pytest.mark.parametrize("tracing", [False, True])
def test_the_telemetry_middleware_is_there_only_with_tracing_on(
    monkeypatch: pytest.MonkeyPatch, tracing: bool
) -> None:
    monkeypatch.setattr(shared.service, "tracing_on", lambda: tracing)
    broker = event_broker("matcher", [Topic.PEOPLE], Settings(), lambda: None)
    kinds = [type(middleware) for middleware in broker.middlewares]
    assert (KafkaTelemetryMiddleware in kinds) is tracing
    assert KafkaPrometheusMiddleware in kinds  # the faststream_* series either way

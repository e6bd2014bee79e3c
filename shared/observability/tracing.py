"""OpenTelemetry tracing, off unless configured: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (OTLP over
HTTP, the standard variables apply) or ``BRIDGEWORK_TRACING=console`` / ``otlp``.

When off, OpenTelemetry's API is a no-op: spans cost nothing, and ``traceparent`` headers that
arrive are still passed on, so a traced caller's trace is not broken by an untraced hop."""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from shared.settings import Settings


def tracing_mode(settings: Settings) -> str:
    if settings.tracing != "off":
        return settings.tracing
    return "otlp" if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") else "off"


def _exporter(mode: str) -> SpanExporter:
    if mode == "console":
        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def configure_tracing(settings: Settings, service: str) -> TracerProvider | None:
    """Install a tracer provider for this process when tracing is configured."""
    mode = tracing_mode(settings)
    if mode == "off":
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": f"bridgework-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(_exporter(mode)))
    trace.set_tracer_provider(provider)
    return provider

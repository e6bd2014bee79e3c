"""Logs for every service: readable lines in development, one JSON object per line in
production (``BRIDGEWORK_LOG_FORMAT=json``, the default when ``BRIDGEWORK_ENVIRONMENT=
production``). Every line carries the correlation id of the change being handled and, when
tracing is on, its trace id. Log ids and counts, never names or emails.

JSON comes from python-json-logger on top of stdlib logging: the services, FastStream, uvicorn
and aiokafka all log through stdlib, so one handler formats them all alike."""

from __future__ import annotations

import logging
import sys

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

from shared.observability.context import current_correlation_id

TEXT_FORMAT = "%(asctime)s %(levelname)s %(service)s %(name)s [%(correlation_id)s]: %(message)s"
JSON_FIELDS = (
    "%(asctime)s %(levelname)s %(service)s %(name)s %(correlation_id)s %(trace_id)s %(message)s"
)


class CorrelationFilter(logging.Filter):
    """Stamps each record with the service, the correlation id and the trace id."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.correlation_id = current_correlation_id() or "-"
        span = trace.get_current_span().get_span_context()
        record.trace_id = format(span.trace_id, "032x") if span.is_valid else "-"
        record.__dict__.pop("color_message", None)  # uvicorn's ANSI-coloured copy
        return True


def use_json(log_format: str, environment: str) -> bool:
    if log_format == "auto":
        return environment == "production"
    return log_format == "json"


def formatter(json_lines: bool) -> logging.Formatter:
    if json_lines:
        return JsonFormatter(
            JSON_FIELDS,
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    return logging.Formatter(TEXT_FORMAT)


def configure_logging(
    level: str = "INFO",
    service: str = "bridgework",
    log_format: str = "text",
    environment: str = "development",
) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(CorrelationFilter(service))
    handler.setFormatter(formatter(use_json(log_format, environment)))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


def service_logger() -> logging.Logger:
    """The logger FastStream is given, so its lines go through the handler above (FastStream's
    default logger has a coloured handler of its own)."""
    return logging.getLogger("bridgework.faststream")

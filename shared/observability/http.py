"""Operability of the HTTP API: a correlation id per request (the caller's X-Correlation-ID or
a new one, echoed in the response), an access log line without personal data, request latency
by route template, OpenTelemetry server spans, and the operations routes."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from starlette.routing import BaseRoute

from shared.observability import metrics
from shared.observability.context import HTTP_CORRELATION_HEADER, correlated
from shared.observability.ops_server import OPS_PATHS, Readiness, health_routes, ops_routes

log = logging.getLogger("bridgework.http")


def _route_template(request: Request) -> str:
    # The template (/people/{person_id}), never the path: ids stay out of labels, and the
    # number of series stays bounded.
    route: BaseRoute | None = request.scope.get("route")
    if route is not None:
        return str(getattr(route, "path", "unmatched"))
    path = request.url.path
    return path if path in OPS_PATHS else "unmatched"


def instrument_http(
    app: FastAPI, service: str, readiness: Readiness, *, serve_operations: bool = True
) -> None:
    """``serve_operations``: /metrics and the AsyncAPI document on this app too; without it
    (production), only the health probes, and the rest on the operations port."""

    @app.middleware("http")
    async def correlate(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        with correlated(request.headers.get(HTTP_CORRELATION_HEADER)) as correlation_id:
            started = time.perf_counter()
            response = await call_next(request)
            seconds = time.perf_counter() - started
            route = _route_template(request)
            metrics.HTTP_LATENCY.labels(request.method, route, str(response.status_code)).observe(
                seconds
            )
            if route not in OPS_PATHS:
                log.info(
                    "%s %s -> %d in %.0f ms",
                    request.method,
                    route,
                    response.status_code,
                    seconds * 1000,
                )
            response.headers[HTTP_CORRELATION_HEADER] = correlation_id
            return response

    routes = ops_routes if serve_operations else health_routes
    app.router.routes.extend(routes(service, readiness))
    FastAPIInstrumentor.instrument_app(
        app,
        excluded_urls="/metrics,/health/live,/health/ready",
        exclude_spans=["receive", "send"],  # one span per request, not one per ASGI message
    )

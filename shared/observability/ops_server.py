"""The operations endpoints of every service: ``/metrics``, ``/health/live``, ``/health/ready``
and the AsyncAPI document. The profiles API mounts these routes itself; the matcher and the
notifier, which have no HTTP API, serve them from a small uvicorn server in the same process
(``BRIDGEWORK_OPS_PORT``)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from faststream.specification import get_asyncapi_html
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from shared.observability import metrics
from shared.observability.asyncapi import asyncapi_document

Readiness = Callable[[], Awaitable[tuple[bool, dict[str, str]]]]


async def metrics_response(_: Request) -> Response:
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)


async def live_response(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def ready_endpoint(
    service: str, readiness: Readiness
) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def ready(_: Request) -> JSONResponse:
        ok, checks = await readiness()
        # The service's name, so whoever polls knows it reached the service it meant to.
        body: dict[str, Any] = {
            "service": service,
            "status": "ok" if ok else "unavailable",
            "checks": checks,
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    return ready


async def asyncapi_json_response(_: Request) -> JSONResponse:
    return JSONResponse(asyncapi_document())


async def asyncapi_html_response(_: Request) -> HTMLResponse:
    from faststream.specification import AsyncAPI

    from shared.observability.asyncapi import documentation_broker

    specification = AsyncAPI(documentation_broker(), title="Bridgework events").to_specification()
    return HTMLResponse(get_asyncapi_html(specification))


OPS_PATHS = frozenset(
    {"/metrics", "/health/live", "/health/ready", "/docs/asyncapi.json", "/docs/asyncapi"}
)


def health_routes(service: str, readiness: Readiness) -> list[Route]:
    """The probes: what a public port may serve (they say nothing about the data)."""
    return [
        Route("/health/live", live_response),
        Route("/health/ready", ready_endpoint(service, readiness)),
    ]


def ops_routes(service: str, readiness: Readiness) -> list[Route]:
    return [
        *health_routes(service, readiness),
        Route("/metrics", metrics_response),
        Route("/docs/asyncapi.json", asyncapi_json_response),
        Route("/docs/asyncapi", asyncapi_html_response),
    ]


class OpsServer:
    """uvicorn serving the operations routes inside a FastStream service's event loop."""

    def __init__(self, service: str, readiness: Readiness, host: str, port: int) -> None:
        self._address = (host, port)
        config = uvicorn.Config(
            Starlette(routes=ops_routes(service, readiness)),
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # The socket is bound here, so a taken port is an OSError that stops the service at
        # start-up; uvicorn would call sys.exit inside a task and leave the service half-started.
        listener = socket.create_server(self._address, reuse_port=False)
        # _serve, not serve: serve() would take over SIGTERM/SIGINT, which belong to FastStream
        # (it shuts the whole service down, this server included, via stop()).
        self._task = asyncio.create_task(self._server._serve([listener]), name="ops-server")
        while not self._server.started:
            if self._task.done():
                await self._task  # raises the reason it could not start (port taken, ...)
                raise RuntimeError("the operations server stopped during start-up")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

"""The profiles app: the JSON API for networks, trusts, people and placements (api/), the
coordinators' pages (coordination/), accounts and the administrators' pages (accounts/), imports
(imports/) and participants' self-service (self_service/). Start-up lives in bootstrap.py."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from services.profiles import bootstrap, pages
from services.profiles.accounts import admin_pages
from services.profiles.accounts import pages as account_pages
from services.profiles.api import networks, people, placements, trusts
from services.profiles.api.access import Forbidden
from services.profiles.api.versions import PreconditionFailed
from services.profiles.coordination import emails as email_pages
from services.profiles.coordination import links
from services.profiles.coordination import pages as coordination_pages
from services.profiles.coordination import people as person_pages
from services.profiles.directory.errors import Conflict, Invalid, NotFound
from services.profiles.imports import pages as import_pages
from services.profiles.joining import pages as join_pages
from services.profiles.outcomes import pages as outcome_pages
from services.profiles.self_service import pages as self_service_pages
from services.profiles.trusts import coordinator_pages as trust_coordinator_pages
from services.profiles.trusts import links as trust_links
from services.profiles.trusts import pages as trust_pages
from shared.limits import (
    IMPORT_MAX_BODY_BYTES,
    IMPORT_PATH,
    JOIN_MAX_BODY_BYTES,
    JOIN_PATH,
    RequestSizeLimit,
)
from shared.observability.http import instrument_http
from shared.security_headers import SecurityHeaders
from shared.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    production = settings.environment == "production"
    # In production the API's documentation is not served to anyone (it is in docs/), and the
    # metrics move to the operations port (bootstrap.py).
    app = FastAPI(
        title="Bridgework profiles",
        description="People, trusts, networks and secondment placements for Bridgework.",
        version="1.0.0",
        lifespan=bootstrap.lifespan(settings),
        docs_url=None if production else "/docs",
        redoc_url=None if production else "/redoc",
        openapi_url=None if production else "/openapi.json",
    )
    app.add_middleware(
        RequestSizeLimit,
        max_body_bytes=settings.max_request_body_bytes,
        # The import page takes files of up to 5 MB, beyond the API's limit for JSON bodies.
        path_limits=[
            (IMPORT_PATH, max(IMPORT_MAX_BODY_BYTES, settings.max_request_body_bytes)),
            # A join form is a page of short fields: far less than the API's limit.
            (JOIN_PATH, JOIN_MAX_BODY_BYTES),
        ],
    )
    app.state.settings = settings
    _add_error_handlers(app)
    for api in (networks, trusts, people, placements):
        app.include_router(api.router)
    pages.install(app, settings)
    for page in (
        pages,
        account_pages,
        admin_pages,
        coordination_pages,
        email_pages,
        person_pages,
        import_pages,
        outcome_pages,
    ):
        app.include_router(page.router)
    app.include_router(links.router)
    # The sign-in routes (/trust/sign-in) before the trust's pages (/trust/{trust_code}).
    for trust_router in (trust_links, trust_pages, trust_coordinator_pages):
        app.include_router(trust_router.router)
    app.include_router(self_service_pages.router)
    app.include_router(join_pages.router)
    instrument_http(
        app, "profiles", bootstrap.app_readiness(app, settings), serve_operations=not production
    )
    app.add_middleware(SecurityHeaders, production=production)
    return app


def _field_name(location: tuple[Any, ...]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def _describe(error: Any) -> dict[str, str]:
    if error["type"] == "json_invalid":
        reason = error.get("ctx", {}).get("error", "")
        return {"field": "body", "message": f"malformed JSON: {reason}".strip(": ")}
    return {"field": _field_name(tuple(error["loc"])), "message": error["msg"]}


# A database that cannot be reached (down, restarting, failed over): the request is refused
# whole and may be sent again, so 503 with Retry-After, never a 500 that looks like a bug.
DATABASE_UNREACHABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
)


def _add_error_handlers(app: FastAPI) -> None:
    async def database_unreachable(_: Request, error: Exception) -> JSONResponse:
        log.warning("database unreachable: %s", type(error).__name__)
        return JSONResponse(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            content={"detail": "the database cannot be reached; nothing was stored: try again"},
            headers={"Retry-After": "5"},
        )

    for unreachable in DATABASE_UNREACHABLE:
        app.add_exception_handler(unreachable, database_unreachable)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        if pages.is_page_request(request):
            return pages.error_page(request, status.HTTP_422_UNPROCESSABLE_CONTENT)
        errors = [_describe(e) for e in error.errors()]
        return JSONResponse(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            content={"detail": "the request was refused; nothing was stored", "errors": errors},
        )

    @app.exception_handler(Invalid)
    async def invalid(_: Request, error: Invalid) -> JSONResponse:
        return JSONResponse(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            content={
                "detail": "the request was refused; nothing was stored",
                "errors": [{"field": error.field, "message": str(error)}],
            },
        )

    @app.exception_handler(NotFound)
    async def not_found(_: Request, error: NotFound) -> JSONResponse:
        return JSONResponse(status_code=status.HTTP_404_NOT_FOUND, content={"detail": str(error)})

    @app.exception_handler(Forbidden)
    async def forbidden(_: Request, error: Forbidden) -> JSONResponse:
        return JSONResponse(status_code=status.HTTP_403_FORBIDDEN, content={"detail": str(error)})

    @app.exception_handler(PreconditionFailed)
    async def precondition_failed(_: Request, error: PreconditionFailed) -> JSONResponse:
        return JSONResponse(
            status_code=status.HTTP_412_PRECONDITION_FAILED, content={"detail": str(error)}
        )

    @app.exception_handler(Conflict)
    async def conflict(_: Request, error: Conflict) -> JSONResponse:
        return JSONResponse(status_code=status.HTTP_409_CONFLICT, content={"detail": str(error)})

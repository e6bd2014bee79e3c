"""The profiles HTTP API: the front door for networks, trusts, people and placements; and the
coordinators' web pages (web.py), fed by a read model of proposals and decisions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, status
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.profiles import api_access as access
from services.profiles import api_tokens, read_model, self_service, service, web
from services.profiles.audit import record_audit
from services.profiles.permissions import ApiClient
from services.profiles.schemas import (
    IDENTIFIER_PATTERN,
    AvailabilityIn,
    Created,
    MenteeIn,
    MentorIn,
    NetworkIn,
    NetworkOut,
    PersonOut,
    PlacementIn,
    PlacementOut,
    Problem,
    Refusal,
    TrustIn,
    TrustOut,
)
from shared.consuming import BatchEventConsumer
from shared.db import create_pool, migrate_async
from shared.kafka import ensure_topics, idempotent_producer
from shared.limits import IMPORT_MAX_BODY_BYTES, IMPORT_PATH, RequestSizeLimit
from shared.observability.health import readiness
from shared.observability.http import instrument_http
from shared.observability.ops_server import Readiness
from shared.observability.progress import PartitionProgress
from shared.observability.service_ops import (
    sample_consumer_lag,
    sample_forever,
    sample_outbox_backlog,
    service_checks,
)
from shared.outbox import OutboxRelay
from shared.service import event_broker, take_fresh_batches
from shared.settings import Settings

SCHEMA = "profiles"
MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await migrate_async(settings.database_url, SCHEMA, MIGRATIONS)
        await ensure_topics(settings.kafka_bootstrap_servers)
        pool = await create_pool(settings.database_url, SCHEMA, min_size=2, max_size=10)
        producer = idempotent_producer(settings.kafka_bootstrap_servers)
        await producer.start()
        relay = OutboxRelay(pool, producer, poll_seconds=settings.outbox_poll_seconds)
        relay_task = asyncio.create_task(relay.run(), name="outbox-relay")
        samples_task = asyncio.create_task(
            sample_forever(settings.metrics_sample_seconds, _samples(settings, pool)),
            name="metrics-samples",
        )
        # The coordinators' read model follows the proposals and decisions topics.
        consumer = BatchEventConsumer(read_model.CONSUMER, pool, producer, read_model.apply_event)
        broker = event_broker(read_model.CONSUMER, read_model.TOPICS, settings, lambda: consumer)
        await broker.start()
        take_fresh_batches(broker, settings)
        app.state.pool = pool
        app.state.producer = producer
        app.state.consumer = consumer
        try:
            yield
        finally:
            await broker.stop()
            for task in (relay_task, samples_task):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await producer.stop()
            await pool.close()

    app = FastAPI(
        title="Bridgework profiles",
        description="People, trusts, networks and secondment placements for Bridgework.",
        version="1.0.0",
        lifespan=lifespan,
    )
    app.add_middleware(
        RequestSizeLimit,
        max_body_bytes=settings.max_request_body_bytes,
        # The import page takes files of up to 5 MB, beyond the API's limit for JSON bodies.
        path_limits=[(IMPORT_PATH, max(IMPORT_MAX_BODY_BYTES, settings.max_request_body_bytes))],
    )
    _add_error_handlers(app)
    _add_routes(app)
    web.install(app, settings)
    app.include_router(self_service.create_router(settings))
    instrument_http(app, "profiles", _readiness(app, settings))
    return app


def _samples(settings: Settings, pool: asyncpg.Pool) -> list[Callable[[], Awaitable[None]]]:
    """The sampled gauges: the outbox backlog, and the read model's consumer lag (the
    coordinators' pages fall behind the matcher when it grows)."""
    group = f"bridgework-{read_model.CONSUMER}"
    topics = [t.value for t in read_model.TOPICS]
    return [
        lambda: sample_outbox_backlog(pool, SCHEMA),
        lambda: sample_consumer_lag(settings.kafka_bootstrap_servers, group, topics),
    ]


def _readiness(app: FastAPI, settings: Settings) -> Readiness:
    def progress() -> PartitionProgress | None:
        consumer: BatchEventConsumer | None = getattr(app.state, "consumer", None)
        return consumer.progress if consumer else None

    checks = service_checks(
        settings,
        lambda: getattr(app.state, "pool", None),
        lambda: getattr(app.state, "producer", None),
        progress,
    )

    async def ready() -> tuple[bool, dict[str, str]]:
        return await readiness(checks, settings.health_timeout_seconds)

    return ready


def _field_name(location: tuple[Any, ...]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def _describe(error: Any) -> dict[str, str]:
    if error["type"] == "json_invalid":
        reason = error.get("ctx", {}).get("error", "")
        return {"field": "body", "message": f"malformed JSON: {reason}".strip(": ")}
    return {"field": _field_name(tuple(error["loc"])), "message": error["msg"]}


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = [_describe(e) for e in error.errors()]
        return JSONResponse(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            content={"detail": "the request was refused; nothing was stored", "errors": errors},
        )

    @app.exception_handler(service.Invalid)
    async def invalid(_: Request, error: service.Invalid) -> JSONResponse:
        return JSONResponse(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            content={
                "detail": "the request was refused; nothing was stored",
                "errors": [{"field": error.field, "message": str(error)}],
            },
        )

    @app.exception_handler(service.NotFound)
    async def not_found(_: Request, error: service.NotFound) -> JSONResponse:
        return JSONResponse(status_code=status.HTTP_404_NOT_FOUND, content={"detail": str(error)})

    @app.exception_handler(access.Forbidden)
    async def forbidden(_: Request, error: access.Forbidden) -> JSONResponse:
        return JSONResponse(status_code=status.HTTP_403_FORBIDDEN, content={"detail": str(error)})

    @app.exception_handler(service.Conflict)
    async def conflict(_: Request, error: service.Conflict) -> JSONResponse:
        return JSONResponse(status_code=status.HTTP_409_CONFLICT, content={"detail": str(error)})


async def _connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    async with request.app.state.pool.acquire() as connection:
        yield connection


Connection = Annotated[asyncpg.Connection, Depends(_connection)]
BEARER = HTTPBearer(
    auto_error=False,
    description="An API token, made by an administrator: `bridgework accounts create-api-token`",
)


async def _authenticate(request: Request) -> ApiClient:
    credentials = await BEARER(request)
    client = None
    if credentials is not None:
        async with request.app.state.pool.acquire() as conn:
            client = await api_tokens.authenticate(conn, credentials.credentials)
    if client is None:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="a valid API token is needed (Authorization: Bearer ...); nothing was stored",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return client


class TokenFirstRoute(APIRoute):
    """Every JSON API route checks the bearer token before FastAPI reads the body, so a request
    without a live token is refused with 401 whatever it sends (malformed JSON included)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def authenticated(request: Request) -> Response:
            request.state.api_client = await _authenticate(request)
            return await handler(request)

        return authenticated


async def _api_client(
    request: Request,
    # Declared so that OpenAPI documents the scheme on every operation; checked already.
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> ApiClient:
    client: ApiClient = request.state.api_client
    return client


Client = Annotated[ApiClient, Depends(_api_client)]
# Path keys become Kafka keys and database keys: the same rule as identifiers in bodies.
PathIdentifier = Annotated[str, PathParam(pattern=IDENTIFIER_PATTERN)]
NO_CONTENT = status.HTTP_204_NO_CONTENT
REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No valid API token; nothing was stored"},
    403: {"model": Problem, "description": "The API token may not do this; nothing was stored"},
    422: {"model": Refusal, "description": "Refused; nothing was stored"},
    404: {"model": Problem, "description": "Not found (or in a network the token cannot reach)"},
    409: {"model": Problem, "description": "Conflicts with what is stored"},
}


def _add_routes(app: FastAPI) -> None:
    # The route class and the dependency on every route: a new route cannot be left open.
    api = APIRouter(
        responses=REFUSALS, route_class=TokenFirstRoute, dependencies=[Depends(_api_client)]
    )
    _add_network_routes(api)
    _add_people_routes(api)
    _add_placement_routes(api)
    app.include_router(api)


def _add_network_routes(api: APIRouter) -> None:
    @api.put("/networks/{network_id}", status_code=NO_CONTENT, tags=["networks"])
    async def put_network(
        network_id: PathIdentifier, body: NetworkIn, conn: Connection, client: Client
    ) -> None:
        access.require_network_manager(client)
        await service.upsert_network(conn, network_id, body)

    @api.get("/networks/{network_id}", tags=["networks"])
    async def get_network(
        network_id: PathIdentifier, conn: Connection, client: Client
    ) -> NetworkOut:
        access.require_network_manager(client)  # it lists the coordinators
        row = await service.get_network(conn, network_id)
        return NetworkOut(id=row["id"], name=row["name"], coordinators=row["coordinators"])

    @api.put("/trusts/{code}", status_code=NO_CONTENT, tags=["trusts"])
    async def put_trust(
        code: PathIdentifier, body: TrustIn, conn: Connection, client: Client
    ) -> None:
        async with conn.transaction():
            await access.require_trust_writable(conn, client, code, body.network_id)
            await service.upsert_trust(conn, code, body)

    @api.get("/trusts/{code}", tags=["trusts"])
    async def get_trust(code: PathIdentifier, conn: Connection, client: Client) -> TrustOut:
        await access.require_trust_in_reach(conn, client, code)
        return TrustOut.model_validate(dict(await service.get_trust(conn, code)))


async def _save_person(
    conn: asyncpg.Connection, client: ApiClient, body: MentorIn | MenteeIn, person_id: UUID | None
) -> UUID:
    async with conn.transaction():
        if person_id is not None:
            await access.require_person_in_reach(conn, client, person_id, lock=True)
        await access.require_named_trust(conn, client, body.trust_code)
        return await service.save_person(conn, body, person_id)


def _add_people_routes(api: APIRouter) -> None:
    @api.post("/mentors", status_code=status.HTTP_201_CREATED, tags=["people"])
    async def create_mentor(body: MentorIn, conn: Connection, client: Client) -> Created:
        return Created(id=await _save_person(conn, client, body, None))

    @api.put("/mentors/{person_id}", status_code=NO_CONTENT, tags=["people"])
    async def update_mentor(
        person_id: UUID, body: MentorIn, conn: Connection, client: Client
    ) -> None:
        await _save_person(conn, client, body, person_id)

    @api.post("/mentees", status_code=status.HTTP_201_CREATED, tags=["people"])
    async def create_mentee(body: MenteeIn, conn: Connection, client: Client) -> Created:
        return Created(id=await _save_person(conn, client, body, None))

    @api.put("/mentees/{person_id}", status_code=NO_CONTENT, tags=["people"])
    async def update_mentee(
        person_id: UUID, body: MenteeIn, conn: Connection, client: Client
    ) -> None:
        await _save_person(conn, client, body, person_id)

    @api.get("/people/{person_id}", tags=["people"])
    async def get_person(person_id: UUID, conn: Connection, client: Client) -> PersonOut:
        await access.require_person_in_reach(conn, client, person_id)
        return await service.get_person(conn, person_id)

    @api.put("/people/{person_id}/availability", status_code=NO_CONTENT, tags=["people"])
    async def put_availability(
        person_id: UUID, body: AvailabilityIn, conn: Connection, client: Client
    ) -> None:
        async with conn.transaction():
            await access.require_person_in_reach(conn, client, person_id, lock=True)
            await service.set_availability(conn, person_id, body)

    @api.delete("/people/{person_id}", status_code=NO_CONTENT, tags=["people"])
    async def erase_person(person_id: UUID, conn: Connection, client: Client) -> None:
        async with conn.transaction():
            await access.require_person_in_reach(conn, client, person_id, lock=True)
            await service.erase_person(conn, person_id)
            # Audited like a self-service erasure, in the same transaction as the erasure.
            await record_audit(
                conn,
                actor=client.actor,
                action="person.erased",
                subject=str(person_id),
                reason="API: DELETE /people/{id}",
            )


def _add_placement_routes(api: APIRouter) -> None:
    @api.post("/placements", status_code=status.HTTP_201_CREATED, tags=["placements"])
    async def create_placement(body: PlacementIn, conn: Connection, client: Client) -> Created:
        async with conn.transaction():
            await access.require_named_trust(conn, client, body.host_trust_code)
            return Created(id=await service.save_placement(conn, body))

    @api.put("/placements/{placement_id}", status_code=NO_CONTENT, tags=["placements"])
    async def update_placement(
        placement_id: UUID, body: PlacementIn, conn: Connection, client: Client
    ) -> None:
        async with conn.transaction():
            await access.require_placement_in_reach(conn, client, placement_id, lock=True)
            await access.require_named_trust(conn, client, body.host_trust_code)
            await service.save_placement(conn, body, placement_id)

    @api.get("/placements/{placement_id}", tags=["placements"])
    async def get_placement(placement_id: UUID, conn: Connection, client: Client) -> PlacementOut:
        await access.require_placement_in_reach(conn, client, placement_id)
        return await service.get_placement(conn, placement_id)

    @api.delete("/placements/{placement_id}", status_code=NO_CONTENT, tags=["placements"])
    async def withdraw_placement(placement_id: UUID, conn: Connection, client: Client) -> None:
        async with conn.transaction():
            await access.require_placement_in_reach(conn, client, placement_id, lock=True)
            await service.withdraw_placement(conn, placement_id)

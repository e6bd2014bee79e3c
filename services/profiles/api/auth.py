"""Every JSON API route's bearer-token check, and what the routes share: the refusals they
document and the rule for identifiers in paths."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi import Path as PathParam
from fastapi.responses import Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.profiles.accounts import api_tokens
from services.profiles.accounts.permissions import ApiClient
from services.profiles.api.schemas import IDENTIFIER_PATTERN, Problem, Refusal

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


def api_router() -> APIRouter:
    """A router for JSON API routes. The route class and the dependency on every route: a new
    route cannot be left open."""
    return APIRouter(
        responses=REFUSALS, route_class=TokenFirstRoute, dependencies=[Depends(_api_client)]
    )

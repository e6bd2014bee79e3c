"""What every coordinators' and administrators' page shares (server-rendered Jinja2, autoescaped).

The signed cookie (HttpOnly, SameSite=Lax, Secure in production) holds a CSRF token and, once
signed in, a session id; the session is a row on the server (accounts/sessions.py), read with
its account on every request, so sign-out, a password change or the account's removal ends it
at once, and a copy of the cookie then opens nothing. Every POST form carries the CSRF token;
a missing or wrong one is refused (403) before anything is read or changed. Decision links
from emails need no session: the signed, expiring, single-use token in the URL is their secret.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

import asyncpg
import jinja2
from fastapi import APIRouter, Depends, FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Match, Route

from services.profiles.accounts.accounts import IdentityProvider, PasswordSignIn, load_account
from services.profiles.accounts.permissions import (
    Account,
    SignInThrottle,
    may_administer,
    may_coordinate,
)
from services.profiles.accounts.sessions import session_email
from services.profiles.accounts.single_sign_on import SingleSignOn
from services.profiles.coordination.charts import percent
from services.profiles.coordination.dashboard import what_happens
from services.profiles.dependencies import Connection
from shared.settings import Settings

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
SESSION_COOKIE = "bridgework_session"
SESSION_HOURS = 8
SESSION_KEY = "session"  # the cookie's entry naming the server-side session


class PageRefused(Exception):
    """Render a refusal page with this status and message; nothing was changed."""

    def __init__(self, status_code: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.title = title
        self.message = message


class SignInRequired(Exception):
    pass


def templates() -> Jinja2Templates:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    environment.filters["percent"] = percent
    environment.globals["what_happens"] = what_happens
    return Jinja2Templates(env=environment)


def install(app: FastAPI, settings: Settings, identity: IdentityProvider | None = None) -> None:
    """Add sessions and the pages' error pages to the profiles app."""
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key.get_secret_value(),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_HOURS * 3600,
        same_site="lax",
        https_only=settings.environment == "production",
    )
    app.state.identity = identity or PasswordSignIn()
    app.state.sign_in_throttle = SignInThrottle(
        per_account=settings.sign_in_failures_per_account,
        per_client=settings.sign_in_failures_per_client,
        window=settings.sign_in_failure_window_seconds,
    )
    app.state.single_sign_on = SingleSignOn(settings) if settings.single_sign_on else None
    app.state.templates = templates()

    @app.exception_handler(PageRefused)
    async def refused(request: Request, error: PageRefused) -> Response:
        return render(
            request,
            "message.html",
            {"title": error.title, "message": error.message},
            status_code=error.status_code,
        )

    @app.exception_handler(HTTPException)
    async def page_not_there(request: Request, error: HTTPException) -> Response:
        if not is_page_request(request) or error.status_code not in ERROR_PAGES:
            return await http_exception_handler(request, error)
        if error.status_code == status.HTTP_405_METHOD_NOT_ALLOWED and request.method == "GET":
            # A form's address opened again (a bookmark, the back button): its page.
            return RedirectResponse(page_of_form(request), status.HTTP_303_SEE_OTHER)
        return error_page(request, error.status_code, error.headers)

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, _: SignInRequired) -> Response:
        if request.method == "GET":
            target = quote(request.url.path)
            return RedirectResponse(f"/sign-in?next={target}", status.HTTP_303_SEE_OTHER)
        return render(
            request,
            "message.html",
            {"title": "Sign in first", "message": "Your session has ended: sign in again."},
            status_code=status.HTTP_401_UNAUTHORIZED,
        )


# The pages' answers to what the router refuses (the JSON API keeps its JSON).
ERROR_PAGES = {
    status.HTTP_404_NOT_FOUND: (
        "Page not found",
        "There is no page at this address. Check the link, or start again from the home page.",
    ),
    status.HTTP_405_METHOD_NOT_ALLOWED: (
        "This address takes a form",
        "This address only answers a form sent from a page; nothing was changed. Go back to"
        " the page and use its buttons.",
    ),
    status.HTTP_422_UNPROCESSABLE_CONTENT: (
        "This request cannot be read",
        "Part of the address or the form is not in the form expected (perhaps the link was cut"
        " short); nothing was changed.",
    ),
}


def error_page(
    request: Request, status_code: int, headers: Mapping[str, str] | None = None
) -> HTMLResponse:
    title, message = ERROR_PAGES[status_code]
    context = {"title": title, "message": message}
    return render(request, "message.html", context, status_code=status_code, headers=headers)


def page_of_form(request: Request) -> str:
    """The nearest address above a form's (POST-only) address that is a page: /me/{token}
    for /me/{token}/pause, /admin for /admin/coordinators/remove."""
    parts = request.url.path.rstrip("/").split("/")
    while len(parts) > 1:
        parts.pop()
        path = "/".join(parts) or "/"
        scope = {"type": "http", "method": "GET", "path": path, "root_path": ""}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.routes):
            return path
    return "/"


def api_prefixes(app: FastAPI) -> frozenset[str]:
    """The first path segments of the JSON API's paths (its OpenAPI document's) and of the
    operations' routes (health, metrics)."""
    paths = [*app.openapi()["paths"]]
    paths += [r.path for r in app.routes if isinstance(r, Route) and r.include_in_schema]
    return frozenset(path.strip("/").split("/")[0] for path in paths)


def is_page_request(request: Request) -> bool:
    """A browser asking for a page: it accepts HTML and the path is not the JSON API's."""
    if "text/html" not in request.headers.get("accept", ""):
        return False
    prefixes: frozenset[str] | None = getattr(request.app.state, "api_prefixes", None)
    if prefixes is None:
        prefixes = request.app.state.api_prefixes = api_prefixes(request.app)
    return request.url.path.strip("/").split("/")[0] not in prefixes


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def checked_form(request: Request) -> FormData:
    """The posted form, once its CSRF token matched the session's; else 403, nothing done."""
    form = await request.form()
    sent = form.get("csrf_token")
    expected = request.session.get("csrf")
    if not (
        isinstance(sent, str)
        and isinstance(expected, str)
        and secrets.compare_digest(sent, expected)
    ):
        raise PageRefused(
            status.HTTP_403_FORBIDDEN,
            "This form cannot be accepted",
            "The form's security token is missing or wrong (perhaps the page was open too"
            " long, or the form came from another site). Nothing was changed: reload the page"
            " and try again.",
        )
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    context = {
        "account": getattr(request.state, "account", None),
        "csrf_token": csrf_token(request),
        "flash": request.session.pop("flash", None),
        **context,
    }
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=headers
    )
    # Never cached, never framed, a strict CSP: shared/security_headers.py, on every page.
    return response


def flash(request: Request, message: str) -> None:
    request.session["flash"] = message


async def current_account(request: Request, conn: asyncpg.Connection) -> Account | None:
    """The account of the cookie's session, while that session lasts on the server."""
    session_id = request.session.get(SESSION_KEY)
    email = await session_email(conn, session_id) if isinstance(session_id, str) else None
    account = await load_account(conn, email) if email is not None else None
    if account is None:
        request.session.pop(SESSION_KEY, None)
    return account


async def signed_in(request: Request, conn: Connection) -> Account:
    account = await current_account(request, conn)
    if account is None:
        raise SignInRequired
    request.state.account = account
    return account


SignedIn = Annotated[Account, Depends(signed_in)]


def coordinator_of(network_id: str, account: Account) -> Account:
    if not may_coordinate(account, network_id):
        raise PageRefused(
            status.HTTP_403_FORBIDDEN,
            "Not your network",
            "You can see and decide only the proposals of the network you coordinate.",
        )
    return account


async def network_coordinator(network_id: str, account: SignedIn) -> Account:
    return coordinator_of(network_id, account)


async def administrator(account: SignedIn) -> Account:
    if not may_administer(account):
        raise PageRefused(
            status.HTTP_403_FORBIDDEN, "Administrators only", "This page is for administrators."
        )
    return account


Coordinating = Annotated[Account, Depends(network_coordinator)]
Administering = Annotated[Account, Depends(administrator)]


def now() -> datetime:
    return datetime.now(UTC)


router = APIRouter(include_in_schema=False)


@router.get("/static/{name}.css")
async def stylesheet(name: Literal["bridgework", "participants"]) -> Response:
    css = (STATIC / f"{name}.css").read_text()
    return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

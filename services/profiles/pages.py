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
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import asyncpg
import jinja2
from fastapi import APIRouter, Depends, FastAPI, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData
from starlette.middleware.sessions import SessionMiddleware

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
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    context = {
        "account": getattr(request.state, "account", None),
        "csrf_token": csrf_token(request),
        "flash": request.session.pop("flash", None),
        **context,
    }
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request, name, context, status_code=status_code
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


@router.get("/static/bridgework.css")
async def stylesheet() -> Response:
    css = (STATIC / "bridgework.css").read_text()
    return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

"""Signing in and out, and changing one's password. (The administrators' pages are in
admin_pages.py.)"""

from __future__ import annotations

import time
from datetime import timedelta

import asyncpg
from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response

from services.profiles.accounts import accounts
from services.profiles.accounts.accounts import AccountRefused, IdentityProvider
from services.profiles.accounts.permissions import Account, SignInThrottle, home_path
from services.profiles.accounts.sessions import end_session, start_session
from services.profiles.dependencies import Connection
from services.profiles.pages import (
    SESSION_HOURS,
    SESSION_KEY,
    CheckedForm,
    SignedIn,
    checked_form,
    current_account,
    flash,
    render,
)

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return None


@router.get("/")
async def home(request: Request, conn: Connection) -> Response:
    account = await current_account(request, conn)
    target = home_path(account) if account else "/sign-in"
    return RedirectResponse(target, status.HTTP_303_SEE_OTHER)


async def begin_session(
    request: Request, conn: asyncpg.Connection, account: Account, id_token: str | None = None
) -> None:
    """A fresh cookie (and CSRF token) naming a new server-side session, on every sign-in."""
    request.session.clear()
    lifetime = timedelta(hours=SESSION_HOURS)
    request.session[SESSION_KEY] = await start_session(conn, account.email, lifetime, id_token)


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/sign-in")
async def sign_in_page(request: Request, next: str | None = None) -> Response:
    return render(request, "sign_in.html", {"next": _safe_next(next) or "", "error": None})


@router.post("/sign-in")
async def sign_in(request: Request, conn: Connection) -> Response:
    form = await checked_form(request)
    email, password = str(form.get("email", "")), str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "")))
    throttle: SignInThrottle = request.app.state.sign_in_throttle
    client = _client_address(request)
    if throttle.blocked(email, client, time.monotonic()):
        context = {"next": target or "", "error": "Too many failed attempts: try later."}
        return render(request, "sign_in.html", context, status.HTTP_429_TOO_MANY_REQUESTS)
    identity: IdentityProvider = request.app.state.identity
    account = await identity.authenticate(conn, email, password)
    if account is None:
        throttle.failed(email, client, time.monotonic())
        context = {"next": target or "", "error": "That email and password do not match."}
        return render(request, "sign_in.html", context, status.HTTP_401_UNAUTHORIZED)
    throttle.succeeded(email)
    await begin_session(request, conn, account)
    return RedirectResponse(target or home_path(account), status.HTTP_303_SEE_OTHER)


@router.post("/sign-out")
async def sign_out(request: Request, form: CheckedForm, conn: Connection) -> Response:
    session_id = request.session.get(SESSION_KEY)
    if isinstance(session_id, str):
        await end_session(conn, session_id)
    request.session.clear()
    return RedirectResponse("/sign-in", status.HTTP_303_SEE_OTHER)


@router.get("/account/password")
async def password_page(request: Request, account: SignedIn) -> Response:
    return render(request, "password.html", {"error": None})


@router.post("/account/password")
async def change_password(
    request: Request, account: SignedIn, form: CheckedForm, conn: Connection
) -> Response:
    """A new password ends every session of the account (a stolen cookie among them); this
    browser goes on in a new one."""
    new, repeated = str(form.get("new_password", "")), str(form.get("repeat_password", ""))
    try:
        if new != repeated:
            raise AccountRefused("the new password and its repetition differ")
        await accounts.change_password(conn, account.email, str(form.get("password", "")), new)
    except AccountRefused as error:
        return render(request, "password.html", {"error": str(error)}, 422)
    await begin_session(request, conn, account)
    flash(request, "Your password is changed; every other session of yours has ended.")
    return RedirectResponse(home_path(account), status.HTTP_303_SEE_OTHER)

"""Signing in and out, and changing one's password. (The administrators' pages are in
admin_pages.py.)"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import asyncpg
from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response

from services.profiles.accounts import accounts
from services.profiles.accounts.accounts import AccountRefused, IdentityProvider, load_account
from services.profiles.accounts.permissions import Account, SignInThrottle, home_path
from services.profiles.accounts.sessions import end_session, start_session
from services.profiles.accounts.single_sign_on import CALLBACK_PATH, SignOnRefused, SingleSignOn
from services.profiles.dependencies import AppSettings, Connection
from services.profiles.pages import (
    SESSION_HOURS,
    SESSION_KEY,
    CheckedForm,
    PageRefused,
    SignedIn,
    checked_form,
    current_account,
    flash,
    render,
)
from shared.addresses import normalised_email
from shared.settings import Settings

NEXT_KEY = "after_sign_in"  # where single sign-on returns to, kept across the provider's pages
log = logging.getLogger(__name__)
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


def _sign_in_context(request: Request, target: str | None, error: str | None) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    return {
        "next": target or "",
        "error": error,
        "password_sign_in": settings.password_sign_in,
        "provider_name": settings.oidc_provider_name if settings.single_sign_on else None,
    }


@router.get("/sign-in")
async def sign_in_page(request: Request, next: str | None = None) -> Response:
    return render(request, "sign_in.html", _sign_in_context(request, _safe_next(next), None))


@router.post("/sign-in")
async def sign_in(request: Request, conn: Connection, settings: AppSettings) -> Response:
    if not settings.password_sign_in:
        raise PageRefused(
            status.HTTP_403_FORBIDDEN,
            "Passwords are not used here",
            f"Sign in through {settings.oidc_provider_name} instead.",
        )
    form = await checked_form(request)
    email, password = str(form.get("email", "")), str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "")))
    throttle: SignInThrottle = request.app.state.sign_in_throttle
    client = _client_address(request)
    if throttle.blocked(email, client, time.monotonic()):
        context = _sign_in_context(request, target, "Too many failed attempts: try later.")
        return render(request, "sign_in.html", context, status.HTTP_429_TOO_MANY_REQUESTS)
    identity: IdentityProvider = request.app.state.identity
    account = await identity.authenticate(conn, email, password)
    if account is None:
        throttle.failed(email, client, time.monotonic())
        context = _sign_in_context(request, target, "That email and password do not match.")
        return render(request, "sign_in.html", context, status.HTTP_401_UNAUTHORIZED)
    throttle.succeeded(email)
    await begin_session(request, conn, account)
    return RedirectResponse(target or home_path(account), status.HTTP_303_SEE_OTHER)


def _single_sign_on(request: Request) -> SingleSignOn:
    single_sign_on: SingleSignOn | None = request.app.state.single_sign_on
    if single_sign_on is None:
        raise PageRefused(status.HTTP_404_NOT_FOUND, "Not here", "Single sign-on is not set up.")
    return single_sign_on


@router.get("/sign-in/organisation")
async def organisation_sign_in(request: Request, next: str | None = None) -> Response:
    """To the identity provider, which comes back to the callback below."""
    single_sign_on = _single_sign_on(request)
    request.session[NEXT_KEY] = _safe_next(next) or ""
    try:
        return await single_sign_on.begin(request)
    except SignOnRefused as error:
        raise PageRefused(status.HTTP_502_BAD_GATEWAY, "Sign-in failed", str(error)) from error


@router.get(CALLBACK_PATH)
async def organisation_callback(request: Request, conn: Connection) -> Response:
    """The provider's answer: proven identity, then the Bridgework account of that address."""
    single_sign_on = _single_sign_on(request)
    try:
        identity = await single_sign_on.finish(request)
    except SignOnRefused as error:
        log.warning("single sign-on refused: %s", error)
        raise PageRefused(
            status.HTTP_401_UNAUTHORIZED, "Sign-in failed", f"{error}. Nothing was signed in."
        ) from error
    account = await load_account(conn, normalised_email(identity.email))
    if account is None:
        raise PageRefused(
            status.HTTP_403_FORBIDDEN,
            "No Bridgework account",
            "Your organisation knows you, but Bridgework has no coordinator or administrator"
            " account for your address: ask a Bridgework administrator.",
        )
    target = _safe_next(str(request.session.get(NEXT_KEY, "")))
    await begin_session(request, conn, account, identity.id_token)
    return RedirectResponse(target or home_path(account), status.HTTP_303_SEE_OTHER)


@router.post("/sign-out")
async def sign_out(request: Request, form: CheckedForm, conn: Connection) -> Response:
    """Ends this session on the server; one begun through single sign-on also goes to the
    provider, to end the provider's session (else the next sign-in would be silent)."""
    session_id = request.session.get(SESSION_KEY)
    id_token = await end_session(conn, session_id) if isinstance(session_id, str) else None
    request.session.clear()
    single_sign_on: SingleSignOn | None = request.app.state.single_sign_on
    if id_token and single_sign_on is not None:
        provider_sign_out = await single_sign_on.sign_out_url(id_token)
        if provider_sign_out:
            return RedirectResponse(provider_sign_out, status.HTTP_303_SEE_OTHER)
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

"""Signing in and out, and the administrators' pages: networks, coordinators, API tokens and
the audit log."""

from __future__ import annotations

import time
from datetime import timedelta

import asyncpg
from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from services.profiles.accounts import accounts, api_tokens
from services.profiles.accounts.accounts import AccountRefused, IdentityProvider, NewAccount
from services.profiles.accounts.api_tokens import TokenRefused
from services.profiles.accounts.audit import list_audit
from services.profiles.accounts.permissions import Account, AccountRole, SignInThrottle, home_path
from services.profiles.accounts.sessions import end_session, start_session
from services.profiles.coordination import queries
from services.profiles.dependencies import Connection, Pool
from services.profiles.pages import (
    SESSION_HOURS,
    SESSION_KEY,
    Administering,
    CheckedForm,
    SignedIn,
    checked_form,
    current_account,
    flash,
    render,
)

router = APIRouter(include_in_schema=False)
admin = APIRouter(prefix="/admin", include_in_schema=False)


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


async def admin_page(
    request: Request,
    conn: asyncpg.Connection,
    error: str | None = None,
    code: int = 200,
    new_token: tuple[str, str] | None = None,
) -> Response:
    context = {
        "networks": await queries.networks(conn),
        "accounts": await accounts.list_accounts(conn),
        "api_tokens": await api_tokens.list_api_tokens(conn),
        "new_token": new_token,
        "error": error,
    }
    return render(request, "admin.html", context, status_code=code)


@admin.get("")
async def admin_home(request: Request, account: Administering, conn: Connection) -> Response:
    return await admin_page(request, conn)


@admin.post("/networks")
async def create_network(
    request: Request, account: Administering, form: CheckedForm, conn: Connection
) -> Response:
    try:
        network_id = str(form.get("network_id", "")).strip()
        new = NewAccount(
            email=str(form.get("email", "")),
            name=str(form.get("coordinator_name", "")),
            role=AccountRole.COORDINATOR,
            network_id=network_id,
            password=str(form.get("password", "")),
        )
        name = str(form.get("name", ""))
        await accounts.create_network(conn, network_id, name, new, actor=account.email)
    except (ValidationError, AccountRefused) as error:
        return await admin_page(request, conn, _plain(error), 422)
    flash(request, f"Created network {network_id} and its coordinator {new.email}.")
    return RedirectResponse("/admin", status.HTTP_303_SEE_OTHER)


@admin.post("/coordinators")
async def create_coordinator(
    request: Request, account: Administering, form: CheckedForm, conn: Connection
) -> Response:
    try:
        new = NewAccount(
            email=str(form.get("email", "")),
            name=str(form.get("name", "")),
            role=AccountRole.COORDINATOR,
            network_id=str(form.get("network_id", "")),
            password=str(form.get("password", "")),
        )
        await accounts.create_account(conn, new, actor=account.email)
    except (ValidationError, AccountRefused) as error:
        return await admin_page(request, conn, _plain(error), 422)
    flash(request, f"Created the coordinator account {new.email}.")
    return RedirectResponse("/admin", status.HTTP_303_SEE_OTHER)


@admin.post("/coordinators/remove")
async def remove(
    request: Request, account: Administering, form: CheckedForm, conn: Connection
) -> Response:
    email = str(form.get("email", ""))
    try:
        network_id = await accounts.remove_coordinator(conn, email, actor=account.email)
    except AccountRefused as error:
        return await admin_page(request, conn, str(error), 422)
    flash(request, f"Removed {email} from {network_id}; their account is closed.")
    return RedirectResponse("/admin", status.HTTP_303_SEE_OTHER)


@admin.post("/api-tokens")
async def create_token(
    request: Request, account: Administering, form: CheckedForm, conn: Connection
) -> Response:
    name = str(form.get("name", "")).strip()
    network_id = str(form.get("network_id", "")).strip() or None
    try:
        days = _whole_number(form.get("lifetime_days"), api_tokens.DEFAULT_LIFETIME_DAYS)
        token = await api_tokens.create_api_token(
            conn, name, network_id, actor=account.email, lifetime_days=days
        )
    except TokenRefused as error:
        return await admin_page(request, conn, str(error), 422)
    # Shown in this one response (not cached), never in the session's flash: a cookie.
    return await admin_page(request, conn, new_token=(name, token))


@admin.post("/api-tokens/revoke")
async def revoke_token(
    request: Request, account: Administering, form: CheckedForm, conn: Connection
) -> Response:
    name = str(form.get("name", ""))
    try:
        await api_tokens.revoke_api_token(conn, name, actor=account.email)
    except TokenRefused as error:
        return await admin_page(request, conn, str(error), 422)
    flash(request, f"Revoked the API token {name}; it no longer works.")
    return RedirectResponse("/admin", status.HTTP_303_SEE_OTHER)


@admin.get("/audit")
async def audit_page(
    request: Request, account: Administering, pool: Pool, before_id: int | None = None
) -> Response:
    records = await list_audit(pool, limit=100, before_id=before_id)
    return render(request, "audit.html", {"records": records})


def _whole_number(value: object, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        return int(str(value))
    except ValueError:
        raise TokenRefused(f"{value!r} is not a whole number of days") from None


def _plain(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in error.errors()
        )
    return str(error)

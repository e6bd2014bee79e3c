"""The administrators' pages: networks and their first coordinator, coordinator accounts, API
tokens and the audit log."""

from __future__ import annotations

import asyncpg
from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from services.profiles.accounts import accounts, api_tokens
from services.profiles.accounts.accounts import AccountRefused, NewAccount
from services.profiles.accounts.api_tokens import TokenRefused
from services.profiles.accounts.audit import list_audit
from services.profiles.accounts.permissions import AccountRole
from services.profiles.coordination import queries
from services.profiles.dependencies import Connection, Pool
from services.profiles.pages import Administering, CheckedForm, flash, render
from services.profiles.trusts import contacts
from services.profiles.trusts.contacts import ContactRefused, NewContact

router = APIRouter(prefix="/admin", include_in_schema=False)


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


@router.get("")
async def admin_home(request: Request, account: Administering, conn: Connection) -> Response:
    return await admin_page(request, conn)


@router.post("/networks")
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


@router.post("/coordinators")
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


@router.post("/coordinators/remove")
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


@router.post("/trust-contacts")
async def add_trust_contact(
    request: Request, account: Administering, form: CheckedForm, conn: Connection
) -> Response:
    trust_code = str(form.get("trust_code", "")).strip()
    try:
        new = NewContact(name=str(form.get("name", "")), email=str(form.get("email", "")))
        await contacts.add_contact(conn, trust_code, new, actor=account.email)
    except (ValidationError, ContactRefused) as error:
        return await admin_page(request, conn, _plain(error), 422)
    flash(request, f"Added {new.email} as a contact of {trust_code}.")
    return RedirectResponse("/admin", status.HTTP_303_SEE_OTHER)


@router.post("/trust-contacts/remove")
async def remove_trust_contact(
    request: Request, account: Administering, form: CheckedForm, conn: Connection
) -> Response:
    email, trust_code = str(form.get("email", "")), str(form.get("trust_code", ""))
    try:
        await contacts.remove_contact(conn, trust_code, email, actor=account.email)
    except ContactRefused as error:
        return await admin_page(request, conn, str(error), 422)
    flash(request, f"Removed {email} from {trust_code}'s contacts; their sessions have ended.")
    return RedirectResponse("/admin", status.HTTP_303_SEE_OTHER)


@router.post("/api-tokens")
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


@router.post("/api-tokens/revoke")
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


@router.get("/audit")
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

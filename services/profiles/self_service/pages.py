"""Participants' self-service, without passwords: a signed link sent by email.

``/me``: a participant enters their email; if it belongs to someone, a ``SelfServiceLinkRequested``
event goes through the outbox and the notifier emails them a signed link. The page answers the
same either way, so it does not tell who takes part.

``/me/{token}``: what the link's holder can do: a mentor pauses or resumes mentoring (capacity to
zero and back, the availability use case); anyone withdraws (stops taking part: the matcher
withdraws their pending proposals) or takes part again, or asks to be erased (UK GDPR: the erase
use case removes them everywhere and withdraws their pending proposals). Each action is a POST
form carrying a CSRF token derived from the link (HMAC under the secret key), is recorded in the
audit log as ``participant:<id>``, and is confirmed on the page that follows. A forged or
expired link is refused and changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer

from services.profiles.dependencies import AppSettings, Pool
from services.profiles.self_service.actions import (
    MAX_EMAIL_LENGTH,
    Action,
    allowed_actions,
    participant,
    perform,
    request_link,
)
from shared.links import LinkRefused, SelfServiceLink, read_self_service_link

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent.parent / "templates" / "self_service")
REQUEST_FORM_MAX_AGE_SECONDS = 3600

router = APIRouter(include_in_schema=False)


def csrf_token(secret_key: str, link: SelfServiceLink) -> str:
    """A form token bound to this link: only a page rendered for the link can post to it."""
    message = f"bridgework.self-service.csrf:{link.token_id}:{link.person_id}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def _request_forms(settings: AppSettings) -> URLSafeTimedSerializer:
    """Signs the /me form, so a link request comes from a page this service served."""
    secret = settings.secret_key.get_secret_value()
    return URLSafeTimedSerializer(secret, salt="bridgework.form.self-service-request")


RequestForms = Annotated[URLSafeTimedSerializer, Depends(_request_forms)]


def _page(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    # The page's URL holds a secret link: no Referer, no cache, a CSP (shared/security_headers).
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)


def _refused(request: Request, message: str, status_code: int = 400) -> HTMLResponse:
    return _page(request, "refused.html", {"message": message}, status_code)


def _read_link(settings: AppSettings, token: str) -> SelfServiceLink:
    secret = settings.secret_key.get_secret_value()
    return read_self_service_link(secret, token, settings.self_service_link_max_age_seconds)


@router.get("/me", response_class=HTMLResponse)
async def ask_for_link(request: Request, forms: RequestForms) -> HTMLResponse:
    return _page(request, "request.html", {"form_token": forms.dumps("me")})


@router.post("/me", response_class=HTMLResponse)
async def send_link(
    request: Request,
    forms: RequestForms,
    pool: Pool,
    email: Annotated[str, Form()] = "",
    form_token: Annotated[str, Form()] = "",
) -> HTMLResponse:
    # Checked here rather than by FastAPI, so a bad form gets a page, not JSON.
    if not email.strip() or len(email) > MAX_EMAIL_LENGTH or "@" not in email:
        return _refused(request, "Enter the email address you registered with.")
    try:
        forms.loads(form_token, max_age=REQUEST_FORM_MAX_AGE_SECONDS)
    except BadSignature:
        return _refused(request, "This form has expired. Open the page again and resend it.")
    async with pool.acquire() as conn, conn.transaction():
        await request_link(conn, email)
    return _page(request, "requested.html", {})


@router.get("/me/{token}", response_class=HTMLResponse)
async def manage(request: Request, token: str, settings: AppSettings, pool: Pool) -> HTMLResponse:
    try:
        link = _read_link(settings, token)
    except LinkRefused as error:
        return _refused(request, str(error))
    async with pool.acquire() as conn:
        person = await participant(conn, link.person_id)
    if person is None:
        return _refused(request, "Bridgework holds no details for this link.", 404)
    role, paused, name = person
    context = {
        "token": token,
        "csrf": csrf_token(settings.secret_key.get_secret_value(), link),
        "name": name,
        "role": role.value,
        "paused": paused,
        "actions": [a.value for a in allowed_actions(role, paused)],
    }
    return _page(request, "manage.html", context)


@router.post("/me/{token}/{action}", response_class=HTMLResponse)
async def act(
    request: Request,
    token: str,
    action: str,
    settings: AppSettings,
    pool: Pool,
    csrf: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
) -> HTMLResponse:
    try:
        link = _read_link(settings, token)
    except LinkRefused as error:
        return _refused(request, str(error))
    if not hmac.compare_digest(csrf, csrf_token(settings.secret_key.get_secret_value(), link)):
        return _refused(request, "This form is not valid: open your link again.", 403)
    if action not in Action.__members__.values():
        return _refused(request, f"Unknown action {action!r}.", 404)
    chosen = Action(action)
    if chosen is Action.ERASE and confirm != "yes":
        return _refused(request, "Tick the box to confirm that you want to be erased.")
    async with pool.acquire() as conn, conn.transaction():
        person = await participant(conn, link.person_id, lock=True)
        if person is None:
            return _refused(request, "Bridgework holds no details for this link.", 404)
        role, paused, _ = person
        if chosen not in allowed_actions(role, paused):
            return _refused(request, "That cannot be done now; open your link again.", 409)
        await perform(conn, link.person_id, role, chosen)
    return _page(request, "done.html", {"action": chosen.value, "token": token})

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
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import FormData

from services.profiles.dependencies import AppSettings, Pool
from services.profiles.pages import now
from services.profiles.self_service import profile_form
from services.profiles.self_service.actions import (
    MAX_EMAIL_LENGTH,
    Action,
    Participant,
    allowed_actions,
    change_profile,
    participant,
    perform,
    request_link,
)
from services.profiles.self_service.match_steps import match_steps
from services.profiles.self_service.standing import matches_of, where_they_stand
from services.profiles.trusts import staff_requests
from services.profiles.trusts.staff_requests import RequestStatus, StaffRequest
from shared.links import LinkRefused, SelfServiceLink, read_self_service_link
from shared.people import Role

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


def participant_page(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    # The page's URL holds a secret link: no Referer, no cache, a CSP (shared/security_headers).
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)


def refusal_page(request: Request, message: str, status_code: int = 400) -> HTMLResponse:
    return participant_page(request, "refused.html", {"message": message}, status_code)


def _read_link(settings: AppSettings, token: str) -> SelfServiceLink:
    secret = settings.secret_key.get_secret_value()
    return read_self_service_link(secret, token, settings.self_service_link_max_age_seconds)


async def _holder(
    request: Request, settings: AppSettings, conn: asyncpg.Connection, token: str
) -> tuple[SelfServiceLink, Participant] | HTMLResponse:
    """The link's participant, or the page that says why the link opens nothing."""
    try:
        link = _read_link(settings, token)
    except LinkRefused as error:
        return refusal_page(request, str(error))
    person = await participant(conn, link.person_id)
    if person is None:
        return refusal_page(request, "Bridgework holds no details for this link.", 404)
    return link, person


@router.get("/me", response_class=HTMLResponse)
async def ask_for_link(request: Request, forms: RequestForms) -> HTMLResponse:
    return participant_page(request, "request.html", {"form_token": forms.dumps("me")})


@router.post("/me", response_class=HTMLResponse)
async def send_link(
    request: Request,
    forms: RequestForms,
    pool: Pool,
    email: Annotated[str, Form()] = "",
    form_token: Annotated[str, Form()] = "",
) -> Response:
    # Checked here rather than by FastAPI, so a bad form gets a page, not JSON.
    if not email.strip() or len(email) > MAX_EMAIL_LENGTH or "@" not in email:
        return refusal_page(request, "Enter the email address you registered with.")
    try:
        forms.loads(form_token, max_age=REQUEST_FORM_MAX_AGE_SECONDS)
    except BadSignature:
        return refusal_page(request, "This form has expired. Open the page again and resend it.")
    async with pool.acquire() as conn, conn.transaction():
        await request_link(conn, email)
    return RedirectResponse("/me/sent", status.HTTP_303_SEE_OTHER)


# Declared before /me/{token}, which would otherwise take these two as tokens.
@router.get("/me/sent", response_class=HTMLResponse)
async def link_sent(request: Request) -> HTMLResponse:
    return participant_page(request, "requested.html", {})


@router.get("/me/erased", response_class=HTMLResponse)
async def erased(request: Request) -> HTMLResponse:
    return participant_page(request, "done.html", {"done": Action.ERASE.value})


@router.get("/me/{token}", response_class=HTMLResponse)
async def manage(
    request: Request, token: str, settings: AppSettings, pool: Pool, done: str = ""
) -> HTMLResponse:
    async with pool.acquire() as conn:
        found = await _holder(request, settings, conn, token)
        if isinstance(found, HTMLResponse):
            return found
        link, person = found
        matches = await matches_of(conn, link.person_id)
        steps = await match_steps(conn, settings, link.person_id, matches, now())
        secondment = await staff_requests.request_of(conn, link.person_id)
    context = {
        "token": token,
        "csrf": csrf_token(settings.secret_key.get_secret_value(), link),
        "name": person.name,
        "role": person.role.value,
        "state": person.state.value,
        "standing": where_they_stand(person.state, matches),
        "match_steps": steps,
        "actions": [a.value for a in allowed_actions(person.role, person.state)],
        "secondment": secondment_standing(person, secondment),
        "secondment_reason": secondment.reason if secondment else "",
        # What was just done (post-redirect-get): only a known action's name is shown.
        "done": done if done in {*Action.__members__.values(), "profile"} else "",
    }
    return participant_page(request, "manage.html", context)


def secondment_standing(person: Participant, request: StaffRequest | None) -> str:
    """A mentee's secondment: considered, asked (waiting on their trust), declined, or none."""
    if person.details.get("open_to_secondment"):
        return "considered"
    if request is None or request.status is RequestStatus.AGREED:  # taken off since
        return ""
    return request.status.value


def form_values(form: FormData) -> dict[str, Any]:
    """A posted form's values, to fill the form in again (the days are a list)."""
    values: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
    values["working_days"] = form.getlist("working_days")
    return values


def _profile_page(
    request: Request,
    token: str,
    csrf: str,
    role: Role,
    values: dict[str, Any],
    problems: Sequence[str] = (),
    secondment: str = "",
) -> HTMLResponse:
    context = {
        "secondment": secondment,
        "token": token,
        "csrf": csrf,
        "role": role.value,
        "values": values,
        "c": profile_form.choices(),
        "identity": False,
        "problems": problems,
    }
    return participant_page(request, "profile.html", context, 422 if problems else 200)


@router.get("/me/{token}/profile", response_class=HTMLResponse)
async def profile_page(
    request: Request, token: str, settings: AppSettings, pool: Pool
) -> HTMLResponse:
    async with pool.acquire() as conn:
        found = await _holder(request, settings, conn, token)
        if isinstance(found, HTMLResponse):
            return found
        link, person = found
        asked = await staff_requests.request_of(conn, link.person_id)
        secondment = secondment_standing(person, asked)
    csrf = csrf_token(settings.secret_key.get_secret_value(), link)
    values = profile_form.values_of(person.details)
    if secondment == RequestStatus.WAITING:  # their tick stands while their trust decides
        values["open_to_secondment"] = "yes"
    return _profile_page(request, token, csrf, person.role, values, secondment=secondment)


# Declared before /me/{token}/{action}, which would otherwise take "profile" as an action.
@router.post("/me/{token}/profile", response_class=HTMLResponse)
async def save_profile(request: Request, token: str, settings: AppSettings, pool: Pool) -> Response:
    """The usual person event carries the change, so the next round matches on it."""
    try:
        link = _read_link(settings, token)
    except LinkRefused as error:
        return refusal_page(request, str(error))
    form = await request.form()
    csrf = csrf_token(settings.secret_key.get_secret_value(), link)
    if not hmac.compare_digest(str(form.get("csrf", "")), csrf):
        return refusal_page(request, "This form is not valid: open your link again.", 403)
    async with pool.acquire() as conn, conn.transaction():
        person = await participant(conn, link.person_id, lock=True)
        if person is None:
            return refusal_page(request, "Bridgework holds no details for this link.", 404)
        try:
            await change_profile(conn, link.person_id, person, form)
        except profile_form.ProfileRefused as refused:
            values = form_values(form)
            return _profile_page(request, token, csrf, person.role, values, refused.problems)
    return RedirectResponse(f"/me/{token}?done=profile", status.HTTP_303_SEE_OTHER)


@router.post("/me/{token}/{action}", response_class=HTMLResponse)
async def act(
    request: Request,
    token: str,
    action: str,
    settings: AppSettings,
    pool: Pool,
    csrf: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
) -> Response:
    try:
        link = _read_link(settings, token)
    except LinkRefused as error:
        return refusal_page(request, str(error))
    if not hmac.compare_digest(csrf, csrf_token(settings.secret_key.get_secret_value(), link)):
        return refusal_page(request, "This form is not valid: open your link again.", 403)
    if action not in Action.__members__.values():
        return refusal_page(request, f"Unknown action {action!r}.", 404)
    chosen = Action(action)
    if chosen is Action.ERASE and confirm != "yes":
        return refusal_page(request, "Tick the box to confirm that you want to be erased.")
    async with pool.acquire() as conn, conn.transaction():
        person = await participant(conn, link.person_id, lock=True)
        if person is None:
            return refusal_page(request, "Bridgework holds no details for this link.", 404)
        if chosen not in allowed_actions(person.role, person.state):
            return refusal_page(request, "That cannot be done now; open your link again.", 409)
        await perform(conn, link.person_id, chosen)
    target = "/me/erased" if chosen is Action.ERASE else f"/me/{token}?done={chosen.value}"
    return RedirectResponse(target, status.HTTP_303_SEE_OTHER)

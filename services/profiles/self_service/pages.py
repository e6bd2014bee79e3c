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
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer

from services.profiles.accounts.audit import record_audit
from services.profiles.api.schemas import AvailabilityIn
from services.profiles.directory import people
from shared.events import AvailabilityChanged, SelfServiceLinkRequested
from shared.links import LinkRefused, SelfServiceLink, read_self_service_link
from shared.outbox import add_to_outbox
from shared.people import Role
from shared.settings import Settings

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent.parent / "templates" / "self_service")
# The page holds a secret link: it must not leak through Referer headers or caches.
PRIVATE_PAGE_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
REQUEST_FORM_MAX_AGE_SECONDS = 3600
MAX_EMAIL_LENGTH = 320
LINK_REQUEST_INTERVAL_SECONDS = 300.0


class Action(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    WITHDRAW = "withdraw"
    ERASE = "erase"


def csrf_token(secret_key: str, link: SelfServiceLink) -> str:
    """A form token bound to this link: only a page rendered for the link can post to it."""
    message = f"bridgework.self-service.csrf:{link.token_id}:{link.person_id}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def allowed_actions(role: Role, paused: bool) -> list[Action]:
    """What a participant can do now: mentors pause and resume; anyone who takes part can
    withdraw; anyone withdrawn can take part again; anyone can ask to be erased."""
    if paused:
        return [Action.RESUME, Action.ERASE]
    if role is Role.MENTOR:
        return [Action.PAUSE, Action.WITHDRAW, Action.ERASE]
    return [Action.WITHDRAW, Action.ERASE]


def create_router(settings: Settings) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    secret = settings.secret_key.get_secret_value()
    request_forms = URLSafeTimedSerializer(secret, salt="bridgework.form.self-service-request")

    def page(
        request: Request, template: str, context: dict[str, Any], status_code: int = 200
    ) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(
            request, template, context, status_code=status_code, headers=PRIVATE_PAGE_HEADERS
        )

    def refused(request: Request, message: str, status_code: int = 400) -> HTMLResponse:
        return page(request, "refused.html", {"message": message}, status_code)

    def read_link(token: str) -> SelfServiceLink:
        return read_self_service_link(secret, token, settings.self_service_link_max_age_seconds)

    @router.get("/me", response_class=HTMLResponse)
    async def ask_for_link(request: Request) -> HTMLResponse:
        return page(request, "request.html", {"form_token": request_forms.dumps("me")})

    @router.post("/me", response_class=HTMLResponse)
    async def send_link(
        request: Request,
        email: Annotated[str, Form()] = "",
        form_token: Annotated[str, Form()] = "",
    ) -> HTMLResponse:
        # Checked here rather than by FastAPI, so a bad form gets a page, not JSON.
        if not email.strip() or len(email) > MAX_EMAIL_LENGTH or "@" not in email:
            return refused(request, "Enter the email address you registered with.")
        try:
            request_forms.loads(form_token, max_age=REQUEST_FORM_MAX_AGE_SECONDS)
        except BadSignature:
            return refused(request, "This form has expired. Open the page again and resend it.")
        async with request.app.state.pool.acquire() as conn, conn.transaction():
            await request_link(conn, email)
        return page(request, "requested.html", {})

    @router.get("/me/{token}", response_class=HTMLResponse)
    async def manage(request: Request, token: str) -> HTMLResponse:
        try:
            link = read_link(token)
        except LinkRefused as error:
            return refused(request, str(error))
        async with request.app.state.pool.acquire() as conn:
            person = await _person(conn, link.person_id)
        if person is None:
            return refused(request, "Bridgework holds no details for this link.", 404)
        role, paused, name = person
        context = {
            "token": token,
            "csrf": csrf_token(secret, link),
            "name": name,
            "role": role.value,
            "paused": paused,
            "actions": [a.value for a in allowed_actions(role, paused)],
        }
        return page(request, "manage.html", context)

    @router.post("/me/{token}/{action}", response_class=HTMLResponse)
    async def act(
        request: Request,
        token: str,
        action: str,
        csrf: Annotated[str, Form()] = "",
        confirm: Annotated[str, Form()] = "",
    ) -> HTMLResponse:
        try:
            link = read_link(token)
        except LinkRefused as error:
            return refused(request, str(error))
        if not hmac.compare_digest(csrf, csrf_token(secret, link)):
            return refused(request, "This form is not valid: open your link again.", 403)
        if action not in Action.__members__.values():
            return refused(request, f"Unknown action {action!r}.", 404)
        chosen = Action(action)
        if chosen is Action.ERASE and confirm != "yes":
            return refused(request, "Tick the box to confirm that you want to be erased.")
        async with request.app.state.pool.acquire() as conn, conn.transaction():
            person = await _person(conn, link.person_id, lock=True)
            if person is None:
                return refused(request, "Bridgework holds no details for this link.", 404)
            role, paused, _ = person
            if chosen not in allowed_actions(role, paused):
                return refused(request, "That cannot be done now; open your link again.", 409)
            await perform(conn, link.person_id, role, chosen)
        return page(request, "done.html", {"action": chosen.value, "token": token})

    return router


async def request_link(conn: asyncpg.Connection, email: str) -> int:
    """Publish a link request for each person with this address (a mentor and a mentee may share
    one); returns how many, which the page never shows. At most one link per person every few
    minutes, so the form cannot be used to flood someone's inbox."""
    people = await conn.fetch(
        """
        SELECT id FROM people p WHERE lower(email) = lower($1) AND NOT EXISTS (
          SELECT 1 FROM outbox o WHERE o.message_key = p.id::text
            AND o.payload->>'event_type' = $2
            AND o.created_at > now() - make_interval(secs => $3))
        """,
        email.strip()[:MAX_EMAIL_LENGTH],
        SelfServiceLinkRequested.model_fields["event_type"].default,
        LINK_REQUEST_INTERVAL_SECONDS,
    )
    await add_to_outbox(
        conn,
        [
            SelfServiceLinkRequested(entity_key=str(row["id"]), person_id=row["id"])
            for row in people
        ],
    )
    return len(people)


async def _person(
    conn: asyncpg.Connection, person_id: UUID, lock: bool = False
) -> tuple[Role, bool, str] | None:
    row = await conn.fetchrow(
        "SELECT role, paused, details->>'name' AS name FROM people WHERE id = $1"
        + (" FOR UPDATE" if lock else ""),
        person_id,
    )
    return None if row is None else (Role(row["role"]), row["paused"], row["name"])


AUDIT_ACTIONS = {
    Action.PAUSE: "participant.paused",
    Action.RESUME: "participant.resumed",
    Action.WITHDRAW: "participant.withdrew",
    Action.ERASE: "person.erased",
}


async def perform(conn: asyncpg.Connection, person_id: UUID, role: Role, action: Action) -> None:
    """Carry out the action through the profiles use cases, audited in the same transaction."""
    if action is Action.ERASE:
        await people.erase_person(conn, person_id)
    elif role is Role.MENTOR:
        # Paused or withdrawn, a mentor's capacity goes to zero; resumed, it comes back.
        await people.set_availability(
            conn, person_id, AvailabilityIn(paused=action is not Action.RESUME)
        )
    else:
        await _set_mentee_taking_part(conn, person_id, taking_part=action is Action.RESUME)
    await record_audit(
        conn,
        actor=f"participant:{person_id}",
        action=AUDIT_ACTIONS[action],
        subject=str(person_id),
        reason="self-service link",
    )


async def _set_mentee_taking_part(
    conn: asyncpg.Connection, person_id: UUID, *, taking_part: bool
) -> None:
    """A withdrawn mentee is paused: the matcher stops matching them and withdraws their pending
    proposals, as it does for a paused mentor."""
    await conn.execute(
        "UPDATE people SET paused = $2, updated_at = now() WHERE id = $1",
        person_id,
        not taking_part,
    )
    event = AvailabilityChanged(
        entity_key=str(person_id),
        person_id=person_id,
        paused=not taking_part,
        capacity=0.0,
        hours_per_month=0.0,
    )
    await add_to_outbox(conn, [event])

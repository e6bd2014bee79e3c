"""The join pages (public: a network's link a coordinator puts in a newsletter) and the
coordinators' queue of newcomers.

``/join/{network}``: volunteer as a mentor or apply as a mentee. The form is signed (it came
from this service), has a honeypot field a person never sees, and answers every accepted form
the same way, by redirect to "check your email"; the confirmation link (``/join/confirm/...``)
shows a button, because mail scanners open links before people do; its POST confirms.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from services.profiles.coordination import queries
from services.profiles.dependencies import AppSettings, Connection, Pool
from services.profiles.joining import applications
from services.profiles.pages import CheckedForm, Coordinating, PageRefused, flash, render
from services.profiles.self_service import profile_form
from services.profiles.self_service.pages import form_values, participant_page, refusal_page
from shared.links import LinkRefused, read_join_link
from shared.people import Role
from shared.settings import Settings
from shared.skills import DEFAULT_TAXONOMY

FORM_MAX_AGE_SECONDS = 6 * 3600
HONEYPOT = "website"  # hidden from people; a bot that fills it in is answered, and ignored
RoleName = Literal["mentor", "mentee"]

router = APIRouter(include_in_schema=False)


def _forms(settings: AppSettings) -> URLSafeTimedSerializer:
    secret = settings.secret_key.get_secret_value()
    return URLSafeTimedSerializer(secret, salt="bridgework.form.join")


Forms = Annotated[URLSafeTimedSerializer, Depends(_forms)]


def _limits(settings: Settings) -> applications.JoinLimits:
    return applications.JoinLimits(
        per_address=settings.join_requests_per_address,
        per_client=settings.join_requests_per_client,
        link_max_age_seconds=settings.join_link_max_age_seconds,
    )


async def _network_name(conn: asyncpg.Connection, network_id: str) -> str:
    name = await queries.network_name(conn, network_id)
    if name is None:
        raise PageRefused(404, "No such network", "There is no network at this address.")
    return name


def join_url(settings: Settings, network_id: str) -> str:
    return f"{settings.public_base_url.rstrip('/')}/join/{network_id}"


@router.get("/join/confirm/{token}", response_class=HTMLResponse)
async def confirm_page(request: Request, token: str, settings: AppSettings) -> HTMLResponse:
    try:
        read_join_link(
            settings.secret_key.get_secret_value(), token, settings.join_link_max_age_seconds
        )
    except LinkRefused as error:
        return refusal_page(request, f"{error} Fill in the form again to get a new link.")
    return participant_page(request, "join_confirm.html", {"token": token})


@router.post("/join/confirm/{token}", response_class=HTMLResponse)
async def confirm(request: Request, token: str, settings: AppSettings, pool: Pool) -> Response:
    try:
        link = read_join_link(
            settings.secret_key.get_secret_value(), token, settings.join_link_max_age_seconds
        )
    except LinkRefused as error:
        return refusal_page(request, f"{error} Fill in the form again to get a new link.")
    async with pool.acquire() as conn:
        try:
            await applications.confirm_address(conn, link)
        except applications.ApplicationGone:
            return refusal_page(
                request,
                "This link was used already, or a newer one was sent: use the newest email.",
                410,
            )
    return RedirectResponse("/join/confirmed", status.HTTP_303_SEE_OTHER)


@router.get("/join/confirmed", response_class=HTMLResponse)
async def confirmed(request: Request) -> HTMLResponse:
    return participant_page(request, "join_done.html", {"confirmed": True})


@router.get("/join/{network_id}", response_class=HTMLResponse)
async def join_home(request: Request, network_id: str, conn: Connection) -> HTMLResponse:
    name = await _network_name(conn, network_id)
    return participant_page(request, "join.html", {"network_id": network_id, "network_name": name})


@router.get("/join/{network_id}/sent", response_class=HTMLResponse)
async def sent(request: Request, network_id: str) -> HTMLResponse:
    return participant_page(request, "join_done.html", {"confirmed": False})


def _form_page(
    request: Request,
    forms: URLSafeTimedSerializer,
    network_id: str,
    network_name: str,
    role: RoleName,
    trusts: list[asyncpg.Record],
    values: dict[str, Any],
    problems: tuple[str, ...] = (),
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        "network_id": network_id,
        "network_name": network_name,
        "role": role,
        "trusts": trusts,
        "values": values,
        "problems": problems,
        "c": profile_form.choices(),
        "identity": True,
        "form_token": forms.dumps(network_id),
        "honeypot": HONEYPOT,
    }
    return participant_page(request, "join_form.html", context, status_code)


@router.get("/join/{network_id}/{role}", response_class=HTMLResponse)
async def join_form(
    request: Request, network_id: str, role: RoleName, forms: Forms, conn: Connection
) -> HTMLResponse:
    name = await _network_name(conn, network_id)
    trusts = await applications.network_trusts(conn, network_id)
    return _form_page(request, forms, network_id, name, role, trusts, {})


@router.post("/join/{network_id}/{role}", response_class=HTMLResponse)
async def send_join_form(
    request: Request,
    network_id: str,
    role: RoleName,
    forms: Forms,
    settings: AppSettings,
    pool: Pool,
) -> Response:
    form = await request.form()
    done = RedirectResponse(f"/join/{network_id}/sent", status.HTTP_303_SEE_OTHER)
    if form.get(HONEYPOT):
        return done  # a bot: the same answer, nothing kept
    async with pool.acquire() as conn:
        name = await _network_name(conn, network_id)
        trusts = await applications.network_trusts(conn, network_id)
        values = form_values(form)
        try:
            signed_for = forms.loads(str(form.get("form_token", "")), max_age=FORM_MAX_AGE_SECONDS)
            if signed_for != network_id:
                raise BadSignature("another network's form")
        except BadSignature:
            problem = ("This form has expired: check your answers and send it again.",)
            return _form_page(request, forms, network_id, name, role, trusts, values, problem, 400)
        try:
            keys = (*profile_form.IDENTITY, *profile_form.EDITABLE[Role(role)])
            profile = profile_form.read_profile(
                Role(role), profile_form.form_fields(Role(role), form, keys)
            )
            async with conn.transaction():
                await applications.apply(
                    conn,
                    secret=settings.secret_key.get_secret_value(),
                    limits=_limits(settings),
                    network_id=network_id,
                    network_name=name,
                    profile=profile,
                    client=request.client.host if request.client else "unknown",
                )
        except profile_form.ProfileRefused as refused:
            return _form_page(
                request, forms, network_id, name, role, trusts, values, refused.problems, 422
            )
        except applications.TooManyRequests:
            return refusal_page(
                request,
                "Too many forms have been sent from your connection in the last hour. Nothing"
                " was kept: please try again later.",
                429,
            )
    return done


# --- the coordinators' queue --------------------------------------------------------------


@router.get("/dashboard/{network_id}/newcomers")
async def newcomers_page(
    request: Request,
    network_id: str,
    account: Coordinating,
    conn: Connection,
    settings: AppSettings,
) -> Response:
    context = {
        "network_id": network_id,
        "network_name": await queries.network_name(conn, network_id),
        "newcomers": await applications.waiting(conn, network_id),
        "join_url": join_url(settings, network_id),
        "skill_name": DEFAULT_TAXONOMY.name_of,
    }
    return render(request, "newcomers.html", context)


@router.post("/dashboard/{network_id}/newcomers/{application_id}")
async def decide_newcomer(
    request: Request,
    network_id: str,
    application_id: UUID,
    account: Coordinating,
    form: CheckedForm,
    conn: Connection,
) -> Response:
    choice = form.get("decision")
    if choice not in ("confirm", "decline"):
        raise PageRefused(400, "No decision", "Choose confirm or decline.")
    name = await _network_name(conn, network_id)
    try:
        if choice == "confirm":
            await applications.accept(conn, network_id, name, application_id, account.email)
            flash(request, "Confirmed: they can now be matched, and have been emailed their link.")
        else:
            await applications.decline(conn, network_id, name, application_id, account.email)
            flash(request, "Declined: they have been told politely, and their details deleted.")
    except applications.ApplicationGone as error:
        raise PageRefused(
            409, "Nothing left to decide", f"This newcomer cannot be confirmed: {error}."
        ) from error
    return RedirectResponse(f"/dashboard/{network_id}/newcomers", status.HTTP_303_SEE_OTHER)

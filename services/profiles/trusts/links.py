"""A trust's contact without a session: asking for a sign-in link, signing in with it, and
answering a consent request from its email. Each link is signed, expires and works once (its
``token_id`` is claimed in the transaction of what it does); a GET changes nothing (mail
scanners open links before people do), so each page asks the holder to confirm."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response

from services.profiles.accounts.accounts import load_account
from services.profiles.accounts.audit import claim_link_token, link_token_used
from services.profiles.accounts.pages import begin_session
from services.profiles.accounts.permissions import may_act_for_trust
from services.profiles.dependencies import AppSettings, Connection
from services.profiles.pages import CheckedForm, PageRefused, render
from services.profiles.trusts import contacts
from services.profiles.trusts.consents import Answer, ConsentRefused, answer_consent
from services.profiles.trusts.pages import consent_message
from services.profiles.trusts.queries import secondments
from shared.events import ConsentParty
from shared.links import (
    ConsentLink,
    LinkPurpose,
    LinkRefused,
    TrustSignInLink,
    read_consent_link,
    read_trust_sign_in_link,
)
from shared.settings import Settings

router = APIRouter(include_in_schema=False)


def _unusable(message: str, code: int = 400) -> PageRefused:
    return PageRefused(code, "This link cannot be used", message)


def _used() -> PageRefused:
    return PageRefused(410, "This link was used already", "Each link works once.")


# --- signing in ---------------------------------------------------------------------------------


@router.get("/trust/sign-in")
async def ask_for_link(request: Request) -> Response:
    return render(request, "trust_sign_in.html", {"sent": False})


@router.post("/trust/sign-in")
async def send_link(request: Request, form: CheckedForm, conn: Connection) -> Response:
    email = str(form.get("email", ""))[:320]
    if "@" not in email:
        return render(request, "trust_sign_in.html", {"sent": False}, 422)
    async with conn.transaction():
        await contacts.request_sign_in(conn, email)
    # The same answer either way: the page does not tell who is a trust's contact.
    return render(request, "trust_sign_in.html", {"sent": True})


async def _sign_in_link(settings: Settings, conn: Connection, token: str) -> TrustSignInLink:
    try:
        link = read_trust_sign_in_link(
            settings.secret_key.get_secret_value(),
            token,
            settings.trust_sign_in_link_max_age_seconds,
        )
    except LinkRefused as error:
        raise _unusable(str(error)) from error
    if await link_token_used(conn, link.token_id):
        raise _used()
    return link


@router.get("/trust/sign-in/{token}")
async def confirm_sign_in(
    request: Request, token: str, settings: AppSettings, conn: Connection
) -> Response:
    await _sign_in_link(settings, conn, token)
    return render(request, "trust_sign_in_confirm.html", {"token": token})


@router.post("/trust/sign-in/{token}")
async def sign_in(
    request: Request, token: str, settings: AppSettings, form: CheckedForm, conn: Connection
) -> Response:
    async with conn.transaction():
        link = await _sign_in_link(settings, conn, token)
        account = await load_account(conn, link.contact_email)
        if account is None or not may_act_for_trust(account, link.trust_code):
            raise _unusable("The link's holder is no longer a contact of this trust.", 403)
        if not await claim_link_token(conn, link.token_id, LinkPurpose.TRUST_SIGN_IN.value):
            raise _used()
        await begin_session(request, conn, account)
    return RedirectResponse(f"/trust/{link.trust_code}", status.HTTP_303_SEE_OTHER)


# --- consent from an email -------------------------------------------------------------------


async def _consent_link(settings: Settings, conn: Connection, token: str) -> ConsentLink:
    try:
        link = read_consent_link(
            settings.secret_key.get_secret_value(), token, settings.consent_days * 24 * 3600
        )
    except LinkRefused as error:
        raise _unusable(str(error)) from error
    if link.party not in ConsentParty.__members__.values():
        raise _unusable("This link is not valid.")
    if await link_token_used(conn, link.token_id):
        raise _used()
    if not await contacts.is_contact(conn, link.trust_code, link.contact_email):
        raise _unusable("The link's holder is no longer a contact of this trust.", 403)
    return link


@router.get("/links/consent/{token}")
async def confirm_consent(
    request: Request, token: str, settings: AppSettings, conn: Connection
) -> Response:
    link = await _consent_link(settings, conn, token)
    found = [s for s in await secondments(conn, link.trust_code) if s.match_id == link.match_id]
    if not found or not found[0].my_consent_waiting:
        raise PageRefused(409, "Nothing left to answer", "This consent is not waiting any more.")
    context = {"secondment": found[0], "give": link.give, "token": token}
    return render(request, "consent_link.html", context)


@router.post("/links/consent/{token}")
async def answer_by_link(
    request: Request, token: str, settings: AppSettings, form: CheckedForm, conn: Connection
) -> Response:
    async with conn.transaction():
        link = await _consent_link(settings, conn, token)
        if not await claim_link_token(conn, link.token_id, LinkPurpose.CONSENT.value):
            raise _used()
        try:
            outcome = await answer_consent(
                conn,
                Answer(
                    match_id=link.match_id,
                    party=ConsentParty(link.party),
                    trust_code=link.trust_code,
                    given=link.give,
                    reason=str(form.get("reason", "")),
                    answered_by=link.contact_email,
                    via="email-link",
                ),
            )
        except ConsentRefused as error:
            raise PageRefused(409, "This consent cannot be recorded", str(error)) from error
    title = "Consent given" if link.give else "Consent refused"
    return render(
        request, "message.html", {"title": title, "message": consent_message(link.give, outcome)}
    )

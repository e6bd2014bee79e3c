"""Decision links from emails: they need no session; the signed, expiring, single-use token in
the URL is their secret."""

from __future__ import annotations

from typing import Literal

import asyncpg
from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response

from services.profiles.accounts.audit import claim_link_token, link_token_used
from services.profiles.coordination import queries
from services.profiles.coordination.pages import decide_or_refuse
from services.profiles.dependencies import AppSettings, Connection
from services.profiles.directory.networks import is_network_coordinator
from services.profiles.pages import PageRefused, render
from shared.links import DecisionLink, LinkPurpose, LinkRefused, read_decision_link
from shared.settings import Settings

router = APIRouter(prefix="/links", include_in_schema=False)


def _used() -> PageRefused:
    return PageRefused(410, "This link was used already", "Each decision link works once.")


async def usable_link(settings: Settings, conn: asyncpg.Connection, token: str) -> DecisionLink:
    try:
        link = read_decision_link(
            settings.secret_key.get_secret_value(),
            token,
            settings.decision_link_max_age_seconds,
        )
    except LinkRefused as error:
        raise PageRefused(400, "This link cannot be used", str(error)) from error
    if await link_token_used(conn, link.token_id):
        raise _used()
    if not await is_network_coordinator(conn, link.network_id, link.coordinator_email):
        raise PageRefused(
            403,
            "This link cannot be used",
            "The link's holder no longer coordinates this network.",
        )
    return link


@router.get("/decision/{token}")
async def confirm_decision(
    request: Request, token: str, settings: AppSettings, conn: Connection
) -> Response:
    # A GET changes nothing: mail scanners open links before people do.
    link = await usable_link(settings, conn, token)
    proposal = await queries.proposal(conn, link.network_id, link.match_id)
    if proposal is None:
        raise PageRefused(404, "No such proposal", "This proposal is not known (yet).")
    if proposal.status != "pending":
        message = (
            "This proposal was withdrawn by the matcher."
            if proposal.status == "withdrawn"
            else f"This proposal was already {proposal.status}."
        )
        raise PageRefused(409, "Nothing left to decide", message)
    context = {"proposal": proposal, "approve": link.approve, "token": token}
    return render(request, "link_decision.html", context)


@router.post("/decision/{token}")
async def take_decision(
    request: Request, token: str, settings: AppSettings, conn: Connection
) -> Response:
    form = await request.form()
    async with conn.transaction():
        link = await usable_link(settings, conn, token)
        if not await claim_link_token(conn, link.token_id, LinkPurpose.DECISION.value):
            raise _used()
        await decide_or_refuse(
            conn,
            link.network_id,
            [link.match_id],
            link.approve,
            str(form.get("reason", "")),
            link.coordinator_email.lower(),
            via="email-link",
            consent_days=settings.consent_days,
        )
    verdict = "approved" if link.approve else "rejected"
    return RedirectResponse(f"/links/decided/{verdict}", status.HTTP_303_SEE_OTHER)


@router.get("/decided/{verdict}")
async def decided(request: Request, verdict: Literal["approved", "rejected"]) -> Response:
    return render(
        request,
        "message.html",
        {"title": f"Match {verdict}", "message": f"Thank you: the match is {verdict}."},
    )

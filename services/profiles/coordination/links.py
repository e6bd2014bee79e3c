"""Decision links from emails: they need no session; the signed, expiring, single-use token in
the URL is their secret."""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.profiles.accounts.accounts import is_network_coordinator
from services.profiles.accounts.audit import claim_link_token
from services.profiles.accounts.permissions import Account, AccountRole
from services.profiles.coordination import queries
from services.profiles.coordination.pages import decide_or_refuse
from services.profiles.dependencies import Connection
from services.profiles.pages import PageRefused, render
from shared.links import LinkPurpose, LinkRefused, read_decision_link
from shared.settings import Settings

router = APIRouter(prefix="/links", include_in_schema=False)


async def usable_link(request: Request, conn: asyncpg.Connection, token: str) -> Any:
    settings: Settings = request.app.state.settings
    try:
        link = read_decision_link(
            settings.secret_key.get_secret_value(),
            token,
            settings.decision_link_max_age_seconds,
        )
    except LinkRefused as error:
        raise PageRefused(400, "This link cannot be used", str(error)) from error
    if await conn.fetchval("SELECT 1 FROM used_link_tokens WHERE token_id = $1", link.token_id):
        raise PageRefused(410, "This link was used already", "Each decision link works once.")
    if not await is_network_coordinator(conn, link.network_id, link.coordinator_email):
        raise PageRefused(
            403,
            "This link cannot be used",
            "The link's holder no longer coordinates this network.",
        )
    return link


@router.get("/decision/{token}")
async def confirm_decision(request: Request, token: str, conn: Connection) -> Response:
    # A GET changes nothing: mail scanners open links before people do.
    link = await usable_link(request, conn, token)
    views = [
        v for v in await queries.proposals(conn, link.network_id) if v.match_id == link.match_id
    ]
    if not views:
        raise PageRefused(404, "No such proposal", "This proposal is not known (yet).")
    proposal = views[0]
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
async def take_decision(request: Request, token: str, conn: Connection) -> Response:
    form = await request.form()
    async with conn.transaction():
        link = await usable_link(request, conn, token)
        if not await claim_link_token(conn, link.token_id, LinkPurpose.DECISION.value):
            raise PageRefused(410, "This link was used already", "Each decision link works once.")
        actor = Account(
            email=link.coordinator_email.lower(),
            name=link.coordinator_email,
            role=AccountRole.COORDINATOR,
            network_id=link.network_id,
        )
        await decide_or_refuse(
            conn,
            link.network_id,
            [link.match_id],
            link.approve,
            str(form.get("reason", "")),
            actor,
            via="email-link",
        )
    verdict = "approved" if link.approve else "rejected"
    return render(
        request,
        "message.html",
        {"title": f"Match {verdict}", "message": f"Thank you: the match is {verdict}."},
    )

"""A coordinator's choice of proposal emails: one per proposal as it is made, or one digest a
day listing the new ones (the notifier sends either: services/notifier/handlers.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response

from services.profiles.accounts.audit import record_audit
from services.profiles.dependencies import Connection
from services.profiles.directory.networks import choose_proposal_emails, proposal_emails_of
from services.profiles.pages import CheckedForm, Coordinating, PageRefused, flash, render
from shared.events import ProposalEmails

router = APIRouter(prefix="/dashboard/{network_id}", include_in_schema=False)

CHOICES = {
    ProposalEmails.IMMEDIATE: "One email for each proposal, as soon as it is made",
    ProposalEmails.DAILY: "One email a day listing the new proposals (a daily digest)",
}


@router.get("/emails")
async def emails_page(
    request: Request, network_id: str, account: Coordinating, conn: Connection
) -> Response:
    chosen = await proposal_emails_of(conn, network_id, account.email)
    context = {"network_id": network_id, "chosen": chosen, "choices": CHOICES}
    return render(request, "emails.html", context)


@router.post("/emails")
async def choose_emails(
    request: Request, network_id: str, account: Coordinating, form: CheckedForm, conn: Connection
) -> Response:
    try:
        choice = ProposalEmails(str(form.get("proposal_emails", "")))
    except ValueError as error:
        raise PageRefused(400, "Choose how to be emailed", "Pick one of the two.") from error
    async with conn.transaction():
        if not await choose_proposal_emails(conn, network_id, account.email, choice):
            raise PageRefused(
                409,
                "You receive no proposal emails",
                "You are not listed among this network's coordinators: ask an administrator.",
            )
        await record_audit(
            conn,
            actor=account.email,
            action="coordinator.proposal_emails",
            subject=network_id,
            reason=choice.value,
            details={"network_id": network_id},
        )
    flash(request, f"Saved: {CHOICES[choice].lower()}.")
    return RedirectResponse(f"/dashboard/{network_id}/emails", status.HTTP_303_SEE_OTHER)

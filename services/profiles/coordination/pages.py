"""The coordinators' pages: proposals (decide one, approve many), the state of the network,
the pictures (secondment flows, fairness) and the CSV export."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response

from services.profiles.coordination import queries
from services.profiles.coordination.charts import bar_chart, flow_graph, flow_rows
from services.profiles.coordination.dashboard import (
    LEVELS,
    SCORE_PARTS,
    decision_bars,
    decisions_by_day,
    fairness_bars,
    matches_csv,
    parse_filter,
    target_rows,
)
from services.profiles.coordination.decisions import DecisionRefused, ProposalNotFound, decide
from services.profiles.dependencies import Connection
from services.profiles.pages import CheckedForm, Coordinating, PageRefused, flash, now, render
from services.profiles.trusts.coordinator_pages import small_share, trust_lines
from shared.matching import MatchKind

router = APIRouter(prefix="/dashboard/{network_id}", include_in_schema=False)


@router.get("/proposals")
async def proposals_page(
    request: Request, network_id: str, account: Coordinating, conn: Connection
) -> Response:
    chosen = parse_filter(request.query_params)
    at = now()
    page = await queries.proposal_page(conn, network_id, chosen, at)
    since, changed = await queries.changed_since_last_look(conn, account.email, network_id, at)
    context = {
        "network_id": network_id,
        "network_name": await queries.network_name(conn, network_id),
        "page": page,
        "proposals": page.proposals,
        "exchanges": await queries.exchange_sizes(
            conn, [p.exchange_id for p in page.proposals if p.exchange_id]
        ),
        "recent": await queries.recently_decided(conn, network_id),
        "since": since,
        "changed": changed,
        "filter": chosen,
        "kinds": [k.value for k in MatchKind],
        "regions": await queries.regions(conn, network_id),
        "levels": LEVELS,
        "score_parts": SCORE_PARTS,
        "now": at,
    }
    return render(request, "proposals.html", context)


@router.get("/proposals/approve-selected")
async def confirm_bulk_approval(
    request: Request, network_id: str, account: Coordinating, conn: Connection
) -> Response:
    """What "approve the selected" will do, before it is done: the proposals, their exchange
    partners, and who will be emailed. Opening it changes nothing."""
    match_ids = _match_ids(request.query_params.getlist("match_id"))
    if not match_ids:
        raise PageRefused(400, "Nothing selected", "Tick the proposals to approve first.")
    chosen = await queries.selected(conn, network_id, match_ids)
    partners = await queries.exchange_partners(conn, network_id, match_ids)
    context = {
        "network_id": network_id,
        "proposals": [p for p in chosen if p.status == "pending"],
        "partners": [p for p in partners if p.match_id not in set(match_ids)],
        "not_pending": [p for p in chosen if p.status != "pending"],
    }
    return render(request, "confirm_approval.html", context)


@router.post("/proposals/{match_id}/decision")
async def decide_one(
    request: Request,
    network_id: str,
    match_id: UUID,
    account: Coordinating,
    form: CheckedForm,
    conn: Connection,
) -> Response:
    choice = form.get("decision")
    if choice not in ("approve", "reject"):
        raise PageRefused(400, "No decision", "Choose approve or reject.")
    approved, reason = choice == "approve", str(form.get("reason", ""))
    decided = await decide_or_refuse(
        conn,
        network_id,
        [match_id],
        approved,
        reason,
        account.email,
        consent_days=request.app.state.settings.consent_days,
    )
    verb = "Approved" if approved else "Rejected"
    flash(request, f"{verb} {len(decided)} proposal(s). The matcher and notifier are told.")
    return RedirectResponse(f"/dashboard/{network_id}/proposals", status.HTTP_303_SEE_OTHER)


@router.post("/proposals/bulk-approve")
async def bulk_approve(
    request: Request, network_id: str, account: Coordinating, form: CheckedForm, conn: Connection
) -> Response:
    match_ids = _match_ids(form.getlist("match_id"))
    decided = await decide_or_refuse(
        conn,
        network_id,
        match_ids,
        True,
        "",
        account.email,
        consent_days=request.app.state.settings.consent_days,
    )
    flash(request, f"Approved {len(decided)} proposal(s). The matcher and notifier are told.")
    return RedirectResponse(f"/dashboard/{network_id}/proposals", status.HTTP_303_SEE_OTHER)


@router.get("/network")
async def network_page(
    request: Request, network_id: str, account: Coordinating, conn: Connection
) -> Response:
    days = decisions_by_day(await queries.decisions(conn, network_id), now().date())
    context = {
        "network_id": network_id,
        "network_name": await queries.network_name(conn, network_id),
        "mentors": await queries.mentor_loads(conn, network_id),
        "mentees": await queries.waiting_mentees(conn, network_id),
        "placements": await queries.open_placements(conn, network_id),
        "decisions_chart": bar_chart(decision_bars(days)),
        "decision_days": [d for d in days if d.approved or d.rejected],
        "decisions_total": sum(d.approved + d.rejected for d in days),
        "small_trusts": small_share(await trust_lines(conn, network_id)),
        "now": now(),
    }
    return render(request, "network.html", context)


@router.get("/pictures")
async def pictures_page(
    request: Request, network_id: str, account: Coordinating, conn: Connection
) -> Response:
    flows, trust_names = await queries.secondment_flows(conn, network_id)
    fairness = await queries.latest_fairness(conn, network_id)
    context = {
        "network_id": network_id,
        "network_name": await queries.network_name(conn, network_id),
        "graph": flow_graph(flows, trust_names),
        "flow_rows": flow_rows(flows, trust_names),
        "trust_names": trust_names,
        "fairness": fairness,
        "fairness_chart": bar_chart(fairness_bars(fairness), max_value=1.0),
        "fairness_targets": target_rows(fairness),
    }
    return render(request, "pictures.html", context)


@router.get("/matches.csv")
async def export_csv(network_id: str, account: Coordinating, conn: Connection) -> Response:
    body = matches_csv(await queries.proposals(conn, network_id))
    filename = f"bridgework-matches-{network_id}-{now():%Y%m%d}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _match_ids(values: Sequence[object]) -> list[UUID]:
    try:
        return [UUID(str(value)) for value in values]
    except ValueError as error:
        raise PageRefused(400, "Unknown proposal", "A selected proposal is unknown.") from error


async def decide_or_refuse(
    conn: asyncpg.Connection,
    network_id: str,
    match_ids: Sequence[UUID],
    approved: bool,
    reason: str,
    decided_by: str,
    via: str = "web",
    consent_days: int = 7,
) -> list[UUID]:
    """The decision use case, its refusals as pages."""
    try:
        return await decide(
            conn,
            network_id=network_id,
            match_ids=match_ids,
            approved=approved,
            reason=reason,
            decided_by=decided_by,
            via=via,
            consent_days=consent_days,
        )
    except ProposalNotFound as error:
        raise PageRefused(
            404, "No such proposal", "There is no such proposal in your network."
        ) from error
    except DecisionRefused as error:
        raise PageRefused(409, "This decision cannot be taken", str(error)) from error

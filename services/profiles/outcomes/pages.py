"""Pages of a match's life: the coordinators' list of introduced matches and each match's page
(its timeline, check-in answers, confirm the first conversation, end the match or end it and
match the mentee again), and the participants' signed links from the reminder emails (confirm
the first conversation, answer a check-in); the network's report with its CSV, the outcome
exports (named, anonymised), and learned weights with their evidence. Every change is a POST
followed by a redirect."""

from __future__ import annotations

from uuid import UUID

import asyncpg
from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from services.profiles.accounts.audit import claim_link_token, link_token_used
from services.profiles.coordination import queries
from services.profiles.coordination.dashboard import ProposalView
from services.profiles.dependencies import AppSettings, Connection
from services.profiles.directory.networks import life_settings
from services.profiles.outcomes.charts import levels_chart, usefulness_chart, weekly_chart
from services.profiles.outcomes.learner import COMPONENTS, GROUPS
from services.profiles.outcomes.life import (
    OUTCOME_WORDS,
    LifeRefused,
    MatchLife,
    check_check_in,
    check_close,
    check_first_conversation,
)
from services.profiles.outcomes.queries import network_history, outcome_rows, rows_csv
from services.profiles.outcomes.report import EVERYONE, FIGURES, build_report, report_csv
from services.profiles.outcomes.store import load_life, match_row
from services.profiles.outcomes.timelines import match_timeline
from services.profiles.outcomes.use_cases import (
    close_match,
    confirm_first_conversation,
    record_check_in,
)
from services.profiles.outcomes.weights import WeightsRefused, apply_suggestion, suggestion_for
from services.profiles.pages import CheckedForm, Coordinating, PageRefused, flash, now, render
from shared.events import LifeActor, MatchOutcome
from shared.links import LinkPurpose, LinkRefused, MatchLifeLink, read_match_life_link
from shared.matching import Explanation
from shared.settings import Settings

router = APIRouter(include_in_schema=False)


async def _view(conn: asyncpg.Connection, network_id: str, match_id: UUID) -> ProposalView:
    for view in await queries.proposals(conn, network_id):
        if view.match_id == match_id and view.status in ("approved", "closed"):
            return view
    raise PageRefused(404, "No such match", "No introduced match of this network has this id.")


@router.get("/dashboard/{network_id}/matches")
async def matches_page(
    request: Request, network_id: str, account: Coordinating, conn: Connection
) -> Response:
    views = [
        v for v in await queries.proposals(conn, network_id) if v.status in ("approved", "closed")
    ]
    lives: dict[UUID, MatchLife] = {}
    for view in views:
        row = await match_row(conn, view.match_id)
        if row is not None:
            lives[view.match_id] = await load_life(conn, row)
    context = {
        "network_id": network_id,
        "network_name": await queries.network_name(conn, network_id),
        "matches": [(v, lives[v.match_id]) for v in reversed(views) if v.match_id in lives],
    }
    return render(request, "matches.html", context)


@router.get("/dashboard/{network_id}/matches/{match_id}")
async def match_page(
    request: Request, network_id: str, match_id: UUID, account: Coordinating, conn: Connection
) -> Response:
    view = await _view(conn, network_id, match_id)
    row = await match_row(conn, match_id)
    assert row is not None
    life = await load_life(conn, row)
    context = {
        "network_id": network_id,
        "match": view,
        "life": life,
        "timeline": match_timeline(view, life.events).lines,
        "open": life.closed is None,
        "outcomes": [(o.value, OUTCOME_WORDS[o]) for o in MatchOutcome],
        "settings": await life_settings(conn, network_id),
    }
    return render(request, "match.html", context)


def _back(network_id: str, match_id: UUID) -> RedirectResponse:
    return RedirectResponse(
        f"/dashboard/{network_id}/matches/{match_id}", status.HTTP_303_SEE_OTHER
    )


@router.post("/dashboard/{network_id}/matches/{match_id}/met")
async def coordinator_confirms(
    request: Request,
    network_id: str,
    match_id: UUID,
    account: Coordinating,
    form: CheckedForm,
    conn: Connection,
) -> Response:
    try:
        await confirm_first_conversation(
            conn, match_id, by=LifeActor.COORDINATOR, actor=account.email, network_id=network_id
        )
    except LifeRefused as error:
        raise PageRefused(409, "Nothing recorded", str(error)) from error
    flash(request, "First conversation recorded.")
    return _back(network_id, match_id)


def _levels(form: FormData) -> dict[str, int]:
    levels: dict[str, int] = {}
    for key, value in form.multi_items():
        if key.startswith("level:") and str(value).strip():
            try:
                levels[key.removeprefix("level:")] = int(str(value))
            except ValueError as error:
                raise PageRefused(400, "Nothing recorded", "A level is a number.") from error
    return levels


def _outcome(form: FormData) -> MatchOutcome:
    try:
        return MatchOutcome(str(form.get("outcome", "")))
    except ValueError as error:
        raise PageRefused(400, "Nothing recorded", "Choose how the match ended.") from error


@router.post("/dashboard/{network_id}/matches/{match_id}/close")
async def coordinator_closes(
    request: Request,
    network_id: str,
    match_id: UUID,
    account: Coordinating,
    form: CheckedForm,
    conn: Connection,
) -> Response:
    """End the match. Ended early, the mentee goes back to the matching (never with this
    mentor): the coordinator's reassignment is the next round's proposal, or a match by hand."""
    outcome = _outcome(form)
    try:
        await close_match(
            conn,
            match_id,
            outcome=outcome,
            by=LifeActor.COORDINATOR,
            actor=account.email,
            levels=_levels(form),
            reason=str(form.get("reason", "")),
            network_id=network_id,
        )
    except LifeRefused as error:
        raise PageRefused(409, "Nothing recorded", str(error)) from error
    again = " The mentee will be matched again." if outcome is MatchOutcome.ENDED_EARLY else ""
    flash(
        request, f"Match closed ({OUTCOME_WORDS[outcome]}); the mentor's capacity is back.{again}"
    )
    return _back(network_id, match_id)


# --- participants' links (from the reminder emails) -----------------------------------------


def _used() -> PageRefused:
    return PageRefused(410, "This link was used already", "Each link works once. Thank you.")


async def usable_link(settings: Settings, conn: asyncpg.Connection, token: str) -> MatchLifeLink:
    try:
        link = read_match_life_link(
            settings.secret_key.get_secret_value(), token, settings.match_life_link_max_age_seconds
        )
    except LinkRefused as error:
        raise PageRefused(400, "This link cannot be used", str(error)) from error
    if await link_token_used(conn, link.token_id):
        raise _used()
    return link


async def _linked_life(
    conn: asyncpg.Connection, link: MatchLifeLink
) -> tuple[asyncpg.Record, MatchLife]:
    row = await match_row(conn, link.match_id, lock=True)
    person = "provider_id" if link.side == "mentor" else "mentee_id"
    if row is None or row[person] != link.person_id:
        raise PageRefused(404, "No such match", "This match is no longer in Bridgework.")
    life = await load_life(conn, row)
    try:
        if link.step == "met":
            check_first_conversation(life)
        elif link.step == "close":
            check_close(life, LifeActor(link.side))
        else:
            settings = await life_settings(conn, row["network_id"])
            check_check_in(life, link.day, LifeActor(link.side), settings.check_in_days)
    except LifeRefused as error:
        raise PageRefused(409, "Nothing to record", str(error)) from error
    return row, life


@router.get("/links/match/{token}")
async def participant_step(
    request: Request, token: str, settings: AppSettings, conn: Connection
) -> Response:
    # A GET changes nothing: mail scanners open links before people do.
    link = await usable_link(settings, conn, token)
    async with conn.transaction():
        row, _ = await _linked_life(conn, link)
    context = {
        "link": link,
        "token": token,
        "covered": Explanation.model_validate(row["explanation"]).skills_covered,
        "outcomes": [(o.value, OUTCOME_WORDS[o]) for o in MatchOutcome],
    }
    return render(request, "match_link.html", context)


@router.post("/links/match/{token}")
async def participant_takes_step(
    request: Request, token: str, settings: AppSettings, conn: Connection
) -> Response:
    form = await request.form()
    async with conn.transaction():
        link = await usable_link(settings, conn, token)
        await _linked_life(conn, link)
        if not await claim_link_token(conn, link.token_id, LinkPurpose.MATCH_LIFE.value):
            raise _used()
        try:
            await _take_step(conn, link, form)
        except LifeRefused as error:
            raise PageRefused(400, "Nothing recorded", str(error)) from error
    return RedirectResponse("/links/match-recorded", status.HTTP_303_SEE_OTHER)


async def _take_step(conn: asyncpg.Connection, link: MatchLifeLink, form: FormData) -> None:
    actor, by = f"participant:{link.person_id}", LifeActor(link.side)
    if link.step == "met":
        await confirm_first_conversation(conn, link.match_id, by=by, actor=actor)
    elif link.step == "close":
        await close_match(
            conn,
            link.match_id,
            outcome=_outcome(form),
            by=by,
            actor=actor,
            levels=_levels(form),
            reason=str(form.get("reason", "")),
        )
    else:
        await record_check_in(
            conn,
            link.match_id,
            day=link.day,
            by=by,
            met=form.get("met") == "yes",
            usefulness=_usefulness(form.get("usefulness")),
            note=str(form.get("note", "")),
            actor=actor,
        )


@router.get("/links/match-recorded")
async def recorded(request: Request) -> Response:
    return render(
        request,
        "message.html",
        {"title": "Thank you", "message": "Your answer is recorded; your coordinator sees it."},
    )


def _usefulness(value: object) -> int:
    try:
        return int(str(value))
    except ValueError as error:
        raise LifeRefused("Choose how useful the match has been, from 1 to 5.") from error


# --- the network's report, its exports and learned weights -----------------------------------


@router.get("/dashboard/{network_id}/report")
async def report_page(
    request: Request, network_id: str, account: Coordinating, conn: Connection
) -> Response:
    facts, events = await network_history(conn, network_id)
    report = build_report(facts, events, now())
    context = {
        "network_id": network_id,
        "network_name": await queries.network_name(conn, network_id),
        "report": report,
        "groups": (EVERYONE, *GROUPS),
        "figures": FIGURES,
        "recent_weeks": list(reversed(report.weeks))[:12],
        "weekly_chart": weekly_chart(report),
        "levels_chart": levels_chart(report),
        "usefulness_chart": usefulness_chart(report),
    }
    return render(request, "report.html", context)


def _csv(text: str, name: str) -> Response:
    return Response(
        text.encode(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/dashboard/{network_id}/report.csv")
async def report_csv_download(network_id: str, account: Coordinating, conn: Connection) -> Response:
    facts, events = await network_history(conn, network_id)
    return _csv(report_csv(build_report(facts, events, now())), f"{network_id}-report.csv")


@router.get("/dashboard/{network_id}/outcomes.csv")
async def outcomes_download(network_id: str, account: Coordinating, conn: Connection) -> Response:
    rows = await outcome_rows(conn, network_id, anonymised=False)
    return _csv(rows_csv(rows, anonymised=False), f"{network_id}-outcomes.csv")


@router.get("/dashboard/{network_id}/outcomes-anonymised.csv")
async def anonymised_download(network_id: str, account: Coordinating, conn: Connection) -> Response:
    """For a scheme's evaluation: no names, email addresses or free text."""
    rows = await outcome_rows(conn, network_id, anonymised=True)
    return _csv(rows_csv(rows, anonymised=True), f"{network_id}-outcomes-anonymised.csv")


@router.get("/dashboard/{network_id}/weights")
async def weights_page(
    request: Request, network_id: str, account: Coordinating, conn: Connection
) -> Response:
    suggestion = await suggestion_for(conn, network_id)
    views = {v.match_id: v for v in await queries.proposals(conn, network_id, "pending")}
    context = {
        "network_id": network_id,
        "network_name": await queries.network_name(conn, network_id),
        "suggestion": suggestion,
        "components": COMPONENTS,
        "changes": [(views.get(c.now_first), views.get(c.then_first)) for c in suggestion.changes],
        "versions": await conn.fetch(
            "SELECT version, weights, applied_by, applied_at FROM matching_weights"
            " WHERE network_id = $1 ORDER BY version DESC",
            network_id,
        ),
    }
    return render(request, "weights.html", context)


@router.post("/dashboard/{network_id}/weights/apply")
async def apply_weights(
    request: Request, network_id: str, account: Coordinating, form: CheckedForm, conn: Connection
) -> Response:
    try:
        version = await apply_suggestion(conn, network_id, account.email)
    except WeightsRefused as error:
        raise PageRefused(409, "Nothing applied", str(error)) from error
    flash(request, f"Weights version {version} applied: the matcher uses them from its next round.")
    return RedirectResponse(f"/dashboard/{network_id}/weights", status.HTTP_303_SEE_OTHER)

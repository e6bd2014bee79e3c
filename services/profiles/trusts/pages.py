"""A trust's pages, for its contacts only: the trust's placements (post, edit, pause, resume,
withdraw), its staff (put forward for secondment, or agree to their own request to be
considered), the secondment proposals for its placements
and staff with their reasons, the consents it owes (give or refuse), each secondment's life
(started, extended, ended) and the staff it sent and received over time.

Every route names the trust; a contact of another trust (or a coordinator) is refused before
anything is read, and a placement, person or secondment of another trust is as if absent."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from services.profiles.accounts.permissions import Account, may_act_for_trust
from services.profiles.api.schemas import BAND_ORDER, PlacementIn, WorkPlace
from services.profiles.dependencies import Connection
from services.profiles.directory import people, placements
from services.profiles.pages import CheckedForm, PageRefused, SignedIn, flash, render
from services.profiles.trusts import queries, staff_requests
from services.profiles.trusts.agreement import LifeStep, StepRefused
from services.profiles.trusts.consents import Answer, ConsentRefused, answer_consent, take_step
from shared.events import ConsentParty, SecondmentStatus
from shared.people import MAX_SKILLS
from shared.skills import DEFAULT_TAXONOMY, MAX_LEVEL, MIN_LEVEL

router = APIRouter(prefix="/trust/{trust_code}", include_in_schema=False)
SKILL_ROWS = 3  # skill rows on the placement form


async def trust_contact(trust_code: str, account: SignedIn) -> Account:
    if not may_act_for_trust(account, trust_code):
        raise PageRefused(
            status.HTTP_403_FORBIDDEN,
            "Not your trust",
            "You can see and act only for the trust you are a contact of.",
        )
    return account


ActingForTrust = Annotated[Account, Depends(trust_contact)]


def _home(trust_code: str) -> RedirectResponse:
    return RedirectResponse(f"/trust/{trust_code}", status.HTTP_303_SEE_OTHER)


async def _trust(conn: asyncpg.Connection, trust_code: str) -> queries.TrustView:
    found = await queries.trust(conn, trust_code)
    if found is None:
        raise PageRefused(404, "No such trust", "This trust is no longer in Bridgework.")
    return found


@router.get("")
async def trust_home(
    request: Request, trust_code: str, account: ActingForTrust, conn: Connection
) -> Response:
    context = {
        "trust": await _trust(conn, trust_code),
        "placements": await queries.placements(conn, trust_code),
        "staff": await queries.staff(conn, trust_code),
        "proposals": await queries.proposals(conn, trust_code),
        "secondments": await queries.secondments(conn, trust_code),
        "movements": await queries.movements(conn, trust_code),
        "today": date.today(),
    }
    return render(request, "trust.html", context)


# --- placements -------------------------------------------------------------------------------


def _form_context(
    trust: queries.TrustView, values: dict[str, Any], error: str | None, action: str
) -> dict[str, Any]:
    return {
        "trust": trust,
        "values": values,
        "error": error,
        "action": action,
        "skills": DEFAULT_TAXONOMY.skills,
        "levels": range(MIN_LEVEL, MAX_LEVEL + 1),
        "skill_rows": range(1, SKILL_ROWS + 1),
        "work_places": [w.value for w in WorkPlace],
        "bands": BAND_ORDER,
    }


def _values(details: PlacementIn) -> dict[str, Any]:
    values: dict[str, Any] = details.model_dump(mode="json")
    for i, skill in enumerate(details.skills_developed[:SKILL_ROWS], start=1):
        values[f"skill_{i}"], values[f"level_{i}"] = skill.skill, str(skill.level)
    return values


def _placement_from(form: FormData, trust_code: str) -> PlacementIn:
    """The posted form as a placement; ValueError says what is wrong."""
    values = {k: str(v).strip() for k, v in form.items() if k != "csrf_token"}
    skills = [
        {"skill": values[f"skill_{i}"], "level": values.get(f"level_{i}", "")}
        for i in range(1, SKILL_ROWS + 1)
        if values.get(f"skill_{i}")
    ][:MAX_SKILLS]
    days = values.get("days_per_week") or ""
    try:
        fte = round(float(days) / 5, 3) if days else None
    except ValueError as error:
        raise ValueError("days a week: enter a number from 0.5 to 5") from error
    raw: dict[str, Any] = {
        "host_trust_code": trust_code,
        "role": values.get("role", ""),
        "skills_developed": skills,
        "months": values.get("months", ""),
        "fte": fte,
        "places": values.get("places") or 1,
        "days_per_week": days or None,
        **{
            key: values.get(key) or None
            for key in (
                "start_from",
                "start_to",
                "work_place",
                "band_from",
                "band_to",
                "supervisor",
            )
        },
    }
    try:
        return PlacementIn.model_validate(raw)
    except ValidationError as error:
        raise ValueError(_plain(error)) from error


def _plain(error: ValidationError) -> str:
    names = {"role": "title", "fte": "days a week", "skills_developed": "skills"}
    parts = []
    for e in error.errors():
        field = str(e["loc"][0]) if e["loc"] else "form"
        parts.append(f"{names.get(field, field.replace('_', ' '))}: {e['msg']}")
    return "; ".join(parts)


@router.get("/placements/new")
async def new_placement(
    request: Request, trust_code: str, account: ActingForTrust, conn: Connection
) -> Response:
    trust = await _trust(conn, trust_code)
    values = {"places": "1", "months": "6", "days_per_week": "2"}
    action = f"/trust/{trust_code}/placements"
    return render(request, "trust_placement.html", _form_context(trust, values, None, action))


@router.post("/placements")
async def post_placement(
    request: Request, trust_code: str, account: ActingForTrust, form: CheckedForm, conn: Connection
) -> Response:
    return await _save(request, conn, trust_code, form, None)


async def _save(
    request: Request,
    conn: asyncpg.Connection,
    trust_code: str,
    form: FormData,
    placement_id: UUID | None,
) -> Response:
    """Post a new placement (no id) or save one; a form with a mistake comes back, with it."""
    trust = await _trust(conn, trust_code)
    action = f"/trust/{trust_code}/placements" + (f"/{placement_id}" if placement_id else "")
    try:
        details = _placement_from(form, trust_code)
    except ValueError as error:
        values = {k: str(v) for k, v in form.items()}
        context = _form_context(trust, values, str(error), action)
        return render(request, "trust_placement.html", context, 422)
    await placements.save_placement(conn, details, placement_id)
    verb = "Saved" if placement_id else "Posted"
    flash(request, f"{verb} the placement {details.role}; it is matched from now on.")
    return _home(trust_code)


async def _own_placement(
    conn: asyncpg.Connection, trust_code: str, placement_id: UUID
) -> queries.PlacementRow:
    found = await queries.placement(conn, trust_code, placement_id)
    if found is None:
        raise PageRefused(404, "No such placement", "This trust has no such open placement.")
    return found


@router.get("/placements/{placement_id}")
async def edit_placement(
    request: Request, trust_code: str, placement_id: UUID, account: ActingForTrust, conn: Connection
) -> Response:
    trust = await _trust(conn, trust_code)
    found = await _own_placement(conn, trust_code, placement_id)
    action = f"/trust/{trust_code}/placements/{placement_id}"
    context = _form_context(trust, _values(found.details), None, action)
    return render(request, "trust_placement.html", context)


@router.post("/placements/{placement_id}")
async def update_placement(
    request: Request,
    trust_code: str,
    placement_id: UUID,
    account: ActingForTrust,
    form: CheckedForm,
    conn: Connection,
) -> Response:
    await _own_placement(conn, trust_code, placement_id)
    return await _save(request, conn, trust_code, form, placement_id)


@router.post("/placements/{placement_id}/{change}")
async def change_placement(
    request: Request,
    trust_code: str,
    placement_id: UUID,
    change: str,
    account: ActingForTrust,
    form: CheckedForm,
    conn: Connection,
) -> Response:
    found = await _own_placement(conn, trust_code, placement_id)
    if change == "pause":
        await placements.set_paused(conn, placement_id, True)
        flash(request, f"Paused {found.details.role}: it is not matched until you resume it.")
    elif change == "resume":
        await placements.set_paused(conn, placement_id, False)
        flash(request, f"Resumed {found.details.role}: it is matched again.")
    elif change == "withdraw":
        await placements.withdraw_placement(conn, placement_id)
        flash(request, f"Withdrew {found.details.role}; its pending proposals are withdrawn.")
    else:
        raise PageRefused(404, "Unknown change", "Pause, resume or withdraw a placement.")
    return _home(trust_code)


# --- staff --------------------------------------------------------------------------------------


@router.post("/staff/{person_id}")
async def put_forward(
    request: Request,
    trust_code: str,
    person_id: UUID,
    account: ActingForTrust,
    form: CheckedForm,
    conn: Connection,
) -> Response:
    forward = form.get("forward") == "yes"
    if not await people.set_open_to_secondment(
        conn, person_id, trust_code, open_to_secondment=forward
    ):
        raise PageRefused(404, "No such person", "This trust has no such member of staff.")
    flash(
        request,
        "Put forward for secondment: they are matched with placements from now on."
        if forward
        else "Taken off secondment: no more secondment proposals for them.",
    )
    return _home(trust_code)


@router.post("/staff/{person_id}/request")
async def decide_request(
    request: Request,
    trust_code: str,
    person_id: UUID,
    account: ActingForTrust,
    form: CheckedForm,
    conn: Connection,
) -> Response:
    """Agree to a member of staff's own request to be considered for secondment, or decline."""
    agree = form.get("answer") == "agree"
    if not agree and form.get("answer") != "decline":
        raise PageRefused(400, "No answer", "Choose agree or decline.")
    try:
        await staff_requests.decide(
            conn,
            trust_code=trust_code,
            person_id=person_id,
            agree=agree,
            reason=str(form.get("reason", "")),
            actor=account.email,
        )
    except staff_requests.ReasonNeeded as error:
        raise PageRefused(400, "A reason is needed", str(error)) from error
    except staff_requests.RequestRefused as error:
        raise PageRefused(404, "No such request", str(error)) from error
    flash(
        request,
        "Agreed: they are considered for secondments from the next round."
        if agree
        else "Declined, with your reason: they are not considered for secondments.",
    )
    return _home(trust_code)


# --- consents and secondments ------------------------------------------------------------------


@router.post("/consents/{match_id}/{party}")
async def consent(
    request: Request,
    trust_code: str,
    match_id: UUID,
    party: str,
    account: ActingForTrust,
    form: CheckedForm,
    conn: Connection,
) -> Response:
    if party not in ConsentParty.__members__.values():
        raise PageRefused(404, "Unknown consent", "A consent is the host's or the home trust's.")
    given = form.get("answer") == "give"
    if not given and form.get("answer") != "refuse":
        raise PageRefused(400, "No answer", "Choose agree or refuse.")
    try:
        outcome = await answer_consent(
            conn,
            Answer(
                match_id=match_id,
                party=ConsentParty(party),
                trust_code=trust_code,
                given=given,
                reason=str(form.get("reason", "")),
                answered_by=account.email,
                via="web",
            ),
        )
    except ConsentRefused as error:
        raise PageRefused(409, "This consent cannot be recorded", str(error)) from error
    flash(request, consent_message(given, outcome))
    return _home(trust_code)


def consent_message(given: bool, outcome: dict[UUID, SecondmentStatus]) -> str:
    if not given:
        return (
            "Refused, with your reason: nobody is introduced, and the pair is not proposed again."
        )
    if outcome and all(s is SecondmentStatus.AGREED for s in outcome.values()):
        return "Agreed. Every trust has agreed: the introductions are on their way."
    return "Agreed. The secondment now waits for the other trust(s)."


@router.post("/secondments/{match_id}/{step}")
async def secondment_step(
    request: Request,
    trust_code: str,
    match_id: UUID,
    step: str,
    account: ActingForTrust,
    form: CheckedForm,
    conn: Connection,
) -> Response:
    if step not in LifeStep.__members__.values():
        raise PageRefused(404, "Unknown step", "A secondment starts, is extended or ends.")
    try:
        on = date.fromisoformat(str(form.get("on", "")))
    except ValueError as error:
        raise PageRefused(400, "No date", "Give the date (YYYY-MM-DD).") from error
    try:
        new = await take_step(
            conn,
            match_id=match_id,
            trust_code=trust_code,
            step=LifeStep(step),
            on=on,
            actor=account.email,
        )
    except StepRefused as error:
        raise PageRefused(409, "This cannot be recorded", str(error)) from error
    flash(request, f"Recorded: the secondment is {new.value.replace('_', ' ')} ({on}).")
    return _home(trust_code)

"""A coordinator's page for one person of their network (the profile, each gap and what covers
it, every proposal about them with what became of it), the form that adds or edits one person,
checked as an import's row is, and the page that matches a mentee by hand (by_hand.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict

from services.profiles.accounts.audit import record_audit
from services.profiles.api.schemas import MenteeIn, MentorIn
from services.profiles.coordination import queries
from services.profiles.coordination.by_hand import Choice, MatchRefused, choose, match_by_hand
from services.profiles.coordination.dashboard import (
    GapLeft,
    ProposalView,
    gaps_left,
    introduction_words,
)
from services.profiles.dependencies import AppSettings, Connection
from services.profiles.directory.errors import Conflict, Invalid, NotFound
from services.profiles.directory.people import save_person
from services.profiles.imports.rows import parse_person
from services.profiles.outcomes.timelines import match_timelines
from services.profiles.pages import CheckedForm, Coordinating, PageRefused, flash, now, render
from shared.matching import Explanation, MatchKind
from shared.settings import Settings
from shared.skills import DEFAULT_TAXONOMY

router = APIRouter(prefix="/dashboard/{network_id}", include_in_schema=False)


class GapCoverage(BaseModel):
    """One of a mentee's gaps, and the live proposals or approved matches that cover it."""

    model_config = ConfigDict(frozen=True)

    skill_name: str
    from_level: int
    to_level: int
    priority: float
    approved_by: tuple[str, ...]  # who covers it in an approved match
    proposed_by: tuple[str, ...]  # who would, in a pending proposal

    @property
    def state(self) -> str:
        if self.approved_by:
            return "covered"
        return "proposed" if self.proposed_by else "not covered"


def gap_coverage(
    gaps: Iterable[Mapping[str, Any]], proposals: Sequence[ProposalView]
) -> list[GapCoverage]:
    """Each gap with who covers it: approved matches first, then pending proposals."""

    def covering(skill: str, status: str) -> tuple[str, ...]:
        return tuple(
            p.provider_name
            for p in proposals
            if p.status == status and any(s.skill == skill for s in p.explanation.skills_covered)
        )

    return [
        GapCoverage(
            skill_name=DEFAULT_TAXONOMY.name_of(str(gap["skill"])),
            from_level=int(gap["current"]),
            to_level=int(gap["target"]),
            priority=float(gap.get("priority", 1.0)),
            approved_by=covering(str(gap["skill"]), "approved"),
            proposed_by=covering(str(gap["skill"]), "pending"),
        )
        for gap in gaps
    ]


def skill_lines(skills: Iterable[Mapping[str, Any]]) -> list[tuple[str, int]]:
    return [(DEFAULT_TAXONOMY.name_of(str(s["skill"])), int(s["level"])) for s in skills]


@router.get("/people/{person_id}")
async def person_page(
    request: Request, network_id: str, person_id: UUID, account: Coordinating, conn: Connection
) -> Response:
    person = await queries.person_in_network(conn, network_id, person_id)
    if person is None:
        raise PageRefused(404, "No such person", "There is no such person in your network.")
    history = await queries.proposals_about(conn, network_id, person_id)
    details = person["details"]
    context = {
        "network_id": network_id,
        "person": person,
        "details": details,
        "skills": skill_lines(details.get("skills", [])),
        "gaps": gap_coverage(details.get("gaps", []), history),
        "history": history,
        "mentors": await queries.mentors_of(conn, network_id) if person["role"] == "mentee" else [],
        "timelines": await match_timelines(conn, history),
        "now": now(),
    }
    return render(request, "person.html", context)


# --- matching a mentee by hand ---------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    """A match by hand as the proposal macros show one (_macros.html, ``explanation``)."""

    score: float
    explanation: Explanation
    gaps_uncovered: tuple[GapLeft, ...]
    kind: MatchKind = MatchKind.MENTORING


async def _mentee(conn: asyncpg.Connection, network_id: str, mentee_id: UUID) -> asyncpg.Record:
    person = await queries.person_in_network(conn, network_id, mentee_id)
    if person is None or person["role"] != "mentee":
        raise PageRefused(404, "No such mentee", "There is no such mentee in your network.")
    return person


async def _match_page(
    request: Request,
    conn: asyncpg.Connection,
    settings: Settings,
    network_id: str,
    mentee: asyncpg.Record,
    mentor_id: UUID | None,
    *,
    problem: str | None = None,
    status_code: int = 200,
) -> Response:
    choice: Choice | None = None
    if mentor_id is not None:
        choice = await choose(conn, settings, network_id, mentor_id, mentee["id"])
        if choice is None:
            raise PageRefused(404, "No such mentor", "There is no such mentor in your network.")
    preview = None
    if choice is not None and choice.verdict.explanation is not None:
        explanation = choice.verdict.explanation
        gaps = gaps_left(mentee["details"].get("gaps", []), explanation)
        preview = Preview(choice.verdict.score or 0.0, explanation, gaps)
    context = {
        "network_id": network_id,
        "mentee": mentee,
        "mentors": await queries.mentors_of(conn, network_id),
        "choice": choice,
        "preview": preview,
        "problem": problem,
        "introduction": introduction_words(choice.mentor_name, choice.mentee_name)
        if choice
        else "",
    }
    return render(request, "match_by_hand.html", context, status_code=status_code)


def _mentor_id(value: object) -> UUID | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return UUID(text)
    except ValueError as error:
        raise PageRefused(404, "No such mentor", "There is no mentor of that name.") from error


@router.get("/people/{mentee_id}/match")
async def match_by_hand_page(
    request: Request,
    network_id: str,
    mentee_id: UUID,
    account: Coordinating,
    conn: Connection,
    settings: AppSettings,
    mentor: str = "",
) -> Response:
    """Choose a mentor: the score and its explanation, or the rule the pair breaks. Opening
    it changes nothing."""
    mentee = await _mentee(conn, network_id, mentee_id)
    return await _match_page(request, conn, settings, network_id, mentee, _mentor_id(mentor))


@router.post("/people/{mentee_id}/match")
async def confirm_match_by_hand(
    request: Request,
    network_id: str,
    mentee_id: UUID,
    account: Coordinating,
    form: CheckedForm,
    conn: Connection,
    settings: AppSettings,
) -> Response:
    mentee = await _mentee(conn, network_id, mentee_id)
    mentor_id = _mentor_id(form.get("mentor"))
    if mentor_id is None:
        raise PageRefused(400, "Nothing recorded", "Choose a mentor.")
    try:
        await match_by_hand(
            conn,
            settings,
            network_id=network_id,
            mentor_id=mentor_id,
            mentee_id=mentee_id,
            note=str(form.get("note", "")),
            actor=account.email,
        )
    except MatchRefused as error:
        return await _match_page(
            request,
            conn,
            settings,
            network_id,
            mentee,
            mentor_id,
            problem=str(error),
            status_code=422,
        )
    flash(request, "Matched by hand. Both are emailed an introduction.")
    return RedirectResponse(
        f"/dashboard/{network_id}/people/{mentee_id}", status.HTTP_303_SEE_OTHER
    )


# --- adding or editing one person through a form ---------------------------------------------

ROLE_FIELDS = {
    "mentor": ("skills", "capacity", "hours_per_month", "bio"),
    "mentee": ("gaps", "goals", "open_to_secondment"),
}
COMMON_FIELDS = ("name", "email", "job_title", "trust_code", "mode", "working_pattern", "sector")


def form_values(role: str, details: Mapping[str, Any]) -> dict[str, str]:
    """A stored profile as the form's text fields (the import's cell formats)."""
    values = {k: str(details.get(k, "")) for k in COMMON_FIELDS}
    if role == "mentor":
        values["skills"] = "; ".join(f"{s['skill']}:{s['level']}" for s in details["skills"])
        values |= {k: str(details.get(k, "")) for k in ("capacity", "hours_per_month", "bio")}
    else:
        values["gaps"] = "; ".join(
            f"{g['skill']}:{g['current']}-{g['target']}:{g.get('priority', 1.0):g}"
            for g in details["gaps"]
        )
        values["goals"] = str(details.get("goals", ""))
        values["open_to_secondment"] = "yes" if details.get("open_to_secondment") else "no"
    return values


def read_form(role: str, form: Mapping[str, str]) -> tuple[MentorIn | MenteeIn | None, list[str]]:
    """The form's fields, checked exactly as an import's row (and so as the API) checks them."""
    if role not in ROLE_FIELDS:
        return None, ["role: choose mentor or mentee"]
    fields = {k: str(form.get(k, "")).strip() for k in (*COMMON_FIELDS, *ROLE_FIELDS[role])}
    if role == "mentee":
        fields["open_to_secondment"] = "yes" if form.get("open_to_secondment") else "no"
    request, reasons = parse_person({"role": role, **{k: v for k, v in fields.items() if v}})
    if isinstance(request, MentorIn | MenteeIn) and not reasons:
        return request, []
    return None, reasons or ["the form could not be read"]


async def _form_page(
    request: Request,
    conn: asyncpg.Connection,
    network_id: str,
    *,
    role: str,
    values: Mapping[str, str],
    person_id: UUID | None = None,
    problems: Sequence[str] = (),
    status_code: int = 200,
) -> Response:
    context = {
        "network_id": network_id,
        "role": role,
        "values": values,
        "person_id": person_id,
        "problems": problems,
        "trusts": await queries.trusts_of(conn, network_id),
    }
    return render(request, "person_form.html", context, status_code=status_code)


@router.get("/people-new")
async def new_person_form(
    request: Request, network_id: str, account: Coordinating, conn: Connection, role: str = "mentee"
) -> Response:
    role = role if role in ROLE_FIELDS else "mentee"
    return await _form_page(request, conn, network_id, role=role, values={})


@router.get("/people/{person_id}/edit")
async def edit_person_form(
    request: Request, network_id: str, person_id: UUID, account: Coordinating, conn: Connection
) -> Response:
    person = await queries.person_in_network(conn, network_id, person_id)
    if person is None:
        raise PageRefused(404, "No such person", "There is no such person in your network.")
    values = form_values(person["role"], person["details"])
    return await _form_page(
        request, conn, network_id, role=person["role"], values=values, person_id=person_id
    )


@router.post("/people-new")
async def add_person(
    request: Request, network_id: str, account: Coordinating, form: CheckedForm, conn: Connection
) -> Response:
    return await _save(request, conn, network_id, account.email, form, None)


@router.post("/people/{person_id}/edit")
async def edit_person(
    request: Request,
    network_id: str,
    person_id: UUID,
    account: Coordinating,
    form: CheckedForm,
    conn: Connection,
) -> Response:
    return await _save(request, conn, network_id, account.email, form, person_id)


async def _save(
    request: Request,
    conn: asyncpg.Connection,
    network_id: str,
    actor: str,
    form: Mapping[str, Any],
    person_id: UUID | None,
) -> Response:
    values = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    if person_id is not None:
        person = await queries.person_in_network(conn, network_id, person_id)
        if person is None:
            raise PageRefused(404, "No such person", "There is no such person in your network.")
        values["role"] = person["role"]
    role = values.get("role", "")
    data, problems = read_form(role, values)
    if data is not None and not await queries.trust_in_network(conn, network_id, data.trust_code):
        data, problems = None, ["trust_code: choose one of your network's trusts"]
    if data is not None:
        try:
            async with conn.transaction():
                saved = await save_person(conn, data, person_id)
                await record_audit(
                    conn,
                    actor=actor,
                    action="person.added" if person_id is None else "person.edited",
                    subject=str(saved),
                    details={"network_id": network_id, "via": "web"},
                )
        except (Conflict, Invalid, NotFound) as error:
            problems = [str(error)]
        else:
            verb = "Added" if person_id is None else "Saved"
            flash(request, f"{verb} {data.name}. The matcher hears of it at once.")
            url = f"/dashboard/{network_id}/people/{saved}"
            return RedirectResponse(url, status.HTTP_303_SEE_OTHER)
    return await _form_page(
        request,
        conn,
        network_id,
        role=role if role in ROLE_FIELDS else "mentee",
        values=values,
        person_id=person_id,
        problems=problems,
        status_code=422,
    )

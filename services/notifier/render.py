"""Rendering a queued email from what the notifier knows when it sends it: an erased person's
details are gone by then (and their unsent emails were cancelled)."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from services.notifier.compose import (
    ConsentMail,
    DigestLine,
    DigestMail,
    MentoringIntroduction,
    MissingContactNotice,
    Participant,
    ProposalMail,
    RenderedEmail,
    SecondmentIntroduction,
    compose_consent_request,
    compose_digest,
    compose_join_email,
    compose_mentoring_introduction,
    compose_missing_contact_notice,
    compose_proposal_email,
    compose_reminder,
    compose_secondment_introduction,
    compose_secondment_request,
    compose_self_service_link,
    compose_trust_sign_in,
)
from services.notifier.handlers import JOIN_PURPOSE, SECONDMENT_REQUEST
from shared.events import MatchLifeSettings, MatchProposed
from shared.links import (
    LifeStep,
    sign_consent_link,
    sign_decision_link,
    sign_join_link,
    sign_match_life_link,
    sign_self_service_link,
    sign_trust_sign_in_link,
)
from shared.matching import MatchKind
from shared.settings import Settings


class NotYetKnown(LookupError):
    """The email names someone the notifier has not heard of yet; try again shortly."""


async def render(
    conn: asyncpg.Connection, settings: Settings, email: asyncpg.Record
) -> RenderedEmail:
    purpose = email["purpose"]
    if purpose == "proposal":
        return await render_proposal(conn, settings, email)
    if purpose == "introduction":
        return await render_introduction(conn, settings, email)
    if purpose == "trust_contact_missing":
        return await render_missing_contact(conn, settings, email)
    if purpose == "self_service_link":
        return await render_self_service_link(conn, settings, email)
    if purpose == SECONDMENT_REQUEST:
        return await render_secondment_request(conn, settings, email)
    if purpose in ("first_conversation_reminder", "check_in_reminder"):
        return await render_match_reminder(conn, settings, email)
    if purpose == "proposals_waiting":
        return await render_proposals_waiting(conn, settings, email)
    if purpose == "pause_end_reminder":
        return await render_pause_end(conn, settings, email)
    if purpose == JOIN_PURPOSE:
        return render_join_email(settings, email)
    if purpose == "digest":
        return await render_digest(conn, settings, email)
    if purpose == "trust_sign_in":
        return await render_trust_sign_in(conn, settings, email)
    if purpose in ("consent_request", "consent_reminder"):
        return await render_consent_request(conn, settings, email)
    raise ValueError(f"unknown email purpose {purpose!r}")


async def _participant(conn: asyncpg.Connection, person_id: object) -> Participant:
    row = await conn.fetchrow(
        """
        SELECT p.name, p.email, p.job_title, coalesce(t.name, p.trust_code) AS trust
        FROM people p LEFT JOIN trusts t ON t.code = p.trust_code WHERE p.id = $1
        """,
        person_id,
    )
    if row is None:
        raise NotYetKnown(str(person_id))
    return Participant(
        name=row["name"], email=row["email"], job_title=row["job_title"], trust=row["trust"]
    )


def _label(person: Participant) -> str:
    return f"{person.name}, {person.job_title}, {person.trust}"


async def _placement(conn: asyncpg.Connection, placement_id: object) -> asyncpg.Record:
    row = await conn.fetchrow(
        """
        SELECT pl.role, pl.host_trust_code, coalesce(t.name, pl.host_trust_code) AS trust,
          t.contact_email
        FROM placements pl LEFT JOIN trusts t ON t.code = pl.host_trust_code WHERE pl.id = $1
        """,
        placement_id,
    )
    if row is None:
        raise NotYetKnown(str(placement_id))
    return row


async def _proposal(conn: asyncpg.Connection, match_id: object) -> tuple[MatchProposed, str]:
    row = await conn.fetchrow(
        "SELECT p.event, n.name AS network_name FROM proposals p"
        " JOIN networks n ON n.id = p.network_id WHERE p.match_id = $1",
        match_id,
    )
    if row is None:
        raise NotYetKnown(str(match_id))
    return MatchProposed.model_validate(row["event"]), row["network_name"]


async def render_proposal(
    conn: asyncpg.Connection, settings: Settings, email: asyncpg.Record
) -> RenderedEmail:
    proposal, network_name = await _proposal(conn, email["match_id"])
    provider = await _provider_label(conn, proposal)
    mentee = await _participant(conn, proposal.mentee_id)
    return compose_proposal_email(
        ProposalMail(
            coordinator_name=email["recipient_name"],
            network_name=network_name,
            proposal=proposal,
            provider=provider,
            mentee_name=mentee.name,
            mentee=_label(mentee),
            approve_url=decision_url(settings, proposal, email["recipient_email"], approve=True),
            reject_url=decision_url(settings, proposal, email["recipient_email"], approve=False),
            dashboard_url=dashboard_url(settings, proposal.network_id),
        )
    )


def dashboard_url(settings: Settings, network_id: str) -> str:
    return f"{settings.public_base_url.rstrip('/')}/dashboard/{network_id}/proposals"


async def _provider_label(conn: asyncpg.Connection, proposal: MatchProposed) -> str:
    if proposal.kind is MatchKind.MENTORING:
        return _label(await _participant(conn, proposal.provider_id))
    placement = await _placement(conn, proposal.provider_id)
    return f"{placement['role']} at {placement['trust']}"


async def render_digest(
    conn: asyncpg.Connection, settings: Settings, email: asyncpg.Record
) -> RenderedEmail:
    """The day's digest: the proposals it was given when queued that are still undecided (an
    erased person's are gone with them)."""
    network_id = email["context"]["network_id"]
    network_name = await conn.fetchval("SELECT name FROM networks WHERE id = $1", network_id)
    rows = await conn.fetch(
        """
        SELECT p.event FROM digest_items d JOIN proposals p USING (match_id)
        WHERE d.digest_key = $1 AND NOT p.withdrawn
          AND NOT EXISTS (SELECT 1 FROM decisions WHERE match_id = d.match_id)
        ORDER BY d.added_at, d.match_id
        """,
        email["dedupe_key"],
    )
    lines = []
    for row in rows:
        proposal = MatchProposed.model_validate(row["event"])
        mentee = await _participant(conn, proposal.mentee_id)
        lines.append(
            DigestLine(
                kind=proposal.kind.value,
                provider=await _provider_label(conn, proposal),
                mentee=_label(mentee),
                score=proposal.score,
                approve_url=decision_url(
                    settings, proposal, email["recipient_email"], approve=True
                ),
                reject_url=decision_url(
                    settings, proposal, email["recipient_email"], approve=False
                ),
            )
        )
    day = date.fromisoformat(email["context"]["day"])
    return compose_digest(
        DigestMail(
            coordinator_name=email["recipient_name"],
            network_name=network_name or network_id,
            day=day.strftime("%A %-d %B"),
            lines=tuple(lines),
            dashboard_url=dashboard_url(settings, network_id),
        )
    )


def decision_url(
    settings: Settings, proposal: MatchProposed, coordinator_email: str, *, approve: bool
) -> str:
    """A signed link for one coordinator's decision on one proposal (it expires and works once:
    the profiles service checks its token id)."""
    token = sign_decision_link(
        settings.secret_key.get_secret_value(),
        match_id=proposal.match_id,
        network_id=proposal.network_id,
        approve=approve,
        coordinator_email=coordinator_email,
    )
    return f"{settings.public_base_url.rstrip('/')}/links/decision/{token}"


async def _decided_at(conn: asyncpg.Connection, match_id: object) -> Any:
    decided_at = await conn.fetchval(
        "SELECT decided_at FROM decisions WHERE match_id = $1", match_id
    )
    if decided_at is None:
        raise NotYetKnown(str(match_id))
    return decided_at


async def render_introduction(
    conn: asyncpg.Connection, settings: Settings, email: asyncpg.Record
) -> RenderedEmail:
    proposal, network_name = await _proposal(conn, email["match_id"])
    audience = email["context"]["audience"]
    if proposal.kind is MatchKind.MENTORING:
        intro = MentoringIntroduction(
            match_id=proposal.match_id,
            network_name=network_name,
            mentor=await _participant(conn, proposal.provider_id),
            mentee=await _participant(conn, proposal.mentee_id),
            explanation=proposal.explanation,
            decided_at=await _decided_at(conn, proposal.match_id),
            manage_url=manage_url(settings),
        )
        return compose_mentoring_introduction(intro, to_mentor=audience == "mentor")
    return compose_secondment_introduction(
        await _secondment(conn, settings, proposal, network_name), audience
    )


async def _secondment(
    conn: asyncpg.Connection, settings: Settings, proposal: MatchProposed, network_name: str
) -> SecondmentIntroduction:
    placement = await _placement(conn, proposal.provider_id)
    candidate = await _participant(conn, proposal.mentee_id)
    home_contact = await conn.fetchval(
        "SELECT t.contact_email FROM people p JOIN trusts t ON t.code = p.trust_code"
        " WHERE p.id = $1",
        proposal.mentee_id,
    )
    dates = await conn.fetchrow(
        "SELECT start_date, end_date FROM decisions WHERE match_id = $1", proposal.match_id
    )
    return SecondmentIntroduction(
        start_date=dates["start_date"] if dates else None,
        end_date=dates["end_date"] if dates else None,
        match_id=proposal.match_id,
        network_name=network_name,
        candidate=candidate,
        placement_role=placement["role"],
        host_trust=placement["trust"],
        home_trust=candidate.trust,
        host_contact=placement["contact_email"],
        home_contact=home_contact,
        explanation=proposal.explanation,
        manage_url=manage_url(settings),
    )


def manage_url(settings: Settings) -> str:
    return f"{settings.public_base_url.rstrip('/')}/me"


async def render_missing_contact(
    conn: asyncpg.Connection, settings: Settings, email: asyncpg.Record
) -> RenderedEmail:
    proposal, network_name = await _proposal(conn, email["match_id"])
    intro = await _secondment(conn, settings, proposal, network_name)
    side = email["context"]["side"]
    return compose_missing_contact_notice(
        MissingContactNotice(
            coordinator_name=email["recipient_name"],
            network_name=network_name,
            match_id=proposal.match_id,
            trust=intro.host_trust if side == "host" else intro.home_trust,
            trust_code=email["context"]["trust_code"],
            side=side,
            candidate=_label(intro.candidate),
            placement=f"{intro.placement_role} at {intro.host_trust}",
            dashboard_url=dashboard_url(settings, proposal.network_id),
        )
    )


def own_page_url(settings: Settings, person_id: UUID) -> str:
    """A fresh signed link to the person's own page (/me)."""
    token = sign_self_service_link(settings.secret_key.get_secret_value(), person_id=person_id)
    return f"{settings.public_base_url.rstrip('/')}/me/{token}"


async def render_self_service_link(
    conn: asyncpg.Connection, settings: Settings, email: asyncpg.Record
) -> RenderedEmail:
    person = await _participant(conn, email["person_id"])
    days = max(1, settings.self_service_link_max_age_seconds // 86400)
    return compose_self_service_link(person.name, own_page_url(settings, email["person_id"]), days)


async def render_secondment_request(
    conn: asyncpg.Connection, settings: Settings, email: asyncpg.Record
) -> RenderedEmail:
    person = await _participant(conn, email["person_id"])
    url = own_page_url(settings, email["person_id"])
    return compose_secondment_request(person.name, email["context"]["agreed"] == "yes", url)


# --- reminders (reminders.py) -------------------------------------------------------------
def render_join_email(settings: Settings, email: asyncpg.Record) -> RenderedEmail:
    """To someone who is not (yet) a person: everything is in the queued email's context."""
    context = email["context"]
    secret = settings.secret_key.get_secret_value()
    base = _base(settings)
    url, max_age = "", settings.join_link_max_age_seconds
    if context["purpose"] == "confirm_address":
        token = sign_join_link(
            secret,
            token_id=UUID(context["token_id"]),
            application_id=UUID(context["application_id"]),
        )
        url = f"{base}/join/confirm/{token}"
    elif context["purpose"] == "welcome":
        token = sign_self_service_link(secret, person_id=UUID(context["person_id"]))
        url, max_age = f"{base}/me/{token}", settings.self_service_link_max_age_seconds
    return compose_join_email(
        context["purpose"],
        email["recipient_name"],
        context["role"],
        context["network_name"],
        url,
        max(1, max_age // 86400),
    )


def _base(settings: Settings) -> str:
    return settings.public_base_url.rstrip("/")


async def render_match_reminder(
    conn: asyncpg.Connection, settings: Settings, email: asyncpg.Record
) -> RenderedEmail:
    """A first-conversation or check-in reminder, with the recipient's own single-use link."""
    proposal, network_name = await _proposal(conn, email["match_id"])
    context = email["context"]
    side = context["side"]
    other_id = proposal.mentee_id if side == "mentor" else proposal.provider_id
    if proposal.kind is MatchKind.MENTORING:
        other = (await _participant(conn, other_id)).name
    else:
        placement = await _placement(conn, proposal.provider_id)
        other = f"{placement['role']} at {placement['trust']}"
    check_in = email["purpose"] == "check_in_reminder"
    day = int(context.get("day", 0))

    def url(step: LifeStep) -> str:
        token = sign_match_life_link(
            settings.secret_key.get_secret_value(),
            match_id=proposal.match_id,
            person_id=email["person_id"],
            side="mentor" if side == "mentor" else "mentee",
            step=step,
            day=day,
        )
        return f"{_base(settings)}/links/match/{token}"

    life = await conn.fetchval("SELECT life FROM networks WHERE id = $1", proposal.network_id)
    values = {
        "name": email["recipient_name"],
        "other": other,
        "network_name": network_name,
        "url": url("check_in" if check_in else "met"),
        "day": day,
        "days": MatchLifeSettings.model_validate(life or {}).first_conversation_days,
    }
    if check_in:
        # The mentee may also end the match there, re-assessing their levels.
        values["close_url"] = url("close") if side == "mentee" else ""
        return compose_reminder("check_in_reminder", f"Your {day}-day check-in", values)
    return compose_reminder(
        "first_conversation_reminder", "Have you had your first conversation?", values
    )


async def render_proposals_waiting(
    conn: asyncpg.Connection, settings: Settings, email: asyncpg.Record
) -> RenderedEmail:
    network_id = email["context"]["network_id"]
    row = await conn.fetchrow("SELECT name, life FROM networks WHERE id = $1", network_id)
    if row is None:
        raise NotYetKnown(network_id)
    count = len(email["context"]["match_ids"].split(","))
    values = {
        "name": email["recipient_name"],
        "network_name": row["name"],
        "count": count,
        "days": MatchLifeSettings.model_validate(row["life"] or {}).proposal_wait_days,
        "url": f"{_base(settings)}/dashboard/{network_id}/proposals",
    }
    return compose_reminder("proposals_waiting", f"{count} proposal(s) waiting for you", values)


async def render_pause_end(
    conn: asyncpg.Connection, settings: Settings, email: asyncpg.Record
) -> RenderedEmail:
    person = await _participant(conn, email["person_id"])
    token = sign_self_service_link(
        settings.secret_key.get_secret_value(), person_id=email["person_id"]
    )
    values = {
        "name": person.name,
        "until": email["context"]["until"],
        "url": f"{_base(settings)}/me/{token}",
        "valid_days": max(1, settings.self_service_link_max_age_seconds // 86400),
    }
    return compose_reminder("pause_end_reminder", "Your pause from mentoring ends", values)


async def _trust_name(conn: asyncpg.Connection, code: str) -> str:
    name: str | None = await conn.fetchval("SELECT name FROM trusts WHERE code = $1", code)
    return name or code


async def render_trust_sign_in(
    conn: asyncpg.Connection, settings: Settings, email: asyncpg.Record
) -> RenderedEmail:
    trust_code = email["context"]["trust_code"]
    token = sign_trust_sign_in_link(
        settings.secret_key.get_secret_value(),
        trust_code=trust_code,
        contact_email=email["recipient_email"],
    )
    return compose_trust_sign_in(
        email["recipient_name"],
        await _trust_name(conn, trust_code),
        f"{_base(settings)}/trust/sign-in/{token}",
        max(1, settings.trust_sign_in_link_max_age_seconds // 60),
    )


async def render_consent_request(
    conn: asyncpg.Connection, settings: Settings, email: asyncpg.Record
) -> RenderedEmail:
    """Each contact their own signed Agree and Refuse links, valid until the deadline."""
    proposal, network_name = await _proposal(conn, email["match_id"])
    party, trust_code = email["context"]["party"], email["context"]["trust_code"]
    deadline = await conn.fetchval(
        "SELECT deadline FROM consent_requests WHERE match_id = $1 AND party = $2",
        proposal.match_id,
        party,
    )
    if deadline is None:
        raise NotYetKnown(str(proposal.match_id))
    placement = await _placement(conn, proposal.provider_id)

    def link(give: bool) -> str:
        token = sign_consent_link(
            settings.secret_key.get_secret_value(),
            match_id=proposal.match_id,
            party=party,
            trust_code=trust_code,
            give=give,
            contact_email=email["recipient_email"],
        )
        return f"{_base(settings)}/links/consent/{token}"

    return compose_consent_request(
        ConsentMail(
            contact_name=email["recipient_name"],
            trust=await _trust_name(conn, trust_code),
            party=party,
            reminder=email["purpose"] == "consent_reminder",
            network_name=network_name,
            candidate=await _participant(conn, proposal.mentee_id),
            placement_role=placement["role"],
            host_trust=placement["trust"],
            explanation=proposal.explanation,
            deadline=deadline,
            give_url=link(True),
            refuse_url=link(False),
            pages_url=f"{_base(settings)}/trust/{trust_code}",
        )
    )

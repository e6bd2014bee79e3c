"""What each email says: pure functions from plain data to subject, text, HTML and attachments.

Templates are Jinja2, HTML autoescaped (names are escaped), text as is. Nothing here reads the
database or talks to SMTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from icalendar import Calendar, vCalAddress, vText
from icalendar import Event as CalendarEvent
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from shared.events import MatchProposed
from shared.matching import Explanation, MatchKind

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html.j2"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)
UK_TIME = ZoneInfo("Europe/London")
FIRST_CONVERSATION_MINUTES = 45


@dataclass(frozen=True)
class Attachment:
    filename: str
    maintype: str
    subtype: str
    content: bytes
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str
    attachments: tuple[Attachment, ...] = ()


def _render(template: str, subject: str, context: dict[str, Any]) -> RenderedEmail:
    return RenderedEmail(
        subject=subject,
        text=TEMPLATES.get_template(f"{template}.txt.j2").render(context),
        html=TEMPLATES.get_template(f"{template}.html.j2").render(context),
    )


# --- a proposal, to each coordinator ---------------------------------------------------------


@dataclass(frozen=True)
class ProposalMail:
    """Everything a coordinator's proposal email says."""

    coordinator_name: str
    network_name: str
    proposal: MatchProposed
    provider: str
    mentee_name: str
    mentee: str
    approve_url: str
    reject_url: str
    dashboard_url: str  # the network's proposals page


def compose_proposal_email(mail: ProposalMail) -> RenderedEmail:
    is_mentoring = mail.proposal.kind is MatchKind.MENTORING
    context: dict[str, Any] = {
        "coordinator_name": mail.coordinator_name,
        "network_name": mail.network_name,
        "kind": mail.proposal.kind.value,
        "provider_label": "Mentor" if is_mentoring else "Placement",
        "provider": mail.provider,
        "mentee": mail.mentee,
        "score": mail.proposal.score,
        "explanation": mail.proposal.explanation,
        "match_id": mail.proposal.match_id,
        "exchange_id": mail.proposal.exchange_id,
        "approve_url": mail.approve_url,
        "reject_url": mail.reject_url,
        "dashboard_url": mail.dashboard_url,
    }
    subject = f"Proposed {mail.proposal.kind.value} match for {mail.mentee_name} — your decision"
    return _render("proposal", subject, context)


# --- the daily digest, to a coordinator who chose one ------------------------------------------


@dataclass(frozen=True)
class DigestLine:
    kind: str
    provider: str
    mentee: str
    score: float
    approve_url: str
    reject_url: str


@dataclass(frozen=True)
class DigestMail:
    coordinator_name: str
    network_name: str
    day: str  # e.g. "Thursday 3 December"
    lines: tuple[DigestLine, ...]
    dashboard_url: str


def compose_digest(mail: DigestMail) -> RenderedEmail:
    count = len(mail.lines)
    waiting = f"{count} new proposal{'s' if count != 1 else ''}" if count else "no proposal left"
    subject = f"Bridgework: {waiting} in {mail.network_name}, {mail.day}"
    return _render("digest", subject, {"mail": mail})


# --- introductions, once a coordinator approved ----------------------------------------------


@dataclass(frozen=True)
class Participant:
    name: str
    email: str
    job_title: str
    trust: str


def first_conversation_slot(decided_at: datetime) -> tuple[datetime, datetime]:
    """A week after the decision, at 10:00 UK time, moved to Monday if that is a weekend."""
    day = (decided_at.astimezone(UK_TIME) + timedelta(days=7)).date()
    while day.weekday() >= 5:
        day += timedelta(days=1)
    start = datetime.combine(day, time(10, 0), tzinfo=UK_TIME).astimezone(UTC)
    return start, start + timedelta(minutes=FIRST_CONVERSATION_MINUTES)


def invitation(
    match_id: UUID, mentor: Participant, mentee: Participant, decided_at: datetime
) -> bytes:
    """An iCalendar invitation (RFC 5545) to the first conversation, organised by the mentor.
    Both copies share one UID, so calendars see one meeting."""
    start, end = first_conversation_slot(decided_at)
    event = CalendarEvent()
    event.add("uid", f"{match_id}@bridgework.local")
    event.add("dtstamp", decided_at.astimezone(UTC))
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", f"Mentoring: first conversation, {mentor.name} and {mentee.name}")
    event.add(
        "description",
        "A first conversation proposed by Bridgework: agree what the mentoring should achieve"
        " and how often to meet. Move it to a time that suits you both.",
    )
    organizer = vCalAddress(f"mailto:{mentor.email}")
    organizer.params["cn"] = vText(mentor.name)
    event["organizer"] = organizer
    for person, role in ((mentee, "REQ-PARTICIPANT"), (mentor, "CHAIR")):
        attendee = vCalAddress(f"mailto:{person.email}")
        attendee.params["cn"] = vText(person.name)
        attendee.params["role"] = vText(role)
        attendee.params["rsvp"] = vText("TRUE")
        event.add("attendee", attendee, encode=False)
    calendar = Calendar()
    calendar.add("prodid", "-//Bridgework//Introductions//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "REQUEST")
    calendar.add_component(event)
    content: bytes = calendar.to_ical()
    return content


@dataclass(frozen=True)
class MentoringIntroduction:
    match_id: UUID
    network_name: str
    mentor: Participant
    mentee: Participant
    explanation: Explanation
    decided_at: datetime
    manage_url: str  # where a participant asks for their self-service link


def compose_mentoring_introduction(intro: MentoringIntroduction, to_mentor: bool) -> RenderedEmail:
    me, other = (intro.mentor, intro.mentee) if to_mentor else (intro.mentee, intro.mentor)
    start, _ = first_conversation_slot(intro.decided_at)
    context: dict[str, Any] = {
        "me": me,
        "other": other,
        "to_mentor": to_mentor,
        "other_role": "mentee" if to_mentor else "mentor",
        "network_name": intro.network_name,
        "explanation": intro.explanation,
        "slot": start.astimezone(UK_TIME).strftime("%A %-d %B %Y at %H:%M (UK time)"),
        "minutes": FIRST_CONVERSATION_MINUTES,
        "match_id": intro.match_id,
        "manage_url": intro.manage_url,
    }
    subject = f"Introducing your {context['other_role']}: {other.name}"
    rendered = _render("introduction_mentoring", subject, context)
    ics = invitation(intro.match_id, intro.mentor, intro.mentee, intro.decided_at)
    return _with_invitation(rendered, "first-conversation.ics", ics)


def _with_invitation(rendered: RenderedEmail, filename: str, ics: bytes) -> RenderedEmail:
    """The email with an iCalendar invitation (method REQUEST) attached."""
    attachment = Attachment(
        filename=filename,
        maintype="text",
        subtype="calendar",
        content=ics,
        params={"method": "REQUEST"},
    )
    return RenderedEmail(rendered.subject, rendered.text, rendered.html, (attachment,))


@dataclass(frozen=True)
class SecondmentIntroduction:
    match_id: UUID
    network_name: str
    candidate: Participant
    placement_role: str
    host_trust: str
    home_trust: str
    host_contact: str | None
    home_contact: str | None
    explanation: Explanation
    manage_url: str
    start_date: date | None = None  # agreed by both trusts: the invitation's day
    end_date: date | None = None


def secondment_invitation(intro: SecondmentIntroduction) -> bytes | None:
    """An all-day iCalendar invitation (RFC 5545) for the secondment's first day, to the
    candidate and both trusts' contacts; one UID, so calendars see one event."""
    if intro.start_date is None:
        return None
    event = CalendarEvent()
    event.add("uid", f"secondment-{intro.match_id}@bridgework.local")
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", intro.start_date)
    event.add("dtend", intro.start_date + timedelta(days=1))
    event.add("summary", f"Secondment starts: {intro.candidate.name}, {intro.placement_role}")
    until = f" until {intro.end_date:%-d %B %Y}" if intro.end_date else ""
    event.add(
        "description",
        f"{intro.candidate.name} ({intro.home_trust}) starts a secondment as"
        f" {intro.placement_role} at {intro.host_trust}{until}.",
    )
    organizer_email = intro.host_contact or intro.candidate.email
    event["organizer"] = vCalAddress(f"mailto:{organizer_email}")
    attendees = [(intro.candidate.email, intro.candidate.name)]
    attendees += [
        (c, t)
        for c, t in ((intro.host_contact, intro.host_trust), (intro.home_contact, intro.home_trust))
        if c
    ]
    for email, name in attendees:
        attendee = vCalAddress(f"mailto:{email}")
        attendee.params["cn"] = vText(name)
        attendee.params["role"] = vText("REQ-PARTICIPANT")
        event.add("attendee", attendee, encode=False)
    calendar = Calendar()
    calendar.add("prodid", "-//Bridgework//Secondments//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "REQUEST")
    calendar.add_component(event)
    content: bytes = calendar.to_ical()
    return content


SECONDMENT_AUDIENCES = ("candidate", "host_trust", "home_trust")


def compose_secondment_introduction(intro: SecondmentIntroduction, audience: str) -> RenderedEmail:
    if audience not in SECONDMENT_AUDIENCES:
        raise ValueError(f"unknown audience {audience!r}")
    subject = {
        "candidate": f"Your secondment: {intro.placement_role} at {intro.host_trust}",
        "host_trust": f"Secondment to {intro.host_trust}: introducing {intro.candidate.name}",
        "home_trust": f"Secondment from {intro.home_trust}: {intro.candidate.name}",
    }[audience]
    context: dict[str, Any] = {"intro": intro, "audience": audience}
    rendered = _render("introduction_secondment", subject, context)
    ics = secondment_invitation(intro)
    return rendered if ics is None else _with_invitation(rendered, "secondment-start.ics", ics)


@dataclass(frozen=True)
class MissingContactNotice:
    coordinator_name: str
    network_name: str
    match_id: UUID
    trust: str
    trust_code: str
    side: str  # "host" or "home"
    candidate: str
    placement: str
    dashboard_url: str


def compose_missing_contact_notice(notice: MissingContactNotice) -> RenderedEmail:
    subject = f"Secondment introduction not sent to {notice.trust}: no contact"
    return _render("trust_contact_missing", subject, {"notice": notice})


# --- a participant's self-service link ---------------------------------------------------------


def compose_self_service_link(name: str, url: str, valid_days: int) -> RenderedEmail:
    context = {"name": name, "url": url, "valid_days": valid_days}
    return _render("self_service_link", "Your Bridgework link", context)


def compose_secondment_request(name: str, agreed: bool, url: str) -> RenderedEmail:
    """A member of staff's own request to be considered for secondment, answered."""
    subject = (
        "Your trust agreed: you are considered for secondments"
        if agreed
        else "Your request to be considered for secondment"
    )
    return _render("secondment_request", subject, {"name": name, "agreed": agreed, "url": url})


def compose_reminder(template: str, subject: str, context: dict[str, Any]) -> RenderedEmail:
    """A reminder (services/notifier/reminders.py): its template, subject and values."""
    return _render(template, subject, context)


# --- someone who volunteered or applied ----------------------------------------------------

JOIN_SUBJECTS = {
    "confirm_address": "Confirm your email address for Bridgework",
    "welcome": "You are confirmed: welcome to Bridgework",
    "declined": "Your Bridgework application",
}


def compose_join_email(
    purpose: str, name: str, role: str, network_name: str, url: str, valid_days: int
) -> RenderedEmail:
    if purpose not in JOIN_SUBJECTS:
        raise ValueError(f"unknown join email {purpose!r}")
    context = {
        "purpose": purpose,
        "name": name,
        "role": role,
        "network_name": network_name,
        "url": url,
        "valid_days": valid_days,
    }
    return _render("join_email", JOIN_SUBJECTS[purpose], context)


# --- a trust's contact: their sign-in link, and the trust's consent requests -------------------


def compose_trust_sign_in(name: str, trust: str, url: str, valid_minutes: int) -> RenderedEmail:
    context = {"name": name, "trust": trust, "url": url, "valid_minutes": valid_minutes}
    return _render("trust_sign_in", f"Sign in to Bridgework for {trust}", context)


@dataclass(frozen=True)
class ConsentMail:
    """Everything a consent request (or its reminder) says to one contact of a trust."""

    contact_name: str
    trust: str
    party: str  # "host": accept the candidate; "home": release them
    reminder: bool
    network_name: str
    candidate: Participant
    placement_role: str
    host_trust: str
    explanation: Explanation
    deadline: datetime
    give_url: str
    refuse_url: str
    pages_url: str


def compose_consent_request(mail: ConsentMail) -> RenderedEmail:
    asked = (
        f"accept {mail.candidate.name} for {mail.placement_role}"
        if mail.party == "host"
        else f"release {mail.candidate.name} for a secondment to {mail.host_trust}"
    )
    subject = f"{'Reminder: ' if mail.reminder else ''}Will {mail.trust} {asked}?"
    deadline = mail.deadline.astimezone(UK_TIME).strftime("%A %-d %B %Y, %H:%M (UK time)")
    return _render("consent_request", subject, {"mail": mail, "deadline": deadline})

"""Which emails each event asks for, and what it cancels.

Every email is queued under a dedupe key (purpose + match + recipient), so whatever is
delivered twice or replayed, an email is queued at most once. The decisions (which emails, to
whom, under which key; what a withdrawal, a decision or an erasure cancels) are pure functions
at the top; the handlers below carry them out through a ``NotifierStore`` (repository.py on
PostgreSQL, an in-memory fake in the unit tests)."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

from shared.events import (
    ConsentRecorded,
    ConsentRequested,
    Event,
    JoinEmailRequested,
    MatchDecided,
    MatchProposed,
    MatchWithdrawn,
    NetworkUpserted,
    PersonErased,
    PersonUpserted,
    PlacementUpserted,
    ProposalEmails,
    SecondmentChanged,
    SecondmentRequestDecided,
    SecondmentStatus,
    SelfServiceLinkRequested,
    TrustSignInRequested,
    TrustUpserted,
)
from shared.matching import MatchKind
from shared.observability.context import Carrier, attached, capture

log = logging.getLogger(__name__)
UK_TIME = ZoneInfo("Europe/London")


@dataclass(frozen=True)
class QueuedEmail:
    """One email to queue; ``context`` says what it is about beyond its purpose (no personal
    data: ids, codes and which side of a match it speaks to)."""

    dedupe_key: str
    purpose: str
    recipient_name: str
    recipient_email: str
    match_id: UUID | None = None
    person_id: UUID | None = None
    context: dict[str, str] = field(default_factory=dict)

    def row(self) -> tuple[object, ...]:
        return (
            self.dedupe_key,
            self.purpose,
            self.match_id,
            self.person_id,
            self.recipient_name,
            self.recipient_email,
            self.context,
        )


@dataclass(frozen=True)
class Person:
    id: UUID
    name: str
    email: str
    trust_code: str = ""


@dataclass(frozen=True)
class Trust:
    code: str
    name: str
    contact_email: str | None


@dataclass(frozen=True)
class Unannounced:
    """A proposal whose network is known and whose coordinators have not been emailed."""

    match_id: UUID
    coordinators: Sequence[Mapping[str, str]]
    trace_context: Carrier = field(default_factory=dict)
    network_id: str = ""


@dataclass(frozen=True)
class Approved:
    """A decided match not yet introduced, with its proposal and network's coordinators."""

    match_id: UUID
    proposal: MatchProposed
    coordinators: Sequence[Mapping[str, str]]
    trace_context: Carrier = field(default_factory=dict)


@dataclass(frozen=True)
class Contact:
    """Someone who acts for a trust (or, for a trust with no contacts, its contact address)."""

    name: str
    email: str


@dataclass(frozen=True)
class ConsentAsked:
    """A trust's consent still to be given: whom it concerns, by when."""

    match_id: UUID
    party: str
    trust_code: str


# --- decisions ------------------------------------------------------------------------------

# What a withdrawal or a decision cancels of a match's unsent emails: its announcements to the
# coordinators (moot now). Never its introductions: a decision applies whatever the proposal's
# state (the matcher records an approval that raced the proposal's withdrawal), so an approved
# match is introduced even when its withdrawal was delivered too.
ANNOUNCEMENTS = frozenset({"proposal"})


def wants_digest(coordinator: Mapping[str, str]) -> bool:
    return coordinator.get("proposal_emails") == ProposalEmails.DAILY.value


def proposal_emails(proposal: Unannounced) -> list[QueuedEmail]:
    """One email per coordinator of the proposal's network, keyed by match and address; not to
    those who chose the daily digest (``digest_entries``)."""
    return [
        QueuedEmail(
            dedupe_key=f"proposal:{proposal.match_id}:{c['email'].lower()}",
            purpose="proposal",
            match_id=proposal.match_id,
            recipient_name=c["name"],
            recipient_email=c["email"],
        )
        for c in proposal.coordinators
        if not wants_digest(c)
    ]


@dataclass(frozen=True)
class DigestEntry:
    """A proposal waiting for the next digest of one coordinator of its network."""

    network_id: str
    recipient_name: str
    recipient_email: str
    match_id: UUID


def digest_entries(proposal: Unannounced) -> list[DigestEntry]:
    return [
        DigestEntry(proposal.network_id, c["name"], c["email"].lower(), proposal.match_id)
        for c in proposal.coordinators
        if wants_digest(c)
    ]


@dataclass(frozen=True)
class DigestDue:
    """A coordinator with proposals waiting for their digest."""

    network_id: str
    recipient_name: str
    recipient_email: str


def digest_email(due: DigestDue, day: date) -> QueuedEmail:
    """One a day per coordinator and network, whatever happens (the day is in its key)."""
    return QueuedEmail(
        dedupe_key=f"digest:{due.network_id}:{due.recipient_email.lower()}:{day.isoformat()}",
        purpose="digest",
        recipient_name=due.recipient_name,
        recipient_email=due.recipient_email,
        context={"network_id": due.network_id, "day": day.isoformat()},
    )


def digest_day(now: datetime, digest_hour: int) -> date | None:
    """Today's date (UK time) once the digest hour has come; None before it."""
    local = now.astimezone(UK_TIME)
    return local.date() if local.hour >= digest_hour else None


def mentoring_introductions(
    proposal: MatchProposed, mentor: Person, mentee: Person
) -> list[QueuedEmail]:
    return [
        QueuedEmail(
            dedupe_key=f"introduction:{proposal.match_id}:{person.id}",
            purpose="introduction",
            match_id=proposal.match_id,
            person_id=person.id,
            recipient_name=person.name,
            recipient_email=person.email,
            context={"audience": audience},
        )
        for person, audience in ((mentor, "mentor"), (mentee, "mentee"))
    ]


def secondment_introductions(
    proposal: MatchProposed,
    candidate: Person,
    host: Trust,
    home: Trust,
    coordinators: Sequence[Mapping[str, str]],
) -> list[QueuedEmail]:
    """The candidate, and each trust's contact; a trust without one is reported to the
    network's coordinators instead (they introduce the match by hand)."""
    match_id = proposal.match_id
    emails = [
        QueuedEmail(
            dedupe_key=f"introduction:{match_id}:{candidate.id}",
            purpose="introduction",
            match_id=match_id,
            person_id=candidate.id,
            recipient_name=candidate.name,
            recipient_email=candidate.email,
            context={"audience": "candidate"},
        )
    ]
    for side, trust in (("host", host), ("home", home)):
        if trust.contact_email:
            emails.append(
                QueuedEmail(
                    dedupe_key=f"introduction:{match_id}:trust:{side}:{trust.code}",
                    purpose="introduction",
                    match_id=match_id,
                    recipient_name=trust.name,
                    recipient_email=trust.contact_email,
                    context={"audience": f"{side}_trust", "trust_code": trust.code},
                )
            )
            continue
        log.warning(
            "secondment %s: %s trust %s has no contact email; telling the coordinators",
            match_id,
            side,
            trust.code,
        )
        emails += [
            QueuedEmail(
                dedupe_key=f"trust_contact_missing:{match_id}:{side}:{c['email'].lower()}",
                purpose="trust_contact_missing",
                match_id=match_id,
                recipient_name=c["name"],
                recipient_email=c["email"],
                context={"side": side, "trust_code": trust.code},
            )
            for c in coordinators
        ]
    return emails


def self_service_link(event: SelfServiceLinkRequested, person: Person) -> QueuedEmail:
    """Each request its own email (keyed by the request): asking again sends a fresh link."""
    return QueuedEmail(
        dedupe_key=f"self_service_link:{event.event_id}",
        purpose="self_service_link",
        recipient_name=person.name,
        recipient_email=person.email,
        person_id=event.person_id,
    )


SECONDMENT_REQUEST = "secondment_request"


def secondment_request_answered(event: SecondmentRequestDecided, person: Person) -> QueuedEmail:
    """The member of staff hears their trust's answer; the reason stays on their own page."""
    return QueuedEmail(
        dedupe_key=f"{SECONDMENT_REQUEST}:{event.event_id}",
        purpose=SECONDMENT_REQUEST,
        recipient_name=person.name,
        recipient_email=person.email,
        person_id=event.person_id,
        context={"agreed": "yes" if event.agreed else "no"},
    )


JOIN_PURPOSE = "join"


def join_email(event: JoinEmailRequested) -> QueuedEmail:
    """Each request its own email; the recipient is in the event (not a person yet)."""
    context = {
        "purpose": event.purpose.value,
        "role": event.role.value,
        "network_name": event.network_name,
        "application_id": str(event.application_id),
    }
    if event.token_id is not None:
        context["token_id"] = str(event.token_id)
    if event.person_id is not None:
        context["person_id"] = str(event.person_id)
    return QueuedEmail(
        dedupe_key=f"join:{event.event_id}",
        purpose=JOIN_PURPOSE,
        recipient_name=event.name,
        recipient_email=str(event.email),
        person_id=event.person_id,
        context=context,
    )


def trust_sign_in_email(event: TrustSignInRequested, contact: Contact) -> QueuedEmail:
    """Each request its own email (keyed by the request), like a self-service link."""
    return QueuedEmail(
        dedupe_key=f"trust_sign_in:{event.event_id}",
        purpose="trust_sign_in",
        recipient_name=contact.name,
        recipient_email=contact.email,
        context={"trust_code": event.trust_code},
    )


CONSENT_EMAILS = frozenset({"consent_request", "consent_reminder"})


def consent_emails(
    asked: ConsentAsked, contacts: Sequence[Contact], *, reminder: bool
) -> list[QueuedEmail]:
    """One email per contact of the trust: the request, or its one reminder (the dedupe key
    makes each impossible to queue twice, whatever is replayed or restarted)."""
    purpose = "consent_reminder" if reminder else "consent_request"
    return [
        QueuedEmail(
            dedupe_key=f"{purpose}:{asked.match_id}:{asked.party}:{c.email.lower()}",
            purpose=purpose,
            match_id=asked.match_id,
            recipient_name=c.name,
            recipient_email=c.email,
            context={"party": asked.party, "trust_code": asked.trust_code},
        )
        for c in contacts
    ]


def introduces(status: SecondmentStatus) -> bool | None:
    """What a secondment's change means for its introduction: True, introduce it (agreed);
    False, never (refused, or its exchange not agreed); None, nothing (its later life)."""
    if status is SecondmentStatus.AGREED:
        return True
    if status in (SecondmentStatus.REFUSED, SecondmentStatus.NOT_AGREED):
        return False
    return None


# --- the store the handlers write through ---------------------------------------------------


class NotifierStore(Protocol):
    async def upsert_network(self, event: NetworkUpserted) -> None: ...
    async def upsert_trust(self, event: TrustUpserted) -> None: ...
    async def upsert_person(self, event: PersonUpserted) -> None: ...
    async def upsert_placement(self, event: PlacementUpserted) -> None: ...
    async def forget_person(self, person_id: UUID) -> None: ...
    async def keep_proposal(self, event: MatchProposed) -> None: ...
    async def mark_withdrawn(self, match_id: UUID) -> None: ...
    async def keep_decision(self, event: MatchDecided) -> None: ...
    async def mark_announced(self, match_ids: Collection[UUID]) -> None: ...
    async def cancel_unsent(self, match_id: UUID, purposes: Collection[str]) -> None: ...
    async def person(self, person_id: UUID) -> Person | None: ...
    async def people(self, ids: Sequence[UUID]) -> list[Person] | None: ...
    async def placement_host(self, placement_id: UUID) -> str | None: ...
    async def trusts(self, codes: Collection[str]) -> dict[str, Trust]: ...
    async def queue(self, emails: Sequence[tuple[QueuedEmail, Carrier | None]]) -> None: ...
    async def unannounced(self) -> list[Unannounced]: ...
    async def approved_not_introduced(self) -> list[Approved]: ...
    async def mark_introduced(self, match_ids: Collection[UUID]) -> None: ...
    async def add_to_digests(self, entries: Sequence[DigestEntry]) -> None: ...
    async def digests_due(self) -> list[DigestDue]: ...
    async def queue_digest(self, email: QueuedEmail, due: DigestDue) -> bool: ...
    async def trust_contacts(self, code: str) -> list[Contact]: ...
    async def keep_consent_request(self, event: ConsentRequested) -> None: ...
    async def consents_to_ask(self) -> list[ConsentAsked]: ...
    async def mark_asked(self, asked: Sequence[ConsentAsked]) -> None: ...
    async def close_consent_requests(self, match_id: UUID, party: str | None) -> None: ...
    async def settle_secondment(self, event: SecondmentChanged, introduce: bool) -> None: ...
    async def consents_to_remind(self, deadline_before: datetime) -> list[ConsentAsked]: ...
    async def mark_reminded(self, asked: Sequence[ConsentAsked]) -> None: ...


# --- handlers -------------------------------------------------------------------------------


async def handle_event(store: NotifierStore, event: Event) -> None:
    match event:
        case NetworkUpserted():
            await store.upsert_network(event)
        case TrustUpserted():
            await store.upsert_trust(event)
        case PersonUpserted():
            await store.upsert_person(event)
        case PersonErased():
            await store.forget_person(event.person_id)
        case PlacementUpserted():
            await store.upsert_placement(event)
        case MatchProposed():
            # Announced by the mail queue once the network's coordinators are known (network
            # events travel on another topic and may arrive later), unless already decided.
            await store.keep_proposal(event)
        case MatchWithdrawn():
            # The proposal's row first, so that emails being queued under its lock are seen.
            await store.mark_withdrawn(event.match_id)
            await store.cancel_unsent(event.match_id, ANNOUNCEMENTS)
        case MatchDecided():
            # Approved matches are introduced by ``introduce_approved`` once their proposal and
            # people are known; a match made by hand brings its own (never announced).
            made_by_hand = event.proposal()
            if made_by_hand is not None:
                await store.keep_proposal(made_by_hand)
            await store.keep_decision(event)
            await store.mark_announced([event.match_id])
            await store.cancel_unsent(event.match_id, ANNOUNCEMENTS)
        case TrustSignInRequested():
            contacts = await store.trust_contacts(event.trust_code)
            contact = next((c for c in contacts if c.email == event.contact_email), None)
            if contact is not None:  # removed since they asked: no link for them
                await store.queue([(trust_sign_in_email(event, contact), capture())])
        case ConsentRequested():
            # Emailed by the mail loop once the trust's contacts are known (``ask_consents``):
            # the trust's events travel on another topic and may arrive later.
            await store.keep_consent_request(event)
        case ConsentRecorded():
            await store.close_consent_requests(event.match_id, event.party.value)
        case SecondmentChanged():
            introduce = introduces(event.status)
            if introduce is not None:
                await store.settle_secondment(event, introduce)
                await store.close_consent_requests(event.match_id, None)
        case SecondmentRequestDecided():
            person = await store.person(event.person_id)
            if person is not None:  # erased since: nothing goes to them
                await store.queue([(secondment_request_answered(event, person), capture())])
        case SelfServiceLinkRequested():
            person = await store.person(event.person_id)
            if person is not None:  # erased since they asked: nothing goes to them
                await store.queue([(self_service_link(event, person), capture())])
        case JoinEmailRequested():
            await store.queue([(join_email(event), capture())])
        case _:
            pass


async def announce_proposals(store: NotifierStore) -> int:
    """Queue one email per coordinator for each proposal whose network is known; at most once,
    whatever happens (the dedupe key). Returns how many proposals were announced."""
    proposals = await store.unannounced()
    # Each email carries on its proposal's correlation id and trace.
    await store.queue([(email, p.trace_context) for p in proposals for email in proposal_emails(p)])
    await store.add_to_digests([entry for p in proposals for entry in digest_entries(p)])
    await store.mark_announced([p.match_id for p in proposals])
    return len(proposals)


async def ask_consents(store: NotifierStore) -> int:
    """Queue the request of each consent whose trust's contacts are known, once; returns how
    many consents were asked."""
    asked = await store.consents_to_ask()
    for consent in asked:
        emails = consent_emails(
            consent, await store.trust_contacts(consent.trust_code), reminder=False
        )
        await store.queue([(email, None) for email in emails])
    await store.mark_asked(asked)
    return len(asked)


async def queue_digests(store: NotifierStore, day: date | None) -> int:
    """Once the digest hour has come (``day``), one email per coordinator with proposals
    waiting, listing them; a coordinator whose digest of that day went already keeps the
    proposals that came since for the next day's. Returns how many digests were queued."""
    if day is None:
        return 0
    queued = 0
    for due in await store.digests_due():
        queued += await store.queue_digest(digest_email(due, day), due)
    return queued


async def remind_consents(store: NotifierStore, now: datetime, lead: timedelta) -> int:
    """Queue the one reminder of each consent asked and still unanswered ``lead`` before its
    deadline; returns how many consents were reminded. Marked in the same transaction as the
    emails are queued, so a restart neither loses nor repeats one."""
    if lead <= timedelta(0):
        return 0
    due = await store.consents_to_remind(now + lead)
    for asked in due:
        emails = consent_emails(asked, await store.trust_contacts(asked.trust_code), reminder=True)
        await store.queue([(email, None) for email in emails])
    await store.mark_reminded(due)
    return len(due)


async def introduce_approved(store: NotifierStore) -> int:
    """Queue the introductions of approved matches whose proposal and people are known; returns
    how many matches were introduced. Unknown people are waited for (their events travel on
    another topic); an erased person's match is never introduced (its proposal is gone)."""
    introduced = []
    for approved in await store.approved_not_introduced():
        # This runs outside any event's context: each match's emails (and log lines) are the
        # decision's, so they carry on the decision's correlation id and trace.
        with attached(approved.trace_context):
            emails = await introductions(store, approved)
            if emails is not None:
                await store.queue([(email, capture()) for email in emails])
                introduced.append(approved.match_id)
    await store.mark_introduced(introduced)
    return len(introduced)


async def introductions(store: NotifierStore, approved: Approved) -> list[QueuedEmail] | None:
    """One approved match's introductions; None while its people or trusts are not known."""
    proposal = approved.proposal
    if proposal.kind is MatchKind.MENTORING:
        people = await store.people([proposal.provider_id, proposal.mentee_id])
        return None if people is None else mentoring_introductions(proposal, *people)
    people = await store.people([proposal.mentee_id])
    host_code = await store.placement_host(proposal.provider_id)
    if people is None or host_code is None:
        return None
    [candidate] = people
    trusts = await store.trusts({host_code, candidate.trust_code})
    if host_code not in trusts or candidate.trust_code not in trusts:
        return None
    return secondment_introductions(
        proposal, candidate, trusts[host_code], trusts[candidate.trust_code], approved.coordinators
    )

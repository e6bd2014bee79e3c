"""The notifier's event handlers and their decisions (which emails, to whom, under which
dedupe key; what a withdrawal or a decision cancels), on an in-memory store: no database, no
SMTP (the same handlers run on PostgreSQL in tests/integration/test_notifier_mail.py)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notifier.handlers import (
    Approved,
    ConsentAsked,
    Contact,
    Person,
    QueuedEmail,
    Trust,
    Unannounced,
    announce_proposals,
    handle_event,
    introduce_approved,
    proposal_emails,
    remind_consents,
    secondment_introductions,
)
from shared.events import (
    ConsentParty,
    ConsentRecorded,
    ConsentRequested,
    Coordinator,
    MatchDecided,
    MatchProposed,
    MatchWithdrawn,
    NetworkUpserted,
    PersonErased,
    PersonUpserted,
    PlacementUpserted,
    SecondmentChanged,
    SecondmentStatus,
    SelfServiceLinkRequested,
    TrustContact,
    TrustSignInRequested,
    TrustUpserted,
)
from shared.matching import MatchKind
from shared.observability.context import Carrier
from tests.support.factories import match_proposed, person_profile


class FakeNotifierStore:
    """The notifier's tables as dictionaries (``handlers.NotifierStore``)."""

    def __init__(self) -> None:
        self.networks: dict[str, list[dict[str, str]]] = {}
        self.trusts_by_code: dict[str, Trust] = {}
        self.persons: dict[UUID, Person] = {}
        self.hosts: dict[UUID, str] = {}
        self.proposals: dict[UUID, MatchProposed] = {}
        self.announced: set[UUID] = set()
        self.withdrawn: set[UUID] = set()
        self.decisions: dict[UUID, bool] = {}
        self.introduced: set[UUID] = set()
        self.emails: dict[str, QueuedEmail] = {}  # by dedupe key
        self.cancelled: set[str] = set()
        self.contacts: dict[str, list[Contact]] = {}
        self.consents: dict[tuple[UUID, str], tuple[ConsentRequested, bool, bool]] = {}
        self.agreed: set[UUID] = set()

    async def upsert_network(self, event: NetworkUpserted) -> None:
        self.networks[event.network_id] = [c.model_dump(mode="json") for c in event.coordinators]

    async def upsert_trust(self, event: TrustUpserted) -> None:
        self.trusts_by_code[event.trust_code] = Trust(
            event.trust_code, event.name, event.contact_email
        )
        self.contacts[event.trust_code] = [Contact(c.name, c.email) for c in event.contacts]

    async def upsert_person(self, event: PersonUpserted) -> None:
        p = event.profile
        self.persons[p.person_id] = Person(p.person_id, p.name, p.email, p.trust_code)

    async def upsert_placement(self, event: PlacementUpserted) -> None:
        self.hosts[event.placement.placement_id] = event.placement.host_trust_code

    async def forget_person(self, person_id: UUID) -> None:
        self.persons.pop(person_id, None)
        for match_id, proposal in list(self.proposals.items()):
            if person_id in (proposal.provider_id, proposal.mentee_id):
                del self.proposals[match_id]
                self.cancelled |= {k for k, e in self.emails.items() if e.match_id == match_id}
        self.cancelled |= {k for k, e in self.emails.items() if e.person_id == person_id}

    async def keep_proposal(self, event: MatchProposed) -> None:
        self.proposals.setdefault(event.match_id, event)
        if event.match_id in self.decisions:
            self.announced.add(event.match_id)

    async def mark_withdrawn(self, match_id: UUID) -> None:
        self.withdrawn.add(match_id)
        self.announced.add(match_id)

    async def keep_decision(self, event: MatchDecided) -> None:
        self.decisions.setdefault(event.match_id, event.approved)
        if not event.approved:
            self.introduced.add(event.match_id)

    async def mark_announced(self, match_ids: Collection[UUID]) -> None:
        self.announced |= set(match_ids)

    async def cancel_unsent(self, match_id: UUID, purposes: Collection[str]) -> None:
        self.cancelled |= {
            key
            for key, email in self.emails.items()
            if email.match_id == match_id and email.purpose in purposes
        }

    async def person(self, person_id: UUID) -> Person | None:
        return self.persons.get(person_id)

    async def people(self, ids: Sequence[UUID]) -> list[Person] | None:
        return [self.persons[i] for i in ids] if all(i in self.persons for i in ids) else None

    async def placement_host(self, placement_id: UUID) -> str | None:
        return self.hosts.get(placement_id)

    async def trusts(self, codes: Collection[str]) -> dict[str, Trust]:
        return {c: self.trusts_by_code[c] for c in codes if c in self.trusts_by_code}

    async def queue(self, emails: Sequence[tuple[QueuedEmail, Carrier | None]]) -> None:
        for email, _ in emails:
            self.emails.setdefault(email.dedupe_key, email)

    async def unannounced(self) -> list[Unannounced]:
        return [
            Unannounced(p.match_id, self.networks[p.network_id])
            for p in self.proposals.values()
            if p.match_id not in self.announced and p.network_id in self.networks
        ]

    async def approved_not_introduced(self) -> list[Approved]:
        return [
            Approved(
                match_id,
                self.proposals[match_id],
                self.networks[self.proposals[match_id].network_id],
            )
            for match_id in self.decisions
            if match_id not in self.introduced
            and match_id in self.proposals
            and (match_id in self.agreed or self.proposals[match_id].kind is MatchKind.MENTORING)
            and self.proposals[match_id].network_id in self.networks
        ]

    async def mark_introduced(self, match_ids: Collection[UUID]) -> None:
        self.introduced |= set(match_ids)

    async def trust_contacts(self, code: str) -> list[Contact]:
        return self.contacts.get(code, [])

    async def keep_consent_request(self, event: ConsentRequested) -> bool:
        key = (event.match_id, event.party.value)
        if key in self.consents:
            return False
        self.consents[key] = (event, False, False)
        return True

    async def close_consent_requests(self, match_id: UUID, party: str | None) -> None:
        for (m, p), (event, _, reminded) in list(self.consents.items()):
            if m == match_id and party in (None, p):
                self.consents[(m, p)] = (event, True, reminded)
                self.cancelled |= {
                    k
                    for k, e in self.emails.items()
                    if e.match_id == m and e.context.get("party") == p
                }

    async def settle_secondment(self, event: SecondmentChanged, introduce: bool) -> None:
        if introduce:
            self.agreed.add(event.match_id)
        else:
            self.introduced.add(event.match_id)

    async def consents_to_remind(self, deadline_before: datetime) -> list[ConsentAsked]:
        return [
            ConsentAsked(m, p, event.trust_code)
            for (m, p), (event, answered, reminded) in self.consents.items()
            if not answered and not reminded and event.deadline <= deadline_before
        ]

    async def mark_reminded(self, asked: Sequence[ConsentAsked]) -> None:
        for a in asked:
            event, answered, _ = self.consents[(a.match_id, a.party)]
            self.consents[(a.match_id, a.party)] = (event, answered, True)

    def unsent(self, purpose: str | None = None) -> list[QueuedEmail]:
        return [
            e
            for k, e in self.emails.items()
            if k not in self.cancelled and purpose in (None, e.purpose)
        ]


COORDINATORS = (
    Coordinator(name="Cora", email="Cora@North.example"),
    Coordinator(name="Dev", email="dev@north.example"),
)


def network() -> NetworkUpserted:
    return NetworkUpserted(
        entity_key="north", network_id="north", name="North", coordinators=COORDINATORS
    )


def person(trust: str = "T1") -> PersonUpserted:
    return PersonUpserted(entity_key="p", profile=person_profile(trust_code=trust))


def proposed(provider: UUID, mentee: UUID, kind: MatchKind = MatchKind.MENTORING) -> MatchProposed:
    return match_proposed(provider_id=provider, mentee_id=mentee, kind=kind)


def decided(proposal: MatchProposed, approved: bool) -> MatchDecided:
    return MatchDecided(
        entity_key=str(proposal.match_id),
        match_id=proposal.match_id,
        network_id=proposal.network_id,
        approved=approved,
        decided_by="coordinator",
    )


def withdrawn(proposal: MatchProposed) -> MatchWithdrawn:
    return MatchWithdrawn(
        entity_key=str(proposal.match_id),
        match_id=proposal.match_id,
        network_id=proposal.network_id,
        reason="replaced by a better match",
    )


async def mentoring_match(store: FakeNotifierStore) -> MatchProposed:
    mentor, mentee = person(), person()
    for event in (network(), mentor, mentee):
        await handle_event(store, event)
    proposal = proposed(mentor.profile.person_id, mentee.profile.person_id)
    await handle_event(store, proposal)
    return proposal


async def test_a_proposal_is_announced_once_to_each_coordinator() -> None:
    store = FakeNotifierStore()
    proposal = await mentoring_match(store)
    assert await announce_proposals(store) == 1
    assert await announce_proposals(store) == 0
    assert sorted(e.dedupe_key for e in store.unsent("proposal")) == [
        f"proposal:{proposal.match_id}:cora@north.example",
        f"proposal:{proposal.match_id}:dev@north.example",
    ]


async def test_a_proposal_waits_for_its_networks_coordinators() -> None:
    store = FakeNotifierStore()
    mentor, mentee = person(), person()
    await handle_event(store, proposed(mentor.profile.person_id, mentee.profile.person_id))
    assert await announce_proposals(store) == 0
    await handle_event(store, network())
    assert await announce_proposals(store) == 1


async def test_a_withdrawal_cancels_the_unsent_announcements() -> None:
    store = FakeNotifierStore()
    proposal = await mentoring_match(store)
    await announce_proposals(store)
    await handle_event(store, withdrawn(proposal))
    assert store.unsent() == []
    assert await announce_proposals(store) == 0


async def test_a_decision_cancels_the_announcements_and_an_approval_introduces_both() -> None:
    store = FakeNotifierStore()
    proposal = await mentoring_match(store)
    await announce_proposals(store)
    await handle_event(store, decided(proposal, approved=True))
    assert store.unsent("proposal") == []
    assert await introduce_approved(store) == 1
    assert await introduce_approved(store) == 0  # once
    introductions = store.unsent("introduction")
    assert {(e.person_id, e.context["audience"]) for e in introductions} == {
        (proposal.provider_id, "mentor"),
        (proposal.mentee_id, "mentee"),
    }
    assert {e.dedupe_key for e in introductions} == {
        f"introduction:{proposal.match_id}:{proposal.provider_id}",
        f"introduction:{proposal.match_id}:{proposal.mentee_id}",
    }


@pytest.mark.parametrize("withdrawal_first", [True, False])
async def test_an_approval_that_raced_a_withdrawal_is_introduced(withdrawal_first: bool) -> None:
    """Issue 14, item 5: the decision applies whatever the proposal's state (the matcher
    records it too), so the approved pair is introduced, in either order."""
    store = FakeNotifierStore()
    proposal = await mentoring_match(store)
    await announce_proposals(store)
    events = [withdrawn(proposal), decided(proposal, approved=True)]
    await handle_event(store, events[0] if withdrawal_first else events[1])
    if not withdrawal_first:
        await introduce_approved(store)  # the introductions are queued before the withdrawal
    await handle_event(store, events[1] if withdrawal_first else events[0])
    await introduce_approved(store)
    assert store.unsent("proposal") == []
    assert len(store.unsent("introduction")) == 2


async def test_a_rejection_introduces_nobody() -> None:
    store = FakeNotifierStore()
    proposal = await mentoring_match(store)
    await handle_event(store, decided(proposal, approved=False))
    assert await introduce_approved(store) == 0
    assert store.unsent("introduction") == []


async def test_an_approval_waits_for_its_people() -> None:
    store = FakeNotifierStore()
    await handle_event(store, network())
    mentor, mentee = person(), person()
    await handle_event(store, mentor)
    proposal = proposed(mentor.profile.person_id, mentee.profile.person_id)
    await handle_event(store, proposal)
    await handle_event(store, decided(proposal, approved=True))
    assert await introduce_approved(store) == 0
    await handle_event(store, mentee)
    assert await introduce_approved(store) == 1


async def test_an_erasure_cancels_what_was_queued_about_them() -> None:
    store = FakeNotifierStore()
    proposal = await mentoring_match(store)
    await handle_event(store, decided(proposal, approved=True))
    await introduce_approved(store)
    await handle_event(store, PersonErased(entity_key="m", person_id=proposal.mentee_id))
    assert store.unsent() == []


async def test_a_self_service_link_goes_to_a_known_person_once_per_request() -> None:
    store = FakeNotifierStore()
    someone = person()
    await handle_event(store, someone)
    request = SelfServiceLinkRequested(entity_key="p", person_id=someone.profile.person_id)
    await handle_event(store, request)
    await handle_event(store, request)  # the same request again: one email
    [email] = store.unsent("self_service_link")
    assert (email.dedupe_key, email.recipient_email) == (
        f"self_service_link:{request.event_id}",
        someone.profile.email,
    )
    await handle_event(store, SelfServiceLinkRequested(entity_key="p", person_id=uuid4()))
    assert len(store.unsent("self_service_link")) == 1  # nobody known: nothing sent


@given(
    host=st.sampled_from([None, "host@trust.example"]), home=st.sampled_from([None, "h@t.example"])
)
def test_a_secondment_introduces_the_candidate_and_each_trust_or_tells_the_coordinators(
    host: str | None, home: str | None
) -> None:
    candidate = Person(uuid4(), "Cand", "cand@example.org", "HOME")
    proposal = proposed(uuid4(), candidate.id, MatchKind.SECONDMENT)
    coordinators = [c.model_dump(mode="json") for c in COORDINATORS]
    emails = secondment_introductions(
        proposal, candidate, Trust("HOST", "Host", host), Trust("HOME", "Home", home), coordinators
    )
    keys = {e.dedupe_key for e in emails}
    assert f"introduction:{proposal.match_id}:{candidate.id}" in keys
    for side, code, contact in (("host", "HOST", host), ("home", "HOME", home)):
        if contact:
            assert f"introduction:{proposal.match_id}:trust:{side}:{code}" in keys
        else:
            assert {
                f"trust_contact_missing:{proposal.match_id}:{side}:{c['email'].lower()}"
                for c in coordinators
            } <= keys
    assert len(keys) == len(emails)  # no two emails share a dedupe key


ADDRESSES = st.builds(
    "{}@{}.example".format,
    st.text(alphabet="aBcDé", min_size=1, max_size=6),
    st.text(alphabet="nOrTh", min_size=1, max_size=6),
)


@given(st.lists(ADDRESSES, max_size=5))
def test_each_coordinator_address_gets_one_announcement_whatever_its_case(
    addresses: list[str],
) -> None:
    match_id = uuid4()
    coordinators = [{"name": "C", "email": a} for a in addresses + [a.upper() for a in addresses]]
    emails = proposal_emails(Unannounced(match_id, coordinators))
    assert {e.dedupe_key for e in emails} == {f"proposal:{match_id}:{a.lower()}" for a in addresses}


# --- trusts: sign-in links, consent requests and their one reminder ---------------------------

TRUST_CONTACTS = (TrustContact(name="Tara", email="tara@host.example"),)


def trust(code: str = "T1", contacts: tuple[TrustContact, ...] = TRUST_CONTACTS) -> TrustUpserted:
    return TrustUpserted(
        entity_key=code,
        trust_code=code,
        name=f"Trust {code}",
        region="Y56",
        network_id="north",
        contacts=contacts,
    )


def consent_requested(match_id: UUID, deadline: datetime) -> ConsentRequested:
    return ConsentRequested(
        entity_key=str(match_id),
        match_id=match_id,
        network_id="north",
        party=ConsentParty.HOST,
        trust_code="T1",
        deadline=deadline,
    )


async def test_a_sign_in_link_goes_only_to_a_current_contact_of_the_trust() -> None:
    store = FakeNotifierStore()
    await handle_event(store, trust())
    asked = TrustSignInRequested(
        entity_key="T1", trust_code="T1", contact_email="tara@host.example"
    )
    stranger = TrustSignInRequested(entity_key="T1", trust_code="T1", contact_email="x@y.example")
    for event in (asked, asked, stranger):
        await handle_event(store, event)
    [email] = store.unsent("trust_sign_in")
    assert (email.recipient_email, email.context) == ("tara@host.example", {"trust_code": "T1"})


async def test_a_consent_request_is_emailed_once_and_reminded_once_before_its_deadline() -> None:
    store = FakeNotifierStore()
    await handle_event(store, trust())
    match_id, now = uuid4(), datetime(2026, 12, 3, 12, tzinfo=UTC)
    request = consent_requested(match_id, now + timedelta(days=7))
    await handle_event(store, request)
    await handle_event(store, request)  # redelivered
    assert len(store.unsent("consent_request")) == 1
    lead = timedelta(days=2)
    assert await remind_consents(store, now, lead) == 0  # not due yet
    assert await remind_consents(store, now + timedelta(days=5, hours=1), lead) == 1
    assert await remind_consents(store, now + timedelta(days=6), lead) == 0  # once
    [reminder] = store.unsent("consent_reminder")
    assert reminder.context == {"party": "host", "trust_code": "T1"}


async def test_an_answer_cancels_the_unsent_requests_and_its_reminder() -> None:
    store = FakeNotifierStore()
    await handle_event(store, trust())
    match_id, now = uuid4(), datetime.now(UTC)
    await handle_event(store, consent_requested(match_id, now + timedelta(days=1)))
    answered = ConsentRecorded(
        entity_key=str(match_id),
        match_id=match_id,
        network_id="north",
        party=ConsentParty.HOST,
        trust_code="T1",
        given=True,
        answered_by="tara@host.example",
        via="web",
    )
    await handle_event(store, answered)
    assert store.unsent("consent_request") == []
    assert await remind_consents(store, now, timedelta(days=2)) == 0


@pytest.mark.parametrize(
    ("status", "introduced"),
    [
        (SecondmentStatus.AGREED, True),
        (SecondmentStatus.REFUSED, False),
        (SecondmentStatus.NOT_AGREED, False),
    ],
)
async def test_an_approved_secondment_is_introduced_only_once_agreed(
    status: SecondmentStatus, introduced: bool
) -> None:
    store = FakeNotifierStore()
    await handle_event(store, network())
    for code in ("T1", "T2"):
        await handle_event(store, trust(code))
    candidate = person("T2")
    await handle_event(store, candidate)
    placement_id = uuid4()
    store.hosts[placement_id] = "T1"
    proposal = proposed(placement_id, candidate.profile.person_id, MatchKind.SECONDMENT)
    await handle_event(store, proposal)
    await handle_event(store, decided(proposal, approved=True))
    assert await introduce_approved(store) == 0  # approved, not yet agreed by the trusts
    changed = SecondmentChanged(
        entity_key=str(proposal.match_id),
        match_id=proposal.match_id,
        network_id="north",
        status=status,
    )
    await handle_event(store, changed)
    assert await introduce_approved(store) == (1 if introduced else 0)

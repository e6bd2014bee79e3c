"""The notifier's event handlers and their decisions (which emails, to whom, under which
dedupe key; what a withdrawal or a decision cancels), on an in-memory store: no database, no
SMTP (the same handlers run on PostgreSQL in tests/integration/test_notifier_mail.py)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notifier.compose import compose_join_email, compose_secondment_request
from services.notifier.handlers import (
    JOIN_PURPOSE,
    Approved,
    ConsentAsked,
    Contact,
    DigestDue,
    DigestEntry,
    Person,
    QueuedEmail,
    Trust,
    Unannounced,
    announce_proposals,
    ask_consents,
    digest_day,
    handle_event,
    introduce_approved,
    proposal_emails,
    queue_digests,
    remind_consents,
    secondment_introductions,
)
from shared.events import (
    ConsentParty,
    ConsentRecorded,
    ConsentRequested,
    Coordinator,
    JoinEmailPurpose,
    JoinEmailRequested,
    MatchByHand,
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
    TrustContact,
    TrustSignInRequested,
    TrustUpserted,
)
from shared.matching import MatchKind
from shared.observability.context import Carrier
from shared.people import Role
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
        self.digest_items: dict[tuple[str, UUID], DigestEntry] = {}
        self.in_digest: dict[tuple[str, UUID], str] = {}  # which digest listed the entry
        self.contacts: dict[str, list[Contact]] = {}
        self.consents: dict[tuple[UUID, str], tuple[ConsentRequested, bool, bool]] = {}
        self.agreed: set[UUID] = set()
        self.asked: set[tuple[UUID, str]] = set()

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
            Unannounced(p.match_id, self.networks[p.network_id], network_id=p.network_id)
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

    async def add_to_digests(self, entries: Sequence[DigestEntry]) -> None:
        for entry in entries:
            self.digest_items.setdefault((entry.recipient_email, entry.match_id), entry)

    def _waiting(self) -> list[DigestEntry]:
        return [
            e
            for key, e in self.digest_items.items()
            if key not in self.in_digest
            and e.match_id not in self.withdrawn
            and e.match_id not in self.decisions
        ]

    async def digests_due(self) -> list[DigestDue]:
        return sorted(
            {DigestDue(e.network_id, e.recipient_name, e.recipient_email) for e in self._waiting()},
            key=lambda due: (due.network_id, due.recipient_email),
        )

    async def queue_digest(self, email: QueuedEmail, due: DigestDue) -> bool:
        if email.dedupe_key in self.emails:
            return False
        self.emails[email.dedupe_key] = email
        for key, entry in self.digest_items.items():
            if key not in self.in_digest and entry.recipient_email == due.recipient_email:
                self.in_digest[key] = email.dedupe_key
        return True

    async def trust_contacts(self, code: str) -> list[Contact]:
        return self.contacts.get(code, [])

    async def keep_consent_request(self, event: ConsentRequested) -> None:
        self.consents.setdefault((event.match_id, event.party.value), (event, False, False))

    async def consents_to_ask(self) -> list[ConsentAsked]:
        return [
            ConsentAsked(m, p, event.trust_code)
            for (m, p), (event, answered, _) in self.consents.items()
            if (m, p) not in self.asked and not answered and self.contacts.get(event.trust_code)
        ]

    async def mark_asked(self, asked: Sequence[ConsentAsked]) -> None:
        self.asked |= {(a.match_id, a.party) for a in asked}

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
            if (m, p) in self.asked
            and not answered
            and not reminded
            and event.deadline <= deadline_before
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


async def test_a_match_by_hand_introduces_both_and_is_never_announced() -> None:
    store = FakeNotifierStore()
    mentor, mentee = person(), person()
    for event in (network(), mentor, mentee):
        await handle_event(store, event)
    shown = proposed(mentor.profile.person_id, mentee.profile.person_id)
    made = MatchByHand(
        provider_id=shown.provider_id,
        mentee_id=shown.mentee_id,
        score=shown.score,
        explanation=shown.explanation,
    )
    await handle_event(store, decided(shown, approved=True).model_copy(update={"by_hand": made}))
    assert await announce_proposals(store) == 0
    assert await introduce_approved(store) == 1
    assert {e.person_id for e in store.unsent("introduction")} == {
        shown.provider_id,
        shown.mentee_id,
    }


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


@pytest.mark.parametrize("agreed", [True, False])
async def test_a_member_of_staff_hears_their_trusts_answer_once_and_not_its_reason(
    agreed: bool,
) -> None:
    store = FakeNotifierStore()
    someone = person()
    await handle_event(store, someone)
    answered = SecondmentRequestDecided(
        entity_key="p",
        person_id=someone.profile.person_id,
        trust_code="T1",
        agreed=agreed,
        reason="not during the audit",
        decided_by="lead@trust.example",
    )
    await handle_event(store, answered)
    await handle_event(store, answered)  # delivered again: one email
    [email] = store.unsent("secondment_request")
    assert (email.recipient_email, email.context) == (
        someone.profile.email,
        {"agreed": "yes" if agreed else "no"},
    )
    rendered = compose_secondment_request("Rhea", agreed, "https://bridgework.example/me/t")
    assert ("agreed" in rendered.subject) is agreed
    assert "https://bridgework.example/me/t" in rendered.text
    assert "not during the audit" not in rendered.text + rendered.html


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


def join_event(purpose: JoinEmailPurpose) -> JoinEmailRequested:
    return JoinEmailRequested(
        entity_key="a",
        application_id=uuid4(),
        purpose=purpose,
        role=Role.MENTEE,
        name="Amir",
        email="amir@example.org",
        network_name="North",
        token_id=uuid4() if purpose is JoinEmailPurpose.CONFIRM_ADDRESS else None,
        person_id=uuid4() if purpose is JoinEmailPurpose.WELCOME else None,
    )


async def test_each_join_email_is_queued_once_to_the_address_in_the_event() -> None:
    store = FakeNotifierStore()
    event = join_event(JoinEmailPurpose.CONFIRM_ADDRESS)
    await handle_event(store, event)
    await handle_event(store, event)
    [email] = store.unsent(JOIN_PURPOSE)
    assert (email.recipient_email, email.context["purpose"], email.person_id) == (
        "amir@example.org",
        "confirm_address",
        None,
    )
    assert email.context["token_id"] == str(event.token_id)


@pytest.mark.parametrize("purpose", list(JoinEmailPurpose))
def test_join_emails_say_what_happened(purpose: JoinEmailPurpose) -> None:
    rendered = compose_join_email(purpose.value, "Amir <b>", "mentee", "North", "https://x/l", 2)
    assert "Amir &lt;b&gt;" in rendered.html
    assert "Amir <b>" in rendered.text
    if purpose is JoinEmailPurpose.DECLINED:
        assert "Your details have been deleted" in rendered.text
        assert "https://x/l" not in rendered.text
    else:
        assert "https://x/l" in rendered.text
        assert "https://x/l" in rendered.html


def digest_network() -> NetworkUpserted:
    """Cora reads one email a day; Dev one per proposal."""
    daily = Coordinator(
        name="Cora", email="Cora@North.example", proposal_emails=ProposalEmails.DAILY
    )
    return network().model_copy(update={"coordinators": (daily, COORDINATORS[1])})


async def test_a_daily_digest_goes_once_a_day_and_not_once_per_proposal() -> None:
    store = FakeNotifierStore()
    mentor, mentee = person(), person()
    for event in (digest_network(), mentor, mentee):
        await handle_event(store, event)
    ids = (mentor.profile.person_id, mentee.profile.person_id)
    proposals = [proposed(*ids) for _ in range(307)]  # one import's worth
    for proposal in proposals:
        await handle_event(store, proposal)
    assert await announce_proposals(store) == 307
    per_proposal = store.unsent("proposal")
    assert {e.recipient_email for e in per_proposal} == {"dev@north.example"}
    assert len(per_proposal) == 307

    monday, tuesday = date(2026, 12, 7), date(2026, 12, 8)
    assert await queue_digests(store, None) == 0  # before the digest hour: nothing
    assert await queue_digests(store, monday) == 1
    assert await queue_digests(store, monday) == 0  # once a day, however often it runs
    [digest] = store.unsent("digest")
    assert digest.dedupe_key == "digest:north:cora@north.example:2026-12-07"
    assert digest.context == {"network_id": "north", "day": "2026-12-07"}
    assert len(store.in_digest) == 307

    # Later that day: a new proposal waits for Tuesday's digest; a decided one is in none.
    later, decided_first = proposed(*ids), proposed(*ids)
    rejected = decided(decided_first, approved=False)
    for news in (later, decided_first, rejected):
        await handle_event(store, news)
    await announce_proposals(store)
    assert await queue_digests(store, monday) == 0
    assert await queue_digests(store, tuesday) == 1
    assert [k for k, v in store.in_digest.items() if v.endswith("2026-12-08")] == [
        ("cora@north.example", later.match_id)
    ]
    assert await queue_digests(store, date(2026, 12, 9)) == 0  # nothing new: no email


def test_the_digest_hour_is_uk_time() -> None:
    winter = datetime(2026, 12, 7, 6, 59, tzinfo=UTC)
    assert digest_day(winter, 7) is None
    assert digest_day(winter + timedelta(minutes=1), 7) == date(2026, 12, 7)
    summer = datetime(2026, 7, 6, 6, 0, tzinfo=UTC)  # 07:00 in London (BST)
    assert digest_day(summer, 7) == date(2026, 7, 6)


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


async def test_a_consent_request_waits_for_its_trusts_contacts_and_never_precedes_reminding() -> (
    None
):
    store = FakeNotifierStore()
    match_id, now = uuid4(), datetime.now(UTC)
    await handle_event(store, consent_requested(match_id, now + timedelta(hours=1)))
    assert await ask_consents(store) == 0  # the trust is not known yet
    assert await remind_consents(store, now, timedelta(days=2)) == 0  # nor reminded before
    await handle_event(store, trust())
    assert await ask_consents(store) == 1
    assert await remind_consents(store, now, timedelta(days=2)) == 1
    assert [e.purpose for e in store.unsent()] == ["consent_request", "consent_reminder"]


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
    assert await ask_consents(store) == 1
    assert await ask_consents(store) == 0
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
    await ask_consents(store)
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

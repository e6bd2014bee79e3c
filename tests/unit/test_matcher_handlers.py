"""The matcher's event handlers and their decisions, on an in-memory store: no database, no
Kafka (the same handlers run on PostgreSQL in tests/integration)."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.matcher.handlers import (
    ProposalRow,
    handle_events,
    networks_touched,
    restated_status,
    secondment_outcome,
    still_pending,
    taken_into_upserts,
    withdrawals,
)
from services.matcher.round_input import open_mentee, open_mentor, open_placement
from shared.events import (
    AvailabilityChanged,
    Event,
    MatchByHand,
    MatchDecided,
    MatchingWeightsApplied,
    MatchProposed,
    MatchRestated,
    MatchWithdrawn,
    NetworkUpserted,
    PersonErased,
    PersonProfile,
    PersonUpserted,
    PlacementProfile,
    PlacementUpserted,
    PlacementWithdrawn,
    ScoreWeights,
    SecondmentChanged,
    SecondmentStatus,
    TrustUpserted,
)
from shared.matching import Explanation, MatchKind
from shared.observability.context import Carrier
from shared.people import AspiredRole, MentorPreferences, Role, Sector, SkillGap, SkillLevel
from shared.regions import Region
from tests.support.factories import person_profile as profile


class FakeMatcherStore:
    """The matcher's tables as dictionaries (``handlers.MatcherStore``)."""

    def __init__(self, *networks: str) -> None:
        self.networks = set(networks or ("north", "south"))
        self.trusts: dict[str, str] = {}  # code -> network
        self.weights: dict[str, tuple[int, ScoreWeights | None]] = {}
        self.people: dict[UUID, PersonProfile] = {}
        self.paused: dict[UUID, bool] = {}
        self.placements: dict[UUID, PlacementProfile] = {}
        self.proposals: dict[UUID, ProposalRow] = {}
        self.dirty: dict[str, Carrier] = {}
        self.published: list[Event] = []

    async def add_network(self, network_id: str) -> None:
        self.networks.add(network_id)

    async def move_trust_members(self, trust_code: str, network_id: str) -> list[UUID]:
        people = [p for p in self.people.values() if p.trust_code == trust_code]
        for p in people:
            self.people[p.person_id] = p.model_copy(update={"network_id": network_id})
        hosted = [p for p in self.placements.values() if p.host_trust_code == trust_code]
        for pl in hosted:
            self.placements[pl.placement_id] = pl.model_copy(update={"network_id": network_id})
        return [p.person_id for p in people] + [pl.placement_id for pl in hosted]

    async def move_proposals(self, match_ids: Collection[UUID], network_id: str) -> None:
        for match_id in match_ids:
            self._set(match_id, network_id=network_id)

    async def upsert_trust(self, event: TrustUpserted) -> str | None:
        previous = self.trusts.get(event.trust_code)
        self.trusts[event.trust_code] = event.network_id
        return previous

    async def upsert_people(
        self,
        profiles: Sequence[PersonProfile],
        availability: Sequence[AvailabilityChanged | None] | None = None,
    ) -> dict[UUID, str]:
        previous = {
            p.person_id: self.people[p.person_id].network_id
            for p in profiles
            if p.person_id in self.people
        }
        self.people.update({p.person_id: p for p in profiles})
        for change in availability or ():
            if change is not None:
                self.paused[change.person_id] = change.paused
        return previous

    async def change_availabilities(
        self, changes: Sequence[AvailabilityChanged]
    ) -> dict[UUID, str]:
        known = [c for c in changes if c.person_id in self.people]
        for change in known:
            self.paused[change.person_id] = change.paused
        return {c.person_id: self.people[c.person_id].network_id for c in known}

    async def delete_person(self, person_id: UUID) -> tuple[str | None, list[ProposalRow]]:
        person = self.people.pop(person_id, None)
        removed = await self.proposals_naming([person_id])
        for proposal in removed:
            del self.proposals[proposal.match_id]
        return (person.network_id if person else None), removed

    async def upsert_placement(self, placement: PlacementProfile) -> None:
        self.placements[placement.placement_id] = placement

    async def delete_placement(self, placement_id: UUID) -> str | None:
        placement = self.placements.pop(placement_id, None)
        return placement.network_id if placement else None

    async def proposals_naming(self, ids: Collection[UUID]) -> list[ProposalRow]:
        return [p for p in self.proposals.values() if {p.provider_id, p.mentee_id} & set(ids)]

    async def proposal(self, match_id: UUID) -> ProposalRow | None:
        return self.proposals.get(match_id)

    async def withdraw(self, match_ids: Collection[UUID]) -> list[ProposalRow]:
        for match_id in match_ids:
            self._set(match_id, status="withdrawn")
        return [self.proposals[m] for m in match_ids]

    async def record_decision(self, match_id: UUID, status: str, decided_at: datetime) -> None:
        self._set(match_id, status=status)

    async def add_approved(self, match: MatchProposed, decided_at: datetime) -> None:
        self.proposals.setdefault(
            match.match_id,
            ProposalRow(
                match.match_id, match.network_id, "approved", match.provider_id, match.mentee_id
            ),
        )

    async def record_closing(self, match_id: UUID, outcome: str, closed_at: datetime) -> None:
        self._set(match_id, status="closed")

    async def restore_proposal(self, event: MatchRestated, status: str) -> bool:
        named = [event.mentee_id]
        if event.kind is MatchKind.MENTORING:
            named.append(event.provider_id)
        live = {
            (p.provider_id, p.mentee_id)
            for p in self.proposals.values()
            if p.status in ("pending", "approved")
        }
        pair = (event.provider_id, event.mentee_id)
        if (
            event.match_id in self.proposals
            or (status in ("pending", "approved") and pair in live)
            or not all(n in self.people for n in named)
        ):
            return False
        self.proposals[event.match_id] = ProposalRow(
            event.match_id, event.network_id, status, event.provider_id, event.mentee_id
        )
        return True

    async def set_weights(self, event: MatchingWeightsApplied) -> bool:
        if self.weights.get(event.network_id, (0, None))[0] >= event.version:
            return False
        self.weights[event.network_id] = (event.version, event.weights)
        return True

    async def mark_dirty(self, marks: Mapping[str, Carrier]) -> None:
        self.dirty.update({n: c for n, c in marks.items() if n in self.networks})

    async def publish(self, events: Sequence[Event]) -> None:
        self.published += events

    def _set(self, match_id: UUID, **changes: Any) -> None:
        self.proposals[match_id] = dataclasses.replace(self.proposals[match_id], **changes)

    def propose(self, network_id: str, provider: UUID, mentee: UUID, status: str) -> UUID:
        match_id = uuid4()
        self.proposals[match_id] = ProposalRow(match_id, network_id, status, provider, mentee)
        return match_id


def upserted(p: PersonProfile) -> PersonUpserted:
    return PersonUpserted(entity_key=str(p.person_id), profile=p)


def decided(match_id: UUID, approved: bool) -> MatchDecided:
    return MatchDecided(
        entity_key=str(match_id),
        match_id=match_id,
        network_id="north",
        approved=approved,
        decided_by="coordinator",
    )


def placement(network: str = "north", places: int = 1) -> PlacementProfile:
    return PlacementProfile(
        placement_id=uuid4(),
        host_trust_code="T1",
        network_id=network,
        region=Region.NORTH_WEST,
        role="Data lead",
        skills_developed=(SkillLevel(skill="cyber-security", level=5),),
        months=6,
        fte=0.5,
        places=places,
    )


async def test_a_person_marks_the_network_they_joined_and_the_one_they_left() -> None:
    store = FakeMatcherStore()
    person = profile("north")
    await handle_events(store, [upserted(person)])
    assert set(store.dirty) == {"north"}
    store.dirty.clear()
    await handle_events(store, [upserted(person.model_copy(update={"network_id": "south"}))])
    assert set(store.dirty) == {"north", "south"}
    assert store.people[person.person_id].network_id == "south"


async def test_a_network_mark_carries_the_latest_change_that_touched_it() -> None:
    store = FakeMatcherStore()
    first, second = upserted(profile("north")), upserted(profile("north"))
    contexts = {first.event_id: {"correlation_id": "first"}, second.event_id: {"x": "second"}}
    await handle_events(store, [first, second], contexts)
    assert store.dirty == {"north": {"x": "second"}}


async def test_an_availability_change_of_someone_unknown_changes_nothing() -> None:
    store = FakeMatcherStore()
    change = AvailabilityChanged(
        entity_key="x", person_id=uuid4(), paused=True, capacity=0, hours_per_month=0
    )
    await handle_events(store, [change])
    assert store.dirty == {}


def availability_of(p: PersonProfile, paused: bool) -> AvailabilityChanged:
    return AvailabilityChanged(
        entity_key=str(p.person_id),
        person_id=p.person_id,
        paused=paused,
        capacity=1,
        hours_per_month=2,
    )


def test_only_availability_straight_after_its_persons_profile_is_taken_into_it() -> None:
    ann, bob = profile("north"), profile("north")
    ann_in, bob_in = upserted(ann), upserted(bob)
    ann_pauses, ann_resumes = availability_of(ann, True), availability_of(ann, False)
    bob_pauses = availability_of(bob, True)
    bob_leaves = PersonErased(entity_key=str(bob.person_id), person_id=bob.person_id)
    events = [ann_in, bob_in, ann_pauses, bob_leaves, bob_pauses, ann_resumes]
    left, taken = taken_into_upserts(events)
    # Bob's erasure comes between his profile and his change: both stay events of their own.
    assert left == [ann_in, bob_in, bob_leaves, bob_pauses]
    assert taken == {ann_in.event_id: [ann_pauses, ann_resumes]}


async def test_an_erasure_forgets_the_person_and_withdraws_only_what_was_pending() -> None:
    store = FakeMatcherStore()
    mentor, mentee, other = profile(), profile(role=Role.MENTEE), profile(role=Role.MENTEE)
    await handle_events(store, [upserted(mentor), upserted(mentee), upserted(other)])
    pending = store.propose("north", mentor.person_id, mentee.person_id, "pending")
    store.propose("north", mentor.person_id, other.person_id, "approved")
    await handle_events(store, [PersonErased(entity_key="m", person_id=mentor.person_id)])
    assert mentor.person_id not in store.people
    assert store.proposals == {}  # every proposal naming them is forgotten
    [withdrawn] = store.published
    assert isinstance(withdrawn, MatchWithdrawn)
    assert (withdrawn.match_id, withdrawn.reason) == (pending, "a participant left Bridgework")


async def test_a_placement_withdrawal_withdraws_its_pending_proposals_not_its_decided_ones() -> (
    None
):
    store = FakeMatcherStore()
    offered = placement()
    await handle_events(store, [PlacementUpserted(entity_key="p", placement=offered)])
    pending = store.propose("north", offered.placement_id, uuid4(), "pending")
    approved = store.propose("north", offered.placement_id, uuid4(), "approved")
    store.dirty.clear()
    await handle_events(
        store, [PlacementWithdrawn(entity_key="p", placement_id=offered.placement_id)]
    )
    assert store.proposals[pending].status == "withdrawn"
    assert store.proposals[approved].status == "approved"
    assert [e.match_id for e in store.published] == [pending]  # type: ignore[attr-defined]
    assert set(store.dirty) == {"north"}
    assert offered.placement_id not in store.placements


async def test_a_decision_on_a_pending_proposal_is_recorded_and_asks_for_a_round() -> None:
    store = FakeMatcherStore()
    match_id = store.propose("north", uuid4(), uuid4(), "pending")
    await handle_events(store, [decided(match_id, approved=False)])
    assert store.proposals[match_id].status == "rejected"
    assert set(store.dirty) == {"north"}


async def test_a_decision_about_a_forgotten_proposal_changes_nothing() -> None:
    store = FakeMatcherStore()
    await handle_events(store, [decided(uuid4(), approved=True)])
    assert (store.proposals, store.dirty) == ({}, {})


async def test_a_trust_marks_its_network() -> None:
    store = FakeMatcherStore()
    trust = TrustUpserted(
        entity_key="T1", trust_code="T1", name="T", region=Region.LONDON, network_id="north"
    )
    await handle_events(store, [trust])
    assert (store.trusts, set(store.dirty)) == ({"T1": "north"}, {"north"})


@pytest.mark.parametrize("status", ["pending", "withdrawn", "approved"])
async def test_a_decision_applies_whatever_the_proposals_state(status: str) -> None:
    """Issue 14, item 5: a round withdrew the proposal before the coordinator's rejection
    arrived; the rejection still counts (the pair is not proposed again)."""
    store = FakeMatcherStore()
    match_id = store.propose("north", uuid4(), uuid4(), status)
    await handle_events(store, [decided(match_id, approved=False)])
    assert store.proposals[match_id].status == "rejected"
    assert set(store.dirty) == {"north"}


async def test_the_same_decision_again_changes_nothing() -> None:
    store = FakeMatcherStore()
    match_id = store.propose("north", uuid4(), uuid4(), "rejected")
    await handle_events(store, [decided(match_id, approved=False)])
    assert (store.proposals[match_id].status, store.dirty) == ("rejected", {})


def by_hand(mentor: UUID, mentee: UUID) -> MatchDecided:
    match_id = uuid4()
    made = MatchByHand(
        provider_id=mentor,
        mentee_id=mentee,
        score=0.5,
        explanation=Explanation(skills_covered=(), region_reason="same region", parts=()),
    )
    return MatchDecided(
        entity_key=str(match_id),
        match_id=match_id,
        network_id="north",
        approved=True,
        decided_by="cora@example.org",
        by_hand=made,
    )


async def test_a_match_by_hand_is_kept_as_an_approved_match_and_asks_for_a_round() -> None:
    store = FakeMatcherStore()
    mentor, mentee = uuid4(), uuid4()
    event = by_hand(mentor, mentee)
    await handle_events(store, [event, event.model_copy(update={"event_id": uuid4()})])
    assert store.proposals == {
        event.match_id: ProposalRow(event.match_id, "north", "approved", mentor, mentee)
    }
    assert set(store.dirty) == {"north"}


def test_a_match_by_hand_stands_for_its_proposal_and_cannot_be_a_rejection() -> None:
    event = by_hand(uuid4(), uuid4())
    proposal = event.proposal()
    assert isinstance(proposal, MatchProposed)
    assert (proposal.match_id, proposal.score) == (event.match_id, 0.5)
    assert decided(uuid4(), approved=True).proposal() is None
    with pytest.raises(ValueError, match="approved one"):
        MatchDecided.model_validate({**event.model_dump(), "approved": False})


def trust(code: str, network: str) -> TrustUpserted:
    return TrustUpserted(
        entity_key=code, trust_code=code, name=code, region=Region.LONDON, network_id=network
    )


async def test_a_trust_that_moves_takes_its_people_placements_and_proposals() -> None:
    """Issue 14, item 6."""
    store = FakeMatcherStore()
    mover, stayer = profile(trust_code="T1"), profile(role=Role.MENTEE, trust_code="T2")
    hosted = placement()
    await handle_events(
        store,
        [
            trust("T1", "north"),
            trust("T2", "north"),
            upserted(mover),
            upserted(stayer),
            PlacementUpserted(entity_key="p", placement=hosted),
        ],
    )
    pending = store.propose("north", mover.person_id, stayer.person_id, "pending")
    rejected = store.propose("north", mover.person_id, uuid4(), "rejected")
    store.dirty.clear()
    await handle_events(store, [trust("T1", "south")])
    assert store.people[mover.person_id].network_id == "south"
    assert store.people[stayer.person_id].network_id == "north"
    assert store.placements[hosted.placement_id].network_id == "south"  # hosted by T1
    assert store.proposals[pending].status == "withdrawn"
    [withdrawal] = store.published
    assert (withdrawal.match_id, withdrawal.network_id) == (pending, "north")  # type: ignore[attr-defined]
    assert store.proposals[rejected].network_id == "south"  # the rejection follows them
    assert set(store.dirty) == {"north", "south"}


async def test_a_trust_upserted_again_in_its_network_moves_nobody() -> None:
    store = FakeMatcherStore()
    person = profile(trust_code="T1")
    await handle_events(store, [trust("T1", "north"), upserted(person)])
    pending = store.propose("north", person.person_id, uuid4(), "pending")
    await handle_events(store, [trust("T1", "north")])
    assert (store.proposals[pending].status, store.published) == ("pending", [])


async def test_events_for_a_network_that_does_not_exist_wait_for_it() -> None:
    """Issue 14, item 7: nothing of an unknown network is marked for a round (so neither
    solved nor proposed) until its NetworkUpserted arrives; then it is."""
    store = FakeMatcherStore("north")
    newcomer = profile("ghost")
    await handle_events(store, [trust("G1", "ghost"), upserted(newcomer)])
    assert newcomer.person_id in store.people  # kept, not lost
    assert store.dirty == {}
    await handle_events(
        store,
        [NetworkUpserted(entity_key="ghost", network_id="ghost", name="G", coordinators=())],
    )
    assert set(store.dirty) == {"ghost"}


@given(st.lists(st.sampled_from(["pending", "approved", "rejected", "withdrawn"])))
def test_a_departure_withdraws_exactly_the_undecided_proposals(statuses: list[str]) -> None:
    rows = [ProposalRow(uuid4(), "north", s, uuid4(), uuid4()) for s in statuses]
    kept = still_pending(rows)
    assert [r.match_id for r in kept] == [r.match_id for r in rows if r.status == "pending"]
    events = withdrawals(kept, "why")
    assert [(e.match_id, e.network_id, e.reason) for e in events] == [
        (r.match_id, r.network_id, "why") for r in kept
    ]


def test_the_networks_a_change_touches() -> None:
    assert networks_touched("north", None) == {"north"}
    assert networks_touched("north", "north") == {"north"}
    assert networks_touched("north", "south") == {"north", "south"}
    assert networks_touched(None) == set()


# --- capacity rules (round_input.py): who is still open for a match ------------------------


@given(
    capacity=st.integers(0, 5),
    approved=st.integers(0, 6),
    paused=st.booleans(),
)
def test_a_mentor_is_open_for_the_capacity_their_approved_matches_leave(
    capacity: int, approved: int, paused: bool
) -> None:
    mentor = profile(skills=(SkillLevel(skill="cyber-security", level=6),), capacity=capacity)
    row = {
        "profile_json": mentor.model_dump_json(),
        "capacity": float(capacity),
        "approved_as_provider": approved,
        "paused": paused,
        "hours_per_month": 4.0,
    }
    opened = open_mentor(row)
    if paused or capacity - approved <= 0:
        assert opened is None
    else:
        assert opened is not None
        assert opened.capacity == capacity - approved


@given(mentoring=st.integers(0, 2), secondment=st.integers(0, 2), open_to=st.booleans())
def test_an_approved_match_ends_only_its_own_kind_of_search(
    mentoring: int, secondment: int, open_to: bool
) -> None:
    mentee = profile(
        role=Role.MENTEE,
        gaps=(SkillGap(skill="cyber-security", current=2, target=5),),
        open_to_secondment=open_to,
    )
    row = {
        "profile_json": mentee.model_dump_json(),
        "paused": False,
        "approved_mentoring": mentoring,
        "approved_secondment": secondment,
    }
    opened = open_mentee(row)
    seeking = mentoring == 0
    secondment_open = open_to and secondment == 0
    if not (seeking or secondment_open):
        assert opened is None
    else:
        assert opened is not None
        assert (opened.seeking_mentoring, opened.open_to_secondment) == (seeking, secondment_open)
    assert open_mentee({**row, "paused": True}) is None  # withdrawn: matched with nobody


@given(places=st.integers(1, 4), taken=st.integers(0, 5))
def test_a_placement_offers_the_places_its_approved_matches_leave(places: int, taken: int) -> None:
    offered = placement(places=places)
    opened = open_placement({"profile": offered.model_dump(mode="json"), "taken": taken})
    assert (opened.places if opened else 0) == max(places - taken, 0)


def test_stated_preferences_and_chains_reach_the_engine_from_stored_profiles() -> None:
    mentor = profile(
        skills=(SkillLevel(skill="cyber-security", level=6),),
        prefers=MentorPreferences(sectors=(Sector.SOCIAL_CARE,), aspirations=(AspiredRole.CCIO,)),
    )
    opened_mentor = open_mentor(
        {
            "profile_json": mentor.model_dump_json(),
            "capacity": 2.0,
            "approved_as_provider": 0,
            "paused": False,
            "hours_per_month": 4.0,
        }
    )
    assert opened_mentor is not None
    assert opened_mentor.prefers == mentor.prefers
    ranked, excluded = uuid4(), uuid4()
    mentee = profile(
        role=Role.MENTEE,
        gaps=(SkillGap(skill="cyber-security", current=2, target=5),),
        ranked_mentors=(ranked, mentor.person_id),
        excluded_mentors=(excluded,),
        aspires_to=AspiredRole.CCIO,
    )
    opened = open_mentee(
        {
            "profile_json": mentee.model_dump_json(),
            "paused": False,
            "approved_mentoring": 0,
            "approved_secondment": 0,
        }
    )
    assert opened is not None
    assert opened.ranked_mentors == (str(ranked), str(mentor.person_id))
    assert opened.excluded_mentors == {str(excluded)}
    assert opened.aspires_to is AspiredRole.CCIO
    chain_start = placement().model_copy(update={"asks_nothing_back": True})
    opened_placement = open_placement({"profile": chain_start.model_dump(mode="json"), "taken": 0})
    assert opened_placement is not None
    assert opened_placement.asks_nothing_back


# --- a matcher rebuilt from nothing: matches restated by the profiles service ----------------


def restated(
    mentor: UUID,
    mentee: UUID,
    status: str = "pending",
    secondment: SecondmentStatus | None = None,
    kind: MatchKind = MatchKind.MENTORING,
) -> MatchRestated:
    match_id = uuid4()
    return MatchRestated.model_validate(
        {
            "entity_key": str(match_id),
            "match_id": match_id,
            "network_id": "north",
            "kind": kind,
            "provider_id": mentor,
            "mentee_id": mentee,
            "score": 0.8,
            "explanation": Explanation(skills_covered=(), region_reason="same region", parts=()),
            "status": status,
            "secondment": secondment,
        }
    )


async def known_pair(store: FakeMatcherStore) -> tuple[UUID, UUID]:
    mentor, mentee = profile("north", Role.MENTOR), profile("north", Role.MENTEE)
    await handle_events(store, [upserted(mentor), upserted(mentee)])
    store.dirty.clear()
    return mentor.person_id, mentee.person_id


@pytest.mark.parametrize("status", ["pending", "approved", "rejected", "withdrawn", "closed"])
async def test_a_restated_match_the_matcher_lost_is_stored_and_asks_for_a_round(
    status: str,
) -> None:
    store = FakeMatcherStore()
    event = restated(*await known_pair(store), status=status)
    await handle_events(store, [event])
    assert store.proposals[event.match_id].status == status
    assert set(store.dirty) == {"north"}

    store.dirty.clear()
    await handle_events(store, [event])  # the same restatement again changes nothing
    assert (len(store.proposals), store.dirty) == (1, {})


async def test_a_match_the_matcher_holds_keeps_its_own_state_when_restated() -> None:
    """Profiles may not have heard of the withdrawal yet: the matcher's own state stands."""
    store = FakeMatcherStore()
    mentor, mentee = await known_pair(store)
    event = restated(mentor, mentee, status="pending")
    store.proposals[event.match_id] = ProposalRow(
        event.match_id, "north", "withdrawn", mentor, mentee
    )
    await handle_events(store, [event])
    assert (store.proposals[event.match_id].status, store.dirty) == ("withdrawn", {})


async def test_a_restated_match_naming_someone_erased_since_is_not_stored() -> None:
    store = FakeMatcherStore()
    mentor, mentee = await known_pair(store)
    await handle_events(store, [PersonErased(entity_key=str(mentor), person_id=mentor)])
    store.dirty.clear()
    await handle_events(store, [restated(mentor, mentee, status="approved")])
    assert (store.proposals, store.dirty) == ({}, {})


async def test_a_restated_secondment_needs_only_its_mentee_here() -> None:
    """Its provider is a placement, which a withdrawal removes while its matches stay."""
    store = FakeMatcherStore()
    _, mentee = await known_pair(store)
    event = restated(uuid4(), mentee, status="approved", kind=MatchKind.SECONDMENT)
    await handle_events(store, [event])
    assert store.proposals[event.match_id].status == "approved"


@given(st.sampled_from(SecondmentStatus))
def test_a_restated_secondment_ends_as_its_changes_would_have_left_it(
    secondment: SecondmentStatus,
) -> None:
    """An approved secondment restated with its latest state has the status that state's
    ``secondment.changed`` gives an approved proposal."""
    event = restated(uuid4(), uuid4(), "approved", secondment, MatchKind.SECONDMENT)
    approved = ProposalRow(event.match_id, "north", "approved", event.provider_id, uuid4())
    change = SecondmentChanged(
        entity_key=str(event.match_id),
        match_id=event.match_id,
        network_id="north",
        status=secondment,
    )
    assert restated_status(event) == (secondment_outcome(approved, change) or "approved")

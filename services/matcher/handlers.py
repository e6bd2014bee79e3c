"""How each event changes the matcher's state.

The decisions (which networks a change asks a round for, which proposals a departure or a
trust's move withdraws, how a coordinator's decision applies) are pure functions at the top;
the handlers below carry them out through a ``MatcherStore`` (repository.py on PostgreSQL, an
in-memory fake in the unit tests), in the transaction of the event's batch
(shared/consuming.py)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from shared.consuming import Contexts, context_of, entity_layers
from shared.events import (
    AvailabilityChanged,
    Event,
    MatchClosed,
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
    SecondmentChanged,
    SecondmentStatus,
    TrustUpserted,
)
from shared.observability import metrics
from shared.observability.context import Carrier, attached


@dataclass(frozen=True)
class ProposalRow:
    """A proposal as the matcher keeps it."""

    match_id: UUID
    network_id: str
    status: str  # pending, approved, rejected, withdrawn or closed
    provider_id: UUID  # the mentor, or the placement
    mentee_id: UUID


# --- decisions ------------------------------------------------------------------------------


def networks_touched(*network_ids: str | None) -> set[str]:
    """The networks a change touches: the one someone is in, the one they left (if any)."""
    return {n for n in network_ids if n}


def still_pending(proposals: Iterable[ProposalRow]) -> list[ProposalRow]:
    """What a departure withdraws: the proposals nobody has decided yet. A decided one stays
    decided (its approval or rejection is the coordinator's)."""
    return [p for p in proposals if p.status == "pending"]


def withdrawals(proposals: Iterable[ProposalRow], reason: str) -> list[MatchWithdrawn]:
    """The events that tell everyone (coordinators, the notifier) a proposal no longer
    stands."""
    return [
        MatchWithdrawn(
            entity_key=str(p.match_id), match_id=p.match_id, network_id=p.network_id, reason=reason
        )
        for p in proposals
    ]


def decided_status(event: MatchDecided) -> str:
    return "approved" if event.approved else "rejected"


def decision_outcome(proposal: ProposalRow | None, event: MatchDecided) -> str | None:
    """The proposal's new status, or None when the decision changes nothing.

    A coordinator's decision applies whatever the proposal's state: profiles recorded it, so
    a round that withdrew the proposal meanwhile does not undo it (else a rejected pair could
    be proposed again). A forgotten proposal (erasure) has nothing to apply to, and the same
    decision again changes nothing."""
    status = decided_status(event)
    if proposal is None or proposal.status in (status, "closed"):
        return None  # a closed match stays closed: its life is over
    return status


def closing_applies(proposal: ProposalRow | None) -> bool:
    """Only an approved (introduced) match closes; a closing delivered again, or one for a
    match forgotten by an erasure, changes nothing."""
    return proposal is not None and proposal.status == "approved"


# What a secondment's change makes of its proposal: a trust's refusal rejects the pair (never
# proposed again); an exchange that was not agreed, or a secondment that ended, gives the place
# back (the pair may be proposed again). Its start or extension changes nothing.
SECONDMENT_STATUS = {
    SecondmentStatus.REFUSED: "rejected",
    SecondmentStatus.NOT_AGREED: "withdrawn",
    SecondmentStatus.ENDED: "withdrawn",
    SecondmentStatus.ENDED_EARLY: "withdrawn",
}


def secondment_outcome(proposal: ProposalRow | None, event: SecondmentChanged) -> str | None:
    """The proposal's new status after a secondment's change (``SECONDMENT_STATUS``), or None."""
    if proposal is None:
        return None
    status = SECONDMENT_STATUS.get(event.status)
    return None if status is None or status == proposal.status else status


def restated_status(event: MatchRestated) -> str:
    """The status a restated match has in the matcher: the profiles service's, with an approved
    secondment's later state applied as ``secondment_changed`` applied it."""
    if event.status == "approved" and event.secondment is not None:
        return SECONDMENT_STATUS.get(event.secondment, event.status)
    return event.status


def trust_moved(previous_network: str | None, network_id: str) -> bool:
    return previous_network is not None and previous_network != network_id


def after_move(proposals: Iterable[ProposalRow]) -> tuple[list[ProposalRow], list[ProposalRow]]:
    """A trust's people moved to another network: their pending proposals are withdrawn (the
    old network's coordinators no longer decide about them), and the decided ones move with
    them (a rejected pair stays rejected, an approved match keeps its capacity)."""
    pending = still_pending(proposals)
    return pending, [p for p in proposals if p not in pending]


# --- the store the handlers write through ---------------------------------------------------


class MatcherStore(Protocol):
    async def add_network(self, network_id: str) -> None: ...
    async def upsert_trust(self, event: TrustUpserted) -> str | None: ...
    async def move_trust_members(self, trust_code: str, network_id: str) -> list[UUID]: ...
    async def move_proposals(self, match_ids: Collection[UUID], network_id: str) -> None: ...
    async def upsert_people(
        self,
        profiles: Sequence[PersonProfile],
        availability: Sequence[AvailabilityChanged | None] | None = None,
    ) -> dict[UUID, str]: ...
    async def change_availabilities(
        self, changes: Sequence[AvailabilityChanged]
    ) -> dict[UUID, str]: ...
    async def delete_person(self, person_id: UUID) -> tuple[str | None, list[ProposalRow]]: ...
    async def upsert_placement(self, placement: PlacementProfile) -> None: ...
    async def delete_placement(self, placement_id: UUID) -> str | None: ...
    async def proposals_naming(self, ids: Collection[UUID]) -> list[ProposalRow]: ...
    async def proposal(self, match_id: UUID) -> ProposalRow | None: ...
    async def withdraw(self, match_ids: Collection[UUID]) -> list[ProposalRow]: ...
    async def record_decision(self, match_id: UUID, status: str, decided_at: datetime) -> None: ...
    async def add_approved(self, match: MatchProposed, decided_at: datetime) -> None: ...
    async def record_closing(self, match_id: UUID, outcome: str, closed_at: datetime) -> None: ...
    async def restore_proposal(self, event: MatchRestated, status: str) -> bool: ...
    async def set_weights(self, event: MatchingWeightsApplied) -> bool: ...
    async def mark_dirty(self, marks: Mapping[str, Carrier]) -> None: ...
    async def publish(self, events: Sequence[Event]) -> None: ...


# --- handlers -------------------------------------------------------------------------------
# Each returns the networks it changed: they are marked dirty (a round is due once they have
# gone quiet), carrying the correlation id and trace of their latest change. Only a network the
# matcher knows (its NetworkUpserted arrived) is marked: the people, trusts and placements of
# one that does not exist are kept, and wait for it (docs/events.md).


async def network_upserted(store: MatcherStore, event: NetworkUpserted) -> set[str]:
    await store.add_network(event.network_id)
    return {event.network_id}  # what waited for it is matched now


async def trust_upserted(store: MatcherStore, event: TrustUpserted) -> set[str]:
    """A trust moved to another network takes its people and placements along (profiles
    places people by their trust): their proposals follow as ``after_move`` says."""
    previous = await store.upsert_trust(event)
    if not trust_moved(previous, event.network_id):
        return {event.network_id}
    moved = await store.move_trust_members(event.trust_code, event.network_id)
    pending, decided = after_move(await store.proposals_naming(moved))
    withdrawn = await store.withdraw([p.match_id for p in pending])
    await store.publish(withdrawals(withdrawn, "a trust moved to another network"))
    await store.move_proposals([p.match_id for p in decided], event.network_id)
    return networks_touched(event.network_id, previous)


async def person_erased(store: MatcherStore, event: PersonErased) -> set[str]:
    """Forget the person and every proposal that names them; the pending ones are withdrawn."""
    network_id, removed = await store.delete_person(event.person_id)
    await store.publish(withdrawals(still_pending(removed), "a participant left Bridgework"))
    return networks_touched(network_id)


async def placement_upserted(store: MatcherStore, event: PlacementUpserted) -> set[str]:
    await store.upsert_placement(event.placement)
    return {event.placement.network_id}


async def placement_withdrawn(store: MatcherStore, event: PlacementWithdrawn) -> set[str]:
    network_id = await store.delete_placement(event.placement_id)
    cancelled = still_pending(await store.proposals_naming([event.placement_id]))
    await store.withdraw([p.match_id for p in cancelled])
    await store.publish(withdrawals(cancelled, "the placement was withdrawn"))
    return networks_touched(network_id)


async def match_decided(store: MatcherStore, event: MatchDecided) -> set[str]:
    proposal = await store.proposal(event.match_id)
    made_by_hand = event.proposal()
    if proposal is None and made_by_hand is not None:
        # A coordinator's match by hand: it holds the mentor's capacity, ends the mentee's
        # search and is never proposed again, as an approved proposal does.
        await store.add_approved(made_by_hand, event.occurred_at)
        metrics.DECISIONS.labels(outcome="approved").inc()
        return {event.network_id}
    status = decision_outcome(proposal, event)
    if proposal is None or status is None:
        return set()
    await store.record_decision(event.match_id, status, event.occurred_at)
    metrics.DECISIONS.labels(outcome=status).inc()
    return {proposal.network_id}


async def match_closed(store: MatcherStore, event: MatchClosed) -> set[str]:
    """The mentor's capacity (the placement's place) comes back, and after an early end the
    mentee seeks again (round_input.py): the network's next round takes both."""
    proposal = await store.proposal(event.match_id)
    if proposal is None or not closing_applies(proposal):
        return set()
    await store.record_closing(event.match_id, event.outcome.value, event.occurred_at)
    return {proposal.network_id}


async def secondment_changed(store: MatcherStore, event: SecondmentChanged) -> set[str]:
    proposal = await store.proposal(event.match_id)
    status = secondment_outcome(proposal, event)
    if proposal is None or status is None:
        return set()
    await store.record_decision(event.match_id, status, event.occurred_at)
    return {proposal.network_id}  # a place came back, or a pair left: a round is due


async def match_restated(store: MatcherStore, event: MatchRestated) -> set[str]:
    """A match the matcher does not hold (it was rebuilt from nothing) is stored as the profiles
    service holds it, unless its mentee or mentor is not here: erased since the restatement was
    read (the erasure forgot their matches). One it holds is kept as it is: its own events keep
    it in step."""
    if not await store.restore_proposal(event, restated_status(event)):
        return set()
    return {event.network_id}


async def one_event(store: MatcherStore, event: Event) -> set[str]:
    match event:
        case NetworkUpserted():
            return await network_upserted(store, event)
        case TrustUpserted():
            return await trust_upserted(store, event)
        case PersonErased():
            return await person_erased(store, event)
        case PlacementUpserted():
            return await placement_upserted(store, event)
        case PlacementWithdrawn():
            return await placement_withdrawn(store, event)
        case MatchDecided():
            return await match_decided(store, event)
        case MatchClosed():
            return await match_closed(store, event)
        case MatchingWeightsApplied():
            # A newer version only; the network's next round scores with them.
            return {event.network_id} if await store.set_weights(event) else set()
        case SecondmentChanged():
            return await secondment_changed(store, event)
        case MatchRestated():
            return await match_restated(store, event)
        case _:
            return set()  # not the matcher's concern (its own proposals)


# People and availability changes are many (every arrival): each layer's are written in bulk.


def taken_into_upserts(
    events: Sequence[Event],
) -> tuple[list[Event], dict[UUID, list[AvailabilityChanged]]]:
    """The events left to apply, and the availability changes each profile takes in (by the
    profile event's id): a person's availability change that comes straight after their
    profile (no other event of theirs between) is written with it, in one row write instead of
    two. An arrival is a profile and then its availability, in the same batch."""
    left: list[Event] = []
    taken: dict[UUID, list[AvailabilityChanged]] = {}
    latest_upsert: dict[str, PersonUpserted | None] = {}  # each person's last event, if one
    for event in events:
        if isinstance(event, AvailabilityChanged):
            upsert = latest_upsert.get(event.entity_key)
            if upsert is not None and upsert.profile.person_id == event.person_id:
                taken.setdefault(upsert.event_id, []).append(event)
                continue
        if event.topic is PersonUpserted.topic:
            latest_upsert[event.entity_key] = event if isinstance(event, PersonUpserted) else None
        left.append(event)
    return left, taken


async def people_upserted(
    store: MatcherStore,
    upserts: Sequence[PersonUpserted],
    taken: Mapping[UUID, Sequence[AvailabilityChanged]] | None = None,
) -> list[tuple[Event, str]]:
    """Each event with a network its person is now in or has left; each availability change
    taken into a profile (``taken_into_upserts``) with the network the profile puts them in."""
    if not upserts:
        return []
    taken = taken or {}
    last_change = [taken[e.event_id][-1] if e.event_id in taken else None for e in upserts]
    previous = await store.upsert_people([e.profile for e in upserts], last_change)
    return [
        *(
            (event, network_id)
            for event in upserts
            for network_id in sorted(
                networks_touched(event.profile.network_id, previous.get(event.profile.person_id))
            )
        ),
        *(
            (change, event.profile.network_id)
            for event in upserts
            for change in taken.get(event.event_id, ())
        ),
    ]


async def availability_changed(
    store: MatcherStore, changes: Sequence[AvailabilityChanged]
) -> list[tuple[Event, str]]:
    if not changes:
        return []
    networks = await store.change_availabilities(changes)
    return [(c, networks[c.person_id]) for c in changes if c.person_id in networks]


async def handle_events(
    store: MatcherStore, events: Sequence[Event], contexts: Contexts | None = None
) -> None:
    """Apply ``events`` in order, with few round trips: in each layer (every entity at most
    once, see ``entity_layers``) profiles and availability changes are written with one
    statement per kind, and the networks the events touched are marked dirty with one more at
    the end (nothing between reads the marks, and a later layer's mark replaces an earlier
    one's, as its own statement would have).

    Each event counts as its own change (``contexts``: its message's carrier): a network's
    dirty mark keeps the carrier of the latest event that touched it, in the order applied;
    other events are applied under their carrier (their outbox rows carry it on)."""
    position = {event.event_id: i for i, event in enumerate(events)}
    marks: dict[str, Carrier] = {}
    left, taken = taken_into_upserts(events)
    for layer in entity_layers(left):
        touched = [
            *await people_upserted(
                store, [e for e in layer if isinstance(e, PersonUpserted)], taken
            ),
            *await availability_changed(
                store, [e for e in layer if isinstance(e, AvailabilityChanged)]
            ),
        ]
        touched.sort(key=lambda pair: position[pair[0].event_id])
        marks.update((network_id, context_of(event, contexts)) for event, network_id in touched)
        for event in layer:
            if isinstance(event, PersonUpserted | AvailabilityChanged):
                continue
            carrier = context_of(event, contexts)
            with attached(carrier):
                for network_id in sorted(await one_event(store, event)):
                    marks[network_id] = carrier
    if marks:
        await store.mark_dirty(marks)

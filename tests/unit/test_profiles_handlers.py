"""The coordinators' read model's handlers, on an in-memory store: no database (the same
handlers run on PostgreSQL in tests/integration/test_web_pages.py)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from uuid import UUID

import pytest

from services.matcher.engine.contract import MatchingInput
from services.matcher.engine.fairness import fairness_report
from services.profiles.handlers import UnknownNetwork, handle_event
from shared.events import (
    CheckInRecorded,
    Event,
    FairnessFigures,
    FirstConversationHeld,
    MatchByHand,
    MatchClosed,
    MatchDecided,
    MatchProposed,
    MatchWithdrawn,
    RoundCompleted,
)
from tests.support.factories import match_proposed


@dataclasses.dataclass
class Row:
    network_id: str
    status: str = "pending"
    reason: str = ""
    decided_by: str | None = None
    by_hand: bool = False


class FakeReadModel:
    """The read model's tables as dictionaries (``handlers.ReadModelStore``)."""

    def __init__(self) -> None:
        self.networks = {"north"}
        self.proposals: dict[UUID, Row] = {}
        self.reports: list[RoundCompleted] = []
        self.life: dict[UUID, Event] = {}
        self.changed_at: dict[UUID, datetime] = {}  # proposals' status_changed_at

    async def network_exists(self, network_id: str) -> bool:
        return network_id in self.networks

    async def add_proposal(self, event: MatchProposed, by_hand: bool = False) -> None:
        self.proposals.setdefault(event.match_id, Row(event.network_id, by_hand=by_hand))

    async def proposal_status(self, match_id: UUID) -> str | None:
        row = self.proposals.get(match_id)
        return row.status if row else None

    async def set_status(
        self,
        match_id: UUID,
        status: str,
        at: datetime,
        reason: str,
        decided_by: str | None = None,
    ) -> None:
        row = self.proposals[match_id]
        row.status, row.reason, row.decided_by = status, reason, decided_by or row.decided_by
        self.changed_at[match_id] = at

    async def add_fairness_report(self, event: RoundCompleted) -> None:
        self.reports.append(event)

    async def keep_life_event(
        self, event: FirstConversationHeld | CheckInRecorded | MatchClosed
    ) -> None:
        self.life[event.event_id] = event


def withdrawn(proposal: MatchProposed) -> MatchWithdrawn:
    return MatchWithdrawn(
        entity_key="m", match_id=proposal.match_id, network_id="north", reason="replaced"
    )


def decided(proposal: MatchProposed, approved: bool) -> MatchDecided:
    return MatchDecided(
        entity_key="m",
        match_id=proposal.match_id,
        network_id="north",
        approved=approved,
        reason="" if approved else "same team",
        decided_by="cora@north.example",
    )


async def test_a_proposal_is_kept_once() -> None:
    store = FakeReadModel()
    proposal = match_proposed()
    await handle_event(store, proposal)
    store.proposals[proposal.match_id].status = "approved"
    await handle_event(store, proposal)  # replayed: the decision stays
    assert store.proposals[proposal.match_id].status == "approved"


async def test_a_withdrawal_ends_a_pending_proposal_with_its_reason() -> None:
    store = FakeReadModel()
    proposal = match_proposed()
    await handle_event(store, proposal)
    await handle_event(store, withdrawn(proposal))
    assert dataclasses.astuple(store.proposals[proposal.match_id]) == (
        "north",
        "withdrawn",
        "replaced",
        None,
        False,
    )


async def test_a_decision_applies_after_a_withdrawal() -> None:
    """Issue 14, item 5: the coordinator's decision stands whatever the proposal's state."""
    store = FakeReadModel()
    proposal = match_proposed()
    await handle_event(store, proposal)
    await handle_event(store, withdrawn(proposal))
    await handle_event(store, decided(proposal, approved=False))
    assert store.proposals[proposal.match_id].status == "rejected"


@pytest.mark.parametrize("status", ["approved", "closed"])
async def test_a_decision_heard_again_keeps_the_match_as_it_stands(status: str) -> None:
    """The echo of a decision stored when it was taken (or a replay after the match closed)
    neither moves when the match was introduced nor reopens it."""
    store = FakeReadModel()
    proposal = match_proposed()
    await handle_event(store, proposal)
    row = store.proposals[proposal.match_id]
    introduced = datetime(2026, 1, 5, tzinfo=UTC)
    row.status, store.changed_at[proposal.match_id] = status, introduced
    await handle_event(store, decided(proposal, approved=True))
    assert (row.status, store.changed_at[proposal.match_id]) == (status, introduced)


async def test_events_about_a_network_that_does_not_exist_are_refused() -> None:
    """Issue 14, item 7: refused with a clear reason (the consumer dead-letters them)."""
    store = FakeReadModel()
    ghost = match_proposed(network_id="ghost")
    with pytest.raises(UnknownNetwork, match="'ghost' does not exist"):
        await handle_event(store, ghost)
    assert store.proposals == {}


async def test_a_decision_taken_first_stands_against_a_withdrawal() -> None:
    store = FakeReadModel()
    proposal = match_proposed()
    await handle_event(store, proposal)
    await handle_event(store, decided(proposal, approved=False))
    await handle_event(store, withdrawn(proposal))
    row = store.proposals[proposal.match_id]
    assert (row.status, row.reason, row.decided_by) == (
        "rejected",
        "same team",
        "cora@north.example",
    )


async def test_events_about_an_unknown_proposal_change_nothing() -> None:
    store = FakeReadModel()
    ghost = match_proposed()
    await handle_event(store, withdrawn(ghost))
    await handle_event(store, decided(ghost, approved=True))
    assert store.proposals == {}


async def test_a_rebuilt_read_model_keeps_a_match_made_by_hand_as_such() -> None:
    """A match by hand has no proposal event: its decision brings the pair back."""
    store = FakeReadModel()
    shown = match_proposed()
    made = MatchByHand(
        provider_id=shown.provider_id,
        mentee_id=shown.mentee_id,
        score=shown.score,
        explanation=shown.explanation,
    )
    event = decided(shown, approved=True).model_copy(update={"by_hand": made})
    await handle_event(store, event)
    await handle_event(store, event)
    assert dataclasses.astuple(store.proposals[shown.match_id]) == (
        "north",
        "approved",
        "",
        "cora@north.example",
        True,
    )


async def test_a_round_adds_its_fairness_report() -> None:
    report = fairness_report(MatchingInput(trusts=(), mentors=(), mentees=()), ())
    event = RoundCompleted(
        entity_key="north",
        network_id="north",
        fairness=FairnessFigures.model_validate(report.model_dump(mode="json")),
    )
    store = FakeReadModel()
    await handle_event(store, event)
    assert store.reports == [event]

"""The coordinators' read model as the events on Kafka tell it: proposals, withdrawals,
decisions and fairness figures, applied once per event (shared/consuming.py) in its
transaction.

The decisions (what a withdrawal or a decision changes, given the proposal's state; whether
an event's network exists) are pure functions; the handlers carry them out through a
``ReadModelStore`` (coordination/read_model.py on PostgreSQL, an in-memory fake in the unit
tests)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from shared.events import (
    CheckInRecorded,
    Event,
    FirstConversationHeld,
    MatchClosed,
    MatchDecided,
    MatchProposed,
    MatchWithdrawn,
    RoundCompleted,
)

CONSUMER = "profiles"  # its name in processed_events and its consumer group


class UnknownNetwork(ValueError):
    """An event about a network this service (where networks are made) does not have: not
    Bridgework's, so it is dead-lettered with this reason rather than shown to anyone."""


# --- decisions ------------------------------------------------------------------------------


def withdrawal_applies(status: str | None) -> bool:
    """A withdrawal ends a proposal still pending; a decision taken first stands (the matcher
    treats it as final too)."""
    return status == "pending"


def decision_applies(status: str | None) -> bool:
    """A coordinator's decision applies to a proposal still open, even one the matcher withdrew
    meanwhile (the matcher records it too, docs/events.md). Decisions are stored when taken
    (coordination/decisions.py, from pending only), so a proposal already decided or closed
    here hears its own decision again: it keeps when it was decided and is not reopened."""
    return status in ("pending", "withdrawn")


def check_network(network_id: str, exists: bool) -> None:
    """Networks are made here: an event about one that does not exist is not Bridgework's (or
    names a network since renamed by hand), and is dead-lettered rather than shown."""
    if not exists:
        raise UnknownNetwork(
            f"network {network_id!r} does not exist in profiles: the event is not shown to"
            " any coordinator"
        )


def decided_status(event: MatchDecided) -> str:
    return "approved" if event.approved else "rejected"


# --- the store the handlers write through ---------------------------------------------------


class ReadModelStore(Protocol):
    async def network_exists(self, network_id: str) -> bool: ...
    async def add_proposal(self, event: MatchProposed, by_hand: bool = False) -> None: ...
    async def proposal_status(self, match_id: UUID) -> str | None: ...
    async def set_status(
        self,
        match_id: UUID,
        status: str,
        at: datetime,
        reason: str,
        decided_by: str | None = None,
    ) -> None: ...
    async def add_fairness_report(self, event: RoundCompleted) -> None: ...
    async def keep_life_event(
        self, event: FirstConversationHeld | CheckInRecorded | MatchClosed
    ) -> None: ...


# --- handlers -------------------------------------------------------------------------------


async def handle_event(store: ReadModelStore, event: Event) -> None:
    match event:
        case MatchProposed():
            check_network(event.network_id, await store.network_exists(event.network_id))
            await store.add_proposal(event)
        case MatchWithdrawn():
            if withdrawal_applies(await store.proposal_status(event.match_id)):
                await store.set_status(event.match_id, "withdrawn", event.occurred_at, event.reason)
        case MatchDecided():
            made_by_hand = event.proposal()
            if made_by_hand is not None:  # kept when it was made, unless this is a rebuild
                await store.add_proposal(made_by_hand, by_hand=True)
            if decision_applies(await store.proposal_status(event.match_id)):
                await store.set_status(
                    event.match_id,
                    decided_status(event),
                    event.occurred_at,
                    event.reason,
                    event.decided_by,
                )
        case RoundCompleted():
            check_network(event.network_id, await store.network_exists(event.network_id))
            await store.add_fairness_report(event)
        case FirstConversationHeld() | CheckInRecorded() | MatchClosed():
            # Stored when the step was taken (outcomes/use_cases.py): this changes nothing
            # unless another database took it.
            await store.keep_life_event(event)
        case _:
            pass

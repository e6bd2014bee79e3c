"""The coordinators' read model as the events on Kafka tell it: proposals, withdrawals,
decisions and fairness figures, applied once per event (shared/consuming.py) in its
transaction.

The decisions (what a withdrawal or a decision changes, given the proposal's state) are pure
functions; the handlers carry them out through a ``ReadModelStore``
(coordination/read_model.py on PostgreSQL, an in-memory fake in the unit tests)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from shared.events import Event, MatchDecided, MatchProposed, MatchWithdrawn, RoundCompleted

CONSUMER = "profiles"  # its name in processed_events and its consumer group


# --- decisions ------------------------------------------------------------------------------


def withdrawal_applies(status: str | None) -> bool:
    """A withdrawal ends a proposal still pending; a decision taken first stands (the matcher
    treats it as final too)."""
    return status == "pending"


def decision_applies(status: str | None) -> bool:
    """Decisions are stored when taken (coordination/decisions.py); the event covers a decision
    this database has not seen, on a proposal still pending."""
    return status == "pending"


def decided_status(event: MatchDecided) -> str:
    return "approved" if event.approved else "rejected"


# --- the store the handlers write through ---------------------------------------------------


class ReadModelStore(Protocol):
    async def add_proposal(self, event: MatchProposed) -> None: ...
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


# --- handlers -------------------------------------------------------------------------------


async def handle_event(store: ReadModelStore, event: Event) -> None:
    match event:
        case MatchProposed():
            await store.add_proposal(event)
        case MatchWithdrawn():
            if withdrawal_applies(await store.proposal_status(event.match_id)):
                await store.set_status(event.match_id, "withdrawn", event.occurred_at, event.reason)
        case MatchDecided():
            if decision_applies(await store.proposal_status(event.match_id)):
                await store.set_status(
                    event.match_id,
                    decided_status(event),
                    event.occurred_at,
                    event.reason,
                    event.decided_by,
                )
        case RoundCompleted():
            await store.add_fairness_report(event)
        case _:
            pass

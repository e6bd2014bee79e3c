"""Reminders: emails due at a time, each sent once (docs/outcomes.md).

A reminder is a row with a unique key and a due time, scheduled or cancelled by the events
(handlers.py). The mail queue calls ``queue_due_reminders`` with the clock's time: in ONE
transaction it takes the due rows (locked, SKIP LOCKED), turns them into emails under dedupe
keys derived from the reminder's key, and marks them queued. A crash before the commit leaves
them due (queued by the next pass: none missed); after it they are marked (never queued twice);
the mail queue then sends each email at most once.

Any purpose can use it: ``REMINDERS`` maps a purpose to how its due reminders become emails
(register one with ``@reminder_purpose("...")``), and ``schedule``/``cancel_reminders`` on the
store are the rest. The schedules themselves are pure functions at the top."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from uuid import UUID

from services.notifier.handlers import QueuedEmail
from shared.events import (
    AvailabilityChanged,
    CheckInRecorded,
    Event,
    FirstConversationHeld,
    MatchClosed,
    MatchDecided,
    MatchLifeSettings,
    MatchProposed,
    MatchWithdrawn,
)
from shared.matching import MatchKind

log = logging.getLogger(__name__)

FIRST_CONVERSATION = "first_conversation"
CHECK_IN = "check_in"
PROPOSAL_WAITING = "proposal_waiting"
PAUSE_END = "pause_end"
AFTER_INTRODUCTION = (FIRST_CONVERSATION, CHECK_IN)


@dataclass(frozen=True)
class Reminder:
    key: str  # unique: the same reminder scheduled twice is one
    purpose: str
    due_at: datetime
    match_id: UUID | None = None
    person_id: UUID | None = None
    network_id: str | None = None
    context: Mapping[str, str] = field(default_factory=dict)


# --- schedules ------------------------------------------------------------------------------


def after_introduction(
    match_id: UUID, network_id: str, introduced_at: datetime, life: MatchLifeSettings
) -> list[Reminder]:
    """A first conversation not confirmed after ``first_conversation_days``; each check-in."""
    first = Reminder(
        key=f"{FIRST_CONVERSATION}:{match_id}",
        purpose=FIRST_CONVERSATION,
        due_at=introduced_at + timedelta(days=life.first_conversation_days),
        match_id=match_id,
        network_id=network_id,
    )
    check_ins = [
        Reminder(
            key=f"{CHECK_IN}:{match_id}:{day}",
            purpose=CHECK_IN,
            due_at=introduced_at + timedelta(days=day),
            match_id=match_id,
            network_id=network_id,
            context={"day": str(day)},
        )
        for day in life.check_in_days
    ]
    return [first, *check_ins]


def while_waiting(proposal: MatchProposed, life: MatchLifeSettings) -> Reminder:
    """The coordinators are reminded of a proposal still undecided after the network's limit."""
    return Reminder(
        key=f"{PROPOSAL_WAITING}:{proposal.match_id}",
        purpose=PROPOSAL_WAITING,
        due_at=proposal.occurred_at + timedelta(days=life.proposal_wait_days),
        match_id=proposal.match_id,
        network_id=proposal.network_id,
    )


def pause_ends(person_id: UUID, until: date) -> Reminder:
    """The morning a mentor's pause ends (09:00 UTC): resume, or pause for longer."""
    return Reminder(
        key=f"{PAUSE_END}:{person_id}:{until.isoformat()}",
        purpose=PAUSE_END,
        due_at=datetime.combine(until, time(9), tzinfo=UTC),
        person_id=person_id,
        context={"until": until.isoformat()},
    )


# --- what the reminders need of the notifier's store -----------------------------------------


@dataclass(frozen=True)
class Party:
    """Someone a match's reminder goes to, and which side of the match they are on."""

    id: UUID
    name: str
    email: str
    side: str  # mentor or mentee (a secondment's candidate is the mentee side)


class ReminderStore(Protocol):
    async def due_reminders(self, now: datetime) -> list[Reminder]: ...
    async def mark_reminders_queued(self, keys: Collection[str], now: datetime) -> None: ...
    async def queue_reminder_emails(self, emails: Sequence[QueuedEmail]) -> None: ...
    async def schedule(self, reminders: Sequence[Reminder]) -> None: ...
    async def cancel_reminders(
        self,
        *,
        match_id: UUID | None = None,
        person_id: UUID | None = None,
        purposes: Collection[str] = (),
    ) -> None: ...
    async def network_life(self, network_id: str) -> MatchLifeSettings: ...
    async def still_waiting(self, match_ids: Collection[UUID]) -> set[UUID]: ...
    async def proposal_event(self, match_id: UUID) -> MatchProposed | None: ...
    async def parties(self, ids: Sequence[UUID]) -> list[tuple[UUID, str, str]] | None: ...
    async def coordinators(self, network_id: str) -> Sequence[Mapping[str, str]] | None: ...


async def reminders_for(store: ReminderStore, event: Event) -> None:
    """What ``event`` schedules or cancels (after the notifier's handlers applied it, in its
    transaction)."""
    match event:
        case MatchProposed():
            if await store.still_waiting([event.match_id]):  # not decided before it arrived
                life = await store.network_life(event.network_id)
                await store.schedule([while_waiting(event, life)])
        case MatchWithdrawn():
            await store.cancel_reminders(match_id=event.match_id, purposes=[PROPOSAL_WAITING])
        case MatchDecided():
            await store.cancel_reminders(match_id=event.match_id, purposes=[PROPOSAL_WAITING])
            if event.approved:
                life = await store.network_life(event.network_id)
                await store.schedule(
                    after_introduction(event.match_id, event.network_id, event.occurred_at, life)
                )
        case FirstConversationHeld():
            await store.cancel_reminders(match_id=event.match_id, purposes=[FIRST_CONVERSATION])
        case CheckInRecorded() if event.met:
            await store.cancel_reminders(match_id=event.match_id, purposes=[FIRST_CONVERSATION])
        case MatchClosed():
            await store.cancel_reminders(match_id=event.match_id, purposes=AFTER_INTRODUCTION)
        case AvailabilityChanged():
            await store.cancel_reminders(person_id=event.person_id, purposes=[PAUSE_END])
            if event.paused and event.paused_until is not None:
                await store.schedule([pause_ends(event.person_id, event.paused_until)])
        case _:
            pass


# Given the due reminders of one purpose: their emails, and the keys settled (queued, or moot).
# A reminder left unsettled (whom it goes to is not known yet) is due again on the next pass.
QueuedEmails = Callable[
    [ReminderStore, Sequence[Reminder]], Awaitable[tuple[list[QueuedEmail], list[str]]]
]
REMINDERS: dict[str, QueuedEmails] = {}


def reminder_purpose(purpose: str) -> Callable[[QueuedEmails], QueuedEmails]:
    def register(emails: QueuedEmails) -> QueuedEmails:
        REMINDERS[purpose] = emails
        return emails

    return register


async def queue_due_reminders(store: ReminderStore, now: datetime) -> int:
    """Queue the emails of every reminder due at ``now``, in the caller's transaction; returns
    how many reminders were settled."""
    due = await store.due_reminders(now)
    emails: list[QueuedEmail] = []
    settled: list[str] = []
    for purpose in sorted({r.purpose for r in due}):
        mine = [r for r in due if r.purpose == purpose]
        make = REMINDERS.get(purpose)
        if make is None:
            log.error("%d reminder(s) of unknown purpose %s set aside", len(mine), purpose)
            settled += [r.key for r in mine]
            continue
        made, done = await make(store, mine)
        emails += made
        settled += done
    await store.queue_reminder_emails(emails)
    await store.mark_reminders_queued(settled, now)
    return len(settled)


async def match_parties(store: ReminderStore, match_id: UUID) -> list[Party] | None:
    """The mentor and mentee (a secondment: its candidate); None while not all known."""
    proposal = await store.proposal_event(match_id)
    if proposal is None:
        return None
    sides = [("mentee", proposal.mentee_id)]
    if proposal.kind is MatchKind.MENTORING:
        sides.insert(0, ("mentor", proposal.provider_id))
    people = await store.parties([person_id for _, person_id in sides])
    if people is None:
        return None
    return [
        Party(pid, name, email, side)
        for (side, _), (pid, name, email) in zip(sides, people, strict=True)
    ]


def _to_parties(
    reminder: Reminder, parties: Sequence[Party], email_purpose: str
) -> list[QueuedEmail]:
    return [
        QueuedEmail(
            dedupe_key=f"reminder:{reminder.key}:{party.id}",
            purpose=email_purpose,
            recipient_name=party.name,
            recipient_email=party.email,
            match_id=reminder.match_id,
            person_id=party.id,
            context={"side": party.side, **reminder.context},
        )
        for party in parties
    ]


async def _match_reminders(
    store: ReminderStore, due: Sequence[Reminder], email_purpose: str
) -> tuple[list[QueuedEmail], list[str]]:
    emails: list[QueuedEmail] = []
    settled: list[str] = []
    for reminder in due:
        assert reminder.match_id is not None
        parties = await match_parties(store, reminder.match_id)
        if parties is not None:
            emails += _to_parties(reminder, parties, email_purpose)
            settled.append(reminder.key)
    return emails, settled


@reminder_purpose(FIRST_CONVERSATION)
async def first_conversation_emails(
    store: ReminderStore, due: Sequence[Reminder]
) -> tuple[list[QueuedEmail], list[str]]:
    return await _match_reminders(store, due, "first_conversation_reminder")


@reminder_purpose(CHECK_IN)
async def check_in_emails(
    store: ReminderStore, due: Sequence[Reminder]
) -> tuple[list[QueuedEmail], list[str]]:
    return await _match_reminders(store, due, "check_in_reminder")


def _digest(keys: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:16]


@reminder_purpose(PROPOSAL_WAITING)
async def proposals_waiting_emails(
    store: ReminderStore, due: Sequence[Reminder]
) -> tuple[list[QueuedEmail], list[str]]:
    """One email per coordinator and network, listing every proposal due together."""
    emails: list[QueuedEmail] = []
    settled: list[str] = []
    for network_id in sorted({r.network_id or "" for r in due}):
        batch = sorted(r.key for r in due if (r.network_id or "") == network_id)
        coordinators = await store.coordinators(network_id)
        if coordinators is None:
            continue  # the network's event has not arrived: due again next pass
        settled += batch
        # A decision that arrived before its proposal leaves nothing waiting.
        waiting = await store.still_waiting([UUID(k.split(":")[1]) for k in batch])
        if not waiting:
            continue
        match_ids = ",".join(sorted(str(m) for m in waiting))
        emails += [
            QueuedEmail(
                dedupe_key=f"reminder:{PROPOSAL_WAITING}:{network_id}:{_digest(batch)}:"
                f"{c['email'].lower()}",
                purpose="proposals_waiting",
                recipient_name=c["name"],
                recipient_email=c["email"],
                context={"network_id": network_id, "match_ids": match_ids},
            )
            for c in coordinators
        ]
    return emails, settled


@reminder_purpose(PAUSE_END)
async def pause_end_emails(
    store: ReminderStore, due: Sequence[Reminder]
) -> tuple[list[QueuedEmail], list[str]]:
    emails: list[QueuedEmail] = []
    settled: list[str] = []
    for reminder in due:
        assert reminder.person_id is not None
        people = await store.parties([reminder.person_id])
        settled.append(reminder.key)  # someone erased since is reminded of nothing
        if people:
            [(person_id, name, email)] = people
            emails.append(
                QueuedEmail(
                    dedupe_key=f"reminder:{reminder.key}",
                    purpose="pause_end_reminder",
                    recipient_name=name,
                    recipient_email=email,
                    person_id=person_id,
                    context=dict(reminder.context),
                )
            )
    return emails, settled

"""A match's life and its reminders, pure (docs/outcomes.md): the state its events make, what
may happen next, the mentee's re-assessed gaps, the links, and reminders queued once whatever
the clock does (an in-memory store: no database, no Kafka)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.matcher.handlers import ProposalRow, closing_applies, decision_outcome
from services.notifier.handlers import QueuedEmail
from services.notifier.reminders import (
    Reminder,
    after_introduction,
    pause_ends,
    queue_due_reminders,
    reminders_for,
)
from services.profiles.outcomes.life import (
    LifeRefused,
    check_check_in,
    check_close,
    check_first_conversation,
    check_levels,
    due_steps,
    life_of,
    reassessed_gaps,
    timeline,
)
from shared.clock import SetClock
from shared.events import (
    AvailabilityChanged,
    CheckInRecorded,
    Event,
    FirstConversationHeld,
    LifeActor,
    MatchClosed,
    MatchDecided,
    MatchLifeSettings,
    MatchOutcome,
    MatchProposed,
)
from shared.links import LinkRefused, read_match_life_link, sign_match_life_link
from shared.matching import SkillCovered
from shared.people import SkillGap, SkillLevel
from tests.support.factories import match_proposed

START = datetime(2026, 6, 1, 9, tzinfo=UTC)
MATCH = uuid4()


def met(at: datetime, by: LifeActor = LifeActor.MENTEE) -> FirstConversationHeld:
    return FirstConversationHeld(
        entity_key=str(MATCH), match_id=MATCH, network_id="north", confirmed_by=by, occurred_at=at
    )


def check_in(at: datetime, day: int = 30, by: LifeActor = LifeActor.MENTOR) -> CheckInRecorded:
    return CheckInRecorded(
        entity_key=str(MATCH),
        match_id=MATCH,
        network_id="north",
        day=day,
        by=by,
        met=True,
        usefulness=4,
        occurred_at=at,
    )


def closing(at: datetime, outcome: MatchOutcome = MatchOutcome.COMPLETED) -> MatchClosed:
    return MatchClosed(
        entity_key=str(MATCH),
        match_id=MATCH,
        network_id="north",
        outcome=outcome,
        by=LifeActor.COORDINATOR,
        levels=(SkillLevel(skill="cyber-security", level=4),),
        occurred_at=at,
    )


# --- the life -------------------------------------------------------------------------------


def test_a_match_goes_from_introduced_to_met_to_closed() -> None:
    events = [check_in(START + timedelta(days=30)), met(START + timedelta(days=3))]
    life = life_of(MATCH, START, events)
    assert (life.stage, life.met_at) == ("met", START + timedelta(days=3))
    check_check_in(life, 90, LifeActor.MENTOR, (30, 90))
    with pytest.raises(LifeRefused, match="already answered"):
        check_check_in(life, 30, LifeActor.MENTOR, (30, 90))
    with pytest.raises(LifeRefused, match="already recorded"):
        check_first_conversation(life)

    life = life_of(MATCH, START, [*events, closing(START + timedelta(days=95))])
    assert life.stage == "closed: completed"
    for step in (check_first_conversation, check_close):
        with pytest.raises(LifeRefused, match="closed"):
            step(life)
    assert [what for _, what in timeline(life)] == [
        "Approved; mentor and mentee introduced",
        "First conversation confirmed by the mentee",
        "Day-30 check-in by the mentor: have met, usefulness 4/5",
        "Closed by the coordinator: completed (re-assessed: cyber-security now 4)",
    ]


def test_nothing_counts_after_the_close_and_nothing_before_the_introduction() -> None:
    life = life_of(MATCH, START, [closing(START), met(START + timedelta(days=1))])
    assert (life.met_at, len(life.events)) == (None, 1)
    with pytest.raises(LifeRefused, match="not been approved"):
        check_close(life_of(MATCH, None, []))


def test_the_timeline_names_the_proposal_the_approver_and_the_levels_gained() -> None:
    gap = SkillCovered(
        skill="cyber-security",
        skill_name="Cyber security",
        from_level=2,
        to_level=5,
        provider_level=6,
    )
    life = life_of(
        MATCH, START, [met(START + timedelta(days=3)), closing(START + timedelta(days=95))]
    )
    lines = timeline(
        life, proposed_at=START - timedelta(days=2), approved_by="cora@north.example", covered=[gap]
    )
    assert lines == [
        (START - timedelta(days=2), "Proposed by the matcher"),
        (START, "Approved by cora@north.example; mentor and mentee introduced"),
        (START + timedelta(days=3), "First conversation confirmed by the mentee"),
        (
            START + timedelta(days=95),
            "Closed by the coordinator: completed"
            " (re-assessed: Cyber security 2 → 4 (aiming for 5))",
        ),
    ]


@given(
    days_since=st.integers(0, 400),
    answered=st.sets(st.sampled_from((30, 90))),
    has_met=st.booleans(),
    side=st.sampled_from((LifeActor.MENTOR, LifeActor.MENTEE)),
)
def test_a_participant_is_offered_exactly_the_steps_they_can_take(
    days_since: int, answered: set[int], has_met: bool, side: LifeActor
) -> None:
    events: list[Event] = [check_in(START + timedelta(days=d), d, side) for d in answered]
    if has_met:
        events.append(met(START + timedelta(days=1)))
    life = life_of(MATCH, START, events)
    steps = due_steps(life, side, (30, 90), START + timedelta(days=days_since))
    for step in steps:  # each step offered can be taken
        if step.step == "met":
            check_first_conversation(life)
        elif step.step == "check_in":
            assert step.day <= days_since
            check_check_in(life, step.day, side, (30, 90))
        else:
            check_close(life, side)
    offered = {(s.step, s.day) for s in steps}
    assert (("met", 0) in offered) == (life.met_at is None)
    due = {d for d in (30, 90) if d <= days_since and d not in answered}
    assert {d for s, d in offered if s == "check_in"} == due
    assert (("close", 0) in offered) == (side is LifeActor.MENTEE)


def test_a_match_by_hand_says_so_on_its_timeline() -> None:
    lines = timeline(life_of(MATCH, START, []), proposed_at=START, by_hand=True)
    assert lines[0][1] == "Matched by hand"


def test_a_closed_match_offers_nothing_and_only_the_mentee_or_a_coordinator_closes() -> None:
    life = life_of(MATCH, START, [])
    with pytest.raises(LifeRefused, match="ask your coordinator"):
        check_close(life, LifeActor.MENTOR)
    check_close(life, LifeActor.MENTEE)
    closed = life_of(MATCH, START, [closing(START + timedelta(days=1))])
    assert due_steps(closed, LifeActor.MENTEE, (30,), START + timedelta(days=40)) == []


def test_a_check_in_only_at_the_networks_points() -> None:
    with pytest.raises(LifeRefused, match="no check-in"):
        check_check_in(life_of(MATCH, START, []), 45, LifeActor.MENTEE, (30, 90))


def test_the_mentee_reassesses_only_the_gaps_the_match_covered() -> None:
    covered = {"cyber-security": (2, 5)}
    check_levels({"cyber-security": 4}, covered)
    with pytest.raises(LifeRefused, match="did not cover"):
        check_levels({"data-analytics": 4}, covered)
    with pytest.raises(LifeRefused, match="between"):
        check_levels({"cyber-security": 9}, covered)


@given(level=st.integers(1, 7), current=st.integers(0, 5), extra=st.booleans())
def test_a_reached_gap_is_gone_and_an_open_one_starts_from_its_new_level(
    level: int, current: int, extra: bool
) -> None:
    gap = SkillGap(skill="cyber-security", current=current, target=6)
    other = SkillGap(skill="data-analytics", current=1, target=3)
    after = reassessed_gaps([gap, other] if extra else [gap], {"cyber-security": level})
    if level >= 6:
        assert after == ([other] if extra else None)
    else:
        assert after is not None
        assert after[0].current == level
        assert after[0].target == 6


# --- the matcher's side ---------------------------------------------------------------------


def test_only_an_approved_match_closes_and_a_closed_one_stays_closed() -> None:
    row = ProposalRow(MATCH, "north", "approved", uuid4(), uuid4())
    assert closing_applies(row)
    assert not closing_applies(None)
    for status in ("pending", "rejected", "withdrawn", "closed"):
        assert not closing_applies(ProposalRow(MATCH, "north", status, uuid4(), uuid4()))
    decided = MatchDecided(
        entity_key="m", match_id=MATCH, network_id="north", approved=True, decided_by="c"
    )
    assert (
        decision_outcome(ProposalRow(MATCH, "north", "closed", uuid4(), uuid4()), decided) is None
    )


# --- links ----------------------------------------------------------------------------------


def test_a_match_link_reads_back_and_a_forged_or_other_purpose_one_does_not() -> None:
    token = sign_match_life_link(
        "k" * 32, match_id=MATCH, person_id=MATCH, side="mentee", step="check_in", day=30
    )
    link = read_match_life_link("k" * 32, token, 3600)
    assert (link.match_id, link.side, link.step, link.day) == (MATCH, "mentee", "check_in", 30)
    with pytest.raises(LinkRefused):
        read_match_life_link("x" * 32, token, 3600)
    with pytest.raises(LinkRefused):
        read_match_life_link("k" * 32, token[:-2] + "AA", 3600)


# --- reminders ------------------------------------------------------------------------------


class FakeReminderStore:
    """The notifier's reminders and mail queue as dictionaries (``reminders.ReminderStore``)."""

    def __init__(self, proposal: MatchProposed) -> None:
        self.reminders: dict[str, tuple[Reminder, str]] = {}
        self.emails: dict[str, QueuedEmail] = {}
        self.proposal = proposal
        self.people = {
            proposal.provider_id: ("Mo Mentor", "mo@example.org"),
            proposal.mentee_id: ("Mel Mentee", "mel@example.org"),
        }

    async def schedule(self, reminders: Sequence[Reminder]) -> None:
        for r in reminders:
            self.reminders.setdefault(r.key, (r, "scheduled"))

    async def cancel_reminders(
        self,
        *,
        match_id: UUID | None = None,
        person_id: UUID | None = None,
        purposes: Collection[str] = (),
    ) -> None:
        for key, (r, status) in list(self.reminders.items()):
            mine = (match_id and r.match_id == match_id) or (person_id and r.person_id == person_id)
            if mine and r.purpose in purposes and status == "scheduled":
                self.reminders[key] = (r, "cancelled")

    async def due_reminders(self, now: datetime) -> list[Reminder]:
        return [r for r, s in self.reminders.values() if s == "scheduled" and r.due_at <= now]

    async def mark_reminders_queued(self, keys: Collection[str], now: datetime) -> None:
        for key in keys:
            self.reminders[key] = (self.reminders[key][0], "queued")

    async def queue_reminder_emails(self, emails: Sequence[QueuedEmail]) -> None:
        for email in emails:
            self.emails.setdefault(email.dedupe_key, email)

    async def proposal_event(self, match_id: UUID) -> MatchProposed | None:
        return self.proposal if match_id == self.proposal.match_id else None

    async def parties(self, ids: Sequence[UUID]) -> list[tuple[UUID, str, str]] | None:
        if not all(i in self.people for i in ids):
            return None
        return [(i, *self.people[i]) for i in ids]

    async def coordinators(self, network_id: str) -> Sequence[Mapping[str, str]] | None:
        return [{"name": "Cora", "email": "cora@example.org"}]

    async def network_life(self, network_id: str) -> MatchLifeSettings:
        return MatchLifeSettings(check_in_days=(30, 90))

    async def still_waiting(self, match_ids: Collection[UUID]) -> set[UUID]:
        return set()


def test_an_introduction_schedules_the_first_conversation_and_each_check_in() -> None:
    life = MatchLifeSettings(first_conversation_days=14, check_in_days=(90, 30, 30))
    assert life.check_in_days == (30, 90)
    reminders = after_introduction(MATCH, "north", START, life)
    assert [(r.purpose, (r.due_at - START).days) for r in reminders] == [
        ("first_conversation", 14),
        ("check_in", 30),
        ("check_in", 90),
    ]
    assert pause_ends(MATCH, date(2026, 7, 1)).due_at == datetime(2026, 7, 1, 9, tzinfo=UTC)


@given(steps=st.lists(st.integers(0, 50), min_size=1, max_size=12))
def test_each_reminder_is_queued_once_whenever_the_queue_looks(steps: list[int]) -> None:
    """However the clock moves (days at a time, or not at all) and however often the queue
    looks, every reminder due is queued exactly once, and none before it is due."""
    asyncio.run(_queue_as_the_clock_moves(steps))


async def _queue_as_the_clock_moves(steps: list[int]) -> None:
    proposal = match_proposed()
    store = FakeReminderStore(proposal)
    decided = MatchDecided(
        entity_key="m",
        match_id=proposal.match_id,
        network_id=proposal.network_id,
        approved=True,
        decided_by="c",
        occurred_at=START,
    )
    await reminders_for(store, decided)
    clock = SetClock(START)
    for days in steps:
        clock.advance(timedelta(days=days))
        await queue_due_reminders(store, clock.now())
        await queue_due_reminders(store, clock.now())  # a second pass (a restart) adds nothing
    elapsed = (clock.now() - START).days
    due = [d for d in (14, 30, 90) if d <= elapsed]
    assert len(store.emails) == 2 * len(due)  # the mentor and the mentee
    assert {e.purpose for e in store.emails.values()} <= {
        "first_conversation_reminder",
        "check_in_reminder",
    }


async def test_a_first_conversation_cancels_its_reminder_and_a_close_cancels_the_rest() -> None:
    proposal = match_proposed()
    store = FakeReminderStore(proposal)
    events: list[Event] = [
        MatchDecided(
            entity_key="m",
            match_id=proposal.match_id,
            network_id="north",
            approved=True,
            decided_by="c",
            occurred_at=START,
        ),
        FirstConversationHeld(
            entity_key="m",
            match_id=proposal.match_id,
            network_id="north",
            confirmed_by=LifeActor.MENTOR,
        ),
    ]
    for event in events:
        await reminders_for(store, event)
    await queue_due_reminders(store, START + timedelta(days=31))
    assert {e.purpose for e in store.emails.values()} == {"check_in_reminder"}
    await reminders_for(
        store,
        MatchClosed(
            entity_key="m",
            match_id=proposal.match_id,
            network_id="north",
            outcome=MatchOutcome.ENDED_EARLY,
            by=LifeActor.MENTEE,
        ),
    )
    await queue_due_reminders(store, START + timedelta(days=365))
    assert len(store.emails) == 2  # the day-90 check-in was cancelled


async def test_a_pause_with_an_end_reminds_the_mentor_and_resuming_cancels_it() -> None:
    store = FakeReminderStore(match_proposed())
    mentor = store.proposal.provider_id
    pause = AvailabilityChanged(
        entity_key="p",
        person_id=mentor,
        paused=True,
        capacity=0,
        hours_per_month=0,
        paused_until=date(2026, 7, 1),
    )
    await reminders_for(store, pause)
    await queue_due_reminders(store, datetime(2026, 7, 1, 9, tzinfo=UTC))
    assert [e.purpose for e in store.emails.values()] == ["pause_end_reminder"]

    store = FakeReminderStore(store.proposal)
    await reminders_for(store, pause)
    resumed = AvailabilityChanged(
        entity_key="p", person_id=mentor, paused=False, capacity=1, hours_per_month=4
    )
    await reminders_for(store, resumed)
    await queue_due_reminders(store, datetime(2027, 1, 1, tzinfo=UTC))
    assert store.emails == {}

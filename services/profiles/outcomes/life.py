"""A match's life after the introduction, as its events tell it (docs/outcomes.md): introduced
(approved) -> first conversation held -> check-ins -> closed. Pure: what a match's state is,
what may happen next and why not, and its timeline in words. No SQL, no Kafka."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import assert_never
from uuid import UUID

from shared.events import (
    CheckInRecorded,
    Event,
    FirstConversationHeld,
    LifeActor,
    MatchClosed,
    MatchOutcome,
)
from shared.links import LifeStep
from shared.matching import SkillCovered
from shared.people import SkillGap, SkillLevel
from shared.skills import MAX_LEVEL, MIN_LEVEL

LifeEvent = FirstConversationHeld | CheckInRecorded | MatchClosed
LIFE_EVENTS = (FirstConversationHeld, CheckInRecorded, MatchClosed)

OUTCOME_WORDS = {
    MatchOutcome.COMPLETED: "completed",
    MatchOutcome.ENDED_EARLY: "ended early",
    MatchOutcome.NO_LONGER_NEEDED: "no longer needed",
}


class LifeRefused(ValueError):
    """The step cannot be taken now; the message says why, for the person who tried."""


@dataclass(frozen=True)
class MatchLife:
    match_id: UUID
    introduced_at: datetime | None  # None: not approved (or not yet)
    met_at: datetime | None = None
    check_ins: tuple[CheckInRecorded, ...] = ()
    closed: MatchClosed | None = None
    events: tuple[LifeEvent, ...] = field(default=())

    @property
    def stage(self) -> str:
        if self.introduced_at is None:
            return "not introduced"
        if self.closed is not None:
            return f"closed: {OUTCOME_WORDS[self.closed.outcome]}"
        return "met" if self.met_at is not None else "introduced"

    def checked_in(self, day: int, by: LifeActor) -> bool:
        return any(c.day == day and c.by == by for c in self.check_ins)


def life_of(match_id: UUID, introduced_at: datetime | None, events: Iterable[Event]) -> MatchLife:
    """The match's state from its life events, in the order they happened. A step repeated
    (both sides confirm the conversation) keeps the first; nothing counts after the close."""
    ordered = sorted((e for e in events if isinstance(e, LIFE_EVENTS)), key=lambda e: e.occurred_at)
    met_at: datetime | None = None
    check_ins: list[CheckInRecorded] = []
    closed: MatchClosed | None = None
    kept: list[LifeEvent] = []
    for event in ordered:
        if closed is not None:
            break
        kept.append(event)
        match event:
            case FirstConversationHeld():
                met_at = met_at or event.occurred_at
            case CheckInRecorded():
                check_ins.append(event)
                if event.met and met_at is None:
                    met_at = event.occurred_at
            case MatchClosed():
                closed = event
    return MatchLife(match_id, introduced_at, met_at, tuple(check_ins), closed, tuple(kept))


def _open(life: MatchLife) -> None:
    if life.introduced_at is None:
        raise LifeRefused("This match has not been approved and introduced.")
    if life.closed is not None:
        raise LifeRefused(f"This match is closed ({OUTCOME_WORDS[life.closed.outcome]}).")


def check_first_conversation(life: MatchLife) -> None:
    """Raises LifeRefused unless the first conversation can be confirmed now."""
    _open(life)
    if life.met_at is not None:
        raise LifeRefused("The first conversation is already recorded. Thank you.")


def check_check_in(life: MatchLife, day: int, by: LifeActor, days: Iterable[int]) -> None:
    _open(life)
    if day not in set(days):
        raise LifeRefused("This network has no check-in at that point.")
    if life.checked_in(day, by):
        raise LifeRefused("This check-in is already answered. Thank you.")


def check_close(life: MatchLife, by: LifeActor = LifeActor.COORDINATOR) -> None:
    """A coordinator or the mentee closes a match; the mentor asks their coordinator."""
    _open(life)
    if by is LifeActor.MENTOR:
        raise LifeRefused("The mentee or a coordinator closes a match: ask your coordinator.")


@dataclass(frozen=True)
class Step:
    """A step a participant can take now: ``met``, ``check_in`` (on ``day``) or ``close``."""

    step: LifeStep
    day: int = 0


def due_steps(life: MatchLife, by: LifeActor, days: Iterable[int], now: datetime) -> list[Step]:
    """What this side of an open match can do now: confirm the first conversation (until it is
    recorded), answer each check-in that is due and unanswered, and (the mentee) close it."""
    if life.introduced_at is None or life.closed is not None:
        return []
    steps = [Step("met")] if life.met_at is None else []
    since = now - life.introduced_at
    steps += [
        Step("check_in", day)
        for day in sorted(set(days))
        if since >= timedelta(days=day) and not life.checked_in(day, by)
    ]
    return [*steps, Step("close")] if by is LifeActor.MENTEE else steps


def timeline(
    life: MatchLife,
    *,
    proposed_at: datetime | None = None,
    approved_by: str | None = None,
    covered: Sequence[SkillCovered] = (),
    by_hand: bool = False,
) -> list[tuple[datetime, str]]:
    """What happened to the match, oldest first, in words: proposed (when known), approved and
    introduced, the first conversation, each check-in with its rating, the close with its
    outcome and the mentee's re-assessed levels (named, from their level before, when the
    gaps the match ``covered`` are given). The check-in note is shown to coordinators on the
    match's page, not here."""
    lines: list[tuple[datetime, str]] = []
    if proposed_at is not None:
        lines.append((proposed_at, "Matched by hand" if by_hand else "Proposed by the matcher"))
    if life.introduced_at is not None:
        by = f" by {approved_by}" if approved_by else ""
        lines.append((life.introduced_at, f"Approved{by}; mentor and mentee introduced"))
    for event in life.events:
        lines.append((event.occurred_at, _in_words(event, {s.skill: s for s in covered})))
    return lines


def _in_words(event: LifeEvent, covered: Mapping[str, SkillCovered]) -> str:
    match event:
        case FirstConversationHeld():
            return f"First conversation confirmed by the {event.confirmed_by}"
        case CheckInRecorded():
            met = "have met" if event.met else "have not met"
            rating = f"usefulness {event.usefulness}/5"
            return f"Day-{event.day} check-in by the {event.by}: {met}, {rating}"
        case MatchClosed():
            gained = ", ".join(
                _reassessed(level, covered.get(level.skill)) for level in event.levels
            )
            return f"Closed by the {event.by}: {OUTCOME_WORDS[event.outcome]}" + (
                f" (re-assessed: {gained})" if gained else ""
            )
        case _:
            assert_never(event)


def _reassessed(level: SkillLevel, gap: SkillCovered | None) -> str:
    if gap is None:
        return f"{level.skill} now {level.level}"
    return f"{gap.skill_name} {gap.from_level} → {level.level} (aiming for {gap.to_level})"


def covered_skills(explanation: dict[str, object]) -> dict[str, tuple[int, int]]:
    """The gaps a match covered, as its proposal explained them: skill -> (from, to) level."""
    covered = explanation.get("skills_covered", [])
    assert isinstance(covered, list)
    return {str(s["skill"]): (int(s["from_level"]), int(s["to_level"])) for s in covered}


def check_levels(levels: dict[str, int], covered: dict[str, tuple[int, int]]) -> None:
    """The mentee re-assesses only the gaps the match covered, on the 1-7 scale."""
    for skill, level in levels.items():
        if skill not in covered:
            raise LifeRefused(f"The match did not cover {skill}: re-assess only its gaps.")
        if not MIN_LEVEL <= level <= MAX_LEVEL:
            raise LifeRefused(f"A level is between {MIN_LEVEL} and {MAX_LEVEL}.")


def reassessed_gaps(gaps: Sequence[SkillGap], levels: dict[str, int]) -> list[SkillGap] | None:
    """The mentee's gaps after their re-assessment: a gap reached is gone, one still open starts
    from its new level. None when no gap would be left (the profile then stays as it was: there
    is nothing more to seek, and the closing event keeps the levels)."""
    after: list[SkillGap] = []
    for gap in gaps:
        level = levels.get(gap.skill)
        if level is None:
            after.append(gap)
        elif level < gap.target:
            after.append(gap.model_copy(update={"current": level}))
    return after or None

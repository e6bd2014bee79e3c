"""A match's life after the introduction, as its events tell it (docs/outcomes.md): introduced
(approved) -> first conversation held -> check-ins -> closed. Pure: what a match's state is,
what may happen next and why not, and its timeline in words. No SQL, no Kafka."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from shared.events import (
    CheckInRecorded,
    Event,
    FirstConversationHeld,
    LifeActor,
    MatchClosed,
    MatchOutcome,
)
from shared.people import SkillGap
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


def check_close(life: MatchLife) -> None:
    _open(life)


def timeline(life: MatchLife) -> list[tuple[datetime, str]]:
    """What happened to the match, oldest first, in words (the check-in note is shown to
    coordinators on the match's page, not here)."""
    lines: list[tuple[datetime, str]] = []
    if life.introduced_at is not None:
        lines.append((life.introduced_at, "Approved; mentor and mentee introduced"))
    for event in life.events:
        match event:
            case FirstConversationHeld():
                lines.append(
                    (event.occurred_at, f"First conversation confirmed by the {event.confirmed_by}")
                )
            case CheckInRecorded():
                met = "have met" if event.met else "have not met"
                lines.append(
                    (
                        event.occurred_at,
                        f"Day-{event.day} check-in by the {event.by}: {met},"
                        f" usefulness {event.usefulness}/5",
                    )
                )
            case MatchClosed():
                gained = ", ".join(f"{s.skill} now {s.level}" for s in event.levels)
                lines.append(
                    (
                        event.occurred_at,
                        f"Closed by the {event.by}: {OUTCOME_WORDS[event.outcome]}"
                        + (f" (re-assessed: {gained})" if gained else ""),
                    )
                )
    return lines


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

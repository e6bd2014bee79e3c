"""When a secondment is agreed, and what its life allows: pure rules, no SQL.

A secondment is introduced only when the coordinator approved it, its host trust accepted the
candidate and its home trust agreed to release them. The secondments of one exchange cycle go
together: every consent of every one of them, or none is introduced; one refusal ends the
exchange (the refused pair stays out of later rounds, the others may be proposed again)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from uuid import UUID

from shared.events import ConsentParty, SecondmentStatus


@dataclass(frozen=True)
class Consent:
    match_id: UUID
    party: ConsentParty
    answer: str | None  # None (waiting), "given", "refused" or "expired" (no answer in time)


@dataclass(frozen=True)
class Outcome:
    """What the answers of an exchange (or a lone secondment) decide, match by match."""

    statuses: dict[UUID, SecondmentStatus]  # empty: still waiting for someone

    @property
    def decided(self) -> bool:
        return bool(self.statuses)


def exchange_outcome(consents: list[Consent]) -> Outcome:
    """A refusal anywhere: the refused secondments are refused and the others not agreed. A
    consent expired (no answer by its deadline): all not agreed, none refused (silence is not
    a no). Every consent given: all agreed. Otherwise nothing is decided yet."""
    matches = {c.match_id for c in consents}
    refused = {c.match_id for c in consents if c.answer == "refused"}
    if refused:
        return Outcome(
            {
                m: SecondmentStatus.REFUSED if m in refused else SecondmentStatus.NOT_AGREED
                for m in matches
            }
        )
    if any(c.answer == "expired" for c in consents):
        return Outcome(dict.fromkeys(matches, SecondmentStatus.NOT_AGREED))
    if consents and all(c.answer == "given" for c in consents):
        return Outcome({m: SecondmentStatus.AGREED for m in matches})
    return Outcome({})


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def planned_dates(
    start_from: date | None, start_to: date | None, months: int, today: date
) -> tuple[date, date]:
    """The start a secondment is planned for when it is agreed: the placement's earliest start,
    or four weeks on (notice to release someone) if that is sooner, on a Monday and within the
    start window when there is one; it ends ``months`` later."""
    earliest = today + timedelta(weeks=4)
    start = max(start_from, earliest) if start_from else earliest
    start += timedelta(days=(7 - start.weekday()) % 7)  # the Monday on or after
    if start_to and start > start_to:
        start = max(start_to, today)
    return start, add_months(start, months)


class LifeStep(StrEnum):
    START = "start"
    EXTEND = "extend"
    END = "end"


class StepRefused(ValueError):
    """This step cannot be taken now; the message says why."""


def next_status(
    current: str, step: LifeStep, on: date, planned_end: date | None
) -> SecondmentStatus:
    """The status a step leads to from ``current``: an agreed secondment starts; a started one
    is extended (to a later end date) or ends, early when before its planned end."""
    if step is LifeStep.START:
        if current != SecondmentStatus.AGREED:
            raise StepRefused("Only an agreed secondment can start.")
        return SecondmentStatus.STARTED
    if current != SecondmentStatus.STARTED:
        raise StepRefused("Only a secondment under way can be extended or ended.")
    if step is LifeStep.EXTEND:
        if planned_end is not None and on <= planned_end:
            raise StepRefused("An extension needs an end date after the planned one.")
        return SecondmentStatus.EXTENDED
    if planned_end is not None and on < planned_end:
        return SecondmentStatus.ENDED_EARLY
    return SecondmentStatus.ENDED


def stored_status(status: SecondmentStatus) -> str:
    """An extended secondment is still under way."""
    return SecondmentStatus.STARTED.value if status is SecondmentStatus.EXTENDED else status.value


def no_answer_reason(trust_names: list[str], deadline: date) -> str:
    """Why an exchange was not agreed when consents expired: who did not answer, by when."""
    names = sorted(set(trust_names))
    who = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"no answer from {who} by {deadline.day} {deadline:%B %Y}"

"""A network's report over time (docs/outcomes.md): per week, and for everyone and each group
(part-time, social care, small trusts), how many proposals were made, approved and rejected,
introduced, met, active, completed or ended early; the median time from joining to a match;
usefulness ratings; and, over the whole period, rejections by reason and levels gained per
skill. Pure: facts and life events in, figures out (queries.py reads them, pages.py draws them).

"Introduced" is "approved": an approval is what introduces the pair (the notifier emails them
at once). A week starts on Monday (UTC)."""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from uuid import UUID

from services.profiles.outcomes.learner import GROUPS
from services.profiles.outcomes.life import LifeEvent, MatchLife, life_of

EVERYONE = "all"
COUNTS = (
    "proposed",
    "approved",
    "rejected",
    "introduced",
    "met",
    "active",
    "completed",
    "ended_early",
    "no_longer_needed",
    "check_ins",
)
FIGURES = (*COUNTS, "median_days_to_match", "mean_usefulness")


@dataclass(frozen=True)
class ProposalFact:
    """One proposal as the report needs it (no names)."""

    match_id: UUID
    mentee: str
    groups: frozenset[str]
    proposed_at: datetime
    status: str  # pending, withdrawn, approved, rejected, closed
    decided_at: datetime | None
    reason: str
    mentee_joined_at: datetime
    covered: Mapping[str, int] = field(default_factory=dict)  # skill -> level before


@dataclass(frozen=True)
class Report:
    weeks: tuple[date, ...]
    # (week, group) -> figure -> value; None where there is nothing to take a median or mean of
    weekly: dict[tuple[date, str], dict[str, float | None]]
    totals: dict[str, dict[str, float | None]]  # group -> figure -> value, the whole period
    rejected_by_reason: dict[str, Counter[str]]  # group -> reason -> proposals
    levels_gained: dict[str, dict[str, tuple[float, int]]]  # group -> skill -> (mean, matches)
    usefulness: dict[str, Counter[int]]  # group -> rating -> check-ins


def week_of(at: datetime) -> date:
    day = at.date()
    return day - timedelta(days=day.weekday())


def _approved(fact: ProposalFact) -> bool:
    return fact.status in ("approved", "closed") and fact.decided_at is not None


def _in_group(fact: ProposalFact, group: str) -> bool:
    return group == EVERYONE or group in fact.groups


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def build_report(
    facts: Sequence[ProposalFact], events: Iterable[LifeEvent], until: datetime
) -> Report:
    by_match: dict[UUID, list[LifeEvent]] = defaultdict(list)
    for event in events:
        by_match[event.match_id].append(event)
    lives = {
        f.match_id: life_of(f.match_id, f.decided_at, by_match.get(f.match_id, ()))
        for f in facts
        if _approved(f)
    }
    start = min((week_of(f.proposed_at) for f in facts), default=week_of(until))
    weeks = tuple(start + timedelta(weeks=i) for i in range((week_of(until) - start).days // 7 + 1))
    groups = (EVERYONE, *GROUPS)
    weekly = {
        (week, group): _figures([f for f in facts if _in_group(f, group)], lives, week, week)
        for week in weeks
        for group in groups
    }
    totals = {
        group: _figures([f for f in facts if _in_group(f, group)], lives, weeks[0], weeks[-1])
        for group in groups
    }
    return Report(
        weeks=weeks,
        weekly=weekly,
        totals=totals,
        rejected_by_reason={
            g: Counter(
                f.reason.strip().lower() or "(no reason)"
                for f in facts
                if _in_group(f, g) and f.status == "rejected"
            )
            for g in groups
        },
        levels_gained={g: _levels([f for f in facts if _in_group(f, g)], lives) for g in groups},
        usefulness={
            g: Counter(
                c.usefulness
                for f in facts
                if _in_group(f, g) and f.match_id in lives
                for c in lives[f.match_id].check_ins
            )
            for g in groups
        },
    )


def _figures(
    facts: Sequence[ProposalFact], lives: Mapping[UUID, MatchLife], first: date, last: date
) -> dict[str, float | None]:
    """The figures of the weeks ``first`` to ``last`` (inclusive); ``active`` at the end."""
    end = last + timedelta(days=7)

    def within(at: datetime | None) -> bool:
        return at is not None and first <= at.date() < end

    counts: Counter[str] = Counter()
    to_match: list[float] = []
    ratings: list[float] = []
    for fact in facts:
        counts["proposed"] += within(fact.proposed_at)
        if fact.status == "rejected" and within(fact.decided_at):
            counts["rejected"] += 1
        life = lives.get(fact.match_id)
        if life is None or fact.decided_at is None:
            continue
        if within(fact.decided_at):
            counts["approved"] += 1
            counts["introduced"] += 1
            to_match.append((fact.decided_at - fact.mentee_joined_at).total_seconds() / 86400)
        counts["met"] += within(life.met_at)
        closed = life.closed
        if closed is not None and within(closed.occurred_at):
            counts[closed.outcome.value] += 1
        ended = closed.occurred_at.date() if closed is not None else None
        if fact.decided_at.date() < end and (ended is None or ended >= end):
            counts["active"] += 1
        for check_in in life.check_ins:
            if within(check_in.occurred_at):
                counts["check_ins"] += 1
                ratings.append(check_in.usefulness)
    figures: dict[str, float | None] = {name: float(counts[name]) for name in COUNTS}
    figures["median_days_to_match"] = _median(to_match)
    figures["mean_usefulness"] = _mean(ratings)
    return figures


def _levels(
    facts: Sequence[ProposalFact], lives: Mapping[UUID, MatchLife]
) -> dict[str, tuple[float, int]]:
    """Per skill: the mean levels gained by mentees whose match closed with a re-assessment
    (against the level the proposal covered from), and how many matches that is."""
    gained: dict[str, list[int]] = defaultdict(list)
    for fact in facts:
        life = lives.get(fact.match_id)
        if life is None or life.closed is None:
            continue
        for level in life.closed.levels:
            if level.skill in fact.covered:
                gained[level.skill].append(level.level - fact.covered[level.skill])
    return {skill: (statistics.fmean(v), len(v)) for skill, v in sorted(gained.items())}


def report_csv(report: Report) -> str:
    """One row per week and group, every figure a column (UTF-8 with a BOM, for spreadsheets)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(["week_starting", "group", *FIGURES])
    for (week, group), figures in report.weekly.items():
        writer.writerow([week.isoformat(), group, *(_cell(figures[f]) for f in FIGURES)])
    return out.getvalue()


def _cell(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"

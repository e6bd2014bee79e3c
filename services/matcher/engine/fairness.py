"""Fairness of a matching round: who gets matched, side by side, and how well.

The report compares three pairs of groups the product cares about: part-time vs full-time
mentees, social care vs NHS, and small vs large trusts. A mentee counts once a round offers them
at least one proposal of the kind reported. Only mentees who list a skill gap are counted:
someone with no gap is not asking for a match.

Optimal mode meets explicit targets for the same groups (``FairnessOptions``, targets.py) and
returns their price in ``MatchingResult.fairness``. Scores carry no boost, so a group's mean
score here is the plain quality of its matches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict, Field

from services.matcher.engine.config import FairnessGroup
from services.matcher.engine.contract import MatchingInput, MenteeInput, Proposal
from services.matcher.engine.scoring import fairness_groups
from shared.matching import MatchKind


class GroupStats(BaseModel):
    model_config = ConfigDict(frozen=True)

    label: str
    mentees: int = Field(ge=0)
    matched: int = Field(ge=0)
    match_rate: float | None = Field(description="matched / mentees; None for an empty group")
    mean_score: float | None = Field(description="mean best proposal score of matched mentees")


class GroupComparison(BaseModel):
    """A group that may be under-served, next to everyone else."""

    model_config = ConfigDict(frozen=True)

    group: FairnessGroup
    members: GroupStats
    others: GroupStats

    @property
    def rate_gap(self) -> float | None:
        """How far the group's match rate trails the others' (negative when it leads)."""
        if self.members.match_rate is None or self.others.match_rate is None:
            return None
        return self.others.match_rate - self.members.match_rate


class FairnessReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: MatchKind
    overall: GroupStats
    comparisons: tuple[GroupComparison, ...]

    def comparison(self, group: FairnessGroup) -> GroupComparison:
        return next(c for c in self.comparisons if c.group is group)


_LABELS: dict[FairnessGroup, tuple[str, str]] = {
    FairnessGroup.PART_TIME: ("part-time", "full-time"),
    FairnessGroup.SOCIAL_CARE: ("social care", "NHS"),
    FairnessGroup.SMALL_TRUST: ("small trusts", "large trusts"),
}


def fairness_report(
    data: MatchingInput,
    proposals: Iterable[Proposal],
    kind: MatchKind = MatchKind.MENTORING,
) -> FairnessReport:
    """Match rate and mean score per group for one round's proposals of one kind."""
    best = _best_scores(proposals, kind)
    trusts = {t.code: t for t in data.trusts}
    seeking = [m for m in data.mentees if m.seeks(kind)]
    groups = {m.id: fairness_groups(m, trusts) for m in seeking}
    comparisons = tuple(
        GroupComparison(
            group=group,
            members=_stats(_LABELS[group][0], [m for m in seeking if group in groups[m.id]], best),
            others=_stats(
                _LABELS[group][1], [m for m in seeking if group not in groups[m.id]], best
            ),
        )
        for group in FairnessGroup
    )
    return FairnessReport(kind=kind, overall=_stats("all", seeking, best), comparisons=comparisons)


def _best_scores(proposals: Iterable[Proposal], kind: MatchKind) -> dict[str, float]:
    best: dict[str, float] = {}
    for proposal in proposals:
        if proposal.kind is kind:
            best[proposal.mentee_id] = max(proposal.score, best.get(proposal.mentee_id, 0.0))
    return best


def _stats(label: str, mentees: list[MenteeInput], best: Mapping[str, float]) -> GroupStats:
    scores = [best[m.id] for m in mentees if m.id in best]
    return GroupStats(
        label=label,
        mentees=len(mentees),
        matched=len(scores),
        match_rate=len(scores) / len(mentees) if mentees else None,
        mean_score=sum(scores) / len(scores) if scores else None,
    )

"""Fairness report figures, and the priority option raising an under-served group's match rate."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from services.matcher.engine.candidates import Explainer, build_candidates
from services.matcher.engine.config import (
    FairnessGroup,
    FairnessOptions,
    MatchingConfig,
)
from services.matcher.engine.contract import (
    MatchingInput,
    MenteeInput,
    MentorInput,
    Proposal,
    TrustInfo,
)
from services.matcher.engine.fairness import fairness_report, priority_groups_from
from shared.matching import MatchKind
from shared.people import Mode, Sector, SkillGap, SkillLevel, WorkingPattern
from shared.regions import Region

TRUSTS = (
    TrustInfo(code="BIG", name="Large trust", region=Region.LONDON),
    TrustInfo(code="SMALL", name="Small trust", region=Region.LONDON, is_small=True),
    TrustInfo(code="HOST", name="Mentors' trust", region=Region.LONDON),
)


def mentee(
    id: str,
    pattern: WorkingPattern,
    sector: Sector = Sector.NHS,
    trust: str = "BIG",
    current: int = 2,
    target: int = 5,
) -> MenteeInput:
    return MenteeInput(
        id=id,
        trust_code=trust,
        region=Region.LONDON,
        working_pattern=pattern,
        sector=sector,
        mode=Mode.EITHER,
        gaps=(SkillGap(skill="change-management", current=current, target=target),),
    )


def mentor(id: str) -> MentorInput:
    return MentorInput(
        id=id,
        trust_code="HOST",
        region=Region.LONDON,
        capacity=1,
        hours_per_month=8,
        mode=Mode.EITHER,
        skills=(SkillLevel(skill="change-management", level=5),),
    )


def scarce_round() -> MatchingInput:
    """Three level-5 mentors, six mentees. The full-timers' gaps (3->5) are fully covered, the
    part-timers' (2->6) only part-covered, so a score-maximising solver fills all three places
    with full-timers: full-timers score 0.95, part-timers 0.55 x 0.375 + 0.4 = 0.606 (no text)."""
    full_timers = [mentee(f"ft{i}", WorkingPattern.FULL_TIME, current=3) for i in range(3)]
    part_timers = [mentee(f"pt{i}", WorkingPattern.PART_TIME, target=6) for i in range(3)]
    return MatchingInput(
        mentors=tuple(mentor(f"m{i}") for i in range(3)),
        mentees=tuple(full_timers + part_timers),
        trusts=TRUSTS,
    )


def solve(data: MatchingInput, config: MatchingConfig) -> list[Proposal]:
    """Optimal one-to-one assignment on the candidate edges (capacities are all 1 here)."""
    edges = build_candidates(data, config, full=True)
    benefit = np.zeros((len(edges.mentee_ids), len(edges.provider_ids)))
    benefit[edges.mentee_index, edges.provider_index] = edges.score
    rows, cols = linear_sum_assignment(benefit, maximize=True)
    explainer = Explainer.for_input(data, config)
    proposals = []
    for r, c in zip(rows, cols, strict=True):
        if benefit[r, c] > 0:
            mentor_id, mentee_id = edges.provider_ids[c], edges.mentee_ids[r]
            proposals.append(
                Proposal(
                    kind=MatchKind.MENTORING,
                    provider_id=mentor_id,
                    mentee_id=mentee_id,
                    score=float(benefit[r, c]),
                    explanation=explainer.explain(MatchKind.MENTORING, mentor_id, mentee_id),
                )
            )
    return proposals


def test_report_counts_match_rates_and_mean_scores() -> None:
    data = MatchingInput(
        mentees=(
            mentee("a", WorkingPattern.FULL_TIME),
            mentee("b", WorkingPattern.PART_TIME, Sector.SOCIAL_CARE, trust="SMALL"),
            mentee("c", WorkingPattern.PART_TIME),
            mentee("d", WorkingPattern.FULL_TIME, Sector.SOCIAL_CARE),
        ),
        trusts=TRUSTS,
    )
    explanation = solve(scarce_round(), MatchingConfig())[0].explanation

    def proposal(mentee_id: str, score: float, kind: MatchKind = MatchKind.MENTORING) -> Proposal:
        return Proposal(
            kind=kind, provider_id="m", mentee_id=mentee_id, score=score, explanation=explanation
        )

    report = fairness_report(
        data,
        [
            proposal("a", 0.8),
            proposal("b", 0.4),
            proposal("b", 0.6),
            proposal("d", 0.5),
            proposal("c", 0.9, MatchKind.SECONDMENT),  # another kind: not counted
        ],
    )
    assert (report.overall.mentees, report.overall.matched) == (4, 3)
    part_time = report.comparison(FairnessGroup.PART_TIME)
    assert (part_time.members.label, part_time.members.mentees, part_time.members.matched) == (
        "part-time",
        2,
        1,
    )
    assert part_time.members.match_rate == 0.5
    assert part_time.members.mean_score == 0.6
    assert part_time.others.match_rate == 1.0
    assert part_time.others.mean_score == pytest.approx(0.65)
    assert part_time.rate_gap == 0.5
    social_care = report.comparison(FairnessGroup.SOCIAL_CARE)
    assert social_care.members.match_rate == 1.0
    assert social_care.others.match_rate == 0.5
    small = report.comparison(FairnessGroup.SMALL_TRUST)
    assert (small.members.mentees, small.others.mentees) == (1, 3)
    assert priority_groups_from(report) == {FairnessGroup.PART_TIME}


def test_empty_group_has_no_rate() -> None:
    data = MatchingInput(mentees=(mentee("a", WorkingPattern.FULL_TIME),), trusts=TRUSTS)
    report = fairness_report(data, [])
    part_time = report.comparison(FairnessGroup.PART_TIME)
    assert part_time.members.match_rate is None
    assert part_time.rate_gap is None
    assert part_time.others.match_rate == 0.0
    assert part_time.others.mean_score is None
    assert priority_groups_from(report) == frozenset()


def test_priority_boost_raises_the_under_served_groups_match_rate() -> None:
    data = scarce_round()
    before = fairness_report(data, solve(data, MatchingConfig()))
    gap = before.comparison(FairnessGroup.PART_TIME)
    assert gap.members.match_rate == 0.0
    assert gap.others.match_rate == 1.0
    groups = priority_groups_from(before)
    assert groups == {FairnessGroup.PART_TIME}

    # 0.606 x 1.8 = 1.09 > 0.95: the boost is enough to turn the choice.
    boosted = MatchingConfig(fairness=FairnessOptions(priority_groups=groups, priority_boost=0.8))
    proposals = solve(data, boosted)
    after = fairness_report(data, proposals).comparison(FairnessGroup.PART_TIME)
    assert after.members.match_rate == 1.0
    assert after.others.match_rate == 0.0
    explanation = proposals[0].explanation
    assert explanation is not None
    parts = {p.name: p for p in explanation.parts}
    assert parts["fairness priority"].value == 0.8  # the boost shows in the explanation
    assert proposals[0].score == pytest.approx((0.55 * 0.375 + 0.4) * 1.8, abs=1e-6)

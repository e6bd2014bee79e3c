"""Fairness report figures, and fairness targets met as an exact constrained optimum."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, linear_sum_assignment, milp

from devtools.reference_data import reason
from services.matcher.engine.assignment import solve_assignment
from services.matcher.engine.candidates import Explainer, build_candidates
from services.matcher.engine.config import (
    FairnessGroup,
    FairnessOptions,
    MatchingConfig,
)
from services.matcher.engine.contract import (
    CandidateEdges,
    MatchingInput,
    MenteeInput,
    MentorInput,
    PendingProposal,
    Proposal,
    TrustInfo,
)
from services.matcher.engine.fairness import fairness_report
from services.matcher.engine.optimal import build_engine
from services.matcher.engine.targets import Group, solve_with_targets
from shared.matching import MatchKind
from shared.people import Mode, Sector, SkillGap, SkillLevel, WorkingPattern
from shared.regions import Region
from tests.support.engine.instances import (
    DDAT_ROLES_CSV,
    TRUSTS_CSV,
    ddat_network,
    random_candidate_edges,
)

NO_TARGETS = FairnessOptions(part_time=0, social_care=0, small_trust=0)
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


def test_empty_group_has_no_rate() -> None:
    data = MatchingInput(mentees=(mentee("a", WorkingPattern.FULL_TIME),), trusts=TRUSTS)
    report = fairness_report(data, [])
    part_time = report.comparison(FairnessGroup.PART_TIME)
    assert part_time.members.match_rate is None
    assert part_time.rate_gap is None
    assert part_time.others.match_rate == 0.0
    assert part_time.others.mean_score is None


def test_targets_give_the_part_timers_their_share_at_the_least_cost() -> None:
    data = scarce_round()
    free = build_engine(MatchingConfig(fairness=NO_TARGETS)).propose(data)
    before = fairness_report(data, free.proposals).comparison(FairnessGroup.PART_TIME)
    assert (before.members.match_rate, before.others.match_rate) == (0.0, 1.0)

    result = build_engine(MatchingConfig()).propose(data)  # default: every group >= 0.9x
    after = fairness_report(data, result.proposals)
    part_time = after.comparison(FairnessGroup.PART_TIME).members
    assert after.overall.match_rate == 0.5
    # 0.9 x 0.5 = 0.45 needs two of the three part-timers; the cheapest way keeps one full-timer.
    assert part_time.matched == 2
    outcome = result.fairness
    assert outcome is not None
    assert outcome.free_total_score == pytest.approx(3 * 0.95, abs=1e-6)
    assert outcome.total_score == pytest.approx(0.95 + 2 * (0.55 * 0.375 + 0.4), abs=1e-6)
    assert outcome.price == pytest.approx(outcome.free_total_score - outcome.total_score)
    # Six mentees are too few for the Lagrangian bound to be tight: the gap says so honestly.
    assert outcome.bound_gap >= 0
    groups = {g.group: g for g in outcome.groups}
    assert groups["part_time"].met
    assert groups["part_time"].rate_to_overall == pytest.approx(4 / 3)
    # The mean score is the plain quality of the matches: no boost in any score.
    assert part_time.mean_score == pytest.approx(0.55 * 0.375 + 0.4, abs=1e-6)
    explanation = next(p for p in result.proposals if p.mentee_id.startswith("pt")).explanation
    assert explanation is not None
    assert sum(p.contribution for p in explanation.parts) == pytest.approx(part_time.mean_score)


def test_without_targets_nothing_is_given_up() -> None:
    result = build_engine(MatchingConfig(fairness=NO_TARGETS)).propose(scarce_round())
    assert result.fairness is not None
    assert result.fairness.price == 0.0
    assert result.fairness.solves == 1


@pytest.mark.parametrize("seed", range(25))
def test_targets_equal_an_independent_integer_program(seed: int) -> None:
    rng = np.random.default_rng(seed)
    candidates = random_candidate_edges(
        rng, int(rng.integers(3, 9)), int(rng.integers(10, 40)), int(rng.integers(1, 5))
    )
    n = len(candidates.mentee_ids)
    counted = rng.random(n) < 0.9
    groups = [
        Group(name, rng.random(n) < share, float(rng.choice([0.0, 0.8, 0.9, 1.0])))
        for name, share in (("a", 0.3), ("b", 0.2), ("c", 0.4))
    ]
    chosen, outcome = solve_with_targets(
        candidates, counted, groups, lambda bonus: solve_assignment(candidates, bonus)
    )
    optimum = milp_optimum(candidates, counted, groups)
    if optimum is None:  # the targets cannot all be met: the result says so
        assert not all(g.met for g in outcome.groups)
        return
    assert all(g.met for g in outcome.groups)
    assert chosen.total_score <= optimum + 1e-6  # feasible, so no better than the optimum
    assert optimum <= chosen.total_score + outcome.bound_gap + 1e-6  # the gap is certified
    assert outcome.price == pytest.approx(
        solve_assignment(candidates).total_score - optimum, abs=1e-6 + outcome.bound_gap
    )


def milp_optimum(
    candidates: CandidateEdges, counted: np.ndarray, groups: list[Group]
) -> float | None:
    """The constrained optimum by HiGHS branch and bound (whole capacities only here)."""
    edges, n = candidates.edge_count, len(candidates.mentee_ids)
    column = np.arange(edges)
    rows = [
        sp.csr_matrix((np.ones(edges), (candidates.mentee_index, column)), shape=(n, edges)),
        sp.csr_matrix(
            (np.ones(edges), (candidates.provider_index, column)),
            shape=(len(candidates.provider_ids), edges),
        ),
    ]
    upper = [np.ones(n), np.floor(candidates.provider_capacity)]
    lower = [np.full(n, -np.inf), np.full(len(candidates.provider_ids), -np.inf)]
    in_counted = counted[candidates.mentee_index]
    for group in groups:
        members = group.members & counted
        if group.share <= 0 or not members.any():
            continue
        coefficient = (
            members[candidates.mentee_index] * counted.sum()
            - group.share * members.sum() * in_counted
        )
        rows.append(sp.csr_matrix(coefficient[None, :]))
        lower.append(np.zeros(1))
        upper.append(np.full(1, np.inf))
    found = milp(
        -candidates.score,
        constraints=LinearConstraint(sp.vstack(rows), np.concatenate(lower), np.concatenate(upper)),
        integrality=np.ones(edges),
        bounds=Bounds(0, 1),
    )
    return None if found.status == 2 else float(-found.fun)


@pytest.mark.parametrize("seed", [1, 2])
def test_default_targets_on_a_network_of_real_trusts_and_ddat_roles(seed: int) -> None:
    if not (DDAT_ROLES_CSV.exists() and TRUSTS_CSV.exists()):
        pytest.skip(reason("ddat", "ddat_role_skill_requirements.csv"))
    data = ddat_network(np.random.default_rng(seed), n_mentors=300, n_mentees=1500)
    result = build_engine(MatchingConfig()).propose(data)
    outcome = result.fairness
    assert outcome is not None
    assert all(g.met for g in outcome.groups)
    assert all(g.rate_to_overall is None or g.rate_to_overall >= 0.9 for g in outcome.groups)
    assert outcome.price_pct <= 1.0


def test_a_failed_price_lp_still_gives_a_round_and_says_how_far_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HiGHS once failed on a real round (status 15) and the round raised: now it proposes."""
    import services.matcher.engine.targets as targets

    class Failed:
        status = 4
        message = "numerical difficulties"

    monkeypatch.setattr(targets, "linprog", lambda *args, **kwargs: Failed())
    data = scarce_round()
    result = build_engine(MatchingConfig()).propose(data)
    assert result.proposals  # the round proposes whatever the price search did
    outcome = result.fairness
    assert outcome is not None
    assert outcome.total_score <= outcome.free_total_score + 1e-9
    assert outcome.bound_gap >= 0


def test_no_price_search_where_pending_proposals_hold_every_place() -> None:
    """The re-solve keeps pending proposals whatever the prices: where they hold every place,
    no price moves a group, and the search stops at once instead of spending its 40 solves."""
    data = scarce_round().model_copy(
        update={
            "pending": tuple(
                PendingProposal(kind=MatchKind.MENTORING, provider_id=f"m{i}", mentee_id=f"ft{i}")
                for i in range(3)
            )
        }
    )
    result = build_engine(MatchingConfig()).propose(data)
    outcome = result.fairness
    assert outcome is not None
    assert outcome.solves == 2  # the free optimum, then one solve at prices above every score
    assert {g.group: g.met for g in outcome.groups}["part_time"] is False
    assert sorted((p.provider_id, p.mentee_id) for p in result.proposals) == [
        ("m0", "ft0"),
        ("m1", "ft1"),
        ("m2", "ft2"),
    ]

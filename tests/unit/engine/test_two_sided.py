"""Two-sided preferences: each side's own order in stable mode, score parts in optimal mode."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.matcher.engine import build_engine
from services.matcher.engine.candidates import Explainer, build_candidates
from services.matcher.engine.config import MatchingConfig
from services.matcher.engine.contract import MatchingInput, MenteeInput, MentorInput, TrustInfo
from services.matcher.engine.stable import blocking_pairs, solve_stable
from shared.matching import MatchKind
from shared.people import (
    MAX_RANKED_MENTORS,
    AspiredRole,
    MentorPreferences,
    Mode,
    Sector,
    SkillGap,
    SkillLevel,
    WorkingPattern,
)
from shared.regions import Region
from tests.support.engine.instances import (
    random_candidate_edges,
    random_orders,
    synthetic_input,
    with_stated_preferences,
)
from tests.support.engine.peers import matching_package_stable
from tests.support.engine.stability import blocking_pairs_everywhere


@settings(max_examples=60)
@given(
    seed=st.integers(0, 100_000),
    providers=st.integers(1, 15),
    mentees=st.integers(1, 60),
    per_mentee=st.integers(1, 8),
    tiers=st.integers(1, 4),
    levels=st.sampled_from([0, 3]),
)
def test_each_sides_own_order_gives_the_matching_packages_result(
    seed: int, providers: int, mentees: int, per_mentee: int, tiers: int, levels: int
) -> None:
    rng = np.random.default_rng(seed)
    candidates = random_candidate_edges(
        rng, providers, mentees, per_mentee, capacities=(0.0, 1.0, 2.0, 3.0), score_levels=levels
    )
    mentee_key, provider_key = random_orders(rng, candidates, tiers)
    ours = solve_stable(candidates, mentee_key, provider_key).edges
    assert ours.tolist() == matching_package_stable(candidates, mentee_key, provider_key).tolist()
    assert blocking_pairs(candidates, ours, mentee_key, provider_key).size == 0


def test_one_score_orders_are_the_default_orders() -> None:
    rng = np.random.default_rng(5)
    candidates = random_candidate_edges(rng, 10, 50, 5)
    default = solve_stable(candidates).edges
    stated = solve_stable(candidates, -candidates.score, -candidates.score).edges
    assert default.tolist() == stated.tolist()


@pytest.mark.parametrize(("mentors", "mentees", "seed"), [(40, 300, 1), (100, 700, 2)])
def test_pruned_two_sided_rounds_are_stable_everywhere(
    mentors: int, mentees: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    data = with_stated_preferences(synthetic_input(rng, mentors, mentees), rng, ranking=0.5)
    config = MatchingConfig(
        mode="stable", top_k=2, provider_top_k=0, full_candidates_up_to_pairs=0, chunk_size=64
    )
    assert blocking_pairs_everywhere(data, config) == 0


# --- by hand ---

TRUST = TrustInfo(code="T1", name="One", region=Region.LONDON)
OTHER = TrustInfo(code="T2", name="Two", region=Region.LONDON)


def _mentor(i: int, **fields: object) -> MentorInput:
    defaults: dict[str, object] = {
        "id": f"m{i}",
        "trust_code": "T2",
        "region": Region.LONDON,
        "skills": (SkillLevel(skill="data-analytics", level=6),),
        "capacity": 1,
        "hours_per_month": 4,
        "mode": Mode.EITHER,
    }
    return MentorInput.model_validate(defaults | fields)


def _mentee(i: int, **fields: object) -> MenteeInput:
    defaults: dict[str, object] = {
        "id": f"e{i}",
        "trust_code": "T1",
        "region": Region.LONDON,
        "gaps": (SkillGap(skill="data-analytics", current=2, target=5),),
        "working_pattern": WorkingPattern.FULL_TIME,
        "sector": Sector.NHS,
        "mode": Mode.EITHER,
    }
    return MenteeInput.model_validate(defaults | fields)


def _pairs(data: MatchingInput, config: MatchingConfig) -> set[tuple[str, str]]:
    return {(p.provider_id, p.mentee_id) for p in build_engine(config).propose(data).proposals}


def test_a_mentees_ranking_decides_between_equal_mentors_in_both_modes() -> None:
    # m1 scores a little less (in person only, against a flexible mentee): without a ranking
    # m0 wins; ranked first, m1 wins in both modes.
    plain = MatchingInput(
        mentors=(_mentor(0), _mentor(1, mode=Mode.IN_PERSON)),
        mentees=(_mentee(0),),
        trusts=(TRUST, OTHER),
    )
    ranked = plain.model_copy(update={"mentees": (_mentee(0, ranked_mentors=("m1", "m0")),)})
    for mode in ("optimal", "stable"):
        config = MatchingConfig(mode=mode)
        assert _pairs(plain, config) == {("m0", "e0")}
        assert _pairs(ranked, config) == {("m1", "e0")}


def test_the_explanation_shows_each_stated_part_with_its_weight() -> None:
    data = MatchingInput(
        mentors=(
            _mentor(0, prefers=MentorPreferences(sectors=(Sector.SOCIAL_CARE,))),
            _mentor(
                1,
                prefers=MentorPreferences(
                    aspirations=(AspiredRole.CCIO,), regions=(Region.LONDON,)
                ),
            ),
        ),
        mentees=(_mentee(0, ranked_mentors=("m1", "x", "m0"), aspires_to=AspiredRole.CIO),),
        trusts=(TRUST, OTHER),
    )
    explainer = Explainer.for_input(data)
    first = explainer.score(MatchKind.MENTORING, "m1", "e0")
    third = explainer.score(MatchKind.MENTORING, "m0", "e0")
    assert first is not None
    assert third is not None
    parts = {p.name: p for p in first.explanation.parts}
    assert (parts["mentee_ranking"].value, parts["mentee_ranking"].weight) == (1.0, 0.10)
    # m1 stated two lists; the mentee is in London (met) but aspires to CIO, not CCIO.
    assert (parts["mentor_preference"].value, parts["mentor_preference"].weight) == (0.5, 0.05)
    third_parts = {p.name: p for p in third.explanation.parts}
    assert third_parts["mentee_ranking"].value == pytest.approx(1 / 3)
    assert third_parts["mentor_preference"].value == 0.0
    for scored in (first, third):
        assert sum(p.contribution for p in scored.explanation.parts) == pytest.approx(scored.score)
    # Nothing stated on either side: the five components alone, as before.
    plain = Explainer.for_input(
        data.model_copy(update={"mentees": (_mentee(0),), "mentors": (_mentor(2),)})
    )
    alone = plain.score(MatchKind.MENTORING, "m2", "e0")
    assert alone is not None
    assert len(alone.explanation.parts) == 5


def test_an_excluded_mentor_is_never_proposed() -> None:
    data = MatchingInput(
        mentors=(_mentor(0), _mentor(1)),
        mentees=(_mentee(0, excluded_mentors=frozenset({"m0"})),),
        trusts=(TRUST, OTHER),
    )
    for mode in ("optimal", "stable"):
        assert _pairs(data, MatchingConfig(mode=mode)) == {("m1", "e0")}
    assert Explainer.for_input(data).score(MatchKind.MENTORING, "m0", "e0") is None


def test_a_mentors_preference_decides_who_they_help_in_stable_mode() -> None:
    # One mentor, two mentees: the NHS mentee scores a little higher, but the mentor would
    # rather help social care, and in stable mode the mentor's own order decides.
    mentor = _mentor(0, prefers=MentorPreferences(sectors=(Sector.SOCIAL_CARE,)))
    nhs = _mentee(0)
    care = _mentee(
        1, sector=Sector.SOCIAL_CARE, gaps=(SkillGap(skill="data-analytics", current=2, target=7),)
    )
    data = MatchingInput(mentors=(mentor,), mentees=(nhs, care), trusts=(TRUST, OTHER))
    assert _pairs(data, MatchingConfig(mode="stable")) == {("m0", "e1")}


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"ranked_mentors": ("a", "b", "a")}, "ranked twice"),
        (
            {"ranked_mentors": ("a",), "excluded_mentors": frozenset({"a"})},
            "both ranked and excluded",
        ),
        ({"ranked_mentors": tuple(f"m{i}" for i in range(MAX_RANKED_MENTORS + 1))}, "at most"),
        (
            {"excluded_mentors": frozenset(f"m{i}" for i in range(MAX_RANKED_MENTORS + 1))},
            "at most",
        ),
    ],
)
def test_the_contract_refuses_inconsistent_rankings(
    update: dict[str, object], message: str
) -> None:
    fields = _mentee(0).model_dump() | update
    with pytest.raises(ValidationError, match=message):
        MenteeInput.model_validate(fields)


def test_vectorised_scores_with_stated_preferences_equal_per_pair_scores() -> None:
    rng = np.random.default_rng(11)
    data = with_stated_preferences(synthetic_input(rng, 40, 160), rng, ranking=0.6, preferring=0.6)
    config = MatchingConfig(chunk_size=32)
    explainer = Explainer.for_input(data, config)
    edges = build_candidates(data, config, full=True)
    found = {
        (edges.provider_ids[p], edges.mentee_ids[m]): float(s)
        for m, p, s in zip(edges.mentee_index, edges.provider_index, edges.score, strict=True)
    }
    expected = {}
    for mentor in data.mentors:
        for mentee in data.mentees:
            scored = explainer.score(MatchKind.MENTORING, mentor.id, mentee.id)
            if scored is not None:
                expected[(mentor.id, mentee.id)] = scored.score
    assert any(m.ranked_mentors for m in data.mentees)
    assert any(m.prefers.stated for m in data.mentors)
    assert found.keys() == expected.keys()
    for pair, score in expected.items():
        assert found[pair] == pytest.approx(score, abs=2e-6), pair

"""Per-pair scoring: hand-computed scores, explanations and hard rules."""

from __future__ import annotations

import csv
import gc
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from devtools.reference_data import reason, reference_data_dir
from services.matcher.engine import scoring
from services.matcher.engine.config import (
    ComponentWeights,
    MatchingConfig,
    RegionOptions,
)
from services.matcher.engine.contract import (
    MatchingInput,
    MenteeInput,
    MentorInput,
    PlacementInput,
    TrustInfo,
)
from services.matcher.engine.scoring import (
    ScoringContext,
    TextModel,
    _gap_credit_matrix,
    _GapTable,
    _words,
    collector_paused,
    exclusion_reason,
    explain_pair,
    provider_from_mentor,
    provider_from_placement,
    region_component,
    score_pair,
)
from shared.matching import MatchKind
from shared.people import Mode, Sector, SkillGap, SkillLevel, WorkingPattern
from shared.regions import Region, distance_km
from shared.skills import MAX_LEVEL
from tests.support.engine.scored_instances import random_instance

TRUSTS_CSV = reference_data_dir() / "nhs_trusts" / "nhs_trusts_england.csv"

# Text off so hand-computed scores are exact; the weights already sum to 1.
NO_TEXT = MatchingConfig(
    weights=ComponentWeights(skills=0.6, region=0.2, availability=0.1, preferences=0.1, text=0)
)
LONDON_TRUST = TrustInfo(code="AAA", name="London trust", region=Region.LONDON)
SOUTH_EAST_TRUST = TrustInfo(code="BBB", name="South East trust", region=Region.SOUTH_EAST)
NORTH_WEST_TRUST = TrustInfo(code="CCC", name="North West trust", region=Region.NORTH_WEST)


def mentor(
    id: str = "m1",
    trust: TrustInfo = SOUTH_EAST_TRUST,
    skills: dict[str, int] | None = None,
    capacity: float = 2,
    hours: float = 8,
    mode: Mode = Mode.EITHER,
    bio: str = "",
) -> MentorInput:
    levels = skills if skills is not None else {"data-analytics": 6, "cyber-security": 2}
    return MentorInput(
        id=id,
        trust_code=trust.code,
        region=trust.region,
        skills=tuple(SkillLevel(skill=s, level=lv) for s, lv in levels.items()),
        capacity=capacity,
        hours_per_month=hours,
        mode=mode,
        bio=bio,
    )


def mentee(
    id: str = "e1",
    trust: TrustInfo = LONDON_TRUST,
    mode: Mode = Mode.REMOTE,
    pattern: WorkingPattern = WorkingPattern.FULL_TIME,
    open_to_secondment: bool = True,
    goals: str = "",
) -> MenteeInput:
    return MenteeInput(
        id=id,
        trust_code=trust.code,
        region=trust.region,
        gaps=(
            SkillGap(skill="data-analytics", current=2, target=5, priority=1),
            SkillGap(skill="cyber-security", current=1, target=3, priority=2),
        ),
        working_pattern=pattern,
        sector=Sector.NHS,
        mode=mode,
        goals=goals,
        open_to_secondment=open_to_secondment,
    )


def context(
    mentors: tuple[MentorInput, ...] = (),
    mentees: tuple[MenteeInput, ...] = (),
    config: MatchingConfig = NO_TEXT,
    placements: tuple[PlacementInput, ...] = (),
    rejected: frozenset[tuple[str, str]] = frozenset(),
    trusts: tuple[TrustInfo, ...] = (LONDON_TRUST, SOUTH_EAST_TRUST, NORTH_WEST_TRUST),
) -> ScoringContext:
    data = MatchingInput(
        mentors=mentors,
        mentees=mentees,
        placements=placements,
        trusts=trusts,
        rejected_pairs=rejected,
    )
    return ScoringContext.build(data, config)


def test_hand_computed_mentoring_score_and_explanation() -> None:
    m, e = mentor(), mentee()
    scored = score_pair(provider_from_mentor(m), e, context((m,), (e,)))
    assert scored is not None
    # Gaps weigh size x priority: data 3x1 = 3, cyber 2x2 = 4. Data fully covered (6 >= 5);
    # cyber part-covered (2 of 1->3): 0.5 x (2-1)/(3-1) = 0.25. Coverage (3 + 4x0.25)/7 = 4/7.
    # Region: neighbouring, no coordinates = 0.7. Availability: 8 h / 2 mentees = 4 h >= 4 h.
    # Preferences: remote mentee, flexible mentor = 0.9.
    expected = 0.6 * 4 / 7 + 0.2 * 0.7 + 0.1 * 1.0 + 0.1 * 0.9
    assert scored.score == pytest.approx(expected)
    parts = {p.name: p for p in scored.explanation.parts}
    assert parts["skills"].value == pytest.approx(4 / 7)
    assert parts["region"].value == pytest.approx(0.7)
    assert parts["preferences"].value == pytest.approx(0.9)
    assert parts["text"].contribution == 0
    assert sum(p.contribution for p in scored.explanation.parts) == pytest.approx(scored.score)
    covered = scored.explanation.skills_covered
    assert [
        (s.skill, s.skill_name, s.from_level, s.to_level, s.provider_level) for s in covered
    ] == [
        ("data-analytics", "Data and analytics", 2, 5, 6),
        ("cyber-security", "Cyber security", 1, 3, 2),
    ]
    assert scored.explanation.region_reason == "neighbouring regions (London / South East)"


def test_no_partial_credit_counts_only_full_cover() -> None:
    m, e = mentor(), mentee()
    config = NO_TEXT.model_copy(
        update={"skills": NO_TEXT.skills.model_copy(update={"partial_credit": 0})}
    )
    scored = score_pair(provider_from_mentor(m), e, context((m,), (e,), config))
    assert scored is not None
    assert {p.name: p.value for p in scored.explanation.parts}["skills"] == pytest.approx(3 / 7)


def test_region_reasons_and_values() -> None:
    opts = RegionOptions()
    assert region_component(Region.LONDON, Region.LONDON, None, False, opts) == (
        1.0,
        "same region (London)",
    )
    value, reason = region_component(Region.LONDON, Region.SOUTH_EAST, 42.0, False, opts) or (0, "")
    assert reason == "neighbouring regions (London / South East), 42 km"
    assert value == pytest.approx(0.7 * (1 - 0.3 * 42 / 300))
    assert region_component(Region.LONDON, Region.NORTH_WEST, 300.0, True, opts) == (
        0.5,
        "remote — different regions (London / North West)",
    )
    assert region_component(Region.LONDON, Region.NORTH_WEST, 300.0, False, opts) is None


def test_distant_pair_needs_both_sides_remote() -> None:
    far = mentor(trust=NORTH_WEST_TRUST, mode=Mode.IN_PERSON)
    remote = mentor(id="m2", trust=NORTH_WEST_TRUST, mode=Mode.REMOTE)
    e = mentee(mode=Mode.EITHER)
    ctx = context((far, remote), (e,))
    assert (
        exclusion_reason(provider_from_mentor(far), e, ctx) == "too far apart and not both remote"
    )
    scored = score_pair(provider_from_mentor(remote), e, ctx)
    assert scored is not None
    assert scored.explanation.region_reason == "remote — different regions (London / North West)"


@pytest.mark.parametrize(
    ("mentor_kwargs", "reason"),
    [
        ({"trust": LONDON_TRUST}, "same trust"),
        ({"capacity": 0}, "no capacity"),
        ({"hours": 0}, "no capacity"),
        ({"skills": {"procurement": 7}}, "covers none of the mentee's gaps"),
        ({"skills": {"data-analytics": 2}}, "covers none of the mentee's gaps"),
    ],
)
def test_hard_rules_exclude_mentoring_pairs(mentor_kwargs: dict[str, object], reason: str) -> None:
    m, e = mentor(**mentor_kwargs), mentee()  # type: ignore[arg-type]
    ctx = context((m,), (e,))
    assert exclusion_reason(provider_from_mentor(m), e, ctx) == reason
    assert score_pair(provider_from_mentor(m), e, ctx) is None
    with pytest.raises(ValueError, match=reason):
        explain_pair(provider_from_mentor(m), e, ctx)


def test_rejected_pair_is_never_scored() -> None:
    m, e = mentor(), mentee()
    ctx = context((m,), (e,), rejected=frozenset({("m1", "e1")}))
    assert exclusion_reason(provider_from_mentor(m), e, ctx) == "rejected before"


def test_same_trust_mentoring_allowed_by_config() -> None:
    m, e = mentor(trust=LONDON_TRUST), mentee()
    config = NO_TEXT.model_copy(update={"allow_same_trust_mentoring": True})
    scored = score_pair(provider_from_mentor(m), e, context((m,), (e,), config))
    assert scored is not None
    assert scored.explanation.region_reason == "same region (London)"


def placement(trust: TrustInfo = SOUTH_EAST_TRUST, fte: float = 1.0) -> PlacementInput:
    return PlacementInput(
        id="p1",
        host_trust_code=trust.code,
        region=trust.region,
        role="Head of data",
        skills_developed=(SkillLevel(skill="data-analytics", level=5),),
        places=1,
        months=6,
        fte=fte,
    )


def test_secondment_scoring_and_fte_availability() -> None:
    p = placement(fte=1.0)
    part_timer = mentee(pattern=WorkingPattern.PART_TIME)
    scored = score_pair(
        provider_from_placement(p), part_timer, context(mentees=(part_timer,), placements=(p,))
    )
    assert scored is not None
    parts = {part.name: part.value for part in scored.explanation.parts}
    # Data covered (weight 3 of 7); the placement develops no cyber security.
    assert parts["skills"] == pytest.approx(3 / 7)
    assert parts["availability"] == pytest.approx(0.6)  # 0.6 FTE suits a part-timer; 1.0 does not
    assert parts["preferences"] == pytest.approx(0.9)  # placements are flexible about mode


def test_secondment_always_cross_trust_and_needs_openness() -> None:
    allow = NO_TEXT.model_copy(update={"allow_same_trust_mentoring": True})
    home = placement(trust=LONDON_TRUST)
    e = mentee()
    ctx = context(mentees=(e,), placements=(home,), config=allow)
    assert exclusion_reason(provider_from_placement(home), e, ctx) == (
        "secondments are always to another trust"
    )
    closed = mentee(open_to_secondment=False)
    ctx = context(mentees=(closed,), placements=(placement(),))
    assert exclusion_reason(provider_from_placement(placement()), closed, ctx) == (
        "mentee not open to secondment"
    )


def test_text_similarity_is_a_minor_signal() -> None:
    e = mentee(goals="improve population health analytics and data visualisation")
    close = mentor(id="close", bio="population health analytics lead; data visualisation")
    unrelated = mentor(id="far", bio="procurement frameworks and contract law")
    ctx = context((close, unrelated), (e,), MatchingConfig())
    a = score_pair(provider_from_mentor(close), e, ctx)
    b = score_pair(provider_from_mentor(unrelated), e, ctx)
    assert a is not None
    assert b is not None
    text_a = {p.name: p for p in a.explanation.parts}["text"]
    text_b = {p.name: p for p in b.explanation.parts}["text"]
    assert text_a.value > 0.5
    assert text_b.value == 0
    assert a.score - b.score == pytest.approx(text_a.contribution)
    assert text_a.weight == pytest.approx(0.05)


def test_config_is_validated() -> None:
    with pytest.raises(ValidationError, match="skills weight must be positive"):
        ComponentWeights(skills=0)
    with pytest.raises(ValidationError):
        ComponentWeights(region=-1)
    with pytest.raises(ValidationError):
        MatchingConfig(top_k=0)
    with pytest.raises(ValidationError):
        MatchingConfig.model_validate({"weights": {"skils": 1}})
    assert sum(ComponentWeights(skills=2, region=2).normalised().values()) == pytest.approx(1)


def _real_trusts(*codes: str) -> dict[str, TrustInfo]:
    if not TRUSTS_CSV.exists():
        pytest.skip(reason("nhs_trusts", "nhs_trusts_england.csv"))
    with TRUSTS_CSV.open(newline="", encoding="utf-8") as handle:
        rows = {r["ods_code"]: r for r in csv.DictReader(handle) if r["ods_code"] in codes}
    return {
        code: TrustInfo(
            code=code,
            name=r["name"],
            region=Region(r["nhs_region_code"]),
            latitude=float(r["latitude"]),
            longitude=float(r["longitude"]),
        )
        for code, r in rows.items()
    }


def test_distance_between_real_trusts_shapes_region_value() -> None:
    # Manchester University FT (North West); Oxford University Hospitals (South East);
    # North London FT (London).
    trusts = _real_trusts("R0A", "RTH", "G6V2S")
    manchester, oxford, london = trusts["R0A"], trusts["RTH"], trusts["G6V2S"]
    assert manchester.region is Region.NORTH_WEST
    assert london.region is Region.LONDON
    km = distance_km(
        oxford.latitude or 0, oxford.longitude or 0, london.latitude or 0, london.longitude or 0
    )
    assert 70 < km < 90  # Oxford to St Pancras is about 80 km as the crow flies
    e = mentee(trust=london, mode=Mode.IN_PERSON)
    near = mentor(id="oxford", trust=oxford, mode=Mode.IN_PERSON)
    far = mentor(id="manchester", trust=manchester, mode=Mode.IN_PERSON)
    far_remote = mentor(id="manchester-remote", trust=manchester, mode=Mode.REMOTE)
    ctx = context((near, far, far_remote), (e,), trusts=tuple(trusts.values()))
    scored = score_pair(provider_from_mentor(near), e, ctx)
    assert scored is not None
    assert (
        scored.explanation.region_reason
        == f"neighbouring regions (London / South East), {km:.0f} km"
    )
    region = {p.name: p.value for p in scored.explanation.parts}["region"]
    assert region == pytest.approx(0.7 * (1 - 0.3 * km / 300))
    assert (
        score_pair(provider_from_mentor(far), e, ctx) is None
    )  # in person, 260 km, not neighbours
    # Remote-capable on one side only is not enough across non-neighbouring regions.
    assert exclusion_reason(provider_from_mentor(far_remote), e, ctx) == (
        "too far apart and not both remote"
    )


def test_text_vectors_are_unit_rows_or_zero() -> None:
    texts = ["population health analytics", "", "the and of", "analytics for population health"]
    vectors = TextModel.fit(texts, MatchingConfig()).vectors(texts)
    norms = np.linalg.norm(vectors, axis=1)
    np.testing.assert_allclose(norms, [1, 0, 0, 1], atol=1e-6)  # empty and stop-words-only: 0
    assert float(vectors[0] @ vectors[3]) == pytest.approx(1.0, abs=1e-6)  # same words
    config = MatchingConfig.model_validate({"text": {"dims": 2, "lsa_min_texts": 10}})
    assert TextModel.fit(texts * 5, config).vectors(texts * 5).shape == (20, 2)
    assert TextModel.fit(["", " "], MatchingConfig()).vectors(["", " "]).shape == (2, 1)


WORDS = ["data", "cyber", "board", "clinical", "safety", "records", "digital", "leadership"]
phrases = st.lists(st.sampled_from(WORDS), max_size=6).map(" ".join)


LSA = MatchingConfig.model_validate({"text": {"dims": 2, "lsa_min_texts": 1}})


# Two-dimensional LSA of a few short texts: sklearn's explained variance divides by zero.
@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")
@given(
    bios=st.lists(phrases, min_size=1, max_size=8),
    goals=st.lists(phrases, max_size=8),
    lsa=st.booleans(),
)
# 'clinical' lies outside the two LSA dimensions: its projection is rounding noise, not a unit
# vector (Hypothesis found it on 2026-12-06).
@example(bios=["clinical", "data", "cyber board"], goals=["clinical"], lsa=True)
def test_goals_are_vectors_of_the_bios_model_as_sklearn_transforms_them(
    bios: list[str], goals: list[str], lsa: bool
) -> None:
    """The hand-written transform (per distinct text, dense or sparse) is sklearn's own."""
    config = LSA if lsa else MatchingConfig()
    model = TextModel.fit(bios, config)
    vectorizer = TfidfVectorizer(analyzer=_words, max_features=2000, sublinear_tf=True)
    try:
        vectorizer.fit(bios)
    except ValueError:  # no words at all: every vector is zero
        assert not model.vectors(goals).any()
        return
    if not goals:
        assert model.vectors(goals).shape == (0, model.dims)
        return
    expected = normalize(vectorizer.transform(goals)).toarray()
    if lsa and len(vectorizer.vocabulary_) > 2:
        svd = TruncatedSVD(n_components=2, random_state=0).fit(vectorizer.transform(bios))
        expected = normalize(expected @ svd.components_.T)
    for cells in (0, scoring.DENSE_TEXT_CELLS):  # the sparse path, then the dense one
        with patch.object(scoring, "DENSE_TEXT_CELLS", cells):
            np.testing.assert_allclose(model.vectors(goals), expected, atol=1e-5)


def test_a_mentees_text_score_does_not_depend_on_the_other_mentees() -> None:
    data = random_instance(5, n_mentors=12, n_mentees=30)
    alone = data.model_copy(update={"mentees": data.mentees[:1]})
    config = MatchingConfig()
    everyone, one = ScoringContext.build(data, config), ScoringContext.build(alone, config)
    mentee = data.mentees[0]
    for mentor in everyone.mentors:
        assert everyone.text_similarity(mentor, mentee) == one.text_similarity(mentor, mentee)


def test_people_of_different_networks_are_never_paired() -> None:
    north = TrustInfo(code="NNN", name="North", region=Region.LONDON, network_id="north")
    south = TrustInfo(code="SSS", name="South", region=Region.LONDON, network_id="south")
    ctx = context(trusts=(north, south))
    assert exclusion_reason(
        provider_from_mentor(mentor(trust=north)), mentee(trust=south), ctx
    ) == ("different networks")
    assert exclusion_reason(
        provider_from_mentor(mentor(trust=north)), mentee(trust=north), ctx
    ) != ("different networks")


def test_collector_paused_while_scoring_and_restored_after() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # nested (a context built inside candidate building)
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:  # left off when it was off
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError
    assert gc.isenabled()


@given(
    gaps=st.lists(
        st.tuples(
            st.integers(0, 4),  # mentee
            st.integers(0, 3),  # skill (a mentee may list one twice: the credits add up)
            st.integers(0, 6),  # current level
            st.integers(1, 7),  # target level
            st.floats(0.1, 3.0),  # share
        ),
        max_size=30,
    ),
    partial=st.floats(0.0, 1.0),
)
def test_gap_credit_matrix_sums_as_adding_at_each_cell(
    gaps: list[tuple[int, int, int, int, float]], partial: float
) -> None:
    owner, skill, current, target, share = (
        (np.array(c) for c in zip(*gaps, strict=True))
        if gaps
        else (np.zeros(0, int), np.zeros(0, int), np.zeros(0), np.zeros(0), np.zeros(0))
    )
    target = np.maximum(target, current + 1)
    table = _GapTable(
        owner=owner.astype(np.int32),
        position=np.zeros(len(gaps), dtype=np.int32),
        skill=skill.astype(np.int32),
        current=current.astype(np.float64),
        target=target.astype(np.float64),
        share=share.astype(np.float64),
        n_mentees=5,
    )
    skill_index = {f"s{i}": i for i in range(4)}
    expected = np.zeros((5, 4 * MAX_LEVEL))
    for level in range(1, MAX_LEVEL + 1):  # the arithmetic before it was one bincount
        np.add.at(
            expected,
            (table.owner, table.skill * MAX_LEVEL + level - 1),
            table.share * table.credit(level, partial),
        )
    got = _gap_credit_matrix(table, skill_index, partial)
    np.testing.assert_array_equal(got, expected.astype(np.float32))


@given(
    bios=st.lists(st.text(max_size=60), max_size=6),
    goals=st.lists(st.text(max_size=60), max_size=6),
)
def test_any_text_becomes_a_unit_vector_or_zero(bios: list[str], goals: list[str]) -> None:
    """Whatever people write (any Unicode, empty, only stop words), the model gives finite rows
    of length 1 or 0, one per text."""
    model = TextModel.fit(bios, MatchingConfig())
    vectors = model.vectors(goals)
    assert vectors.shape == (len(goals), model.dims)
    assert np.isfinite(vectors).all()
    norms = np.linalg.norm(vectors, axis=1)
    assert np.all(np.isclose(norms, 1.0, atol=1e-5) | (norms == 0))


@given(
    credit_cells=st.lists(st.booleans(), min_size=1, max_size=12),
    held_cells=st.lists(st.booleans(), min_size=1, max_size=12),
    seed=st.integers(0, 2**32 - 1),
)
def test_cells_one_side_leaves_empty_change_no_product(
    credit_cells: list[bool], held_cells: list[bool], seed: int
) -> None:
    """Dropping the (skill, level) cells that no mentee is credited for or no provider holds
    leaves every product (the scores and the coverage) as it was, and drops only those."""
    width = min(len(credit_cells), len(held_cells))
    rng = np.random.default_rng(seed)
    credit = (rng.random((6, width)) * np.array(credit_cells[:width])).astype(np.float32)
    onehot = (rng.random((width, 5)) < 0.5) * np.array(held_cells[:width])[:, None]
    onehot = onehot.astype(np.float32)
    kept_credit, kept_onehot = scoring.shared_cells(credit, onehot)
    np.testing.assert_allclose(kept_credit @ kept_onehot, credit @ onehot, rtol=1e-6)
    assert kept_credit.shape[1] == int((credit.any(axis=0) & onehot.any(axis=1)).sum())


def test_a_round_scores_over_the_cells_its_providers_hold() -> None:
    data = random_instance(11, n_mentors=15, n_mentees=60)
    context = ScoringContext.build(data, MatchingConfig())
    tables = scoring.ScoreTables.build(context, MatchKind.MENTORING)
    assert tables.level_onehot.any(axis=1).all()
    assert tables.skill_credit.any(axis=0).all()
    providers = [scoring.provider_from_mentor(m) for m in data.mentors]
    held = {(code, level) for p in providers for code, level in p.levels.items()}
    assert tables.level_onehot.shape[0] <= len(held)


def test_a_rounds_text_vectors_are_its_matrices_row_by_row() -> None:
    """Looked up by person, a round's vectors are rows of the matrices its products use; for
    other people, or the same in another order, ``text_rows`` stacks the lookups instead."""
    data = random_instance(4, n_mentors=8, n_mentees=20)
    context = ScoringContext.build(data, MatchingConfig())
    vectors = context.text_vectors
    assert isinstance(vectors, scoring.TextVectors)
    mentees = [m.id for m in data.mentees]
    matrix = context.text_rows("mentee", mentees)
    assert matrix is vectors.matrix("mentee")
    for i, mentee in enumerate(mentees):
        np.testing.assert_array_equal(vectors[("mentee", mentee)], matrix[i])
    reversed_rows = context.text_rows("mentee", mentees[::-1])
    np.testing.assert_array_equal(reversed_rows, matrix[::-1])
    # Each kind: its providers, and every mentee in that kind's model.
    people = 2 * len(mentees) + len(data.mentors) + len(data.placements)
    assert len(vectors) == len(list(vectors)) == people
    # No placements: every mentee's vector in their (empty) model is zero, built without work.
    alone = ScoringContext.build(data.model_copy(update={"placements": []}), MatchingConfig())
    assert not alone.text_rows("mentee for a placement", mentees).any()

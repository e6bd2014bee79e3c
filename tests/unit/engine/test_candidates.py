"""Candidate edges: the vectorised path agrees with per-pair scoring; top-k keeps the best k."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.matcher.engine.candidates import (
    Explainer,
    _keep_best,
    build_candidates,
    build_placement_candidates,
)
from services.matcher.engine.config import (
    MatchingConfig,
)
from services.matcher.engine.contract import (
    CandidateEdges,
    MatchingInput,
    MentorInput,
    PlacementInput,
)
from services.matcher.engine.scoring import (
    SAMPLE_STRIDE,
    BlockBuffers,
    ScoringContext,
    provider_from_mentor,
    provider_from_placement,
    score_pair,
)
from shared.matching import MatchKind
from shared.people import Mode, SkillLevel
from shared.regions import Region
from tests.support.engine.scored_instances import (
    CONFIGS,
    in_networks,
    random_instance,
)


def as_dict(edges: CandidateEdges) -> dict[tuple[str, str], float]:
    return {
        (edges.provider_ids[p], edges.mentee_ids[m]): float(s)
        for m, p, s in zip(edges.mentee_index, edges.provider_index, edges.score, strict=True)
    }


def per_pair(
    data: MatchingInput, config: MatchingConfig, kind: MatchKind
) -> dict[tuple[str, str], float]:
    ctx = ScoringContext.build(data, config)
    providers = ctx.providers(kind)
    found = {}
    for provider in providers:
        for mentee in data.mentees:
            scored = score_pair(provider, mentee, ctx)
            if scored is not None:
                found[(provider.id, mentee.id)] = scored.score
    return found


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_vectorised_scores_equal_per_pair_scores(name: str, seed: int) -> None:
    data, config = random_instance(seed), CONFIGS[name]
    for kind, build in (
        (MatchKind.MENTORING, build_candidates),
        (MatchKind.SECONDMENT, build_placement_candidates),
    ):
        expected = per_pair(data, config, kind)
        got = as_dict(build(data, config, full=True))
        assert expected, "the instance should have admissible pairs"
        assert got.keys() == expected.keys()
        for pair, score in expected.items():
            assert got[pair] == pytest.approx(score, abs=2e-6), pair


def test_hard_rules_hold_on_every_edge() -> None:
    data = random_instance(4)
    edges = build_candidates(data, MatchingConfig(), full=True)
    mentors = {m.id: m for m in data.mentors}
    mentees = {m.id: m for m in data.mentees}
    for mentor_id, mentee_id in as_dict(edges):
        mentor, mentee = mentors[mentor_id], mentees[mentee_id]
        assert mentor.trust_code != mentee.trust_code
        assert (mentor_id, mentee_id) not in data.rejected_pairs
        assert mentor.capacity > 0
        assert mentor.hours_per_month > 0
        assert mentee.gaps
    secondments = build_placement_candidates(data, MatchingConfig(), full=True)
    placements = {p.id: p for p in data.placements}
    for placement_id, mentee_id in as_dict(secondments):
        assert placements[placement_id].host_trust_code != mentees[mentee_id].trust_code
        assert mentees[mentee_id].open_to_secondment
        assert placements[placement_id].places > 0


@pytest.mark.parametrize("seed", [1, 2])
def test_one_input_of_several_networks_never_pairs_across_them(seed: int) -> None:
    data = in_networks(random_instance(seed, n_mentors=40, n_mentees=60), networks=3)
    network = {t.code: t.network_id for t in data.trusts}
    mentor_trust = {m.id: m.trust_code for m in data.mentors}
    mentee_trust = {m.id: m.trust_code for m in data.mentees}
    expected = per_pair(data, MatchingConfig(), MatchKind.MENTORING)
    got = as_dict(build_candidates(data, MatchingConfig(), full=True))
    assert expected, "the instance should have admissible pairs"
    assert got.keys() == expected.keys()  # the vectorised path applies the rule too
    assert all(network[mentor_trust[p]] == network[mentee_trust[e]] for p, e in got)
    # Within a network the rule changes nothing: one network's pairs are all still there.
    alone = as_dict(build_candidates(in_networks(data, networks=1), MatchingConfig(), full=True))
    assert set(got) == {
        (p, e) for p, e in alone if network[mentor_trust[p]] == network[mentee_trust[e]]
    }


@pytest.mark.parametrize("k", [1, 3, 8, 20])
def test_top_k_keeps_each_mentees_best_k(k: int) -> None:
    data = random_instance(5, n_mentors=60, n_mentees=40)
    config = MatchingConfig(top_k=k, provider_top_k=0, chunk_size=16)
    full = build_candidates(data, config, full=True)
    pruned = build_candidates(data, config)
    for m in range(len(data.mentees)):
        all_scores = np.sort(full.score[full.mentee_index == m])[::-1]
        kept = np.sort(pruned.score[pruned.mentee_index == m])[::-1]
        assert len(kept) == min(k, len(all_scores))
        np.testing.assert_allclose(kept, all_scores[:k])
    assert set(as_dict(pruned)) <= set(as_dict(full))


def test_top_k_sampled_threshold_path() -> None:
    # More than 4k providers per mentee takes the sampled-threshold path in _keep_best.
    data = random_instance(6, n_mentors=120, n_mentees=30)
    config = MatchingConfig(top_k=5, provider_top_k=0)
    full, pruned = build_candidates(data, config, full=True), build_candidates(data, config)
    for m in range(len(data.mentees)):
        best = np.sort(full.score[full.mentee_index == m])[::-1][:5]
        np.testing.assert_allclose(np.sort(pruned.score[pruned.mentee_index == m])[::-1], best)


def test_edges_index_every_mentor_and_mentee_in_input_order() -> None:
    data = random_instance(7)
    edges = build_candidates(data)
    assert edges.provider_ids == tuple(m.id for m in data.mentors)
    assert edges.mentee_ids == tuple(m.id for m in data.mentees)
    np.testing.assert_array_equal(edges.provider_capacity, [m.capacity for m in data.mentors])
    assert edges.mentee_index.dtype == np.int32
    assert edges.score.dtype == np.float64
    secondments = build_placement_candidates(data)
    assert secondments.mentee_ids == edges.mentee_ids
    np.testing.assert_array_equal(
        secondments.provider_capacity, [p.places for p in data.placements]
    )


def test_explainer_explains_chosen_edges() -> None:
    data = random_instance(8)
    edges = build_candidates(data)
    explainer = Explainer.for_input(data)
    for e in range(min(edges.edge_count, 10)):
        mentor_id = edges.provider_ids[edges.provider_index[e]]
        mentee_id = edges.mentee_ids[edges.mentee_index[e]]
        explanation = explainer.explain(MatchKind.MENTORING, mentor_id, mentee_id)
        assert sum(p.contribution for p in explanation.parts) == pytest.approx(
            edges.score[e], abs=2e-6
        )
        assert explanation.skills_covered
        assert explanation.region_reason
    rejected = next(iter(data.rejected_pairs))
    with pytest.raises(ValueError, match="not an admissible"):
        explainer.explain(MatchKind.MENTORING, *rejected)


def test_empty_inputs_give_empty_edges() -> None:
    edges = build_candidates(MatchingInput())
    assert edges.edge_count == 0
    assert edges.provider_ids == ()
    assert edges.mentee_ids == ()
    data = random_instance(10)
    no_mentors = build_candidates(data.model_copy(update={"mentors": ()}))
    assert no_mentors.edge_count == 0
    assert len(no_mentors.mentee_ids) == len(data.mentees)


def test_provider_conversions_keep_the_highest_level() -> None:
    mentor = MentorInput(
        id="m",
        trust_code="T",
        region=Region.LONDON,
        capacity=1,
        hours_per_month=4,
        mode=Mode.REMOTE,
        skills=(SkillLevel(skill="procurement", level=3), SkillLevel(skill="procurement", level=5)),
    )
    assert provider_from_mentor(mentor).levels == {"procurement": 5}
    placement = PlacementInput(
        id="p",
        host_trust_code="T",
        region=Region.LONDON,
        role="r",
        places=2,
        months=3,
        fte=0.5,
        skills_developed=(SkillLevel(skill="procurement", level=4),),
    )
    provider = provider_from_placement(placement)
    assert provider.capacity == 2.0
    assert provider.mode is Mode.EITHER
    assert provider.active


@pytest.mark.parametrize("workers", [1, 2])
def test_provider_top_k_adds_each_providers_best(workers: int) -> None:
    data = random_instance(11, n_mentors=20, n_mentees=300)
    config = MatchingConfig(top_k=2, provider_top_k=4, chunk_size=64, workers=workers)
    full = build_candidates(data, config, full=True)
    mentee_side = as_dict(build_candidates(data, config.model_copy(update={"provider_top_k": 0})))
    both = build_candidates(data, config)
    pairs = list(zip(both.mentee_index.tolist(), both.provider_index.tolist(), strict=True))
    assert len(pairs) == len(set(pairs))  # each pair once
    assert set(mentee_side) <= set(as_dict(both)) <= set(as_dict(full))
    for p in range(len(data.mentors)):
        best = np.sort(full.score[full.provider_index == p])[::-1][:4]
        kept = np.sort(both.score[both.provider_index == p])[::-1][: len(best)]
        np.testing.assert_allclose(kept, best)
    # Edges come grouped by mentee, best first.
    assert np.all(np.diff(both.mentee_index) >= 0)


def test_a_lone_mentor_is_not_offered_to_another_networks_mentees() -> None:
    """The rule holds when every provider is in one network and the mentees are not."""
    data = in_networks(random_instance(5, n_mentors=1, n_mentees=60), networks=2)
    network = {t.code: t.network_id for t in data.trusts}
    [mentor] = data.mentors
    got = as_dict(build_candidates(data, MatchingConfig(), full=True))
    assert got, "the instance should have admissible pairs"
    assert got.keys() == per_pair(data, MatchingConfig(), MatchKind.MENTORING).keys()
    mentee_trust = {m.id: m.trust_code for m in data.mentees}
    assert all(network[mentee_trust[e]] == network[mentor.trust_code] for _, e in got)


@pytest.mark.parametrize(("seed", "chunk_size", "workers"), [(11, 7, 2), (12, 16, 1), (13, 64, 2)])
def test_two_sided_lists_equal_brute_force_over_every_admissible_pair(
    seed: int, chunk_size: int, workers: int
) -> None:
    # Blocks are scored before the coverage rule and checked sparsely above each threshold:
    # the lists must still be exactly the best admissible pairs, on both sides.
    data = random_instance(seed, n_mentors=150, n_mentees=120)
    config = MatchingConfig(top_k=4, provider_top_k=3, chunk_size=chunk_size, workers=workers)
    full = as_dict(build_candidates(data, config, full=True))
    pruned = as_dict(build_candidates(data, config))
    assert set(pruned) <= set(full)
    assert all(pruned[pair] == pytest.approx(full[pair], abs=1e-6) for pair in pruned)

    def best(side: int, top: int) -> dict[str, list[float]]:
        lists: dict[str, list[float]] = {}
        for pair, score in full.items():
            lists.setdefault(pair[side], []).append(score)
        return {who: sorted(scores, reverse=True)[:top] for who, scores in lists.items()}

    for side, top in ((1, config.top_k), (0, config.provider_top_k)):
        kept: dict[str, list[float]] = {}
        for pair, score in pruned.items():
            kept.setdefault(pair[side], []).append(score)
        for who, wanted in best(side, top).items():
            got = sorted(kept.get(who, []), reverse=True)[: len(wanted)]
            np.testing.assert_allclose(got, wanted, atol=1e-6)


class _BlockTables:
    """What ``_keep_best`` asks of the score tables, for a hand-made block: which pairs have
    coverage, and exact scores of every SAMPLE_STRIDE-th column."""

    def __init__(self, covered: np.ndarray, block: np.ndarray, floor: float) -> None:
        self.covered, self.block, self.floor = covered, block, floor

    def admissible(self, mentees: np.ndarray, providers: np.ndarray) -> np.ndarray:
        found: np.ndarray = self.covered[mentees, providers]
        return found

    def exact_sample(self, mentees: np.ndarray, sampled: np.ndarray) -> np.ndarray:
        np.putmask(sampled, ~self.covered[mentees, ::SAMPLE_STRIDE], -np.inf)
        return sampled


@settings(max_examples=80)
@given(
    seed=st.integers(0, 2**32 - 1),
    k=st.integers(1, 6),
    n_providers=st.integers(1, 400),
    covered_share=st.sampled_from([0.02, 0.3, 0.9, 1.0]),
    values=st.integers(2, 1000),
)
def test_keep_best_equals_sorting_each_row(
    seed: int, k: int, n_providers: int, covered_share: float, values: int
) -> None:
    # Few distinct values (ties), -inf entries, scores at the floor, and rows whose best entries
    # have no coverage (the bound's fallback): each row's k best admissible entries, ties to
    # the lower column, in that order, whichever path the block takes.
    rng = np.random.default_rng(seed)
    n_mentees = int(rng.integers(1, 40))
    block = (rng.integers(0, values, (n_mentees, n_providers)) / values).astype(np.float32)
    block[rng.random(block.shape) < 0.1] = -np.inf
    covered = rng.random(block.shape) < covered_share
    if n_mentees > 2:  # a row whose best entries all lack coverage
        covered[0] = block[0] < np.sort(block[0])[n_providers // 2]
    tables = _BlockTables(covered, block, floor=0.1)
    rows, cols, scores = _keep_best(
        tables,  # type: ignore[arg-type]
        0,
        block.copy(),
        k,
        BlockBuffers(n_mentees, n_providers),
    )
    want_rows, want_cols = [], []
    for i in range(n_mentees):
        ok = np.flatnonzero(covered[i] & (block[i] > np.float32(0.1)))
        best = ok[np.lexsort((ok, -block[i, ok]))][:k]
        want_rows += [i] * best.size
        want_cols += best.tolist()
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_array_equal(cols, want_cols)
    np.testing.assert_array_equal(scores, block[want_rows, want_cols].astype(np.float64))


@pytest.mark.parametrize(("chunk_size", "workers"), [(7, 2), (16, 1), (64, 3)])
def test_edges_are_each_sides_best_by_the_stated_tie_rules(chunk_size: int, workers: int) -> None:
    # Every mentee three times over (fresh ids, in different blocks): equal scores at most
    # cuts. The edges are each mentee's top_k (equal scores to the lower provider) and each
    # provider's provider_top_k (equal scores to the lower mentee) of every admissible pair.
    data = random_instance(21, n_mentors=40, n_mentees=50)
    mentees = tuple(
        m.model_copy(update={"id": f"{m.id}-{copy}"}) for copy in range(3) for m in data.mentees
    )
    data = data.model_copy(update={"mentees": mentees})
    config = MatchingConfig(top_k=3, provider_top_k=4, chunk_size=chunk_size, workers=workers)
    full = build_candidates(data, config, full=True)
    m, p, s = full.mentee_index, full.provider_index, full.score
    wanted: set[tuple[int, int]] = set()
    for side, other, top in ((m, p, config.top_k), (p, m, config.provider_top_k)):
        order = np.lexsort((other, -s, side))
        grouped = side[order]
        first = np.arange(order.size) - np.searchsorted(grouped, grouped) < top
        wanted |= set(zip(m[order][first].tolist(), p[order][first].tolist(), strict=True))
    got = build_candidates(data, config)
    pairs = list(zip(got.mentee_index.tolist(), got.provider_index.tolist(), strict=True))
    assert set(pairs) == wanted
    scores = dict(zip(zip(m.tolist(), p.tolist(), strict=True), s.tolist(), strict=True))
    assert got.score.tolist() == [scores[pair] for pair in pairs]

"""The optimal assignment against an independent optimum (OR-tools GLOP) and by hand."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.matcher.engine.assignment import (
    Places,
    _best_first_by_group,
    best_unique_edges,
    edges_within_reach,
    solve_assignment,
)
from services.matcher.engine.contract import CandidateEdges
from tests.support.engine.edges import edges_of
from tests.support.engine.instances import random_candidate_edges
from tests.support.engine.lapjv import lapjv_optimum
from tests.support.engine.reference import flow_optimum, lp_optimum


def assert_feasible(candidates: CandidateEdges, chosen: np.ndarray) -> None:
    mentees = candidates.mentee_index[chosen]
    assert len(set(mentees.tolist())) == len(mentees), "a mentee got two providers"
    places = Places.from_capacity(candidates.provider_capacity)
    load = (
        np.ones(len(candidates.mentee_ids))
        if candidates.mentee_load is None
        else candidates.mentee_load
    )
    for p in set(candidates.provider_index[chosen].tolist()):
        taken = chosen[candidates.provider_index[chosen] == p]
        big = int(np.sum(load[candidates.mentee_index[taken]] > places.fraction[p] + 1e-9))
        assert big <= places.whole[p]
        assert len(taken) <= places.whole[p] + int(places.fraction[p] > 0)


def test_global_optimum_beats_greedy_by_hand() -> None:
    # Greedy takes (m0, p0) at 0.9 and strands m1; the optimum pairs both for 1.6.
    candidates = edges_of([(0, 0, 0.9), (0, 1, 0.8), (1, 0, 0.8)], capacity=[1, 1])
    result = solve_assignment(candidates)
    assert result.total_score == pytest.approx(1.6)
    assert sorted(result.pairs(candidates)) == [("p0", "m1", 0.8), ("p1", "m0", 0.8)]


def test_half_capacity_takes_one_part_timer_not_a_full_timer() -> None:
    candidates = edges_of([(0, 0, 0.9), (1, 0, 0.5)], capacity=[0.5], loads=[1.0, 0.5])
    assert solve_assignment(candidates).pairs(candidates) == [("p0", "m1", 0.5)]


def test_one_and_a_half_takes_one_of_anyone_plus_one_part_timer() -> None:
    pairs = [(0, 0, 0.9), (1, 0, 0.8), (2, 0, 0.7), (3, 0, 0.6)]
    candidates = edges_of(pairs, capacity=[1.5], loads=[1.0, 1.0, 0.5, 0.5])
    assert sorted(m for _, m, _ in solve_assignment(candidates).pairs(candidates)) == ["m0", "m2"]


def test_capacities_round_as_documented() -> None:
    places = Places.from_capacity([0.0, 0.5, 1.0, 1.5, 2.999999999999, 0.25])
    assert places.whole.tolist() == [0, 0, 1, 1, 3, 0]
    assert places.fraction.tolist() == pytest.approx([0, 0.5, 0, 0.5, 0, 0.25])


def test_duplicate_pairs_keep_the_best_and_non_positive_edges_are_ignored() -> None:
    candidates = edges_of([(0, 0, 0.2), (0, 0, 0.7), (1, 0, -0.1), (2, 0, 0.0)], capacity=[3])
    result = solve_assignment(candidates)
    assert result.pairs(candidates) == [("p0", "m0", 0.7)]


def test_empty_inputs() -> None:
    empty = edges_of([(0, 0, 0.5)], capacity=[0])
    assert solve_assignment(empty).edges.size == 0


def test_bonus_changes_the_choice_not_the_reported_score() -> None:
    candidates = edges_of([(0, 0, 0.9), (1, 0, 0.8)], capacity=[1])
    result = solve_assignment(candidates, bonus=np.array([0.0, 0.2]))
    assert result.pairs(candidates) == [("p0", "m1", 0.8)]
    assert result.total_score == pytest.approx(0.8)


@pytest.mark.parametrize("seed", range(40))
def test_equals_independent_lp_optimum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    candidates = random_candidate_edges(
        rng,
        n_providers=int(rng.integers(2, 15)),
        n_mentees=int(rng.integers(1, 60)),
        per_mentee=int(rng.integers(1, 6)),
        capacities=(0.0, 0.5, 1.0, 1.5, 2.0, 3.0),
        part_time_share=float(rng.choice([0.0, 0.4])),
        score_levels=int(rng.choice([0, 4])),
    )
    result = solve_assignment(candidates)
    optimum, values = lp_optimum(candidates)
    assert np.allclose(values, np.round(values)), "the LP optimum is integral (TU)"
    assert result.total_score == pytest.approx(optimum, abs=1e-6)
    assert_feasible(candidates, result.edges)


@pytest.mark.parametrize("seed", range(3))
def test_equals_or_tools_min_cost_flow_at_a_few_thousand(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    candidates = random_candidate_edges(
        rng, 300, 1500, 10, capacities=(1.0, 2.0, 3.0, 0.5), part_time_share=0.3
    )
    result = solve_assignment(candidates)
    reference = flow_optimum(candidates, scale=1e9)
    assert result.total_score == pytest.approx(float(candidates.score[reference].sum()), abs=1e-6)
    assert_feasible(candidates, result.edges)


@pytest.mark.parametrize("seed", range(3))
def test_equals_lapjv_over_expanded_places_at_a_few_thousand(seed: int) -> None:
    # A different algorithm on a different model of places (one node per place).
    rng = np.random.default_rng(200 + seed)
    candidates = random_candidate_edges(
        rng, 400, 2000, 12, capacities=(1.0, 1.5, 2.0, 3.0, 0.5), part_time_share=0.3
    )
    result = solve_assignment(candidates)
    reference = lapjv_optimum(candidates)
    assert result.total_score == pytest.approx(float(candidates.score[reference].sum()), abs=1e-6)
    assert_feasible(candidates, result.edges)


def test_the_same_result_on_every_run() -> None:
    rng = np.random.default_rng(7)
    candidates = random_candidate_edges(rng, 50, 300, 8, score_levels=5)  # many ties
    first = solve_assignment(candidates).edges
    assert all(np.array_equal(solve_assignment(candidates).edges, first) for _ in range(3))


@given(
    pairs=st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 3), st.floats(-1, 2, allow_nan=False)),
        max_size=30,
    ),
    sort=st.booleans(),
)
def test_each_pair_once_at_its_best_positive_score_in_any_order(
    pairs: list[tuple[int, int, float]], sort: bool
) -> None:
    """``best_unique_edges`` keeps one edge per (mentee, provider), its best, if positive:
    edges in pair order (as built, where no sort is needed) or not, duplicated or not."""
    if sort:
        pairs = sorted(pairs, key=lambda p: (p[0], p[1]))
    candidates = CandidateEdges(
        provider_ids=tuple(f"p{j}" for j in range(4)),
        mentee_ids=tuple(f"m{i}" for i in range(5)),
        provider_capacity=np.ones(4),
        mentee_index=np.array([p[0] for p in pairs], dtype=np.int32),
        provider_index=np.array([p[1] for p in pairs], dtype=np.int32),
        score=np.array([p[2] for p in pairs], dtype=np.float64),
    )
    kept = best_unique_edges(candidates, candidates.score)
    best: dict[tuple[int, int], float] = {}
    for mentee, provider, score in pairs:
        if score > 0:
            best[(mentee, provider)] = max(score, best.get((mentee, provider), score))
    assert sorted(kept.tolist()) == kept.tolist()
    found = {(pairs[e][0], pairs[e][1]): pairs[e][2] for e in kept.tolist()}
    assert len(found) == kept.size
    assert found == best


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_providers=st.integers(1, 4),
    n_mentees=st.integers(1, 40),
    capacities=st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 0.7]), min_size=1, max_size=3),
    part_time_share=st.sampled_from([0.0, 0.3, 0.8]),
    score_levels=st.sampled_from([0, 3]),
)
def test_few_places_among_many_mentees_lose_nothing_to_the_edges_out_of_reach(
    seed: int,
    n_providers: int,
    n_mentees: int,
    capacities: list[float],
    part_time_share: float,
    score_levels: int,
) -> None:
    """Where a few places meet many mentees (a steady stream), the solve keeps each provider's
    best pairs only (``edges_within_reach``): the optimum over them is the optimum over all."""
    rng = np.random.default_rng(seed)
    candidates = random_candidate_edges(
        rng,
        n_providers,
        n_mentees,
        per_mentee=n_providers,
        capacities=tuple(capacities),
        part_time_share=part_time_share,
        score_levels=score_levels,
    )
    edges = best_unique_edges(candidates, candidates.score)
    reachable = edges_within_reach(candidates, edges, candidates.score[edges])
    places = Places.from_capacity(candidates.provider_capacity)
    reach = int(places.whole.sum()) + int(np.count_nonzero(places.fraction))
    in_reach = np.bincount(candidates.provider_index[reachable], minlength=n_providers)
    assert in_reach.max(initial=0) <= 2 * reach  # the best of all, and the best light ones
    optimum, _ = lp_optimum(candidates)
    kept_only = np.zeros(candidates.edge_count)
    kept_only[reachable] = candidates.score[reachable]
    assert lp_optimum(replace(candidates, score=kept_only))[0] == pytest.approx(optimum, abs=1e-9)
    result = solve_assignment(candidates)
    assert result.total_score == pytest.approx(optimum, abs=1e-9)
    assert_feasible(candidates, result.edges)


def test_a_provider_with_more_mentees_than_places_anywhere_keeps_only_its_best() -> None:
    # Two places in all; the mentor with one place sees five mentees: its best two are enough.
    candidates = edges_of(
        [(j, 0, 0.1 * (j + 1)) for j in range(5)] + [(0, 1, 0.2)], capacity=[1, 1]
    )
    edges = best_unique_edges(candidates, candidates.score)
    kept = edges_within_reach(candidates, edges, candidates.score[edges])
    assert sorted(
        (int(candidates.mentee_index[e]), int(candidates.provider_index[e])) for e in kept
    ) == [(0, 1), (3, 0), (4, 0)]


@given(
    groups=st.lists(st.integers(0, 5), max_size=40),
    data=st.data(),
)
def test_best_first_by_group_orders_as_lexsort_does(groups: list[int], data: st.DataObject) -> None:
    weights = data.draw(
        st.lists(
            st.floats(-5, 5, allow_nan=False),
            min_size=len(groups),
            max_size=len(groups),
            unique=True,
        )
    )
    group_array = np.array(groups, dtype=np.int64)
    weight_array = np.array(weights, dtype=np.float64)
    order = _best_first_by_group(group_array, weight_array)
    assert order.tolist() == np.lexsort((-weight_array, group_array)).tolist()

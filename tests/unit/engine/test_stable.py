"""Stable mode against the `matching` package, and by its defining property: no blocking pair."""

from __future__ import annotations

import numpy as np
import pytest

from services.matcher.engine.stable import blocking_pairs, solve_stable
from tests.support.engine.edges import edges_of
from tests.support.engine.instances import random_candidate_edges
from tests.support.engine.peers import matching_package_stable


def test_stable_is_not_the_optimum_by_hand() -> None:
    # m0 and p0 rank each other first, so (m0, p0) is in every stable matching; m1 is left out
    # although the optimum (m0-p1, m1-p0) scores more.
    candidates = edges_of([(0, 0, 0.9), (0, 1, 0.8), (1, 0, 0.8)], capacity=[1, 1])
    assert solve_stable(candidates).pairs(candidates) == [("p0", "m0", 0.9)]


def test_fractional_place_only_takes_a_light_mentee() -> None:
    candidates = edges_of(
        [(0, 0, 0.9), (1, 0, 0.5), (2, 0, 0.4)], capacity=[0.5], loads=[1.0, 0.5, 0.5]
    )
    result = solve_stable(candidates)
    assert result.pairs(candidates) == [("p0", "m1", 0.5)]
    assert blocking_pairs(candidates, result.edges).size == 0


def test_blocking_pair_checker_finds_an_unstable_pair() -> None:
    candidates = edges_of([(0, 0, 0.9), (0, 1, 0.8), (1, 0, 0.8)], capacity=[1, 1])
    unstable = np.array([1, 2])  # m0-p1 and m1-p0: m0 and p0 would both rather pair up
    assert blocking_pairs(candidates, unstable).tolist() == [0]


def test_ties_break_towards_the_lower_index() -> None:
    candidates = edges_of([(0, 0, 0.5), (1, 0, 0.5)], capacity=[1])
    assert solve_stable(candidates).pairs(candidates) == [("p0", "m0", 0.5)]


@pytest.mark.parametrize("seed", range(30))
def test_identical_to_the_matching_package(seed: int) -> None:
    rng = np.random.default_rng(seed)
    candidates = random_candidate_edges(
        rng,
        n_providers=int(rng.integers(2, 20)),
        n_mentees=int(rng.integers(1, 80)),
        per_mentee=int(rng.integers(1, 8)),
        capacities=(0.0, 1.0, 2.0, 3.0),
        score_levels=int(rng.choice([0, 5])),
    )
    result = solve_stable(candidates)
    assert result.edges.tolist() == matching_package_stable(candidates).tolist()
    assert blocking_pairs(candidates, result.edges).size == 0


@pytest.mark.parametrize("seed", range(30))
def test_no_blocking_pairs_with_fractional_places(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    candidates = random_candidate_edges(
        rng,
        int(rng.integers(2, 20)),
        int(rng.integers(1, 80)),
        int(rng.integers(1, 8)),
        capacities=(0.5, 1.0, 1.5, 2.5),
        part_time_share=0.4,
    )
    assert blocking_pairs(candidates, solve_stable(candidates).edges).size == 0


def test_mentee_optimal_among_stable_matchings_on_a_small_case() -> None:
    # Two stable matchings exist; mentees each get their first choice in the mentee-optimal one.
    candidates = edges_of([(0, 0, 0.9), (0, 1, 0.2), (1, 0, 0.1), (1, 1, 0.8)], capacity=[1, 1])
    assert sorted(solve_stable(candidates).pairs(candidates)) == [
        ("p0", "m0", 0.9),
        ("p1", "m1", 0.8),
    ]

"""Incremental re-solves: after every change, the same total as a full re-solve, and prices that
prove it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.matcher.engine.assignment import solve_assignment
from services.matcher.engine.dynamic import IncrementalAssignment
from tests.support.engine.changes import CAPACITIES, apply_random_change, held_out
from tests.support.engine.edges import edges_of
from tests.support.engine.instances import random_candidate_edges


@settings(max_examples=40)
@given(
    seed=st.integers(0, 100_000),
    providers=st.integers(1, 12),
    mentees=st.integers(1, 50),
    per_mentee=st.integers(1, 6),
    levels=st.sampled_from([0, 4]),
    changes=st.integers(1, 40),
)
def test_every_change_keeps_the_full_optimum(
    seed: int, providers: int, mentees: int, per_mentee: int, levels: int, changes: int
) -> None:
    rng = np.random.default_rng(seed)
    full = random_candidate_edges(
        rng,
        providers,
        mentees,
        per_mentee,
        capacities=CAPACITIES,
        part_time_share=0.3,
        score_levels=levels,
    )
    absent = rng.random(mentees) < 0.3
    start = held_out(full, absent)
    state = IncrementalAssignment.from_solution(start, solve_assignment(start).edges)
    assert state.violations() == []
    waiting = np.flatnonzero(absent).tolist()
    for _ in range(changes):
        apply_random_change(rng, state, full, waiting)
        assert state.violations() == []
        expected = solve_assignment(state.as_candidates()).total_score
        assert state.total_score == pytest.approx(expected, abs=1e-6)


def test_an_arrival_displaces_the_mentee_who_gains_least() -> None:
    # One place held by m0 (0.6). m1 arrives scoring 0.9 there and has nowhere else: it takes
    # the place, and m0 moves to its second choice, p1.
    full = edges_of([(0, 0, 0.6), (0, 1, 0.5), (1, 0, 0.9)], capacity=[1, 1])
    start = held_out(full, np.array([False, True]))
    state = IncrementalAssignment.from_solution(start, solve_assignment(start).edges)
    state.add_mentee(1, np.array([0]), np.array([0.9]))
    assert state.violations() == []
    assert sorted(state.pairs()) == [(0, 1, 0.5), (1, 0, 0.9)]


def test_a_withdrawn_place_sends_its_mentee_to_the_next_best() -> None:
    candidates = edges_of([(0, 0, 0.9), (0, 1, 0.4), (1, 1, 0.3)], capacity=[1, 1])
    state = IncrementalAssignment.from_solution(candidates, solve_assignment(candidates).edges)
    state.set_capacity(0, 0.0)
    assert state.violations() == []
    assert state.pairs() == [(0, 1, 0.4)]
    state.set_capacity(0, 1.0)
    assert sorted(state.pairs()) == [(0, 0, 0.9), (1, 1, 0.3)]


def test_a_part_time_place_takes_only_a_light_mentee() -> None:
    candidates = edges_of([(0, 0, 0.9), (1, 0, 0.5)], capacity=[1.0], loads=[1.0, 0.5])
    state = IncrementalAssignment.from_solution(candidates, solve_assignment(candidates).edges)
    state.set_capacity(0, 0.5)
    assert state.violations() == []
    assert state.pairs() == [(1, 0, 0.5)]

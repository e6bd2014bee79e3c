"""Incremental re-solves keep pending proposals unless a new one beats them by the margin."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.matcher.engine.assignment import (
    LOAD_TOLERANCE,
    Assignment,
    Places,
    mentee_loads,
    solve_assignment,
)
from services.matcher.engine.contract import CandidateEdges
from services.matcher.engine.incremental import (
    _pins_that_fit,
    _without_pinned,
    resolve_keeping_pending,
)
from tests.support.engine.edges import edges_of
from tests.support.engine.instances import random_candidate_edges
from tests.support.engine.lapjv import lapjv_optimum


def test_a_slightly_better_new_mentor_does_not_replace_a_pending_one() -> None:
    candidates = edges_of([(0, 0, 0.70), (0, 1, 0.72)], capacity=[1, 1])
    kept = resolve_keeping_pending(candidates, [("p0", "m0")], margin=0.05)
    assert kept.pairs(candidates) == [("p0", "m0", 0.70)]
    replaced = resolve_keeping_pending(candidates, [("p0", "m0")], margin=0.01)
    assert replaced.pairs(candidates) == [("p1", "m0", 0.72)]


def test_a_newcomer_does_not_push_a_pending_mentee_to_a_worse_mentor() -> None:
    # The free optimum moves m0 to p1 (0.5) so that newcomer m1 can have p0 (0.95).
    candidates = edges_of([(0, 0, 0.8), (0, 1, 0.5), (1, 0, 0.95)], capacity=[1, 1])
    assert solve_assignment(candidates).total_score == pytest.approx(1.45)
    result = resolve_keeping_pending(candidates, [("p0", "m0")], margin=0.05)
    assert result.pairs(candidates) == [("p0", "m0", 0.8)]


def test_a_pending_pair_that_is_no_longer_admissible_goes() -> None:
    candidates = edges_of([(0, 1, 0.5)], capacity=[1, 1])  # m0-p0 was rejected or erased
    result = resolve_keeping_pending(candidates, [("p0", "m0"), ("p9", "gone")], margin=0.05)
    assert result.pairs(candidates) == [("p1", "m0", 0.5)]


def test_a_capacity_cut_keeps_as_many_pending_pairs_as_fit() -> None:
    candidates = edges_of([(0, 0, 0.6), (1, 0, 0.9), (2, 0, 0.3)], capacity=[1])
    result = resolve_keeping_pending(candidates, [("p0", "m0"), ("p0", "m1")], margin=0.05)
    assert result.pairs(candidates) == [("p0", "m1", 0.9)]


def test_a_nominated_mentee_that_loses_its_gain_is_pinned_again() -> None:
    # Free optimum: m0 -> p1 (0.9, gain 0.4) and m1 -> p0. But m1's pending pair with p1
    # is pinned (its free alternative gains only 0.1), so m0 cannot have p1 and keeps p0.
    candidates = edges_of([(0, 0, 0.5), (0, 1, 0.9), (1, 1, 0.6), (1, 0, 0.7)], capacity=[1, 1])
    result = resolve_keeping_pending(candidates, [("p0", "m0"), ("p1", "m1")], margin=0.2)
    assert sorted(result.pairs(candidates)) == [("p0", "m0", 0.5), ("p1", "m1", 0.6)]


def test_the_solve_around_the_pins_sees_only_the_places_they_left() -> None:
    # p0's one place is pinned by m0; the newcomer m1 can only go to p1, and the solve around
    # the pins is not given its pair with the full p0 at all.
    candidates = edges_of([(0, 0, 0.9), (1, 0, 0.8), (1, 1, 0.4)], capacity=[1, 1])
    bonuses: list[np.ndarray | None] = []

    def spy(edges: CandidateEdges, bonus: np.ndarray | None) -> Assignment:
        bonuses.append(bonus)
        return solve_assignment(edges, bonus)

    result = resolve_keeping_pending(candidates, [("p0", "m0")], margin=0.05, solve=spy)
    assert sorted(result.pairs(candidates)) == [("p0", "m0", 0.9), ("p1", "m1", 0.4)]
    around_pins = bonuses[-1]
    assert around_pins is not None
    assert np.isneginf(around_pins).tolist() == [True, True, False]


@pytest.mark.parametrize("seed", range(15))
def test_one_change_keeps_or_clearly_improves_every_pending_pair(seed: int) -> None:
    rng = np.random.default_rng(seed)
    before = random_candidate_edges(rng, 15, 60, 5, capacities=(1.0, 2.0, 1.5), part_time_share=0.3)
    pending = [(p, m) for p, m, _ in solve_assignment(before).pairs(before)]
    changed = int(rng.integers(len(before.mentee_ids)))
    score = before.score.copy()
    mine = before.mentee_index == changed
    score[mine] = rng.random(int(mine.sum()))  # one mentee edits their profile
    after = replace(before, score=score)
    margin = 0.1
    result = resolve_keeping_pending(after, pending, margin)
    new_score = {m: s for _, m, s in result.pairs(after)}
    new_pairs = {(p, m) for p, m, _ in result.pairs(after)}
    for p, m in pending:
        e = np.flatnonzero(
            (np.array(after.provider_ids)[after.provider_index] == p)
            & (np.array(after.mentee_ids)[after.mentee_index] == m)
        )[0]
        old = after.score[e]
        assert (p, m) in new_pairs or new_score.get(m, -1) >= old + margin - 1e-12
    free_pairs = {(p, m) for p, m, _ in solve_assignment(after).pairs(after)}
    assert len(set(pending) - new_pairs) <= len(set(pending) - free_pairs)
    unchanged = resolve_keeping_pending(before, pending, margin)
    assert {(p, m) for p, m, _ in unchanged.pairs(before)} == set(pending)


@pytest.mark.parametrize("seed", range(10))
def test_pinned_pairs_and_an_optimum_around_them_as_a_dominant_bonus_would_give(seed: int) -> None:
    # The definition: pins worth more than any total, solved by an independent exact solver.
    rng = np.random.default_rng(50 + seed)
    candidates = random_candidate_edges(
        rng, 12, 50, 4, capacities=(1.0, 1.5, 2.0, 0.5), part_time_share=0.4
    )
    first = solve_assignment(candidates)
    pins = first.edges[rng.random(first.edges.size) < 0.5]
    pending = [(p, m) for p, m, _ in Assignment(pins, 0.0).pairs(candidates)]
    score = rng.random(candidates.edge_count)  # everyone's scores move
    after = replace(candidates, score=score)
    result = resolve_keeping_pending(after, pending, margin=10.0)  # nobody may be replaced
    dominant = np.zeros(after.edge_count)
    dominant[pins] = 1.0 + score.sum()
    reference = lapjv_optimum(replace(after, score=score + dominant))
    assert set(pins.tolist()) <= set(result.edges.tolist())
    assert result.total_score == pytest.approx(float(score[reference].sum()), abs=1e-9)


def _pins_that_fit_one_by_one(candidates: CandidateEdges, pins: list[int]) -> list[int]:
    """The greedy as first written, one pin at a time: the reference for the batched one."""
    places = Places.from_capacity(candidates.provider_capacity)
    whole = places.whole.copy()
    fraction = places.fraction > 0
    load = mentee_loads(candidates)
    kept = []
    for e in sorted(pins, key=lambda e: (-candidates.score[e], e)):
        p = int(candidates.provider_index[e])
        light = places.fits_fraction(np.array([p]), load[candidates.mentee_index[[e]]])[0]
        if light and fraction[p]:
            fraction[p] = False
        elif whole[p] > 0:
            whole[p] -= 1
        else:
            continue
        kept.append(e)
    return sorted(kept)


def _room_left_one_by_one(candidates: CandidateEdges, pinned: list[int]) -> list[float]:
    capacity = candidates.provider_capacity.astype(np.float64).copy()
    places = Places.from_capacity(capacity)
    load = mentee_loads(candidates)
    for e in pinned:
        p = int(candidates.provider_index[e])
        light = places.fits_fraction(np.array([p]), load[candidates.mentee_index[[e]]])[0]
        taken = places.fraction[p] if light and capacity[p] % 1 > LOAD_TOLERANCE else 1.0
        capacity[p] = max(capacity[p] - taken, 0.0)
    return [float(c) for c in capacity]


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    capacities=st.lists(
        st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 2.3, 0.7, 3.0]), min_size=1, max_size=4
    ),
    share=st.floats(0.0, 1.0),
)
def test_pins_are_fitted_and_their_places_taken_as_one_at_a_time(
    seed: int, capacities: list[float], share: float
) -> None:
    # Pins are any one pair per mentee, more than the places may hold (a capacity cut).
    rng = np.random.default_rng(seed)
    candidates = random_candidate_edges(
        rng, 5, 30, 3, capacities=tuple(capacities), part_time_share=share
    )
    pins = [
        int(rng.choice(np.flatnonzero(candidates.mentee_index == j)))
        for j in np.unique(candidates.mentee_index)
        if rng.random() < 0.7
    ]
    fitted = _pins_that_fit(candidates, pins)
    assert fitted.tolist() == _pins_that_fit_one_by_one(candidates, pins)
    left = _without_pinned(candidates, fitted).provider_capacity.tolist()
    assert left == _room_left_one_by_one(candidates, fitted.tolist())

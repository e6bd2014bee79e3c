"""Stable mode against the `matching` package, and by its defining property: no blocking pair."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.matcher.engine.assignment import IntArray
from services.matcher.engine.candidates import build_candidates
from services.matcher.engine.config import MatchingConfig
from services.matcher.engine.contract import CandidateEdges
from services.matcher.engine.optimal import with_mentee_loads
from services.matcher.engine.scoring import BlockBuffers, ScoreTables, ScoringContext
from services.matcher.engine.stable import (
    ScoreBlock,
    _BucketRun,
    _float32_at_most,
    _KnownPairs,
    _kth_best,
    _next_best,
    blocking_pairs,
    blocks_reaching,
    pairs_reaching,
    solve_stable,
    solve_stable_everywhere,
)
from shared.matching import MatchKind
from tests.support.engine.edges import edges_of
from tests.support.engine.instances import (
    random_candidate_edges,
    synthetic_input,
    with_stated_preferences,
)
from tests.support.engine.peers import matching_package_stable
from tests.support.engine.stability import blocking_pairs_everywhere
from tests.support.engine.stable_reference import (
    _kth_best_by_sorting,
    _next_best_by_sorting,
    solve_stable_everywhere_by_sorting,
)


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


# Short lists and no provider-side lists, so that pruning leaves many mentees short.
PRUNED_HARD = MatchingConfig(
    mode="stable", top_k=2, provider_top_k=0, full_candidates_up_to_pairs=0, chunk_size=64
)


@pytest.mark.parametrize(
    ("mentors", "mentees", "seed"), [(30, 200, 1), (80, 600, 2), (150, 900, 3)]
)
def test_stable_mode_is_stable_over_every_admissible_pair(
    mentors: int, mentees: int, seed: int
) -> None:
    data = synthetic_input(np.random.default_rng(seed), mentors, mentees)
    pruned_only = with_mentee_loads(build_candidates(data, PRUNED_HARD), data, PRUNED_HARD)
    every_pair = with_mentee_loads(
        build_candidates(data, PRUNED_HARD, full=True), data, PRUNED_HARD
    )
    # The trap the engine avoids: stable on the pruned lists is not stable on all pairs.
    on_pruned = solve_stable(pruned_only).edges
    mapped = _same_pairs_in(every_pair, pruned_only, on_pruned)
    assert blocking_pairs(every_pair, mapped).size > 0
    assert blocking_pairs_everywhere(data, PRUNED_HARD) == 0


@settings(max_examples=50)
@given(
    seed=st.integers(0, 10_000),
    mentors=st.integers(1, 25),
    mentees=st.integers(1, 120),
    top_k=st.integers(1, 4),
    provider_top_k=st.integers(0, 3),
    stated=st.booleans(),
)
# Found by this test: asking each unsettled mentee only once left a blocking pair.
@example(seed=79, mentors=21, mentees=71, top_k=1, provider_top_k=1, stated=True)
@example(seed=1148, mentors=23, mentees=35, top_k=1, provider_top_k=2, stated=True)
def test_stable_over_every_pair_on_any_small_round(
    seed: int, mentors: int, mentees: int, top_k: int, provider_top_k: int, stated: bool
) -> None:
    # With stated preferences (two-sided), each side in its own order.
    rng = np.random.default_rng(seed)
    data = synthetic_input(rng, mentors, mentees, capacities=(0.5, 1.0, 1.5, 2.0))
    if stated:
        data = with_stated_preferences(data, rng)
    config = MatchingConfig(
        mode="stable",
        top_k=top_k,
        provider_top_k=provider_top_k,
        full_candidates_up_to_pairs=0,
        chunk_size=16,
    )
    assert blocking_pairs_everywhere(data, config) == 0


def _same_pairs_in(target: CandidateEdges, source: CandidateEdges, edges: IntArray) -> IntArray:
    edge_of = {
        (int(p), int(m)): e
        for e, (m, p) in enumerate(zip(target.mentee_index, target.provider_index, strict=True))
    }
    return np.array(
        [edge_of[(int(source.provider_index[e]), int(source.mentee_index[e]))] for e in edges],
        dtype=np.int64,
    )


def _no_more_blocks(mentees: IntArray, providers: npt.NDArray[np.bool_]) -> Iterator[ScoreBlock]:
    raise AssertionError("a complete edge set needs no more pairs")


@pytest.mark.parametrize("seed", range(30))
def test_greedy_everywhere_is_deferred_acceptance_on_globally_ranked_pairs(seed: int) -> None:
    # One score for both sides: the greedy and deferred acceptance give the same matching.
    rng = np.random.default_rng(2000 + seed)
    candidates = random_candidate_edges(
        rng,
        int(rng.integers(2, 20)),
        int(rng.integers(1, 80)),
        int(rng.integers(1, 8)),
        capacities=(0.5, 1.0, 1.5, 2.0, 3.0),
        part_time_share=0.3,
        score_levels=int(rng.choice([0, 4])),
    )
    greedy, _ = solve_stable_everywhere(candidates, _no_more_blocks, top_k=None)
    assert greedy.edges.tolist() == solve_stable(candidates).edges.tolist()


@settings(max_examples=15)
@given(seed=st.integers(0, 10_000), share=st.floats(0.0, 1.0))
def test_scoring_some_providers_equals_their_columns_of_all(seed: int, share: float) -> None:
    # Stable mode scores only the providers with room (``ScoreTables.for_providers``): the
    # same values (rejections and rankings included) as those columns of a whole block.
    rng = np.random.default_rng(seed)
    data = with_stated_preferences(synthetic_input(rng, 30, 90), rng, ranking=0.6)
    data = data.model_copy(
        update={"rejected_pairs": frozenset({(data.mentors[0].id, m.id) for m in data.mentees})}
    )
    tables = ScoreTables.build(ScoringContext.build(data, MatchingConfig()), MatchKind.MENTORING)
    # At least one provider: stable mode asks for none only when none has room.
    providers = np.union1d(np.flatnonzero(rng.random(tables.n_providers) < share), [seed % 30])
    whole = tables.score_block(0, tables.n_mentees).copy()
    tables.penalise(0, tables.n_mentees, whole, BlockBuffers(tables.n_mentees, tables.n_providers))
    some = tables.for_providers(providers)
    part = some.score_block(0, some.n_mentees).copy()
    some.penalise(0, some.n_mentees, part, BlockBuffers(some.n_mentees, providers.size))
    # To float32 precision: BLAS may sum a narrower product in another order.
    np.testing.assert_allclose(part, whole[:, providers], rtol=0, atol=2e-6)
    # Some mentees first, as an ask does: the providers' tables keep only their static rows.
    mentees = np.union1d(np.flatnonzero(rng.random(tables.n_mentees) < share), [seed % 90])
    asked = tables.for_mentees(mentees).for_providers(providers)
    assert asked.static.shape[0] == np.unique(tables.mentee_key[mentees]).size
    block = asked.score_block(0, mentees.size).copy()
    asked.penalise(0, mentees.size, block, BlockBuffers(mentees.size, providers.size))
    np.testing.assert_allclose(block, whole[np.ix_(mentees, providers)], rtol=0, atol=2e-6)


@settings(max_examples=30)
@given(
    seed=st.integers(0, 10_000),
    mentors=st.integers(1, 25),
    mentees=st.integers(1, 120),
    top_k=st.integers(1, 4),
    provider_top_k=st.integers(0, 3),
    batch=st.integers(1, 40),
    chunk_size=st.integers(1, 16),
)
def test_stable_everywhere_picking_in_blocks_equals_sorting_every_pair(
    seed: int,
    mentors: int,
    mentees: int,
    top_k: int,
    provider_top_k: int,
    batch: int,
    chunk_size: int,
) -> None:
    # The same pairs, total and grown edges as before the dense-block picking (the reference
    # sorts every new pair of every asked mentee), and no blocking pair among all pairs.
    data = synthetic_input(
        np.random.default_rng(seed), mentors, mentees, capacities=(0.5, 1.0, 1.5, 2.0)
    )
    config = MatchingConfig(
        mode="stable",
        top_k=top_k,
        provider_top_k=provider_top_k,
        full_candidates_up_to_pairs=0,
        chunk_size=chunk_size,
    )
    context = ScoringContext.build(data, config)
    candidates = with_mentee_loads(build_candidates(data, config, context=context), data, config)
    tables = ScoreTables.build(context, MatchKind.MENTORING)
    ours, our_edges = solve_stable_everywhere(
        candidates, blocks_reaching(tables, chunk_size), top_k, batch
    )
    theirs, their_edges = solve_stable_everywhere_by_sorting(
        candidates, pairs_reaching(tables, chunk_size), top_k, batch
    )
    assert ours.pairs(our_edges) == theirs.pairs(their_edges)
    assert ours.total_score == theirs.total_score
    assert our_edges.mentee_index.tolist() == their_edges.mentee_index.tolist()
    assert our_edges.provider_index.tolist() == their_edges.provider_index.tolist()
    assert our_edges.score.tolist() == their_edges.score.tolist()
    every_pair = with_mentee_loads(build_candidates(data, config, full=True), data, config)
    assert blocking_pairs(every_pair, _same_pairs_in(every_pair, our_edges, ours.edges)).size == 0


@settings(max_examples=60)
@given(
    seed=st.integers(0, 10_000),
    rows=st.integers(1, 12),
    columns=st.integers(0, 30),
    k=st.integers(1, 6),
    levels=st.sampled_from([0, 3, 8]),
)
def test_next_best_in_a_block_equals_sorting_its_pairs(
    seed: int, rows: int, columns: int, k: int, levels: int
) -> None:
    # Ties (few score levels), inadmissible pairs (-inf), scores at or below zero, frontiers
    # on a score, an ulp off one, or between scores.
    rng = np.random.default_rng(seed)
    values = rng.random((rows, columns)).astype(np.float32) * 1.2 - 0.2
    if levels:
        values = np.round(values * levels) / np.float32(levels)
    values[rng.random((rows, columns)) < 0.3] = -np.inf
    frontier = rng.random(rows) * 1.2 - 0.1
    if columns:
        on_a_score = np.isfinite(values[:, 0])
        frontier[on_a_score] = values[on_a_score, 0].astype(np.float64)
    frontier[rng.random(rows) < 0.2] += 1e-7
    row, column, next_frontier = _next_best(values.copy(), frontier, k)
    r, c = np.nonzero(values > -np.inf)
    score = values[r, c].astype(np.float64)
    admissible = score > 0
    r, c, score = r[admissible], c[admissible], score[admissible]
    keep, expected_frontier = _next_best_by_sorting(r, c, score, frontier, k)
    assert list(zip(row.tolist(), column.tolist(), strict=True)) == list(
        zip(r[keep].tolist(), c[keep].tolist(), strict=True)
    )
    assert next_frontier.tolist() == expected_frontier[:rows].tolist()


@given(
    value=st.floats(-4.0, 4.0, allow_nan=False),
    other=st.floats(-4.0, 4.0, allow_nan=False, width=32),
)
def test_float32_at_most_compares_like_float64(value: float, other: float) -> None:
    ceiling = _float32_at_most(np.array([value]))[0]
    assert (np.float32(other) <= ceiling) == (float(np.float32(other)) <= value)
    assert float(ceiling) <= value < float(np.nextafter(ceiling, np.float32(np.inf)))


@settings(max_examples=80)
@given(
    scores=st.lists(st.sampled_from([0.1, 0.25, 0.5, 0.5000001, 0.75, 1.0]) | st.floats(0.01, 2)),
    levels=st.lists(st.floats(-1, 2.5), max_size=8),
)
def test_the_candidates_buckets_give_what_scores_above_each_level_once(
    scores: list[float], levels: list[float]
) -> None:
    # The greedy decides down to falling levels (then to -inf): each time it must get exactly
    # the undecided edges scoring above the level, whatever the buckets' boundaries.
    score = np.array(scores, dtype=np.float64)
    edge = np.arange(score.size)
    run = _BucketRun(edge, edge * 2, edge * 3, score)
    taken: set[int] = set()
    for level in [*sorted(levels, reverse=True), -np.inf]:
        got = run.take_above(level)
        expected = {int(e) for e in edge[score > level]} - taken
        edges = set() if got is None else {int(e) for e in got[0]}
        assert edges == expected
        if got is not None:
            assert np.array_equal(got[1], got[0] * 2)
            assert np.array_equal(got[3], score[got[0]])
        taken |= edges
    assert run.done
    assert taken == set(edge.tolist())


@settings(max_examples=60)
@given(
    seed=st.integers(0, 10_000),
    mentees=st.integers(1, 60),
    per_mentee=st.integers(1, 8),
    k=st.integers(1, 8),
    long_list=st.sampled_from([0, 40, 120]),
    levels=st.sampled_from([0, 3]),
    shuffled=st.booleans(),
)
def test_kth_best_equals_sorting_each_list(
    seed: int, mentees: int, per_mentee: int, k: int, long_list: int, levels: int, shuffled: bool
) -> None:
    # All ways: padded tables of lists, all at once or a few at a time, lists longer than the
    # table (partitioned one by one), and edges in any order.
    rng = np.random.default_rng(seed)
    candidates = random_candidate_edges(rng, 120, mentees, per_mentee, score_levels=levels)
    if long_list:  # the last mentee is on that many providers' lists, in shuffled order
        extra = rng.permutation(120)[:long_list]
        candidates = replace(
            candidates,
            mentee_index=np.concatenate(
                (candidates.mentee_index, np.full(long_list, mentees - 1))
            ).astype(candidates.mentee_index.dtype),
            provider_index=np.concatenate((candidates.provider_index, extra)).astype(
                candidates.provider_index.dtype
            ),
            score=np.concatenate((candidates.score, rng.random(long_list))),
        )
    if shuffled:
        order = rng.permutation(candidates.edge_count)
        candidates = replace(
            candidates,
            mentee_index=candidates.mentee_index[order],
            provider_index=candidates.provider_index[order],
            score=candidates.score[order],
        )
    expected = _kth_best_by_sorting(candidates, k).tolist()
    assert _kth_best(candidates, k).tolist() == expected
    assert _kth_best(candidates, k, cells=k * 3).tolist() == expected  # a few mentees a table


@settings(max_examples=40)
@given(
    seed=st.integers(0, 10_000),
    n_mentees=st.integers(1, 30),
    n_providers=st.integers(1, 20),
    asks=st.integers(1, 12),
)
def test_known_pairs_mark_exactly_the_known_pairs_of_a_block(
    seed: int, n_mentees: int, n_providers: int, asks: int
) -> None:
    # Pairs known from the start (in any order) and added ask by ask (more runs than are kept
    # apart before merging), looked up for random blocks of mentees and providers.
    rng = np.random.default_rng(seed)
    n_known = int(rng.integers(0, n_mentees * n_providers + 1))
    pairs = rng.choice(n_mentees * n_providers, n_known, replace=False)
    candidates = edges_of(
        [
            (int(m), int(p), 0.5)
            for m, p in zip(pairs // n_providers, pairs % n_providers, strict=True)
        ],
        capacity=[1.0] * n_providers,
        loads=[1.0] * n_mentees,
    )
    known = _KnownPairs(candidates)
    expected = set(
        zip((pairs // n_providers).tolist(), (pairs % n_providers).tolist(), strict=True)
    )
    for _ in range(asks):
        mentees = np.sort(rng.choice(n_mentees, int(rng.integers(1, n_mentees + 1)), False))
        providers = np.sort(rng.choice(n_providers, int(rng.integers(0, n_providers + 1)), False))
        block = np.zeros((mentees.size, providers.size), dtype=np.float32)
        known.forget(mentees, providers, block)
        marked = {
            (int(mentees[r]), int(providers[c]))
            for r, c in zip(*np.nonzero(block == -np.inf), strict=True)
        }
        asked = {(int(m), int(p)) for m in mentees for p in providers}
        assert marked == expected & asked
        new = [(m, p) for m, p in sorted(asked - expected) if rng.random() < 0.3]
        if new:
            mentee, provider = (np.array(side, dtype=np.int64) for side in zip(*new, strict=True))
            known.add(mentee, provider)
            expected |= set(new)

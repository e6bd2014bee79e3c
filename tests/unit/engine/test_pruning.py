"""Provider-side pruning: the running per-provider best lists, and what they buy."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.matcher.engine.assignment import solve_assignment
from services.matcher.engine.candidates import build_candidates
from services.matcher.engine.config import MatchingConfig
from services.matcher.engine.contract import CandidateEdges
from services.matcher.engine.optimal import with_mentee_loads
from services.matcher.engine.pruning import ProviderBest, with_provider_best
from tests.support.engine.instances import synthetic_input


def mentee_top_k(candidates: CandidateEdges, k: int) -> CandidateEdges:
    """Each mentee's k best edges, taken from the full set (independent of the builder)."""
    order = np.lexsort((-candidates.score, candidates.mentee_index))
    ordered = candidates.mentee_index[order]
    keep = order[np.arange(order.size) - np.searchsorted(ordered, ordered) < k]
    return replace(
        candidates,
        mentee_index=candidates.mentee_index[keep],
        provider_index=candidates.provider_index[keep],
        score=candidates.score[keep],
    )


def brute_force_best(scores: np.ndarray, top: int, floor: float) -> list[set[int]]:
    best = []
    for p in range(scores.shape[1]):
        column = scores[:, p]
        admissible = np.flatnonzero(column > floor)
        best.append(set(admissible[np.argsort(-column[admissible], kind="stable")][:top].tolist()))
    return best


def ranked_best(scores: np.ndarray, top: int, floor: float) -> list[list[int]]:
    """Each provider's ``top`` best rows above the floor, equal scores to the lower row."""
    best = []
    for p in range(scores.shape[1]):
        column = scores[:, p]
        admissible = np.flatnonzero(column > floor)
        ranked = admissible[np.lexsort((admissible, -column[admissible]))]
        best.append(sorted(ranked[:top].tolist()))
    return best


@settings(max_examples=60)
@given(
    seed=st.integers(0, 2**32 - 1),
    values=st.integers(1, 40),
    top=st.integers(1, 12),
    workers=st.integers(1, 3),
)
def test_lists_follow_the_tie_rule_whatever_the_blocks_and_workers(
    seed: int, values: int, top: int, workers: int
) -> None:
    # Few distinct values: ties at most cuts. Blocks of any size (dense and sparse entries),
    # dealt round-robin to several trackers merged at the end, as the candidate builder does:
    # each list is the top best by score, equal scores to the lower mentee.
    rng = np.random.default_rng(seed)
    n_mentees, n_providers = int(rng.integers(1, 600)), int(rng.integers(1, 60))
    scores = (rng.integers(0, values + 1, (n_mentees, n_providers)) / values).astype(np.float32)
    scores[rng.random(scores.shape) < 0.2] = -np.inf
    size = int(rng.integers(1, 300))
    trackers = [ProviderBest(n_providers, top, floor=0.05) for _ in range(workers)]
    for b, start in enumerate(range(0, n_mentees, size)):
        trackers[b % workers].add_block(start, scores[start : start + size])
    for other in trackers[1:]:
        trackers[0].merge(other)
    rows, cols, kept = trackers[0].edges()
    assert [sorted(rows[cols == p].tolist()) for p in range(n_providers)] == ranked_best(
        scores, top, 0.05
    )
    np.testing.assert_array_equal(kept, scores[rows, cols])


def test_blocks_out_of_row_order_are_refused() -> None:
    tracker = ProviderBest(3, 2)
    tracker.add_block(10, np.ones((5, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="increasing row order"):
        tracker.add_block(0, np.ones((5, 3), dtype=np.float32))


@pytest.mark.parametrize("seed", range(8))
def test_running_lists_equal_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_mentees, n_providers, top = int(rng.integers(1, 900)), int(rng.integers(1, 40)), 12
    scores = rng.random((n_mentees, n_providers)).astype(np.float32)  # distinct: no ties
    scores[rng.random(scores.shape) < 0.3] = -np.inf  # inadmissible pairs
    tracker = ProviderBest(n_providers, top, floor=0.05)
    block = int(rng.integers(16, 200))
    for start in range(0, n_mentees, block):
        tracker.add_block(start, scores[start : start + block])
    rows, cols, values = tracker.edges()
    expected = brute_force_best(scores, top, floor=0.05)
    assert [set(rows[cols == p].tolist()) for p in range(n_providers)] == expected
    assert np.allclose(values, scores[rows, cols])


@pytest.mark.parametrize("seed", range(6))
def test_entries_gathered_by_the_caller_give_the_same_lists(seed: int) -> None:
    # add_passing is add_block with the gathering done by the candidate builder: the same
    # lists, entry for entry (ties included), dense first block and coverage check included.
    rng = np.random.default_rng(seed)
    n_mentees, n_providers, top = int(rng.integers(1, 900)), int(rng.integers(1, 300)), 7
    scores = (rng.integers(0, 50, (n_mentees, n_providers)) / 50).astype(np.float32)  # ties
    covered = rng.random(scores.shape) < 0.8
    exact = np.where(covered, scores, -np.inf).astype(np.float32)

    def admissible(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        found: np.ndarray = covered[rows, cols]
        return found

    whole, gathered = ProviderBest(n_providers, top, 0.1), ProviderBest(n_providers, top, 0.1)
    size = int(rng.integers(8, 200))
    for start in range(0, n_mentees, size):
        block = scores[start : start + size]
        one, two = block.copy(), block.copy()
        whole.add_block(
            start,
            one,
            admissible,
            lambda: np.copyto(one, exact[start : start + size]),  # noqa: B023
        )
        rows, cols = np.nonzero(two > gathered.cutoffs()[None, :])
        gathered.add_passing(
            start,
            two,
            (rows, cols, two[rows, cols]),
            admissible(rows + start, cols),
            lambda: np.copyto(two, exact[start : start + size]),  # noqa: B023
        )
    np.testing.assert_array_equal(whole.rows, gathered.rows)
    np.testing.assert_array_equal(whole.scores, gathered.scores)
    for p in range(n_providers):  # and they are each provider's best admissible scores
        column = exact[:, p][exact[:, p] > 0.1]
        kept = gathered.scores[p][gathered.scores[p] > 0.1]
        np.testing.assert_array_equal(np.sort(kept)[::-1], np.sort(column)[::-1][:top])
    kept_rows, kept_cols, _ = gathered.edges()  # ties to the lower mentee
    lists = [sorted(kept_rows[kept_cols == p].tolist()) for p in range(n_providers)]
    assert lists == ranked_best(exact, top, 0.1)


def test_two_workers_merged_equal_one() -> None:
    rng = np.random.default_rng(3)
    scores = rng.random((600, 20)).astype(np.float32)
    one, even, odd = (ProviderBest(20, 15) for _ in range(3))
    for b, start in enumerate(range(0, 600, 50)):
        one.add_block(start, scores[start : start + 50])
        (even if b % 2 == 0 else odd).add_block(start, scores[start : start + 50])
    even.merge(odd)
    assert sorted(zip(*one.edges()[:2], strict=True)) == sorted(zip(*even.edges()[:2], strict=True))


def test_union_keeps_each_pair_once() -> None:
    candidates = CandidateEdges(
        provider_ids=("p0", "p1"),
        mentee_ids=("m0", "m1"),
        provider_capacity=np.ones(2),
        mentee_index=np.array([0, 1], dtype=np.int32),
        provider_index=np.array([0, 0], dtype=np.int32),
        score=np.array([0.9, 0.4]),
    )
    tracker = ProviderBest(2, 2)
    tracker.add_block(0, np.array([[0.9, 0.2], [0.4, 0.8]], dtype=np.float32))
    merged = with_provider_best(candidates, tracker)
    pairs = sorted(zip(merged.mentee_index.tolist(), merged.provider_index.tolist(), strict=True))
    assert pairs == [(0, 0), (0, 1), (1, 0), (1, 1)]


@pytest.mark.parametrize("seed", range(5))
def test_union_is_np_unique_of_the_pairs(seed: int) -> None:
    # Each pair once, in (mentee, provider) order, the first occurrence kept: what
    # np.unique(return_index=True) gives, whatever the duplicates' scores.
    rng = np.random.default_rng(seed)
    n_mentees, n_providers, n = 30, 20, 200
    candidates = CandidateEdges(
        provider_ids=tuple(f"p{j}" for j in range(n_providers)),
        mentee_ids=tuple(f"m{i}" for i in range(n_mentees)),
        provider_capacity=np.ones(n_providers),
        mentee_index=rng.integers(0, n_mentees, n).astype(np.int32),
        provider_index=rng.integers(0, n_providers, n).astype(np.int32),
        score=rng.random(n),
    )
    best = ProviderBest(n_providers, 5, floor=-1.0)
    best.add_block(0, rng.random((n_mentees, n_providers)).astype(np.float32))
    got = with_provider_best(candidates, best)
    rows, cols, scores = best.edges()
    mentee = np.concatenate((candidates.mentee_index, rows))
    provider = np.concatenate((candidates.provider_index, cols))
    score = np.concatenate((candidates.score, scores))
    _, first = np.unique(mentee.astype(np.int64) * n_providers + provider, return_index=True)
    np.testing.assert_array_equal(got.mentee_index, mentee[first])
    np.testing.assert_array_equal(got.provider_index, provider[first])
    np.testing.assert_array_equal(got.score, score[first])


@pytest.mark.parametrize("seed", range(3))
def test_two_sided_pruning_reaches_the_full_optimum_where_mentee_top_k_does_not(
    seed: int,
) -> None:
    data = synthetic_input(np.random.default_rng(seed), 150, 1500)
    config = MatchingConfig()
    full = with_mentee_loads(build_candidates(data, config, full=True), data, config)
    mentee_top = mentee_top_k(full, 5)
    dense = np.full((len(full.mentee_ids), len(full.provider_ids)), -np.inf, dtype=np.float32)
    dense[full.mentee_index, full.provider_index] = full.score
    tracker = ProviderBest(len(full.provider_ids), top=50)
    for start in range(0, dense.shape[0], 256):
        tracker.add_block(start, dense[start : start + 256])
    two_sided = with_provider_best(mentee_top, tracker)
    optimum = solve_assignment(full).total_score
    assert solve_assignment(mentee_top).total_score < optimum - 1e-6
    assert solve_assignment(two_sided).total_score == pytest.approx(optimum, abs=1e-9)
    assert two_sided.edge_count < full.edge_count / 3

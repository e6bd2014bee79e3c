"""Stable mode over every admissible pair as it was before it picked pairs in dense blocks.

The reference for ``solve_stable_everywhere``: each ask turned into (mentee, provider, score)
arrays (``pairs_reaching``), and each asked mentee's next pairs were found by sorting all of
them. Its greedy and k-th best scores are the engine's as they were then, kept here.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy.typing as npt

from services.matcher.engine.assignment import (
    LOAD_TOLERANCE,
    Assignment,
    FloatArray,
    IntArray,
    Places,
    mentee_loads,
)
from services.matcher.engine.contract import CandidateEdges
from services.matcher.engine.stable import RESCORE_TOLERANCE, MorePairs


def solve_stable_everywhere_by_sorting(
    candidates: CandidateEdges, more_pairs: MorePairs, top_k: int | None, batch: int = 1024
) -> tuple[Assignment, CandidateEdges]:
    """The greedy over every admissible pair, asking ``batch`` mentees at a time."""
    greedy = _Greedy(candidates)
    frontier = np.full(len(candidates.mentee_ids), -np.inf)
    if top_k is not None:
        frontier = _kth_best_by_sorting(candidates, top_k)
    while True:
        waiting = np.flatnonzero(greedy.free & np.isfinite(frontier))
        level = float(frontier[waiting].max()) if waiting.size else -np.inf
        greedy.run_down_to(level)
        if not waiting.size:
            return greedy.result(), greedy.candidates
        asked = waiting[np.argsort(-frontier[waiting], kind="stable")[:batch]]
        mentee, provider, score = more_pairs(asked, greedy.room())
        new = _unknown(greedy.candidates, asked, mentee, provider) & (score > 0)
        mentee, provider, score = mentee[new], provider[new], score[new]
        keep, next_frontier = _next_best_by_sorting(mentee, provider, score, frontier, top_k or 0)
        frontier[asked] = next_frontier[asked]
        greedy.add(mentee[keep], provider[keep], score[keep])


def _unknown(
    candidates: CandidateEdges, asked: IntArray, mentee: IntArray, provider: IntArray
) -> npt.NDArray[np.bool_]:
    """Which of the asked mentees' pairs are not edges yet."""
    row = np.full(len(candidates.mentee_ids), -1, dtype=np.int64)
    row[asked] = np.arange(asked.size)
    known = np.zeros((asked.size, len(candidates.provider_ids)), dtype=bool)
    theirs = row[candidates.mentee_index] >= 0
    known[row[candidates.mentee_index[theirs]], candidates.provider_index[theirs]] = True
    new: npt.NDArray[np.bool_] = ~known[row[mentee], provider]
    return new


def _next_best_by_sorting(
    mentee: IntArray, provider: IntArray, score: FloatArray, frontier: FloatArray, k: int
) -> tuple[npt.NDArray[np.bool_], FloatArray]:
    """Which pairs to keep (each mentee's k best at or below its frontier), and new frontiers."""
    below = (score <= frontier[mentee] + RESCORE_TOLERANCE) | (score == frontier[mentee])
    order = np.lexsort((provider, -score, mentee))
    order = order[below[order]]
    sorted_mentee = mentee[order]
    rank = np.arange(order.size) - np.searchsorted(sorted_mentee, sorted_mentee)
    keep = np.zeros(mentee.size, dtype=bool)
    keep[order[rank < k]] = True
    at_k = order[rank == k - 1]
    new_frontier = np.full(frontier.size, -np.inf)
    new_frontier[mentee[at_k]] = score[at_k]
    return keep, new_frontier


def _kth_best_by_sorting(candidates: CandidateEdges, top_k: int) -> FloatArray:
    """Each mentee's k-th best known score; -inf with fewer than k (its list is complete).

    Top-k keeps the lower provider index on ties, so an unknown pair at exactly this score
    ranks after every known one: pairs strictly above it are all known, and those at it that
    are unknown come later in the greedy's order than the known ones.
    """
    mentee = candidates.mentee_index.astype(np.int64)
    order = np.lexsort((-candidates.score, mentee))
    rank = np.arange(order.size) - np.searchsorted(mentee[order], mentee[order])
    kth = np.full(len(candidates.mentee_ids), -np.inf)
    at_k = order[rank == top_k - 1]
    kth[mentee[at_k]] = candidates.score[at_k]
    return kth


class _Greedy:
    """The engine's greedy as it was: every call filters and sorts the undecided edges."""

    def __init__(self, candidates: CandidateEdges) -> None:
        self.candidates = candidates
        places = Places.from_capacity(candidates.provider_capacity)
        self.whole_left = places.whole.copy()
        self.total_left = places.whole + (places.fraction > LOAD_TOLERANCE)
        self.fraction = places.fraction
        self.load = mentee_loads(candidates)
        self.free = np.ones(len(candidates.mentee_ids), dtype=bool)
        self.chosen: list[int] = []
        self.pool = np.flatnonzero(candidates.score > 0)  # undecided edges, in no order

    def run_down_to(self, level: float) -> None:
        """Decide every undecided pair scoring above ``level``, in the greedy's order."""
        c = self.candidates
        now = c.score[self.pool] > level
        edges, self.pool = self.pool[now], self.pool[~now]
        # Pairs of a mentee already matched or a provider already full are out for good.
        edges = edges[
            self.free[c.mentee_index[edges]] & (self.total_left[c.provider_index[edges]] > 0)
        ]
        mentee, provider = c.mentee_index[edges], c.provider_index[edges]
        order = np.lexsort((provider, mentee, -c.score[edges]))
        edges, mentee, provider = edges[order], mentee[order], provider[order]
        heavy = self.load[mentee] > self.fraction[provider] + LOAD_TOLERANCE
        # Python lists: indexing numpy arrays one item at a time costs several times more.
        free, whole_left = self.free.tolist(), self.whole_left.tolist()
        total_left, chosen = self.total_left.tolist(), self.chosen
        for e, m, p, is_heavy in zip(
            edges.tolist(), mentee.tolist(), provider.tolist(), heavy.tolist(), strict=True
        ):
            if not free[m] or total_left[p] <= 0 or (is_heavy and whole_left[p] <= 0):
                continue
            free[m] = False
            total_left[p] -= 1
            whole_left[p] -= is_heavy
            chosen.append(e)
        self.free[:], self.whole_left[:], self.total_left[:] = free, whole_left, total_left

    def room(self) -> npt.NDArray[np.bool_]:
        open_: npt.NDArray[np.bool_] = self.total_left > 0
        return open_

    def add(self, mentee: IntArray, provider: IntArray, score: FloatArray) -> None:
        """New pairs join the edges, undecided."""
        c = self.candidates
        first = c.edge_count
        self.candidates = replace(
            c,
            mentee_index=np.concatenate((c.mentee_index, mentee.astype(np.int32))),
            provider_index=np.concatenate((c.provider_index, provider.astype(np.int32))),
            score=np.concatenate((c.score, score.astype(np.float64))),
        )
        self.pool = np.concatenate((self.pool, first + np.arange(mentee.size)))

    def result(self) -> Assignment:
        chosen = np.sort(np.array(self.chosen, dtype=np.int64))
        return Assignment(edges=chosen, total_score=float(self.candidates.score[chosen].sum()))

"""Stable mode over every admissible pair as it was before it picked pairs in dense blocks.

The reference for ``solve_stable_everywhere``: each ask turned into (mentee, provider, score)
arrays (``pairs_reaching``), and each asked mentee's next pairs were found by sorting all of
them. The greedy itself is the engine's (checked against deferred acceptance on its own).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from services.matcher.engine.assignment import Assignment, FloatArray, IntArray
from services.matcher.engine.contract import CandidateEdges
from services.matcher.engine.stable import (
    RESCORE_TOLERANCE,
    MorePairs,
    _Greedy,
    _kth_best,
)


def solve_stable_everywhere_by_sorting(
    candidates: CandidateEdges, more_pairs: MorePairs, top_k: int | None, batch: int = 1024
) -> tuple[Assignment, CandidateEdges]:
    """The greedy over every admissible pair, asking ``batch`` mentees at a time."""
    greedy = _Greedy(candidates)
    frontier = np.full(len(candidates.mentee_ids), -np.inf)
    if top_k is not None:
        frontier = _kth_best(candidates, top_k)
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

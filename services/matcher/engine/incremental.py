"""Re-solving without flapping: pending proposals stay unless a new one is clearly better.

When one person changes, the optimum of the new instance may differ from the last one in many
places, often by tiny amounts; re-sending those proposals would make people's inboxes flap. The
rule here: a pending proposal (mentee j with provider p, still admissible) is replaced only when
j gets a new proposal whose score is at least ``margin`` above the pending pair's current score.
It is also dropped when it is no longer admissible (someone left, was erased, or the pair was
rejected) or when a capacity was cut below what the pending proposals hold.

How: pending pairs are pinned (a bonus larger than any total score makes the solver keep all it
can); a free solve nominates the mentees that would gain at least ``margin``; those are
unpinned and may only take pairs that clear their margin; a nominated mentee that ends with
nothing better is pinned again and the solve repeats — at most once per nominated mentee,
usually not at all. Every other mentee is matched optimally around the pinned pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from services.matcher.engine.assignment import Assignment, FloatArray, solve_assignment
from services.matcher.engine.contract import CandidateEdges

Solver = Callable[[CandidateEdges, FloatArray | None], Assignment]


def resolve_keeping_pending(
    candidates: CandidateEdges,
    pending: Iterable[tuple[str, str]],
    margin: float,
    solve: Solver = solve_assignment,
) -> Assignment:
    """The best assignment that replaces a pending (provider, mentee) pair only when beaten."""
    pending_edge = _pending_edges(candidates, pending)
    if not pending_edge:
        return solve(candidates, None)
    nominated = _nominate(candidates, pending_edge, margin, solve(candidates, None))
    while True:
        result = solve(candidates, _objective_bonus(candidates, pending_edge, nominated, margin))
        lost = _nominated_without_gain(candidates, result, nominated, pending_edge, margin)
        if not lost:
            return result
        nominated -= lost


def _pending_edges(
    candidates: CandidateEdges, pending: Iterable[tuple[str, str]]
) -> dict[int, int]:
    """mentee index -> edge index of its pending pair, for pairs that are still admissible."""
    provider_pos = {p: i for i, p in enumerate(candidates.provider_ids)}
    mentee_pos = {m: j for j, m in enumerate(candidates.mentee_ids)}
    n_providers = max(len(candidates.provider_ids), 1)
    wanted = np.array(
        [
            mentee_pos[m] * n_providers + provider_pos[p]
            for p, m in pending
            if p in provider_pos and m in mentee_pos
        ],
        dtype=np.int64,
    )
    key = candidates.mentee_index.astype(np.int64) * n_providers + candidates.provider_index
    found = np.flatnonzero(np.isin(key, wanted) & (candidates.score > 0))
    # Best score first, so a duplicated pair maps to its best edge.
    found = found[np.argsort(-candidates.score[found], kind="stable")]
    edges: dict[int, int] = {}
    for e in found.tolist():
        edges.setdefault(int(candidates.mentee_index[e]), e)
    return edges


def _nominate(
    candidates: CandidateEdges, pending_edge: dict[int, int], margin: float, free: Assignment
) -> set[int]:
    """Mentees whose pair in the free optimum beats their pending pair by the margin."""
    best_new = {int(candidates.mentee_index[e]): float(candidates.score[e]) for e in free.edges}
    return {
        mentee
        for mentee, e in pending_edge.items()
        if best_new.get(mentee, -np.inf) >= candidates.score[e] + margin
    }


def _objective_bonus(
    candidates: CandidateEdges, pending_edge: dict[int, int], nominated: set[int], margin: float
) -> FloatArray:
    """Pin pending pairs; keep nominated mentees to pairs that clear their margin."""
    bonus = np.zeros(candidates.edge_count)
    pinned = [e for j, e in pending_edge.items() if j not in nominated]
    bonus[pinned] = 1.0 + _largest_possible_total(candidates)
    least = np.full(len(candidates.mentee_ids), -np.inf)
    for j in nominated:
        least[j] = candidates.score[pending_edge[j]] + margin
    # solve_assignment ignores edges whose adjusted score is not positive.
    bonus[candidates.score < least[candidates.mentee_index]] = -np.inf
    return bonus


def _largest_possible_total(candidates: CandidateEdges) -> float:
    """An upper bound on any assignment's score: each mentee's best edge, summed."""
    best = np.zeros(len(candidates.mentee_ids))
    np.maximum.at(best, candidates.mentee_index, np.maximum(candidates.score, 0.0))
    return float(best.sum())


def _nominated_without_gain(
    candidates: CandidateEdges,
    result: Assignment,
    nominated: set[int],
    pending_edge: dict[int, int],
    margin: float,
) -> set[int]:
    matched = {int(candidates.mentee_index[e]): int(e) for e in result.edges}
    return {
        j
        for j in nominated
        if j not in matched
        or candidates.score[matched[j]] < candidates.score[pending_edge[j]] + margin
    }

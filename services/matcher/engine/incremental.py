"""Re-solving without flapping: pending proposals stay unless a new one is clearly better.

When one person changes, the optimum of the new instance may differ from the last one in many
places, often by tiny amounts; re-sending those proposals would make people's inboxes flap. The
rule here: a pending proposal (mentee j with provider p, still admissible) is replaced only when
j gets a new proposal whose score is at least ``margin`` above the pending pair's current score.
It is also dropped when it is no longer admissible (someone left, was erased, or the pair was
rejected) or when a capacity was cut below what the pending proposals hold.

How: a free solve nominates the mentees that would gain at least ``margin``; every other pending
pair is pinned: assigned first, its mentee out of the solve and its place taken (when a cut
leaves a provider fewer places than pins, the best-scoring pins that fit are kept: the pins of
one provider form a matroid, so greedy is optimal). The nominated mentees may only take pairs
that clear their margin; one that ends with nothing better is pinned again and the solve
repeats — at most once per nominated mentee, usually not at all. Every other mentee is matched
optimally around the pinned pairs. (Pins used to be a bonus larger than any total score; with
integer costs in the flow that bonus would have cost the scores their precision.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

import numpy as np

from services.matcher.engine.assignment import (
    LOAD_TOLERANCE,
    Assignment,
    FloatArray,
    IntArray,
    Places,
    mentee_loads,
    solve_assignment,
)
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
        pinned = _pins_that_fit(
            candidates, [e for j, e in pending_edge.items() if j not in nominated]
        )
        around_pins = _without_pinned(candidates, pinned)
        rest = solve(
            around_pins,
            _restrictions(
                candidates, pending_edge, nominated, margin, pinned, around_pins.provider_capacity
            ),
        )
        edges = np.sort(np.concatenate((pinned, rest.edges)))
        result = Assignment(edges=edges, total_score=float(candidates.score[edges].sum()))
        lost = _nominated_without_gain(candidates, result, nominated, pending_edge, margin)
        if not lost:
            return result
        nominated -= lost


def _pins_that_fit(candidates: CandidateEdges, pins: list[int]) -> IntArray:
    """The pinned edges each provider still has room for, best score first."""
    places = Places.from_capacity(candidates.provider_capacity)
    whole = places.whole.tolist()
    fraction_free = (places.fraction > 0).tolist()
    ordered = np.asarray(pins, dtype=np.int64)
    ordered = ordered[np.lexsort((ordered, -candidates.score[ordered]))]
    providers = candidates.provider_index[ordered].astype(np.int64)
    # Whether each pin fits its provider's fractional place, for all pins in one call: the
    # loop below then runs on Python scalars. A round's price search pins every pending pair
    # in each of its solves, and numpy's per-call cost on one-element arrays, once per pin,
    # was most of this function's time (docs/scaling.md).
    light = places.fits_fraction(providers, _pin_loads(candidates, ordered)).tolist()
    kept = []
    for e, p, fits in zip(ordered.tolist(), providers.tolist(), light, strict=True):
        if fits and fraction_free[p]:
            fraction_free[p] = False
        elif whole[p] > 0:
            whole[p] -= 1
        else:
            continue
        kept.append(e)
    return np.array(sorted(kept), dtype=np.int64)


def _without_pinned(candidates: CandidateEdges, pinned: IntArray) -> CandidateEdges:
    """The same edges with the pinned pairs' places taken (their mentees are excluded apart)."""
    capacity = candidates.provider_capacity.astype(np.float64)
    places = Places.from_capacity(capacity)
    providers = candidates.provider_index[pinned].astype(np.int64)
    light = places.fits_fraction(providers, _pin_loads(candidates, pinned)).tolist()
    fraction = places.fraction.tolist()
    room = capacity.tolist()
    for p, fits in zip(providers.tolist(), light, strict=True):
        # A light pin takes the fractional place (as _pins_that_fit chose), anyone else a whole.
        taken = fraction[p] if fits and room[p] % 1 > LOAD_TOLERANCE else 1.0
        room[p] = max(room[p] - taken, 0.0)
    return replace(candidates, provider_capacity=np.array(room, dtype=np.float64))


def _pin_loads(candidates: CandidateEdges, edges: IntArray) -> FloatArray:
    """The load of each edge's mentee."""
    return mentee_loads(candidates)[candidates.mentee_index[edges]]


def _restrictions(
    candidates: CandidateEdges,
    pending_edge: dict[int, int],
    nominated: set[int],
    margin: float,
    pinned: IntArray,
    room: FloatArray,
) -> FloatArray:
    """-inf for the pinned mentees' edges, for nominated mentees' pairs below their margin,
    and for every pair with a provider the pins left no room (``room``, by provider)."""
    bonus = np.zeros(candidates.edge_count)
    least = np.full(len(candidates.mentee_ids), -np.inf)
    for j in nominated:
        least[j] = candidates.score[pending_edge[j]] + margin
    least[candidates.mentee_index[pinned]] = np.inf
    # solve_assignment ignores edges whose adjusted score is not positive. Under a steady
    # stream the pending pairs hold nearly every place, so the solve around them is over the
    # pairs of the few places left, not every pair of the network (docs/scaling.md).
    refused = candidates.score < least[candidates.mentee_index]
    refused |= room[candidates.provider_index] <= 0
    bonus[refused] = -np.inf
    return bonus


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

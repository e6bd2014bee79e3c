"""Optimal many-to-one assignment: the largest total score that capacities allow.

Fractional capacity, precisely. A provider's capacity ``c`` is counted in places for whole
mentees: ``floor(c)`` *whole places*, each taking any one mentee, plus — when the remainder
``r = c - floor(c)`` is positive — one *fractional place* that takes one mentee whose load is at
most ``r`` (a part-timer's 0.5 fits a 0.5 place). So a mentor at 0.5 mentors one part-timer, at
1.5 one mentee of any pattern plus one part-timer, at 2 any two mentees.

Why not let loads simply add up (two part-timers in a 1.0)? With loads of 1 and 0.5 that is
restricted assignment with two item sizes, which is NP-hard (it contains graph balancing with
weights 1 and 2, Ebenlendr, Krčál and Sgall 2008); the solver would have to be a heuristic or a
branch-and-bound. With places, each mentee takes exactly one place, so the problem is a
bipartite matching between mentees and places — totally unimodular, solved exactly.

The matching is solved as a min-cost flow by OR-tools (a C++ cost-scaling push-relabel), on
scores scaled to integers by the largest power of two that cannot overflow (``cost_scale``).
It replaced scipy's sparse LAPJV over expanded places, which took 2-3 times as long at L.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.graph.python import min_cost_flow

from services.matcher.engine.contract import CandidateEdges

# Capacities and loads come from forms and floats; treat 0.49999999 as 0.5.
LOAD_TOLERANCE = 1e-9

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Places:
    """Each provider's capacity as whole places plus an optional fractional place."""

    whole: IntArray
    fraction: FloatArray  # size of the fractional place; 0 when there is none

    @classmethod
    def from_capacity(cls, capacity: npt.ArrayLike) -> Places:
        cap = np.maximum(np.asarray(capacity, dtype=np.float64), 0.0)
        whole = np.floor(cap + LOAD_TOLERANCE).astype(np.int64)
        fraction = np.where(cap - whole > LOAD_TOLERANCE, cap - whole, 0.0)
        return cls(whole=whole, fraction=fraction)

    def fits_fraction(self, provider: IntArray, load: FloatArray) -> npt.NDArray[np.bool_]:
        """Whether a mentee of ``load`` fits the fractional place of ``provider``."""
        size = self.fraction[provider]
        return (size > 0) & (load <= size + LOAD_TOLERANCE)


@dataclass(frozen=True)
class Assignment:
    """The chosen edges (indices into the candidate edges) and their total score."""

    edges: IntArray
    total_score: float

    def pairs(self, candidates: CandidateEdges) -> list[tuple[str, str, float]]:
        """(provider id, mentee id, score) of each chosen edge, in edge order."""
        return [
            (
                candidates.provider_ids[int(candidates.provider_index[e])],
                candidates.mentee_ids[int(candidates.mentee_index[e])],
                float(candidates.score[e]),
            )
            for e in self.edges
        ]


def mentee_loads(candidates: CandidateEdges) -> FloatArray:
    if candidates.mentee_load is None:
        return np.ones(len(candidates.mentee_ids))
    return np.asarray(candidates.mentee_load, dtype=np.float64)


def best_unique_edges(candidates: CandidateEdges, adjusted: FloatArray) -> IntArray:
    """Edge indices worth considering: positive adjusted score, one per (mentee, provider)."""
    useful = np.flatnonzero(adjusted > 0)
    if useful.size == 0:
        return useful.astype(np.int64)
    key = (
        candidates.mentee_index[useful].astype(np.int64) * len(candidates.provider_ids)
        + candidates.provider_index[useful]
    )
    if np.all(key[1:] > key[:-1]):  # as candidates with the providers' lists come: no sort
        return useful.astype(np.int64)
    by_key = np.sort(key)
    if not np.any(by_key[1:] == by_key[:-1]):  # unique, in another order
        return useful.astype(np.int64)
    # Sort by key, best score first within a key, and keep each key's first edge.
    order = np.lexsort((-adjusted[useful], key))
    first = np.ones(order.size, dtype=bool)
    first[1:] = key[order][1:] != key[order][:-1]
    return useful[np.sort(order[first])].astype(np.int64)


def solve_assignment(candidates: CandidateEdges, bonus: npt.ArrayLike | None = None) -> Assignment:
    """Maximise the total score; each mentee gets at most one provider, places are respected.

    ``bonus`` (one value per edge) is added to the objective but not to the reported score;
    an edge whose adjusted score is not positive is left out (``-inf`` forbids a pair).
    """
    adjusted = candidates.score.astype(np.float64)
    if bonus is not None:
        adjusted = adjusted + np.asarray(bonus, dtype=np.float64)
    edges = best_unique_edges(candidates, adjusted)
    edges = edges_within_reach(candidates, edges, adjusted[edges])
    if edges.size == 0:
        return Assignment(edges=np.zeros(0, dtype=np.int64), total_score=0.0)
    chosen = np.sort(_max_weight_flow(candidates, edges, adjusted[edges]))
    return Assignment(edges=chosen, total_score=float(candidates.score[chosen].sum()))


def edges_within_reach(candidates: CandidateEdges, edges: IntArray, weight: FloatArray) -> IntArray:
    """The ``edges`` (unique pairs, ``weight`` each) that some optimum is made of: each
    provider's best *C* mentees and best *C* light ones (those that fit its fractional place),
    *C* being the places of all providers together.

    Why no optimum needs the others: in an assignment where provider p holds a mentee j from
    beyond its best *C*, the other places hold at most *C* - 1 mentees, so one of p's best *C*
    (light ones, if j is on the fractional place) holds nothing and can take j's place at no
    less score. So the optimum's total is the same over these edges, and under a steady stream,
    where a few places meet thousands of mentees, the flow gets the places' best pairs instead
    of every pair of the network.
    """
    places = Places.from_capacity(candidates.provider_capacity)
    reach = int(places.whole.sum()) + int(np.count_nonzero(places.fraction))
    provider = candidates.provider_index[edges].astype(np.int64)
    if edges.size == 0 or int(np.bincount(provider).max()) <= reach:
        return edges
    by_provider = _best_first_by_group(provider, weight)
    kept = np.zeros(edges.size, dtype=bool)
    kept[by_provider[_rank_in_group(provider[by_provider]) < reach]] = True
    light = places.fits_fraction(provider, mentee_loads(candidates)[candidates.mentee_index[edges]])
    light_by_provider = by_provider[light[by_provider]]
    kept[light_by_provider[_rank_in_group(provider[light_by_provider]) < reach]] = True
    return edges[kept]


def _best_first_by_group(groups: IntArray, weight: FloatArray) -> IntArray:
    """Positions ordered by group, highest weight first within each: as ``np.lexsort((-weight,
    groups))`` would order them up to ties, without lexsort's slow sort on a float key: one
    float sort for the weights' ranks, then one sort of integers."""
    rank = np.empty(weight.size, dtype=np.int64)
    rank[np.argsort(-weight)] = np.arange(weight.size)
    return np.argsort(groups * weight.size + rank).astype(np.int64)


def _rank_in_group(groups: IntArray) -> IntArray:
    """Each element's position within its run of equal values (``groups`` is sorted)."""
    if groups.size == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], groups[1:] != groups[:-1])))
    lengths = np.diff(np.concatenate((starts, [groups.size])))
    return np.arange(groups.size) - np.repeat(starts, lengths)


def _max_weight_flow(candidates: CandidateEdges, edges: IntArray, weight: FloatArray) -> IntArray:
    """The edges of a maximum-weight assignment, as an OR-tools min-cost flow.

    Nodes: source, sink, one per mentee and one per provider for its whole places; a provider
    with a fractional place has a second node for all its places, which light mentees enter
    directly and the whole-places node feeds. A source-to-sink bypass lets anyone stay
    unmatched.
    """
    places = Places.from_capacity(candidates.provider_capacity)
    # Only mentees with an edge get a node: after edges_within_reach, often a few of many.
    present, mentee = np.unique(candidates.mentee_index[edges], return_inverse=True)
    n_mentees, n_providers = present.size, len(candidates.provider_ids)
    provider = candidates.provider_index[edges].astype(np.int64)
    light = places.fits_fraction(provider, mentee_loads(candidates)[present[mentee]])
    split = np.flatnonzero(places.fraction > 0)
    mentee_node = 2 + np.arange(n_mentees)
    whole_node = 2 + n_mentees + np.arange(n_providers)
    # The node a provider's places drain through: its all-places node when it has one.
    last_node = whole_node.copy()
    last_node[split] = 2 + n_mentees + n_providers + np.arange(split.size)
    tails = np.concatenate(
        ([0], np.zeros(n_mentees, np.int64), mentee_node[mentee], whole_node, last_node[split])
    )
    heads = np.concatenate(
        (
            [1],
            mentee_node,
            np.where(light, last_node[provider], whole_node[provider]),
            np.where(places.fraction > 0, last_node, 1),
            np.ones(split.size, np.int64),
        )
    )
    capacities = np.concatenate(
        (
            [n_mentees],
            np.ones(n_mentees + edges.size, np.int64),
            places.whole,
            places.whole[split] + 1,
        )
    )
    # The scale of the whole network's flow, as before mentees without edges were left out:
    # IncrementalAssignment takes its prices at this scale (dynamic.py).
    scale = cost_scale(float(weight.max()), flow_nodes(candidates))
    costs = np.zeros(tails.size, np.int64)
    costs[1 + n_mentees : 1 + n_mentees + edges.size] = -np.round(weight * scale)
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int32), heads.astype(np.int32), capacities.astype(np.int64), costs
    )
    flow.set_node_supply(0, n_mentees)
    flow.set_node_supply(1, -n_mentees)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow ended with status {status}")
    edge_arcs = np.arange(1 + n_mentees, 1 + n_mentees + edges.size)
    used: npt.NDArray[np.bool_] = np.asarray(flow.flows(edge_arcs)) > 0
    return edges[used]


def flow_nodes(candidates: CandidateEdges) -> int:
    """Nodes of ``_max_weight_flow``'s network (its integer scale depends on them)."""
    fractional = int(np.count_nonzero(Places.from_capacity(candidates.provider_capacity).fraction))
    return 2 + len(candidates.mentee_ids) + len(candidates.provider_ids) + fractional


def cost_scale(largest: float, n_nodes: int) -> float:
    """The power of two that turns scores into integer costs without risk of overflow.

    OR-tools multiplies costs by the node count and its prices can grow to about that many
    times again, so ``largest * scale * n_nodes**2`` is kept below 2**62. Scores come from
    float32 (24-bit mantissas): at L this scale (2**28) represents every score of at least
    1/16 exactly, and smaller ones to within 2**-29.
    """
    room = 2.0**62 / (max(largest, 1e-12) * float(n_nodes + 1) ** 2)
    return float(2.0 ** min(40, int(np.floor(np.log2(room)))))

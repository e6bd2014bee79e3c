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

The matching is solved by scipy's sparse LAPJV (``min_weight_full_bipartite_matching``) on the
side with fewer vertices, each of which gets a private "stay unmatched" partner so a full
matching always exists and leaving someone unmatched is never forced into a bad pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

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
    # Sort by key, best score first within a key, and keep each key's first edge.
    order = np.lexsort((-adjusted[useful], key))
    first = np.ones(order.size, dtype=bool)
    first[1:] = key[order][1:] != key[order][:-1]
    return useful[order[first]].astype(np.int64)


def solve_assignment(candidates: CandidateEdges, bonus: npt.ArrayLike | None = None) -> Assignment:
    """Maximise the total score; each mentee gets at most one provider, places are respected.

    ``bonus`` (one value per edge) is added to the objective but not to the reported score:
    incremental re-solves use it to make pending proposals sticky.
    """
    adjusted = candidates.score.astype(np.float64)
    if bonus is not None:
        adjusted = adjusted + np.asarray(bonus, dtype=np.float64)
    edges = best_unique_edges(candidates, adjusted)
    places = Places.from_capacity(candidates.provider_capacity)
    place_of, edge_of = _expand_to_places(candidates, edges, places)
    if edge_of.size == 0:
        return Assignment(edges=np.zeros(0, dtype=np.int64), total_score=0.0)
    mentee_of = candidates.mentee_index[edge_of].astype(np.int64)
    chosen = _max_weight_matching(mentee_of, place_of, adjusted[edge_of], edge_of)
    chosen = np.sort(chosen)
    return Assignment(edges=chosen, total_score=float(candidates.score[chosen].sum()))


def _expand_to_places(
    candidates: CandidateEdges, edges: IntArray, places: Places
) -> tuple[IntArray, IntArray]:
    """One (place, edge) row per place an edge's mentee could take at its provider."""
    provider = candidates.provider_index[edges].astype(np.int64)
    whole_start = np.concatenate(([0], np.cumsum(places.whole)))
    repeats = places.whole[provider]
    first_row = np.cumsum(repeats) - repeats
    offset = np.arange(int(repeats.sum())) - np.repeat(first_row, repeats)
    whole_place = np.repeat(whole_start[provider], repeats) + offset
    whole_edge = np.repeat(edges, repeats)

    load = mentee_loads(candidates)[candidates.mentee_index[edges]]
    fits = places.fits_fraction(provider, load)
    # Fractional places are numbered after all the whole ones.
    fraction_id = whole_start[-1] + np.cumsum(places.fraction > 0) - 1
    fraction_place = fraction_id[provider[fits]]
    return (
        np.concatenate((whole_place, fraction_place)),
        np.concatenate((whole_edge, edges[fits])),
    )


def _max_weight_matching(
    mentee: IntArray, place: IntArray, weight: FloatArray, edge: IntArray
) -> IntArray:
    """Edges of a maximum-weight matching between mentees and places (all weights > 0)."""
    mentees, mentee_id = np.unique(mentee, return_inverse=True)
    places, place_id = np.unique(place, return_inverse=True)
    # LAPJV's running time follows the side it must match in full: put the smaller one first.
    if places.size <= mentees.size:
        rows, cols, n_rows, n_cols = place_id, mentee_id, places.size, mentees.size
    else:
        rows, cols, n_rows, n_cols = mentee_id, place_id, mentees.size, places.size
    matched_col = _full_matching_with_opt_out(rows, cols, weight, n_rows, n_cols)
    return _edges_of(rows, cols, edge, matched_col)


def _full_matching_with_opt_out(
    rows: IntArray, cols: IntArray, weight: FloatArray, n_rows: int, n_cols: int
) -> IntArray:
    """For each row the column it takes, or -1 when it is better left unmatched.

    Row ``i`` also gets a private column ``n_cols + i`` that stands for "unmatched". Costs are
    ``offset - weight`` with the offset above every weight, so costs stay positive (a stored
    zero would vanish from the sparse matrix) and every row pays the offset once: minimising
    cost is maximising the total weight of real pairs.
    """
    offset = float(weight.max()) + 1.0
    all_rows = np.concatenate((rows, np.arange(n_rows)))
    all_cols = np.concatenate((cols, n_cols + np.arange(n_rows)))
    costs = np.concatenate((offset - weight, np.full(n_rows, offset)))
    graph = sp.csr_matrix((costs, (all_rows, all_cols)), shape=(n_rows, n_cols + n_rows))
    row_ind, col_ind = min_weight_full_bipartite_matching(graph)
    matched = np.full(n_rows, -1, dtype=np.int64)
    real = col_ind < n_cols
    matched[row_ind[real]] = col_ind[real]
    return matched


def _edges_of(rows: IntArray, cols: IntArray, edge: IntArray, matched_col: IntArray) -> IntArray:
    """Look up the edge behind each matched (row, column) pair."""
    n_cols = int(cols.max()) + 1
    key = rows * n_cols + cols
    order = np.argsort(key, kind="stable")
    matched_rows = np.flatnonzero(matched_col >= 0)
    wanted = matched_rows * n_cols + matched_col[matched_rows]
    return edge[order[np.searchsorted(key[order], wanted)]]

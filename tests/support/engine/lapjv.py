"""An independent exact solver for the assignment tests: scipy's sparse LAPJV over places.

This was the engine's own solver before OR-tools' min-cost flow replaced it (docs/matching.md,
"Optimal mode"). It expands every provider into its places, so it checks the flow model's
two-node treatment of fractional places against the definition itself.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from services.matcher.engine.assignment import IntArray, Places, best_unique_edges, mentee_loads
from services.matcher.engine.contract import CandidateEdges


def lapjv_optimum(candidates: CandidateEdges) -> IntArray:
    """Edges of a maximum-score assignment, each mentee at most once, places respected."""
    edges = best_unique_edges(candidates, candidates.score.astype(np.float64))
    places = Places.from_capacity(candidates.provider_capacity)
    provider = candidates.provider_index[edges].astype(np.int64)
    whole_start = np.concatenate(([0], np.cumsum(places.whole)))
    repeats = places.whole[provider]
    offset = np.arange(int(repeats.sum())) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    light = places.fits_fraction(provider, mentee_loads(candidates)[candidates.mentee_index[edges]])
    fraction_id = whole_start[-1] + np.cumsum(places.fraction > 0) - 1
    place = np.concatenate(
        (np.repeat(whole_start[provider], repeats) + offset, fraction_id[provider[light]])
    )
    edge = np.concatenate((np.repeat(edges, repeats), edges[light]))
    if edge.size == 0:
        return np.zeros(0, dtype=np.int64)
    mentees, row = np.unique(candidates.mentee_index[edge], return_inverse=True)
    places_used, col = np.unique(place, return_inverse=True)
    n_rows, n_cols = mentees.size, places_used.size
    # Each mentee also gets a private "unmatched" column; costs stay positive.
    weight = candidates.score[edge]
    offset_cost = float(weight.max()) + 1.0
    graph = sp.csr_matrix(
        (
            np.concatenate((offset_cost - weight, np.full(n_rows, offset_cost))),
            (
                np.concatenate((row, np.arange(n_rows))),
                np.concatenate((col, n_cols + np.arange(n_rows))),
            ),
        ),
        shape=(n_rows, n_cols + n_rows),
    )
    row_ind, col_ind = min_weight_full_bipartite_matching(graph)
    real = col_ind < n_cols
    key = row.astype(np.int64) * n_cols + col
    wanted = row_ind[real].astype(np.int64) * n_cols + col_ind[real]
    order = np.argsort(key, kind="stable")
    return np.sort(edge[order[np.searchsorted(key[order], wanted)]])

"""The benchmark's peers run on the same candidate edges: `matching`, networkx and greedy."""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
import numpy.typing as npt
from matching.games import HospitalResident

from services.matcher.engine.assignment import Places, best_unique_edges, mentee_loads
from services.matcher.engine.contract import CandidateEdges
from services.matcher.engine.stable import Preferences

IntArray = npt.NDArray[np.int64]


def matching_package_stable(
    candidates: CandidateEdges,
    mentee_key: npt.NDArray[np.float64] | None = None,
    provider_key: npt.NDArray[np.float64] | None = None,
) -> IntArray:
    """Resident-optimal hospital/residents from the `matching` package (whole capacities).

    Each side ranks by its key per edge (lower first; default the score), as in ``Preferences``.
    """
    lists = matching_package_lists(candidates, mentee_key, provider_key)
    solved = HospitalResident.create_from_dictionaries(*lists).solve(optimal="resident")
    return matching_package_result(candidates, solved, mentee_key, provider_key)


def matching_package_lists(
    candidates: CandidateEdges,
    mentee_key: npt.NDArray[np.float64] | None = None,
    provider_key: npt.NDArray[np.float64] | None = None,
) -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, int]]:
    """The package's input: each side's preference lists and the providers' capacities."""
    prefs = Preferences.from_candidates(candidates, mentee_key, provider_key)
    mentee_prefs, provider_prefs = _preference_lists(candidates, prefs)
    capacity = {
        p: int(prefs.total[i]) for i, p in enumerate(candidates.provider_ids) if p in provider_prefs
    }
    return mentee_prefs, provider_prefs, capacity


def matching_package_result(
    candidates: CandidateEdges,
    solved: dict[Any, Any],
    mentee_key: npt.NDArray[np.float64] | None = None,
    provider_key: npt.NDArray[np.float64] | None = None,
) -> IntArray:
    """The package's matching as sorted candidate edge indices."""
    prefs = Preferences.from_candidates(candidates, mentee_key, provider_key)
    edge_of = {
        (
            candidates.provider_ids[candidates.provider_index[e]],
            candidates.mentee_ids[candidates.mentee_index[e]],
        ): int(e)
        for e in prefs.edges
    }
    return np.sort(
        np.array(
            [edge_of[(h.name, r.name)] for h, rs in solved.items() for r in rs], dtype=np.int64
        )
    )


def _preference_lists(
    candidates: CandidateEdges, prefs: Preferences
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    # Providers without a place are left out: the package rejects a capacity of 0.
    open_edges = prefs.total[candidates.provider_index[prefs.edges]] > 0
    mentee_prefs: dict[str, list[str]] = {}
    for e in prefs.edges[open_edges]:  # already in each mentee's preference order
        mentee = candidates.mentee_ids[candidates.mentee_index[e]]
        mentee_prefs.setdefault(mentee, []).append(
            candidates.provider_ids[candidates.provider_index[e]]
        )
    provider_prefs: dict[str, list[str]] = {}
    by_provider = np.argsort(prefs.provider_position)
    for e in prefs.edges[by_provider][open_edges[by_provider]]:
        provider = candidates.provider_ids[candidates.provider_index[e]]
        provider_prefs.setdefault(provider, []).append(
            candidates.mentee_ids[candidates.mentee_index[e]]
        )
    return mentee_prefs, provider_prefs


def greedy(candidates: CandidateEdges) -> IntArray:
    """Best-score-first: take each pair if both sides still have room (a common baseline)."""
    places = Places.from_capacity(candidates.provider_capacity)
    whole_left = places.whole.copy()
    fraction_left = places.fraction > 0
    load = mentee_loads(candidates)
    taken = np.zeros(len(candidates.mentee_ids), dtype=bool)
    chosen = []
    edges = best_unique_edges(candidates, candidates.score)
    for e in edges[np.argsort(-candidates.score[edges], kind="stable")].tolist():
        m, p = int(candidates.mentee_index[e]), int(candidates.provider_index[e])
        if taken[m]:
            continue
        if fraction_left[p] and load[m] <= places.fraction[p] + 1e-9:
            fraction_left[p] = False
        elif whole_left[p] > 0:
            whole_left[p] -= 1
        else:
            continue
        taken[m] = True
        chosen.append(e)
    return np.sort(np.array(chosen, dtype=np.int64))


def networkx_matching(candidates: CandidateEdges) -> IntArray:
    """networkx max_weight_matching with each provider expanded into one copy per place."""
    places = Places.from_capacity(candidates.provider_capacity)
    load = mentee_loads(candidates)
    graph = nx.Graph()
    for e in best_unique_edges(candidates, candidates.score).tolist():
        m, p = int(candidates.mentee_index[e]), int(candidates.provider_index[e])
        for copy in range(int(places.whole[p])):
            graph.add_edge(("m", m), ("p", p, copy), weight=float(candidates.score[e]), edge=e)
        if places.fraction[p] > 0 and load[m] <= places.fraction[p] + 1e-9:
            graph.add_edge(("m", m), ("p", p, "f"), weight=float(candidates.score[e]), edge=e)
    matched = nx.max_weight_matching(graph)
    return np.sort(np.array([graph.edges[a, b]["edge"] for a, b in matched], dtype=np.int64))

"""Stable mode: mentee-proposing deferred acceptance with capacities (hospitals/residents).

Both sides rank the same pair score: a mentee prefers providers with higher scores, a provider
prefers mentees with higher scores; ties go to the lower index (the order of the candidate
edges' id tuples), so the result is deterministic. Only pairs with a positive score are
acceptable.

Capacity is the one the assignment uses (see ``assignment``): whole places plus an optional
fractional place for a light enough mentee. A provider's choice from a set of applicants is
greedy in its own preference order under two nested limits — at most ``whole`` mentees too
heavy for the fractional place, at most ``whole + 1`` (or ``whole``) in all — which is a
matroid, so the choice is substitutable and deferred acceptance still ends in the
mentee-optimal stable matching (Fleiner 2003). With whole capacities it is the textbook
algorithm.

The algorithm runs in rounds, vectorised with numpy: every free mentee proposes to the next
provider on its list, every provider keeps its best admissible applicants among those it held
and the new ones, and the rejected move on. Deferred acceptance's outcome does not depend on
the order of proposals, so rounds give the same matching as one-at-a-time proposing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.matcher.engine.assignment import (
    LOAD_TOLERANCE,
    Assignment,
    IntArray,
    Places,
    best_unique_edges,
    mentee_loads,
)
from services.matcher.engine.contract import CandidateEdges

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Preferences:
    """Acceptable edges ordered for each side, and each provider's limits."""

    edges: IntArray  # acceptable edges, in the mentees' preference order, grouped by mentee
    mentee_start: IntArray  # mentee j's list is edges[mentee_start[j]:mentee_start[j + 1]]
    provider_position: IntArray  # per acceptable edge: global rank in (provider, preference)
    provider_first_position: IntArray  # per provider: position of its first edge
    heavy: BoolArray  # per acceptable edge: the mentee does not fit the fractional place
    whole: IntArray  # per provider: cap on heavy mentees
    total: IntArray  # per provider: cap on all mentees

    @classmethod
    def from_candidates(cls, candidates: CandidateEdges) -> Preferences:
        score = candidates.score.astype(np.float64)
        useful = best_unique_edges(candidates, score)
        mentee = candidates.mentee_index[useful].astype(np.int64)
        provider = candidates.provider_index[useful].astype(np.int64)
        by_mentee = np.lexsort((provider, -score[useful], mentee))
        by_provider = np.lexsort((mentee, -score[useful], provider))
        position = np.empty(useful.size, dtype=np.int64)
        position[by_provider] = np.arange(useful.size)
        n_mentees, n_providers = len(candidates.mentee_ids), len(candidates.provider_ids)
        places = Places.from_capacity(candidates.provider_capacity)
        load = mentee_loads(candidates)[mentee]
        heavy = ~places.fits_fraction(provider, load)
        return cls(
            edges=useful[by_mentee],
            mentee_start=_starts(mentee[by_mentee], n_mentees),
            provider_position=position[by_mentee],
            provider_first_position=_starts(provider[by_provider], n_providers),
            heavy=heavy[by_mentee],
            whole=places.whole,
            total=places.whole + (places.fraction > LOAD_TOLERANCE),
        )

    def provider_of(self, candidates: CandidateEdges, slot: IntArray) -> IntArray:
        return candidates.provider_index[self.edges[slot]].astype(np.int64)


def _starts(sorted_groups: IntArray, n_groups: int) -> IntArray:
    """Start offsets of each group in an array sorted by group (length n_groups + 1)."""
    return np.searchsorted(sorted_groups, np.arange(n_groups + 1)).astype(np.int64)


def solve_stable(candidates: CandidateEdges) -> Assignment:
    """The mentee-optimal stable matching."""
    prefs = Preferences.from_candidates(candidates)
    slots = _deferred_acceptance(candidates, prefs)
    chosen = np.sort(prefs.edges[slots])
    return Assignment(edges=chosen, total_score=float(candidates.score[chosen].sum()))


def _deferred_acceptance(candidates: CandidateEdges, prefs: Preferences) -> IntArray:
    """Positions (into ``prefs.edges``) of the held proposals when nobody can propose again."""
    next_choice = prefs.mentee_start[:-1].copy()
    list_end = prefs.mentee_start[1:]
    held = np.zeros(0, dtype=np.int64)
    free = np.flatnonzero(next_choice < list_end)
    while free.size:
        applicants = np.concatenate((held, next_choice[free]))
        kept = _providers_choose(candidates, prefs, applicants)
        held = applicants[kept]
        rejected = applicants[~kept]
        rejected_mentees = candidates.mentee_index[prefs.edges[rejected]].astype(np.int64)
        next_choice[rejected_mentees] = rejected + 1
        free = rejected_mentees[next_choice[rejected_mentees] < list_end[rejected_mentees]]
    return held


def _providers_choose(
    candidates: CandidateEdges, prefs: Preferences, applicants: IntArray
) -> BoolArray:
    """Which applicants (positions into ``prefs.edges``) their providers keep."""
    order = np.argsort(prefs.provider_position[applicants], kind="stable")
    ranked = applicants[order]
    provider = prefs.provider_of(candidates, ranked)
    heavy = prefs.heavy[ranked]
    # Greedy under the nested limits: a heavy applicant beyond the provider's whole places
    # can never be kept; of the rest, the best ``total`` are.
    admissible = ~heavy | (_rank_within(provider, heavy) < prefs.whole[provider])
    keep_sorted = admissible & (_rank_within(provider, admissible) < prefs.total[provider])
    kept = np.empty(applicants.size, dtype=bool)
    kept[order] = keep_sorted
    return kept


def _rank_within(group: IntArray, flag: BoolArray) -> IntArray:
    """For each element, how many flagged elements come before it in its (contiguous) group."""
    counts: IntArray = np.cumsum(flag) - flag
    group_first = np.searchsorted(group, group)  # index of each group's first element
    return counts - counts[group_first]


def blocking_pairs(candidates: CandidateEdges, chosen: IntArray) -> IntArray:
    """Acceptable edges (indices into the candidates) that block the matching ``chosen``.

    Edge (mentee, provider) blocks when the mentee is unmatched or prefers the provider to its
    match, and the provider would keep the mentee if it applied alongside those it holds.
    """
    prefs = Preferences.from_candidates(candidates)
    slot_of_edge = np.full(candidates.edge_count, -1, dtype=np.int64)
    slot_of_edge[prefs.edges] = np.arange(prefs.edges.size)
    held = slot_of_edge[np.asarray(chosen, dtype=np.int64)]
    if np.any(held < 0):
        raise ValueError("the matching uses an edge that is not acceptable")
    mentee_wants = _mentee_prefers(candidates, prefs, held)
    provider_takes = _provider_would_keep(candidates, prefs, held)
    blocking = mentee_wants & provider_takes
    blocking[held] = False
    return np.sort(prefs.edges[blocking])


def _mentee_prefers(candidates: CandidateEdges, prefs: Preferences, held: IntArray) -> BoolArray:
    n_mentees = len(candidates.mentee_ids)
    current = prefs.mentee_start[1:].copy()  # unmatched: everything on the list is better
    current[candidates.mentee_index[prefs.edges[held]]] = held
    slot = np.arange(prefs.edges.size)
    mentee = np.repeat(np.arange(n_mentees), np.diff(prefs.mentee_start))
    return slot < current[mentee]


def _provider_would_keep(
    candidates: CandidateEdges, prefs: Preferences, held: IntArray
) -> BoolArray:
    """The held set is admissible, so the greedy keeps all of it that ranks above a newcomer."""
    held_position = np.sort(prefs.provider_position[held])
    heavy_position = np.sort(prefs.provider_position[held[prefs.heavy[held]]])
    provider = prefs.provider_of(candidates, np.arange(prefs.edges.size))
    first = prefs.provider_first_position[provider]
    position = prefs.provider_position
    above_all = np.searchsorted(held_position, position) - np.searchsorted(held_position, first)
    above_heavy = np.searchsorted(heavy_position, position) - np.searchsorted(heavy_position, first)
    fits_heavy = ~prefs.heavy | (above_heavy < prefs.whole[provider])
    return fits_heavy & (above_all < prefs.total[provider])

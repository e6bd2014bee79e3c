"""Stable mode with two-sided preferences: each side in its own order, over every admissible pair.

A mentee may rank mentors they have seen (best first) and exclude some (no edge at all); a
mentor may say whom they would rather help (sectors, regions, aspired roles: ``MentorPreferences``).
Each side then orders its acceptable pairs by its own statement first and the pair score second:

- a mentee: the mentors it ranked, in its order, then every other mentor by pair score;
- a mentor: mentees by how many of its stated lists they meet (most first), then by pair score.

Ties go to the lower index of the other side. Deferred acceptance (``stable.py``) runs on those
orders unchanged. Preferences are no longer one score, so the greedy shortcut of
``solve_stable_everywhere`` does not apply; stability over every admissible pair comes instead
from growing the known pairs until no unknown one can block (``solve_two_sided_everywhere``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from services.matcher.engine.assignment import (
    LOAD_TOLERANCE,
    Assignment,
    FloatArray,
    IntArray,
    Places,
)
from services.matcher.engine.contract import CandidateEdges, MatchingInput
from services.matcher.engine.scoring import (
    mentee_attributes,
    preference_lists,
    provider_from_mentor,
)
from services.matcher.engine.stable import (
    MorePairs,
    Preferences,
    _deferred_acceptance,
    _kth_best,
)
from shared.people import MAX_RANKED_MENTORS

# Keys are tier * _TIER - score: scores are below 2, so a tier always outranks any score, and
# both parts are exact in float64 (tiers are small integers, scores float32 values).
_TIER = 10.0
_UNRANKED = MAX_RANKED_MENTORS  # every ranked position is below it
_PREFERENCE_STEPS = 6  # the share of stated lists met is a multiple of 1/1, 1/2 or 1/3


@dataclass(frozen=True)
class StatedOrders:
    """Each side's statements, by candidate position, turned into sort keys for any pairs."""

    n_providers: int
    ranked: IntArray  # sorted keys mentee * n_providers + provider of every ranked pair
    position: FloatArray  # the mentee's rank of each of those pairs, from 0
    mentee_kind: IntArray  # per mentee: its row of ``tier`` (mentees alike to mentors share one)
    tier: npt.NDArray[np.int8]  # kinds x providers: lists met, in sixths (0 = none)

    @classmethod
    def of(cls, data: MatchingInput, candidates: CandidateEdges) -> StatedOrders:
        n_providers = len(candidates.provider_ids)
        provider = {p: j for j, p in enumerate(candidates.provider_ids)}
        mentees = {m.id: m for m in data.mentees}
        mentors = {m.id: m for m in data.mentors}
        ordered = [mentees[m] for m in candidates.mentee_ids]
        rank = {
            i * n_providers + provider[p]: r
            for i, m in enumerate(ordered)
            for r, p in enumerate(m.ranked_mentors)
            if p in provider
        }
        ranked = np.array(sorted(rank), dtype=np.int64)
        # Mentees differ to mentors only by sector, region and aspired role: a few dozen kinds.
        kinds, mentee_kind = np.unique(
            mentee_attributes(ordered).reshape(len(ordered), -1), axis=0, return_inverse=True
        )
        lists = preference_lists(
            [provider_from_mentor(mentors[p]) for p in candidates.provider_ids]
        )
        met = kinds.astype(np.float64) @ lists.astype(np.float64)
        return cls(
            n_providers=n_providers,
            ranked=ranked,
            position=np.array([rank[k] for k in ranked.tolist()], dtype=np.float64),
            mentee_kind=mentee_kind.reshape(-1).astype(np.int64),
            tier=np.rint(met * _PREFERENCE_STEPS).astype(np.int8),
        )

    @property
    def any(self) -> bool:
        return bool(self.ranked.size) or bool(self.tier.any())

    def ranked_pairs(self) -> tuple[IntArray, IntArray]:
        mentee, provider = np.divmod(self.ranked, self.n_providers)
        return mentee, provider

    def keys(
        self, mentee: IntArray, provider: IntArray, score: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """(mentee's key, provider's key) per pair: lower is preferred."""
        rank = np.full(mentee.size, float(_UNRANKED))
        if self.ranked.size:
            key = mentee.astype(np.int64) * self.n_providers + provider
            at = np.minimum(np.searchsorted(self.ranked, key), self.ranked.size - 1)
            found = self.ranked[at] == key
            rank[found] = self.position[at[found]]
        tier = -self.tier[self.mentee_kind[mentee], provider].astype(np.float64)
        return rank * _TIER - score, tier * _TIER - score

    def edge_keys(self, candidates: CandidateEdges) -> tuple[FloatArray, FloatArray]:
        return self.keys(
            candidates.mentee_index.astype(np.int64),
            candidates.provider_index.astype(np.int64),
            candidates.score.astype(np.float64),
        )


def solve_two_sided(candidates: CandidateEdges, orders: StatedOrders) -> Assignment:
    """The mentee-optimal stable matching on the candidate edges, each side in its own order."""
    prefs = Preferences.from_candidates(candidates, *orders.edge_keys(candidates))
    chosen = np.sort(prefs.edges[_deferred_acceptance(candidates, prefs)])
    return Assignment(edges=chosen, total_score=float(candidates.score[chosen].sum()))


def solve_two_sided_everywhere(
    candidates: CandidateEdges, orders: StatedOrders, more_pairs: MorePairs, top_k: int | None
) -> tuple[Assignment, CandidateEdges]:
    """The stable matching over EVERY admissible pair, each side in its own order.

    ``candidates`` hold each mentee's ``top_k`` best providers by score (None: every pair).
    First every ranked pair joins them. Then an unknown pair of a mentee is unranked and scores
    at most its *frontier* (k-th best known score), so it cannot block a mentee matched to a
    ranked mentor or at or above its frontier. The others ask for every pair with a provider
    that would keep them now (room, or someone held they prefer less); deferred acceptance runs
    again on the grown edges, and the unsettled ask again, until no asking adds a pair. Returns
    the matching and the edges it used.
    """
    n_mentees, n_providers = len(candidates.mentee_ids), len(candidates.provider_ids)
    frontier = np.full(n_mentees, -np.inf) if top_k is None else _kth_best(candidates, top_k)
    candidates = _with_ranked_pairs(candidates, orders, more_pairs)
    while True:
        mentee_key, provider_key = orders.edge_keys(candidates)
        prefs = Preferences.from_candidates(candidates, mentee_key, provider_key)
        held = prefs.edges[_deferred_acceptance(candidates, prefs)]
        asked = _not_settled(candidates, held, mentee_key, frontier)
        new = np.zeros(0, dtype=bool)
        if asked.size:
            mentee, provider, score = more_pairs(asked, np.ones(n_providers, dtype=bool))
            new = _unknown(candidates, mentee, provider) & (score > 0)
            new &= _would_keep(candidates, held, provider_key, orders, mentee, provider, score)
        if not new.any():
            chosen = np.sort(held)
            return Assignment(chosen, float(candidates.score[chosen].sum())), candidates
        # A mentee is asked again while it is not settled: a provider that refused it may keep
        # it after the next run of deferred acceptance has moved others (asking each mentee once
        # left blocking pairs: tests/unit/engine/test_stable.py, seed 79 of 21 x 71).
        candidates = _grown(candidates, mentee[new], provider[new], score[new])


def _not_settled(
    candidates: CandidateEdges, held: IntArray, mentee_key: FloatArray, frontier: FloatArray
) -> IntArray:
    """Mentees with unknown pairs that they might prefer to what they hold."""
    n_mentees = len(candidates.mentee_ids)
    settled = ~np.isfinite(frontier)
    mentee = candidates.mentee_index[held]
    ranked = mentee_key[held] < _UNRANKED * _TIER - 2.0
    settled[mentee] |= ranked | (candidates.score[held] >= frontier[mentee])
    return np.flatnonzero(~settled[:n_mentees])


def _would_keep(
    candidates: CandidateEdges,
    held: IntArray,
    provider_key: FloatArray,
    orders: StatedOrders,
    mentee: IntArray,
    provider: IntArray,
    score: FloatArray,
) -> np.ndarray:
    """Whether each pair's provider has a place free or holds someone it likes less."""
    n_providers = len(candidates.provider_ids)
    holder = candidates.provider_index[held]
    count = np.bincount(holder, minlength=n_providers)
    places = Places.from_capacity(candidates.provider_capacity)
    total = places.whole + (places.fraction > LOAD_TOLERANCE)
    # Each provider's least preferred held mentee: the largest (key, mentee index), its order.
    held_mentee = candidates.mentee_index[held].astype(np.int64)
    order = np.lexsort((held_mentee, provider_key[held], holder))
    last = np.ones(order.size, dtype=bool)
    last[:-1] = holder[order][1:] != holder[order][:-1]
    worst_key = np.full(n_providers, -np.inf)
    worst_mentee = np.full(n_providers, -1, dtype=np.int64)
    worst_key[holder[order][last]] = provider_key[held][order][last]
    worst_mentee[holder[order][last]] = held_mentee[order][last]
    _, theirs = orders.keys(mentee, provider, score)
    prefers = (theirs < worst_key[provider]) | (
        (theirs == worst_key[provider]) & (mentee < worst_mentee[provider])
    )
    kept: np.ndarray = (count[provider] < total[provider]) | prefers
    return kept


def _with_ranked_pairs(
    candidates: CandidateEdges, orders: StatedOrders, more_pairs: MorePairs
) -> CandidateEdges:
    """The candidates plus every admissible pair a mentee ranked."""
    if not orders.ranked.size:
        return candidates
    ranked_mentee, _ = orders.ranked_pairs()
    asked = np.unique(ranked_mentee)
    mentee, provider, score = more_pairs(asked, np.ones(len(candidates.provider_ids), bool))
    pick = np.isin(mentee.astype(np.int64) * orders.n_providers + provider, orders.ranked)
    pick &= _unknown(candidates, mentee, provider) & (score > 0)
    return _grown(candidates, mentee[pick], provider[pick], score[pick])


def _unknown(candidates: CandidateEdges, mentee: IntArray, provider: IntArray) -> np.ndarray:
    n_providers = len(candidates.provider_ids)
    known = candidates.mentee_index.astype(np.int64) * n_providers + candidates.provider_index
    unknown: np.ndarray = ~np.isin(mentee.astype(np.int64) * n_providers + provider, known)
    return unknown


def _grown(
    candidates: CandidateEdges, mentee: IntArray, provider: IntArray, score: FloatArray
) -> CandidateEdges:
    return replace(
        candidates,
        mentee_index=np.concatenate((candidates.mentee_index, mentee.astype(np.int32))),
        provider_index=np.concatenate((candidates.provider_index, provider.astype(np.int32))),
        score=np.concatenate((candidates.score, score.astype(np.float64))),
    )

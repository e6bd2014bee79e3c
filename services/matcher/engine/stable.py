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

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import cache

import numpy as np
import numpy.typing as npt
from threadpoolctl import ThreadpoolController

from services.matcher.engine.assignment import (
    LOAD_TOLERANCE,
    Assignment,
    FloatArray,
    IntArray,
    Places,
    best_unique_edges,
    mentee_loads,
)
from services.matcher.engine.contract import CandidateEdges
from services.matcher.engine.scoring import BlockBuffers, ScoreTables

BoolArray = npt.NDArray[np.bool_]
# float32 scores from differently shaped BLAS products agree to this (docs/matching.md).
RESCORE_TOLERANCE = 2e-6


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
    def from_candidates(
        cls,
        candidates: CandidateEdges,
        mentee_key: FloatArray | None = None,
        provider_key: FloatArray | None = None,
    ) -> Preferences:
        """Each side ranks by its key per edge, lower first (default: the higher score first).

        Ties go to the lower index of the other side, on both sides.
        """
        score = candidates.score.astype(np.float64)
        useful = best_unique_edges(candidates, score)
        mentee = candidates.mentee_index[useful].astype(np.int64)
        provider = candidates.provider_index[useful].astype(np.int64)
        own = -score if mentee_key is None else mentee_key
        theirs = -score if provider_key is None else provider_key
        by_mentee = np.lexsort((provider, own[useful], mentee))
        by_provider = np.lexsort((mentee, theirs[useful], provider))
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


def solve_stable(
    candidates: CandidateEdges,
    mentee_key: FloatArray | None = None,
    provider_key: FloatArray | None = None,
) -> Assignment:
    """The mentee-optimal stable matching (each side's order: see ``Preferences``)."""
    prefs = Preferences.from_candidates(candidates, mentee_key, provider_key)
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


def blocking_pairs(
    candidates: CandidateEdges,
    chosen: IntArray,
    mentee_key: FloatArray | None = None,
    provider_key: FloatArray | None = None,
) -> IntArray:
    """Acceptable edges (indices into the candidates) that block the matching ``chosen``.

    Edge (mentee, provider) blocks when the mentee is unmatched or prefers the provider to its
    match, and the provider would keep the mentee if it applied alongside those it holds.
    """
    prefs = Preferences.from_candidates(candidates, mentee_key, provider_key)
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


# --- stable over every admissible pair, not only the pruned candidates ---

Scores32 = npt.NDArray[np.float32]
# Some mentees' scores with some providers, a block at a time: (mentees, providers, block),
# block[i, j] the score of (mentees[i], providers[j]) when admissible, -inf when not. Every
# mentee asked about is in exactly one block (a block with no columns when no provider is).
ScoreBlock = tuple[IntArray, IntArray, Scores32]
MoreBlocks = Callable[[IntArray, BoolArray], Iterator[ScoreBlock]]
# The admissible pairs of some mentees with some providers: (mentee, provider, score) arrays.
MorePairs = Callable[[IntArray, BoolArray], tuple[IntArray, IntArray, FloatArray]]


def solve_stable_everywhere(
    candidates: CandidateEdges, more_blocks: MoreBlocks, top_k: int | None, batch: int = 512
) -> tuple[Assignment, CandidateEdges]:
    """The stable matching over EVERY admissible pair, when both sides rank by the pair score.

    Then preferences are globally ranked pairs, and the stable matching is the greedy one: take
    pairs best score first (ties: lower mentee, then lower provider index, which is both sides'
    tie order) while both sides have room (Roth and Sotomayor 1990; with fractional places the
    room is the nested limits of ``Preferences``, a matroid, and the argument is the same).

    ``candidates`` hold each mentee's ``top_k`` best providers (``top_k`` None: every admissible
    pair). So every pair of a mentee scoring above its k-th best known score is known: the
    greedy runs on the known pairs down to the highest such *frontier* among mentees still
    free. Those mentees (up to ``batch`` at a time, highest frontiers first) are then scored
    against every provider that still has room — a full provider stays full in the greedy, so
    no pair with it can matter again — and each keeps its k best new pairs at or below its
    frontier (the k-th of them its next frontier), picked in the dense block itself; the greedy
    goes on. It never revisits a decision, so the cost is one greedy pass plus scoring the
    mentees it reaches unmatched. Returns the matching and the edges it used (``candidates``
    plus the pairs it kept).
    """
    greedy = _Greedy(candidates)
    if top_k is None:  # every admissible pair is known: the greedy alone
        greedy.run_down_to(-np.inf)
        return greedy.result(), greedy.grown()
    frontier = _kth_best(candidates, top_k)
    known = _KnownPairs(candidates)
    while True:
        waiting = np.flatnonzero(greedy.free & np.isfinite(frontier))
        level = float(frontier[waiting].max()) if waiting.size else -np.inf
        greedy.run_down_to(level)
        if not waiting.size:
            return greedy.result(), greedy.grown()
        asked = waiting[np.argsort(-frontier[waiting], kind="stable")[:batch]]
        for mentees, providers, block in more_blocks(asked, greedy.room()):
            known.forget(mentees, providers, block)
            # The known set grows with every ask, so this ends.
            row, column, frontier[mentees] = _next_best(block, frontier[mentees], top_k)
            mentee, provider = mentees[row], providers[column]
            known.add(mentee, provider)
            greedy.add(mentee, provider, block[row, column].astype(np.float64))


def _kth_best(candidates: CandidateEdges, top_k: int, cells: int = 1 << 22) -> FloatArray:
    """Each mentee's k-th best known score; -inf with fewer than k (its list is complete).

    Top-k keeps the lower provider index on ties, so an unknown pair at exactly this score
    ranks after every known one: pairs strictly above it are all known, and those at it that
    are unknown come later in the greedy's order than the known ones.
    """
    n_mentees = len(candidates.mentee_ids)
    mentee = candidates.mentee_index.astype(np.int64)
    counts = np.bincount(mentee, minlength=n_mentees)
    kth = np.full(n_mentees, -np.inf)
    longest = int(counts.max()) if mentee.size else 0
    if longest < top_k:
        return kth
    # Each mentee's scores in a row of a table padded with -inf, and a partition per row finds
    # the k-th; the table is as wide as most lists (a few mentees, on many providers' lists,
    # have hundreds of pairs: theirs are partitioned one by one).
    order = np.argsort(mentee, kind="stable") if np.any(mentee[1:] < mentee[:-1]) else None
    row = mentee if order is None else mentee[order]
    score = candidates.score if order is None else candidates.score[order]
    first = np.concatenate(([0], np.cumsum(counts)))
    width = min(longest, max(4 * top_k, 64))
    column = np.arange(row.size) - first[row]
    cell = row * width + column  # its place in one table of every mentee
    fits = None if width == longest else column < width
    step = max(cells // width, 1)
    for start in range(0, n_mentees, step):
        stop = min(start + step, n_mentees)
        part = slice(first[start], first[stop])
        table = np.full((stop - start) * width, -np.inf)
        if fits is None:
            table[cell[part] - start * width] = score[part]
        else:
            inside = fits[part]
            table[cell[part][inside] - start * width] = score[part][inside]
        kth[start:stop] = np.partition(table.reshape(-1, width), width - top_k, axis=1)[
            :, width - top_k
        ]
    for m in np.flatnonzero(counts > width).tolist():  # after the tables: theirs were cut
        kth[m] = np.partition(score[first[m] : first[m + 1]], counts[m] - top_k)[counts[m] - top_k]
    kth[counts < top_k] = -np.inf
    return kth


def _next_best(
    block: Scores32, frontier: FloatArray, k: int
) -> tuple[IntArray, IntArray, FloatArray]:
    """Each row's k best pairs at or below its frontier (ties: the lower column), like top k.

    Returns their (row, column) in row-major order and each row's next frontier: the k-th
    best of them, -inf for a row with fewer than k (it has them all). Only pairs scoring above
    zero count. One partition per row finds the k-th best, so only pairs at or above it are
    sorted.
    """
    # Scored again in a block of another shape, a pair may come out an ulp or two (float32)
    # above the frontier it was below: keep it rather than lose it.
    ceiling = _float32_at_most(frontier + RESCORE_TOLERANCE)
    n_rows, n_columns = block.shape
    # Negated: the k-th best is then the k-th from the bottom. -inf fills most of a block, and
    # numpy's partition finds the k-th from the top among such repeats many times slower (45 ms
    # against 3 at 512 x 1,562, 80 % -inf). A pair above the ceiling becomes +inf here, as the
    # -inf ones are: last in every row. Pairs at or below zero need no pass of their own: they
    # rank after every positive one, and neither the frontier nor what is taken goes below zero.
    negated = np.negative(block)
    np.copyto(negated, np.float32(np.inf), where=negated < -ceiling[:, None])
    kth = np.full(n_rows, -np.inf, dtype=np.float32)  # fewer than k columns: all are kept
    if k <= n_columns:
        kth = -np.partition(negated, k - 1, axis=1)[:, k - 1]
        kth[~(kth > 0)] = -np.inf  # fewer than k positive pairs: the row has them all
    lowest = np.where(kth > 0, kth, np.finfo(np.float32).smallest_subnormal)
    taken = np.less_equal(negated, -lowest[:, None])
    row, column = np.divmod(np.flatnonzero(taken), max(n_columns, 1))
    # Only ties at the k-th best can make a row's list longer than k: only such rows are
    # ranked (score, then the lower column), the rest keep everything they took.
    keep = np.ones(row.size, dtype=bool)
    tied = np.flatnonzero((np.bincount(row, minlength=n_rows) > k)[row])
    if tied.size:
        r, c = row[tied], column[tied]
        order = np.lexsort((c, -block[r, c], r))
        rank = np.empty(order.size, dtype=np.int64)
        rank[order] = np.arange(order.size) - np.searchsorted(r[order], r[order])
        keep[tied] = rank < k
    return row[keep].astype(np.int64), column[keep].astype(np.int64), kth.astype(np.float64)


def _float32_at_most(value: FloatArray) -> Scores32:
    """The largest float32 at most each value: ``x32 <= it`` exactly when ``x32 <= value``."""
    rounded = value.astype(np.float32)
    above = rounded.astype(np.float64) > value
    rounded[above] = np.nextafter(rounded[above], np.float32(-np.inf))
    return rounded


class _KnownPairs:
    """The known pairs as sorted runs of keys (mentee x providers + provider).

    An ask looks up its mentees' known pairs by binary search instead of scanning every edge.
    """

    def __init__(self, candidates: CandidateEdges) -> None:
        self.width = max(len(candidates.provider_ids), 1)
        self.original = self._keys(
            candidates.mentee_index.astype(np.int64), candidates.provider_index.astype(np.int64)
        )
        self.added: list[IntArray] = []
        self.column = np.full(len(candidates.provider_ids), -1, dtype=np.int64)

    def _keys(self, mentee: IntArray, provider: IntArray) -> IntArray:
        keys: IntArray = mentee.astype(np.int64) * self.width + provider
        if keys.size > 1 and np.any(keys[1:] < keys[:-1]):
            keys = np.sort(keys)
        return keys

    def add(self, mentee: IntArray, provider: IntArray) -> None:
        self.added.append(self._keys(mentee, provider))
        if len(self.added) > 8:  # few runs to search, merged at a cost shared by many asks
            self.added = [np.sort(np.concatenate(self.added))]

    def forget(self, mentees: IntArray, providers: IntArray, block: Scores32) -> None:
        """Set the pairs in ``block`` that are known already to -inf: they are not new."""
        self.column[providers] = np.arange(providers.size)
        first = mentees.astype(np.int64) * self.width
        for keys in (self.original, *self.added):
            low = np.searchsorted(keys, first)
            counts = np.searchsorted(keys, first + self.width) - low
            row = np.repeat(np.arange(mentees.size), counts)
            at = np.arange(row.size) - np.repeat(np.cumsum(counts) - counts - low, counts)
            column = self.column[keys[at] - first[row]]
            mine = column >= 0
            block[row[mine], column[mine]] = -np.inf
        self.column[providers] = -1


Edges = tuple[IntArray, IntArray, IntArray, FloatArray]  # edge, mentee, provider, score


@dataclass
class _Run:
    """Undecided edges by score, descending: each ask's new pairs (a few thousand)."""

    edge: IntArray
    mentee: IntArray
    provider: IntArray
    negated_score: FloatArray
    start: int = 0  # edges before it are decided

    @classmethod
    def of(cls, edge: IntArray, mentee: IntArray, provider: IntArray, score: FloatArray) -> _Run:
        order = np.argsort(-score)
        return cls(edge[order], mentee[order], provider[order], -score[order])

    @property
    def done(self) -> bool:
        return self.start >= self.edge.size

    def take_above(self, level: float) -> Edges | None:
        """The undecided edges scoring above ``level``, in no particular order."""
        stop = int(np.searchsorted(self.negated_score, -level))
        if stop <= self.start:
            return None
        part = slice(self.start, stop)
        self.start = stop
        return (self.edge[part], self.mentee[part], self.provider[part], -self.negated_score[part])


class _BucketRun:
    """Undecided edges in buckets of descending score, unsorted within a bucket: the candidates.

    Deciding down to a level takes whole buckets above it and splits the one it falls in, so
    the candidates are never sorted whole (a sort of every candidate was a tenth of the step
    at M): the greedy sorts only what it takes that is still open. A bucket is a slice of equal
    width of the score range; the index is monotone in the score, so the buckets' ranges do not
    overlap, and each one's exact least and greatest score decide what is taken.
    """

    BUCKETS = 256

    def __init__(
        self, edge: IntArray, mentee: IntArray, provider: IntArray, score: FloatArray
    ) -> None:
        self.parts: list[Edges] = []
        self.low: list[float] = []
        self.high: list[float] = []
        if score.size == 0:
            return
        top, bottom = float(score.max()), float(score.min())
        width = (top - bottom) / self.BUCKETS or 1.0
        bucket = np.minimum((top - score) / width, self.BUCKETS - 1).astype(np.uint8)
        order = np.argsort(bucket, kind="stable")  # a radix sort on 8 bits
        counts = np.bincount(bucket, minlength=self.BUCKETS)
        edge, mentee, provider, score = edge[order], mentee[order], provider[order], score[order]
        filled = counts > 0
        ends = np.cumsum(counts)[filled]
        starts = ends - counts[filled]
        # Lowest scores first: taken from the end.
        self.low = np.minimum.reduceat(score, starts)[::-1].tolist()
        self.high = np.maximum.reduceat(score, starts)[::-1].tolist()
        self.parts = [
            (edge[a:b], mentee[a:b], provider[a:b], score[a:b])
            for a, b in zip(starts[::-1].tolist(), ends[::-1].tolist(), strict=True)
        ]

    @property
    def done(self) -> bool:
        return not self.parts

    def take_above(self, level: float) -> Edges | None:
        taken: list[Edges] = []
        while self.parts and self.low[-1] > level:  # a whole bucket above the level
            taken.append(self.parts.pop())
            self.low.pop()
            self.high.pop()
        if self.parts and self.high[-1] > level:  # the level falls in this bucket: split it
            edge, mentee, provider, score = self.parts[-1]
            above = score > level
            taken.append((edge[above], mentee[above], provider[above], score[above]))
            below = ~above
            self.parts[-1] = (edge[below], mentee[below], provider[below], score[below])
            self.high[-1] = float(score[below].max())
        if not taken:
            return None
        if len(taken) == 1:
            return taken[0]
        edge, mentee, provider, score = (np.concatenate(p) for p in zip(*taken, strict=True))
        return edge, mentee, provider, score


class _Greedy:
    """Best-score-first greedy over edges that may grow below the part already decided.

    The edges are kept as runs (the candidates in buckets of score, then each ask's new pairs
    sorted once), so deciding down to a level takes what scores above it from every run rather
    than scanning all that is left; only the pairs taken that are still open are put in the
    greedy's full order.
    """

    def __init__(self, candidates: CandidateEdges) -> None:
        self.candidates = candidates
        self.parts: list[tuple[IntArray, IntArray, FloatArray]] = []
        self.edge_count = candidates.edge_count
        places = Places.from_capacity(candidates.provider_capacity)
        self.whole_left = places.whole.copy()
        self.total_left = places.whole + (places.fraction > LOAD_TOLERANCE)
        self.fraction = places.fraction
        self.load = mentee_loads(candidates)
        self.free = np.ones(len(candidates.mentee_ids), dtype=bool)
        self.chosen: list[int] = []
        acceptable = np.flatnonzero(candidates.score > 0)
        self.runs: list[_Run | _BucketRun] = [
            _BucketRun(
                acceptable,
                candidates.mentee_index[acceptable].astype(np.int64),
                candidates.provider_index[acceptable].astype(np.int64),
                candidates.score[acceptable],
            )
        ]

    def run_down_to(self, level: float) -> None:
        """Decide every undecided pair scoring above ``level``, in the greedy's order."""
        now = [taken for run in self.runs if (taken := run.take_above(level)) is not None]
        self.runs = [run for run in self.runs if not run.done]
        if not now:
            return
        edges, mentee, provider, score = (np.concatenate(p) for p in zip(*now, strict=True))
        # Pairs of a mentee already matched or a provider already full are out for good.
        open_ = self.free[mentee] & (self.total_left[provider] > 0)
        edges, mentee, provider, score = (
            edges[open_],
            mentee[open_],
            provider[open_],
            score[open_],
        )
        # The same pair twice (possible in candidates): the lower edge first.
        order = np.lexsort((edges, provider, mentee, -score))
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
        first = self.edge_count
        self.edge_count += mentee.size
        self.parts.append((mentee.astype(np.int32), provider.astype(np.int32), score))
        self.runs.append(
            _Run.of(
                first + np.arange(mentee.size),
                mentee.astype(np.int64),
                provider.astype(np.int64),
                score,
            )
        )

    def grown(self) -> CandidateEdges:
        """The candidates and every pair added since, in the order they came."""
        c = self.candidates
        if not self.parts:
            return c
        mentee, provider, score = zip(*self.parts, strict=True)
        return replace(
            c,
            mentee_index=np.concatenate((c.mentee_index, *mentee)),
            provider_index=np.concatenate((c.provider_index, *provider)),
            score=np.concatenate((c.score, *score)),
        )

    def result(self) -> Assignment:
        chosen = np.sort(np.array(self.chosen, dtype=np.int64))
        return Assignment(edges=chosen, total_score=float(self.grown().score[chosen].sum()))


@cache
def _blas() -> ThreadpoolController:
    """The process's thread pools, found once: finding them reads every loaded library."""
    return ThreadpoolController()


def blocks_reaching(tables: ScoreTables, chunk_size: int) -> MoreBlocks:
    """``MoreBlocks`` from the scoring tables: the asked mentees' rows, ``chunk_size`` at a time."""
    floor = np.nextafter(np.float32(tables.floor), np.float32(np.inf))
    blas = _blas()

    def more_blocks(mentees: IntArray, providers: BoolArray) -> Iterator[ScoreBlock]:
        mentees = np.sort(mentees)
        columns = np.flatnonzero(providers)
        if columns.size == 0:  # nobody has room: no pair at all
            yield mentees, columns, np.zeros((mentees.size, 0), dtype=np.float32)
            return
        # Only the providers asked about are scored (late in the greedy most are full), and
        # only the asked mentees' tables are cut down to them.
        asked = tables.for_mentees(mentees).for_providers(columns)
        for start in range(0, mentees.size, chunk_size):
            rows = mentees[start : start + chunk_size]
            # An ask no larger than a chunk (the usual case) is one block: no copy of its tables.
            whole = rows.size == mentees.size
            some = asked if whole else asked.for_mentees(np.arange(start, start + rows.size))
            buffers = BlockBuffers(rows.size, columns.size)
            # One BLAS thread: a second one mostly spins on products this size, and that
            # costs CPU the rest of the machine could use (half the step's CPU time at M).
            with blas.limit(limits=1, user_api="blas"):
                block = some.score_block(0, rows.size, buffers)
                some.penalise(0, rows.size, block, buffers)  # no coverage: far below the floor
            np.putmask(block, block < floor, -np.inf)
            yield rows, columns, block

    return more_blocks


def pairs_reaching(tables: ScoreTables, chunk_size: int) -> MorePairs:
    """``MorePairs`` from the scoring tables: the admissible pairs of ``blocks_reaching``."""
    more_blocks = blocks_reaching(tables, chunk_size)

    def more_pairs(
        mentees: IntArray, providers: BoolArray
    ) -> tuple[IntArray, IntArray, FloatArray]:
        found = [(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))]
        for rows, columns, block in more_blocks(mentees, providers):
            r, p = np.nonzero(block > -np.inf)
            found.append((rows[r], columns[p], block[r, p].astype(np.float64)))
        m, p, s = (np.concatenate(parts) for parts in zip(*found, strict=True))
        return m, p, s

    return more_pairs

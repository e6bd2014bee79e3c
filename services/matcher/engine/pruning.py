"""Provider-side pruning: keep each provider's best mentees as well as each mentee's best.

Mentee-side top-k alone loses a few per cent of the optimum at scale: mentees outnumber places
and crowd onto the same popular mentors, so a less popular mentor's places are never offered
to anyone. Each provider's best ``top`` mentees close that gap (see docs/matching.md, "Pruning").

``ProviderBest`` is fed the same score blocks the candidate builder scores (mentee rows x
provider columns) and keeps a running top list per provider, so it needs no second pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from services.matcher.engine.contract import CandidateEdges

Float32Array = npt.NDArray[np.float32]
Int32Array = npt.NDArray[np.int32]
Admissible = Callable[[npt.NDArray[np.intp], npt.NDArray[np.intp]], npt.NDArray[np.bool_]]


ROW_GROUPS_PER_TOP = 4  # a dense block's bound comes from the maxima of 4 x top row groups


@dataclass
class ProviderBest:
    """Each provider's ``top`` best-scoring mentees seen so far (rows are mentee indices).

    The tie rule: a list holds the ``top`` best entries by score, and among equal scores the
    lower mentee index first, whatever the blocks, the workers and the order of merging. Blocks
    are offered in increasing row order, so an entry equal to a full list's lowest score (a
    lower row) never enters it.
    """

    n_providers: int
    top: int
    floor: float = 0.0  # scores at or below this are not edges
    # One int64 per entry that orders as the tie rule does (``_rank_keys``): a list is its
    # provider's top largest keys, and one array carries both the scores and the rows.
    keys: npt.NDArray[np.int64] = field(init=False)
    blocks: int = field(init=False, default=0)  # blocks offered so far
    _next_row: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        # Provider-major (providers x top): each provider's list is one contiguous row.
        self.keys = np.full((self.n_providers, self.top), _EMPTY, dtype=np.int64)

    @property
    def scores(self) -> Float32Array:
        """The lists' scores (providers x top; -inf in an empty slot)."""
        return _key_scores(self.keys)

    @property
    def rows(self) -> Int32Array:
        """The lists' mentee rows (providers x top; -1 in an empty slot)."""
        return _key_rows(self.keys)

    def add_block(
        self,
        first_row: int,
        block: Float32Array,
        admissible: Admissible | None = None,
        make_exact: Callable[[], None] | None = None,
    ) -> None:
        """Offer a block of scores for mentees ``first_row ..`` (shape mentees x providers).

        For a block whose pairs without coverage are not yet marked below the floor:
        ``admissible(mentee rows, provider columns)`` filters the few entries that pass a
        list's cut-off, and ``make_exact()`` marks them in the whole block (in place) before a
        block enters densely.
        """
        self._offered(first_row, block)
        passing, count = self._passing(block)
        if count == 0:
            return
        if count > block.size // 8:
            if make_exact is not None:
                make_exact()
            self._add_dense(first_row, block)
            return
        rows, cols = np.divmod(np.flatnonzero(passing), block.shape[1])
        if admissible is not None:
            keep = admissible(rows + first_row, cols)
            rows, cols = rows[keep], cols[keep]
        self._add_sparse(first_row + rows.astype(np.int32), cols, block[rows, cols])

    def add_passing(
        self,
        first_row: int,
        block: Float32Array,
        passing: tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], Float32Array],
        admissible: npt.NDArray[np.bool_],
        make_exact: Callable[[], None] | None = None,
    ) -> None:
        """``add_block`` when the caller has already gathered the block's entries above
        ``cutoffs()`` (rows, columns, scores in row-major order) and checked their coverage: the
        same lists, without a pass of its own over the block."""
        self._offered(first_row, block)
        rows, cols, scores = passing
        if rows.size == 0:
            return
        if rows.size > block.size // 8:
            if make_exact is not None:
                make_exact()
            self._add_dense(first_row, block)
            return
        self._add_sparse(
            first_row + rows[admissible].astype(np.int32), cols[admissible], scores[admissible]
        )

    def cutoffs(self) -> Float32Array:
        """Per provider, the score an entry must exceed to enter its list."""
        cutoff: Float32Array = np.maximum(_key_scores(self.keys.min(axis=1)), self.floor)
        return cutoff

    def _offered(self, first_row: int, block: Float32Array) -> None:
        if first_row < self._next_row:
            raise ValueError("blocks must be offered in increasing row order")
        self._next_row = first_row + block.shape[0]
        self.blocks += 1

    def _passing(self, block: Float32Array) -> tuple[npt.NDArray[np.bool_], int]:
        # Only entries above a provider's current cut-off can enter its list; after the first
        # blocks that is a small share, so those are gathered sparsely.
        passing = block > self.cutoffs()[None, :]
        return passing, int(np.count_nonzero(passing))

    def _add_dense(self, first_row: int, block: Float32Array) -> None:
        """Enter an exact block (pairs without coverage at or below the floor) that most of
        its entries pass: only those at or above a bound on each column's ``top``-th best."""
        n = block.shape[0]
        groups = ROW_GROUPS_PER_TOP * self.top
        passing = block > self.cutoffs()[None, :]
        if n >= 2 * groups:
            # Group g is rows g, g + G, g + 2G, ...: an element-wise maximum of contiguous
            # row slabs, one read of the block. The top-th best group maximum is reached by
            # at least top entries, so no entry below it belongs in the list.
            whole = groups * (n // groups)
            maxima = np.max(block[:whole].reshape(n // groups, groups, -1), axis=0)
            maxima = np.vstack((maxima, block[whole:])).T.copy()
            cut = maxima.shape[1] - self.top
            maxima.partition(cut, axis=1)
            np.logical_and(passing, block >= maxima[:, cut][None, :], out=passing)
        rows, cols = np.divmod(np.flatnonzero(passing), block.shape[1])
        self._add_sparse(first_row + rows.astype(np.int32), cols, block[rows, cols])

    def _add_sparse(
        self, rows: Int32Array, cols: npt.NDArray[np.intp], scores: Float32Array
    ) -> None:
        """Merge a few new entries into the lists of the providers they concern."""
        if rows.size == 0:
            return
        keys = _rank_keys(scores, rows)
        # Stable sorts of 16-bit keys are radix sorts: several times faster than of 64-bit ones.
        narrow = cols.astype(np.uint16) if self.n_providers <= 1 << 16 else cols
        order = np.argsort(narrow, kind="stable")
        keys, cols = keys[order], cols[order]
        counts = np.bincount(cols, minlength=self.n_providers)
        providers = np.flatnonzero(counts)
        count = counts[providers]
        start = np.cumsum(count) - count
        width = int(count.max())
        slot = np.arange(cols.size) - np.repeat(start, count)
        which = np.repeat(np.arange(providers.size), count)
        new_keys = np.full((providers.size, width), _EMPTY, dtype=np.int64)
        new_keys[which, slot] = keys
        if providers.size == self.n_providers:  # every list: no gather, no scatter
            self._merge(new_keys)
            return
        merged = ProviderBest(providers.size, self.top, self.floor)
        merged.keys = self.keys[providers]
        merged._merge(new_keys)
        self.keys[providers] = merged.keys

    def merge(self, other: ProviderBest) -> None:
        """Fold in another tracker's lists (e.g. from another worker thread)."""
        self._merge(other.keys)

    def _merge(self, keys: npt.NDArray[np.int64]) -> None:
        both = np.concatenate((self.keys, keys), axis=1)
        # A partition, not a sort: this runs once per block. Keys are distinct (a mentee is
        # in one block), so the top largest are one set, ties at the cut included.
        cut = both.shape[1] - self.top
        both.partition(cut, axis=1)
        self.keys = np.ascontiguousarray(both[:, cut:])

    def edges(self) -> tuple[Int32Array, Int32Array, npt.NDArray[np.float64]]:
        """(mentee row, provider column, score) of every kept entry above the floor."""
        scores, rows = self.scores, self.rows
        keep = (scores > self.floor) & np.isfinite(scores) & (rows >= 0)
        providers = np.broadcast_to(
            np.arange(self.n_providers, dtype=np.int32)[:, None], keep.shape
        )
        return rows[keep], providers[keep], scores[keep].astype(np.float64)


def _rank_keys(scores: Float32Array, rows: Int32Array) -> npt.NDArray[np.int64]:
    """Keys whose order is (score ascending, row descending): the larger key is the better
    entry. A float32's bits, negatives' magnitude bits flipped, order as the floats do."""
    bits = scores.view(np.int32).astype(np.int64)
    ordered = np.where(bits < 0, bits ^ 0x7FFFFFFF, bits)
    # Rows run from -1 (an empty slot) below 2**31: 2**32 - 2 - row lies in [0, 2**32).
    keys: npt.NDArray[np.int64] = (ordered << 32) | ((1 << 32) - 2 - rows.astype(np.int64))
    return keys


def _key_scores(keys: npt.NDArray[np.int64]) -> Float32Array:
    ordered = keys >> 32
    bits = np.where(ordered < 0, ordered ^ 0x7FFFFFFF, ordered).astype(np.int32)
    scores: Float32Array = bits.view(np.float32)
    return scores


def _key_rows(keys: npt.NDArray[np.int64]) -> Int32Array:
    rows: Int32Array = ((1 << 32) - 2 - (keys & 0xFFFFFFFF)).astype(np.int32)
    return rows


_EMPTY = int(_rank_keys(np.array([-np.inf], np.float32), np.array([-1], np.int32))[0])


def with_provider_best(candidates: CandidateEdges, best: ProviderBest) -> CandidateEdges:
    """The candidate edges plus the providers' best, each (mentee, provider) pair once."""
    rows, cols, scores = best.edges()
    mentee = np.concatenate((candidates.mentee_index, rows))
    provider = np.concatenate((candidates.provider_index, cols))
    score = np.concatenate((candidates.score, scores))
    key = mentee.astype(np.int64) * max(len(candidates.provider_ids), 1) + provider
    # np.unique(key, return_index=True), several times faster: a stable sort keeps each
    # pair's first occurrence first (the mentee side's), in the order of the keys.
    order = np.argsort(key, kind="stable")
    key = key[order]
    new_key = np.ones(key.size, dtype=bool)
    np.not_equal(key[1:], key[:-1], out=new_key[1:])
    first = order[new_key]
    return replace(
        candidates,
        mentee_index=mentee[first].astype(np.int32),
        provider_index=provider[first].astype(np.int32),
        score=score[first],
    )

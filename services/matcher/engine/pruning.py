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


@dataclass
class ProviderBest:
    """Each provider's ``top`` best-scoring mentees seen so far (rows are mentee indices)."""

    n_providers: int
    top: int
    floor: float = 0.0  # scores at or below this are not edges
    scores: Float32Array = field(init=False)
    rows: Int32Array = field(init=False)
    blocks: int = field(init=False, default=0)  # blocks offered so far

    def __post_init__(self) -> None:
        # Provider-major (providers x top): each provider's list is one contiguous row.
        self.scores = np.full((self.n_providers, self.top), -np.inf, dtype=np.float32)
        self.rows = np.full((self.n_providers, self.top), -1, dtype=np.int32)

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
        self.blocks += 1
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
            if rows.size == 0:
                return
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
        self.blocks += 1
        rows, cols, scores = passing
        if rows.size == 0:
            return
        if rows.size > block.size // 8:
            if make_exact is not None:
                make_exact()
            self._add_dense(first_row, block)
            return
        if not admissible.any():
            return
        self._add_sparse(
            first_row + rows[admissible].astype(np.int32), cols[admissible], scores[admissible]
        )

    def cutoffs(self) -> Float32Array:
        """Per provider, the score an entry must exceed to enter its list."""
        cutoff: Float32Array = np.maximum(self.scores.min(axis=1), self.floor)
        return cutoff

    def _passing(self, block: Float32Array) -> tuple[npt.NDArray[np.bool_], int]:
        # Only entries above a provider's current cut-off can enter its list; after the first
        # blocks that is a small share, so those are gathered sparsely.
        passing = block > self.cutoffs()[None, :]
        return passing, int(np.count_nonzero(passing))

    def _add_dense(self, first_row: int, block: Float32Array) -> None:
        by_provider = np.ascontiguousarray(block.T)
        n = by_provider.shape[1]
        if n > self.top:
            local = np.argpartition(by_provider, n - self.top, axis=1)[:, n - self.top :]
        else:
            local = np.broadcast_to(np.arange(n), by_provider.shape)
        scores = np.take_along_axis(by_provider, local, axis=1)
        self._merge(scores, (local + first_row).astype(np.int32))

    def _add_sparse(
        self, rows: Int32Array, cols: npt.NDArray[np.intp], scores: Float32Array
    ) -> None:
        """Merge a few new entries into the lists of the providers they concern."""
        # Stable sorts of 16-bit keys are radix sorts: several times faster than of 64-bit ones.
        narrow = cols.astype(np.uint16) if self.n_providers <= 1 << 16 else cols
        order = np.argsort(narrow, kind="stable")
        rows, cols, scores = rows[order], cols[order], scores[order]
        counts = np.bincount(cols, minlength=self.n_providers)
        providers = np.flatnonzero(counts)
        count = counts[providers]
        start = np.cumsum(count) - count
        width = int(count.max())
        slot = np.arange(cols.size) - np.repeat(start, count)
        which = np.repeat(np.arange(providers.size), count)
        new_scores = np.full((providers.size, width), -np.inf, dtype=np.float32)
        new_rows = np.full((providers.size, width), -1, dtype=np.int32)
        new_scores[which, slot] = scores
        new_rows[which, slot] = rows
        if providers.size == self.n_providers:  # every list: no gather, no scatter
            self._merge(new_scores, new_rows)
            return
        merged = ProviderBest(providers.size, self.top, self.floor)
        merged.scores, merged.rows = self.scores[providers], self.rows[providers]
        merged._merge(new_scores, new_rows)
        self.scores[providers], self.rows[providers] = merged.scores, merged.rows

    def merge(self, other: ProviderBest) -> None:
        """Fold in another tracker's lists (e.g. from another worker thread)."""
        self._merge(other.scores, other.rows)

    def _merge(self, scores: Float32Array, rows: Int32Array) -> None:
        both_scores = np.concatenate((self.scores, scores), axis=1)
        both_rows = np.concatenate((self.rows, rows), axis=1)
        # A partition, not a sort: this runs once per block. Ties at the cut are settled by
        # position, so the result is deterministic for a fixed order of blocks.
        width = both_scores.shape[1]
        order = np.argpartition(both_scores, width - self.top, axis=1)[:, width - self.top :]
        # take_along_axis twice, as one flat index used twice (it rebuilds its index each call).
        flat = order + (np.arange(order.shape[0]) * width)[:, None]
        self.scores = np.take(both_scores, flat)
        self.rows = np.take(both_rows, flat)

    def edges(self) -> tuple[Int32Array, Int32Array, npt.NDArray[np.float64]]:
        """(mentee row, provider column, score) of every kept entry above the floor."""
        keep = (self.scores > self.floor) & np.isfinite(self.scores) & (self.rows >= 0)
        providers = np.broadcast_to(
            np.arange(self.n_providers, dtype=np.int32)[:, None], keep.shape
        )
        return self.rows[keep], providers[keep], self.scores[keep].astype(np.float64)


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

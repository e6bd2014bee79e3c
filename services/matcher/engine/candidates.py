"""Candidate generation: the sparse, scored pairs the solvers work on.

Scoring every pair densely at 10,000 mentors x 50,000 mentees would need 2 GB per float32
matrix, so mentees are scored in blocks against all providers with the vectorised path and
only each mentee's best ``top_k`` admissible providers are kept. ``full=True`` keeps every
admissible pair instead, for small instances where the solvers check that pruning loses nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt

from services.matcher.engine.config import MatchingConfig
from services.matcher.engine.contract import CandidateEdges, MatchingInput, MenteeInput
from services.matcher.engine.pruning import ProviderBest, with_provider_best
from services.matcher.engine.scoring import (
    BLAS,
    GROUPS_PER_K,
    SAMPLE_STRIDE,
    BlockBuffers,
    PairScore,
    Provider,
    ScoreTables,
    ScoringContext,
    collector_paused,
    score_pair,
)
from shared.matching import Explanation, MatchKind
from shared.skills import DEFAULT_TAXONOMY, Taxonomy

_Edges = tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], npt.NDArray[np.float64]]
_EMPTY: _Edges = (np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.float64))


def build_candidates(
    data: MatchingInput,
    config: MatchingConfig | None = None,
    *,
    full: bool = False,
    context: ScoringContext | None = None,
) -> CandidateEdges:
    """Mentoring edges: each mentee's best ``config.top_k`` mentors (all of them if ``full``)."""
    return _build(data, config, MatchKind.MENTORING, full, context)


def build_placement_candidates(
    data: MatchingInput,
    config: MatchingConfig | None = None,
    *,
    full: bool = False,
    context: ScoringContext | None = None,
) -> CandidateEdges:
    """Secondment edges: placements for mentees open to secondment, always in another trust.

    ``mentee_ids`` lists every mentee (same order as ``data.mentees``, as for mentoring) so the
    two edge sets index mentees alike; mentees not open to secondment simply have no edges.
    """
    return _build(data, config, MatchKind.SECONDMENT, full, context)


def _build(
    data: MatchingInput,
    config: MatchingConfig | None,
    kind: MatchKind,
    full: bool,
    context: ScoringContext | None,
) -> CandidateEdges:
    config = config or MatchingConfig()
    with collector_paused():
        ctx = context or ScoringContext.build(data, config)
        return edges_from_tables(ScoreTables.build(ctx, kind), config, full=full)


def edges_from_tables(
    tables: ScoreTables, config: MatchingConfig, *, full: bool = False
) -> CandidateEdges:
    """The candidate edges of tables built elsewhere (``build_candidates`` builds them from the
    input; proposals on arrival from mentors prepared once, prepared.py)."""
    k = None if full else config.top_k
    provider_k = 0 if full else config.provider_top_k
    starts = list(range(0, tables.n_mentees, config.chunk_size)) if tables.n_providers else []
    found: list[_Edges] = [_EMPTY] * len(starts)
    provider_best = [
        ProviderBest(tables.n_providers, provider_k, tables.floor) for _ in range(config.workers)
    ]

    def run(worker: int) -> None:
        # Each worker owns its buffers and takes every n-th block; numpy and BLAS release the
        # GIL in the heavy calls, so blocks score in parallel.
        buffers = BlockBuffers(min(config.chunk_size, tables.n_mentees), tables.n_providers)
        for b in range(worker, len(starts), config.workers):
            start = starts[b]
            stop = min(start + config.chunk_size, tables.n_mentees)
            block = tables.score_block(start, stop, buffers)
            if full:  # most pairs are kept: marking the block beats checking them one by one
                tables.penalise(start, stop, block, buffers)
            rows, cols, scores = _keep_best(
                tables,
                start,
                block,
                k,
                buffers,
                provider_best[worker] if provider_k else None,
                lambda: tables.penalise(start, stop, block, buffers),  # noqa: B023
            )
            found[b] = (rows + np.int32(start), cols, scores)

    workers = min(config.workers, len(starts))
    if workers > 1:
        # One BLAS thread per worker: two workers each running a two-thread BLAS on two cores
        # oversubscribe them (measured: 30 % more CPU time, slower wall time).
        with BLAS.limit(limits=1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, range(workers)))
    elif starts:
        run(0)
    edges = CandidateEdges(
        provider_ids=tables.provider_ids,
        mentee_ids=tables.mentee_ids,
        provider_capacity=tables.capacity,
        mentee_index=_concat_int([f[0] for f in found]),
        provider_index=_concat_int([f[1] for f in found]),
        score=_concat_float([f[2] for f in found]),
    )
    if not provider_k:
        return edges
    # Workers took blocks round-robin; by the lists' tie rule (equal scores: the lower mentee)
    # the merged lists are the same whatever the workers and the order of merging.
    for other in provider_best[1:]:
        provider_best[0].merge(other)
    return with_provider_best(edges, provider_best[0])


def _keep_best(
    tables: ScoreTables,
    start: int,
    block: npt.NDArray[np.float32],
    k: int | None,
    buffers: BlockBuffers,
    tracker: ProviderBest | None = None,
    make_exact: Callable[[], None] | None = None,
) -> _Edges:
    """(row, column, score) of the admissible entries; per row only the k best if k is set.

    ``block`` holds exact scores except that pairs without coverage may not be marked yet:
    entries at or above a row's threshold are checked with ``tables.admissible``. Ties are
    broken by the lower column (provider) index, so the result is deterministic. With a
    ``tracker``, the block is offered to the providers' lists too (``make_exact`` as for
    ``ProviderBest.add_block``), from the same pass over it once the lists have cut-offs.
    """
    n = block.shape[0]
    floor = np.nextafter(np.float32(tables.floor), np.float32(np.inf))
    bounded = k is not None and block.shape[1] > SAMPLE_STRIDE * k
    if k is not None and bounded:
        threshold = np.maximum(_group_bound(block, k, buffers), floor)
    else:
        threshold = np.full(n, floor)
    if tracker is not None and tracker.blocks > 0:
        rows, cols = _both_sides(tables, start, block, threshold, buffers, tracker, make_exact)
    else:  # empty lists take most of a block: they see it whole (add_block), not gathered
        if tracker is not None:
            tracker.add_block(start, block, tables.admissible, make_exact)
        rows, cols = _admissible_at_least(tables, start, block, threshold, buffers)
    if k is not None and bounded:
        rows, cols = _with_short_rows(tables, start, block, k, threshold, (rows, cols))
    scores = block[rows, cols]
    if k is not None:
        # One stable sort by (row, score descending); scores are below 4, and equal scores keep
        # their column order from np.nonzero.
        order = np.argsort(rows * 4.0 - scores, kind="stable")
        rows, cols, scores = rows[order], cols[order], scores[order]
        counts = np.bincount(rows, minlength=n)
        first_of_row = np.cumsum(counts) - counts
        keep = np.arange(rows.shape[0]) - first_of_row[rows] < k
        rows, cols, scores = rows[keep], cols[keep], scores[keep]
    return rows.astype(np.int32), cols.astype(np.int32), scores.astype(np.float64)


def _both_sides(
    tables: ScoreTables,
    start: int,
    block: npt.NDArray[np.float32],
    threshold: npt.NDArray[np.float32],
    buffers: BlockBuffers,
    tracker: ProviderBest,
    make_exact: Callable[[], None] | None,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """The mentees' candidates (as ``_admissible_at_least``), and the providers' offered to
    ``tracker``: entries above either side's threshold, gathered and checked once."""
    n = block.shape[0]
    cutoff = tracker.cutoffs()
    above, passing = buffers.mask[:n], buffers.passing[:n]
    np.greater_equal(block, threshold[:, None], out=above)
    np.greater(block, cutoff[None, :], out=passing)
    np.logical_or(above, passing, out=above)
    rows, cols = np.divmod(np.flatnonzero(above), block.shape[1])
    scores = block[rows, cols]
    admissible = tables.admissible(rows + start, cols)
    enters = scores > cutoff[cols]
    offered = (rows[enters], cols[enters], scores[enters])
    tracker.add_passing(start, block, offered, admissible[enters], make_exact)
    mine = admissible & (scores >= threshold[rows])
    return rows[mine], cols[mine]


def _with_short_rows(
    tables: ScoreTables,
    start: int,
    block: npt.NDArray[np.float32],
    k: int,
    threshold: npt.NDArray[np.float32],
    found: tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]],
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """``found`` (the admissible entries at or above each row's group bound) made exact.

    A row's columns are split into groups; the k-th best group maximum is reached by at least
    k entries, so the row's k-th best score is at least that. The bound counts pairs without
    coverage too: it holds for admissible pairs only when at least k of the entries reaching it
    are admissible. Rows where that fails (their best scores include pairs without coverage)
    take the exact sampled bound of ``tables.exact_sample`` instead.
    """
    rows, cols = found
    floor = np.nextafter(np.float32(tables.floor), np.float32(np.inf))
    short = np.flatnonzero(np.bincount(rows, minlength=block.shape[0]) < k)
    short = short[threshold[short] > floor]  # at the floor, every admissible entry is there
    if short.size == 0:
        return rows, cols
    sample = tables.exact_sample(start + short, block[short][:, ::SAMPLE_STRIDE].copy())
    if sample.shape[1] >= k:
        sample.partition(sample.shape[1] - k, axis=1)
        exact = np.maximum(sample[:, sample.shape[1] - k], floor)
    else:
        exact = np.full(short.size, floor)
    redo = block[short] >= exact[:, None]
    # flatnonzero on the contiguous mask is several times faster than 2-D nonzero.
    more_rows, more_cols = np.divmod(np.flatnonzero(redo), block.shape[1])
    more_rows = short[more_rows]
    admissible = tables.admissible(more_rows + start, more_cols)
    kept = ~np.isin(rows, short)
    rows = np.concatenate((rows[kept], more_rows[admissible]))
    cols = np.concatenate((cols[kept], more_cols[admissible]))
    order = np.argsort(rows, kind="stable")  # row-major again; columns ascending in each row
    return rows[order], cols[order]


def _group_bound(
    block: npt.NDArray[np.float32], k: int, buffers: BlockBuffers
) -> npt.NDArray[np.float32]:
    """Per row, the k-th best of the maxima of ``GROUPS_PER_K * k`` column groups.

    Group r is columns r, r + m, r + 2m, ... (m groups), so the maxima are an element-wise
    maximum of contiguous slices: one read of the block. Columns past the last whole round
    are groups of one.
    """
    n, width = block.shape
    groups = min(GROUPS_PER_K * k, width)
    whole = groups * (width // groups)
    need = groups + width - whole
    if need <= buffers.group_max.shape[1]:
        maxima = buffers.group_max[:n, :need]
    else:  # a very large k
        maxima = np.empty((n, need), dtype=np.float32)
    np.max(block[:, :whole].reshape(n, width // groups, groups), axis=1, out=maxima[:, :groups])
    maxima[:, groups:] = block[:, whole:]
    cut = maxima.shape[1] - k
    maxima.partition(cut, axis=1)
    bound: npt.NDArray[np.float32] = maxima[:, cut].copy()
    return bound


def _admissible_at_least(
    tables: ScoreTables,
    start: int,
    block: npt.NDArray[np.float32],
    threshold: npt.NDArray[np.float32],
    buffers: BlockBuffers,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """(row, column) of the admissible entries at or above their row's threshold, row-major."""
    above = buffers.mask[: block.shape[0]]
    np.greater_equal(block, threshold[:, None], out=above)
    # flatnonzero on the contiguous mask is several times faster than 2-D nonzero.
    rows, cols = np.divmod(np.flatnonzero(above), block.shape[1])
    admissible = tables.admissible(rows + start, cols)
    return rows[admissible], cols[admissible]


def _concat_int(parts: list[npt.NDArray[np.int32]]) -> npt.NDArray[np.int32]:
    return np.concatenate(parts).astype(np.int32) if parts else np.zeros(0, dtype=np.int32)


def _concat_float(parts: list[npt.NDArray[np.float64]]) -> npt.NDArray[np.float64]:
    return np.concatenate(parts).astype(np.float64) if parts else np.zeros(0, dtype=np.float64)


class Explainer:
    """Explanations for the pairs a solver chose, scored per pair on demand (not for every edge)."""

    def __init__(self, context: ScoringContext) -> None:
        self.context = context
        self._mentors = {p.id: p for p in context.mentors}
        self._placements = {p.id: p for p in context.placements}
        self._mentees = {m.id: m for m in context.data.mentees}

    @classmethod
    def for_input(
        cls,
        data: MatchingInput,
        config: MatchingConfig | None = None,
        taxonomy: Taxonomy = DEFAULT_TAXONOMY,
    ) -> Explainer:
        return cls(ScoringContext.build(data, config or MatchingConfig(), taxonomy))

    def provider(self, kind: MatchKind, provider_id: str) -> Provider:
        table = self._mentors if kind is MatchKind.MENTORING else self._placements
        return table[provider_id]

    def mentee(self, mentee_id: str) -> MenteeInput:
        return self._mentees[mentee_id]

    def score(self, kind: MatchKind, provider_id: str, mentee_id: str) -> PairScore | None:
        return score_pair(self.provider(kind, provider_id), self.mentee(mentee_id), self.context)

    def explain(self, kind: MatchKind, provider_id: str, mentee_id: str) -> Explanation:
        scored = self.score(kind, provider_id, mentee_id)
        if scored is None:
            raise ValueError(f"{provider_id} and {mentee_id} are not an admissible {kind} pair")
        return scored.explanation

"""Candidate generation: the sparse, scored pairs the solvers work on.

Scoring every pair densely at 10,000 mentors x 50,000 mentees would need 2 GB per float32
matrix, so mentees are scored in blocks against all providers with the vectorised path and
only each mentee's best ``top_k`` admissible providers are kept. ``full=True`` keeps every
admissible pair instead, for small instances where the solvers check that pruning loses nothing.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from services.matcher.engine.config import MatchingConfig
from services.matcher.engine.contract import CandidateEdges, MatchingInput, MenteeInput
from services.matcher.engine.scoring import (
    PairScore,
    Provider,
    ScoreTables,
    ScoringContext,
    score_pair,
)
from shared.matching import Explanation, MatchKind
from shared.skills import DEFAULT_TAXONOMY, Taxonomy


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
    ctx = context or ScoringContext.build(data, config)
    tables = ScoreTables.build(ctx, kind)
    k = None if full else config.top_k
    mentee_parts: list[npt.NDArray[np.int32]] = []
    provider_parts: list[npt.NDArray[np.int32]] = []
    score_parts: list[npt.NDArray[np.float64]] = []
    if tables.n_providers:
        for start in range(0, tables.n_mentees, config.chunk_size):
            stop = min(start + config.chunk_size, tables.n_mentees)
            rows, cols, scores = _keep_best(tables.score_block(start, stop), k)
            mentee_parts.append(rows + np.int32(start))
            provider_parts.append(cols)
            score_parts.append(scores)
    return CandidateEdges(
        provider_ids=tables.provider_ids,
        mentee_ids=tables.mentee_ids,
        provider_capacity=tables.capacity,
        mentee_index=_concat_int(mentee_parts),
        provider_index=_concat_int(provider_parts),
        score=_concat_float(score_parts),
    )


def _keep_best(
    block: npt.NDArray[np.float32], k: int | None
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], npt.NDArray[np.float64]]:
    """(row, column, score) of the admissible entries; per row only the k best when k is set."""
    if k is not None and k < block.shape[1]:
        # argpartition finds each row's k largest in linear time; -inf ones are dropped below.
        cols = np.argpartition(block, block.shape[1] - k, axis=1)[:, -k:]
        rows = np.repeat(np.arange(block.shape[0], dtype=np.int32), k)
        cols = cols.ravel()
        scores = block[rows, cols]
        keep = np.isfinite(scores)
        return rows[keep], cols[keep].astype(np.int32), scores[keep].astype(np.float64)
    rows_found, cols_found = np.nonzero(np.isfinite(block))
    return (
        rows_found.astype(np.int32),
        cols_found.astype(np.int32),
        block[rows_found, cols_found].astype(np.float64),
    )


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

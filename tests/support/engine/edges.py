"""Hand-written candidate edges for the solver tests."""

from __future__ import annotations

import numpy as np

from services.matcher.engine.contract import CandidateEdges


def edges_of(
    pairs: list[tuple[int, int, float]],
    capacity: list[float],
    loads: list[float] | None = None,
) -> CandidateEdges:
    """Edges from (mentee index, provider index, score) triples; provider i is "p{i}"."""
    n_mentees = max(m for m, _, _ in pairs) + 1 if loads is None else len(loads)
    return CandidateEdges(
        provider_ids=tuple(f"p{i}" for i in range(len(capacity))),
        mentee_ids=tuple(f"m{j}" for j in range(n_mentees)),
        provider_capacity=np.asarray(capacity, dtype=np.float64),
        mentee_index=np.array([m for m, _, _ in pairs], dtype=np.int32),
        provider_index=np.array([p for _, p, _ in pairs], dtype=np.int32),
        score=np.array([s for _, _, s in pairs], dtype=np.float64),
        mentee_load=None if loads is None else np.asarray(loads, dtype=np.float64),
    )

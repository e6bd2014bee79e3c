"""Synthetic instances for the matching benchmark and the solvers' randomised tests."""

from __future__ import annotations

import numpy as np

from services.matcher.engine.contract import CandidateEdges


def random_candidate_edges(
    rng: np.random.Generator,
    n_providers: int,
    n_mentees: int,
    per_mentee: int,
    *,
    capacities: tuple[float, ...] = (1.0, 2.0, 3.0),
    part_time_share: float = 0.0,
    part_time_load: float = 0.5,
    score_levels: int = 0,
) -> CandidateEdges:
    """Random sparse scored pairs: each mentee gets up to ``per_mentee`` distinct providers.

    ``score_levels`` > 0 rounds scores onto that many levels, to exercise ties.
    """
    per_mentee = min(per_mentee, n_providers)
    mentee = np.repeat(np.arange(n_mentees), per_mentee)
    provider = np.concatenate(
        [rng.choice(n_providers, per_mentee, replace=False) for _ in range(n_mentees)]
    ) if n_mentees else np.zeros(0, dtype=np.int64)
    score = rng.random(mentee.size)
    if score_levels:
        score = np.ceil(score * score_levels) / score_levels
    load = np.where(rng.random(n_mentees) < part_time_share, part_time_load, 1.0)
    return CandidateEdges(
        provider_ids=tuple(f"p{i}" for i in range(n_providers)),
        mentee_ids=tuple(f"m{j}" for j in range(n_mentees)),
        provider_capacity=rng.choice(np.asarray(capacities, dtype=np.float64), n_providers),
        mentee_index=mentee.astype(np.int32),
        provider_index=provider.astype(np.int32),
        score=score,
        mentee_load=load if part_time_share > 0 else None,
    )

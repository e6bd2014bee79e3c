"""Stability checked by brute force: the engine's stable proposals against every admissible pair."""

from __future__ import annotations

import numpy as np

from services.matcher.engine import build_engine
from services.matcher.engine.candidates import build_candidates
from services.matcher.engine.config import MatchingConfig
from services.matcher.engine.contract import MatchingInput
from services.matcher.engine.optimal import with_mentee_loads
from services.matcher.engine.stable import blocking_pairs
from services.matcher.engine.two_sided import StatedOrders
from shared.matching import MatchKind


def blocking_pairs_everywhere(data: MatchingInput, config: MatchingConfig) -> int:
    """Blocking pairs of the engine's stable mentoring proposals among ALL admissible pairs,
    each side in its own order (the pair score where nobody stated preferences)."""
    proposals = build_engine(config).propose(data).proposals
    every_pair = with_mentee_loads(build_candidates(data, config, full=True), data, config)
    edge_of = {
        (every_pair.provider_ids[p], every_pair.mentee_ids[m]): e
        for e, (m, p) in enumerate(
            zip(every_pair.mentee_index.tolist(), every_pair.provider_index.tolist(), strict=True)
        )
    }
    chosen = np.array(
        [edge_of[(p.provider_id, p.mentee_id)] for p in proposals if p.kind == MatchKind.MENTORING],
        dtype=np.int64,
    )
    keys = StatedOrders.of(data, every_pair).edge_keys(every_pair)
    return int(blocking_pairs(every_pair, chosen, *keys).size)

"""Reliability branching in the exchange search: it chooses where to branch, not the optimum.

Random trust networks large enough that the search branches on trust arcs, each solved by the
search and by an independent program (its own cycle enumeration) proved optimal by CP-SAT.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.matcher.engine import exchange_pricing
from services.matcher.engine.contract import CandidateEdges
from services.matcher.engine.exchanges import search_exchanges
from tests.support.engine.exchange_reference import cp_sat_exchanges


def network(seed: int) -> tuple[CandidateEdges, list[str], list[str], list[bool]]:
    """12 trusts, 60 mentees, 30 placements (one in five asks nothing back): big enough that
    the root is fractional and the search branches, small enough for CP-SAT in seconds."""
    rng = np.random.default_rng(seed)
    trusts = [f"T{i}" for i in range(12)]
    home = [str(rng.choice(trusts)) for _ in range(60)]
    host = [str(rng.choice(trusts)) for _ in range(30)]
    pairs = [(m, p) for m in range(60) for p in range(30) if rng.random() < 0.25]
    candidates = CandidateEdges(
        provider_ids=tuple(f"p{p}" for p in range(30)),
        mentee_ids=tuple(f"m{m}" for m in range(60)),
        provider_capacity=rng.integers(1, 3, 30).astype(np.float64),
        mentee_index=np.array([m for m, _ in pairs], dtype=np.int32),
        provider_index=np.array([p for _, p in pairs], dtype=np.int32),
        score=np.round(rng.random(len(pairs)), 3) + 0.001,
    )
    return candidates, home, host, [bool(rng.random() < 0.2) for _ in range(30)]


def strong_branchings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the search's choices of a trust arc to branch on (the wrapper changes nothing)."""
    calls: list[int] = []
    original = exchange_pricing.BranchAndPrice._arc_to_branch

    def counted(self: exchange_pricing.BranchAndPrice, flow: np.ndarray) -> int:
        calls.append(1)
        return original(self, flow)

    monkeypatch.setattr(exchange_pricing.BranchAndPrice, "_arc_to_branch", counted)
    return calls


@settings(max_examples=8)
@given(seed=st.integers(0, 2**31 - 1))
def test_reliability_branching_keeps_the_optimum(seed: int) -> None:
    candidates, home, host, free = network(seed)
    search = search_exchanges(candidates, home, host, asks_nothing_back=free)
    reference = cp_sat_exchanges(candidates, home, host, free, seconds=60.0)
    assert reference.proven
    assert search.optimal
    assert search.total_score == pytest.approx(reference.total, abs=1e-6)
    assert search.total_score == pytest.approx(sum(x.total_score for x in search.exchanges))


def test_reliability_branching_runs_and_proves_the_optimum(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = strong_branchings(monkeypatch)
    proven = []
    for seed in (0, 2, 3):
        candidates, home, host, free = network(seed)
        search = search_exchanges(candidates, home, host, asks_nothing_back=free)
        reference = cp_sat_exchanges(candidates, home, host, free, seconds=60.0)
        assert search.optimal
        assert reference.proven
        assert search.total_score == pytest.approx(reference.total, abs=1e-6)
        proven.append(search.nodes)
    assert calls, f"no arc branching in {proven} nodes: the test no longer exercises it"

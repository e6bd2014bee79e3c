"""Small trusts' staff matched at a share of LARGE trusts' rate (issue 17), not of the overall
rate: the target as an exact constrained optimum (against an independent integer program), and
the engine's default meeting the 0.9 bar on the demo network."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from bench.small_trusts import BAR, demo_inputs, small_and_large
from services.matcher.engine.assignment import solve_assignment
from services.matcher.engine.config import FairnessGroup, FairnessOptions
from services.matcher.engine.contract import CandidateEdges
from services.matcher.engine.targets import Group, solve_with_targets
from tests.support.engine.instances import random_candidate_edges


def milp_optimum(candidates: CandidateEdges, counted: np.ndarray, group: Group) -> float | None:
    """The best total score with k_g / n_g >= share * (k - k_g) / (n - n_g), by HiGHS's MILP."""
    n, edges = len(candidates.mentee_ids), candidates.edge_count
    column = np.arange(edges)
    members = group.members & counted
    others = counted & ~group.members
    coefficient = (
        members[candidates.mentee_index] * others.sum()
        - group.share * members.sum() * others[candidates.mentee_index]
    )
    rows = [
        sp.csr_matrix((np.ones(edges), (candidates.mentee_index, column)), shape=(n, edges)),
        sp.csr_matrix(
            (np.ones(edges), (candidates.provider_index, column)),
            shape=(len(candidates.provider_ids), edges),
        ),
        sp.csr_matrix(coefficient[None, :].astype(float)),
    ]
    found = milp(
        -candidates.score,
        constraints=LinearConstraint(
            sp.vstack(rows),
            np.concatenate([np.full(n + len(candidates.provider_ids), -np.inf), [0.0]]),
            np.concatenate([np.ones(n), np.floor(candidates.provider_capacity), [np.inf]]),
        ),
        integrality=np.ones(edges),
        bounds=Bounds(0, 1),
    )
    return None if found.status == 2 else float(-found.fun)


@pytest.mark.parametrize("seed", range(25))
def test_a_target_against_the_others_rate_is_the_constrained_optimum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    candidates = random_candidate_edges(
        rng, int(rng.integers(3, 9)), int(rng.integers(10, 40)), int(rng.integers(1, 5))
    )
    n = len(candidates.mentee_ids)
    counted = rng.random(n) < 0.9
    share = float(rng.choice([0.8, 0.9, 1.0]))
    group = Group("small_trust", rng.random(n) < 0.5, share, against_others=True)
    chosen, outcome = solve_with_targets(
        candidates, counted, [group], lambda bonus: solve_assignment(candidates, bonus)
    )
    [reported] = outcome.groups
    assert reported.reference == "others"
    optimum = milp_optimum(candidates, counted, group)
    if optimum is None:
        assert not reported.met
        return
    assert reported.met
    matched = np.zeros(n, dtype=bool)
    matched[candidates.mentee_index[chosen.edges]] = True
    small, large = group.members & counted, counted & ~group.members
    if small.any() and large.any() and matched[large].any():
        ratio = matched[small].mean() / matched[large].mean()
        assert ratio >= share - 1e-9
        assert reported.rate_to_reference == pytest.approx(ratio)
    assert chosen.total_score <= optimum + 1e-6
    assert optimum <= chosen.total_score + outcome.bound_gap + 1e-6


def test_only_small_trusts_are_measured_against_the_others() -> None:
    assert FairnessOptions.against_others(FairnessGroup.SMALL_TRUST)
    assert not FairnessOptions.against_others(FairnessGroup.PART_TIME)
    assert not FairnessOptions.against_others(FairnessGroup.SOCIAL_CARE)


@pytest.mark.parametrize("network", ["demo north", "demo central-south"])
def test_the_demo_networks_small_trusts_reach_the_bar_with_the_defaults(network: str) -> None:
    """Issue 17's bar, measured as bench/small_trusts.py does: before small trusts' target was
    relative to large trusts', the demo's north network reached only 0.82."""
    row = small_and_large(network, demo_inputs()[network], FairnessOptions().small_trust)
    assert row["small_to_large"] is not None
    assert row["small_to_large"] >= BAR, row
    assert row["meets_bar"]

"""Independent optimal solvers (OR-tools) that the engine's assignment is checked against.

They model fractional capacity the way docs/matching.md states it, without expanding places:
a provider with ``w`` whole places and a fractional place of size ``r`` can take at most
``w + 1`` mentees (``w`` when ``r`` is 0), of whom at most ``w`` have a load above ``r``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from ortools.graph.python import min_cost_flow
from ortools.linear_solver import pywraplp

from services.matcher.engine.assignment import LOAD_TOLERANCE, Places, mentee_loads
from services.matcher.engine.contract import CandidateEdges


def _limits(candidates: CandidateEdges) -> tuple[Places, npt.NDArray[np.bool_]]:
    """Places per provider, and for each edge whether its mentee needs a whole place."""
    places = Places.from_capacity(candidates.provider_capacity)
    provider = candidates.provider_index.astype(np.int64)
    load = mentee_loads(candidates)[candidates.mentee_index]
    needs_whole = ~(
        (places.fraction[provider] > 0) & (load <= places.fraction[provider] + LOAD_TOLERANCE)
    )
    return places, needs_whole


def lp_optimum(candidates: CandidateEdges) -> tuple[float, npt.NDArray[np.float64]]:
    """Optimal total score and edge values from GLOP's simplex (a vertex: 0/1 here)."""
    solver = pywraplp.Solver.CreateSolver("GLOP")
    places, needs_whole = _limits(candidates)
    x = [solver.NumVar(0.0, 1.0, f"x{e}") for e in range(candidates.edge_count)]
    by_mentee: dict[int, list[int]] = {}
    by_provider: dict[int, list[int]] = {}
    for e in range(candidates.edge_count):
        by_mentee.setdefault(int(candidates.mentee_index[e]), []).append(e)
        by_provider.setdefault(int(candidates.provider_index[e]), []).append(e)
    for edges in by_mentee.values():
        solver.Add(sum(x[e] for e in edges) <= 1)
    for p, edges in by_provider.items():
        total = int(places.whole[p]) + int(places.fraction[p] > 0)
        solver.Add(sum(x[e] for e in edges) <= total)
        solver.Add(sum(x[e] for e in edges if needs_whole[e]) <= int(places.whole[p]))
    solver.Maximize(sum(float(candidates.score[e]) * x[e] for e in range(candidates.edge_count)))
    if solver.Solve() != pywraplp.Solver.OPTIMAL:
        raise RuntimeError("GLOP did not reach an optimum")
    values = np.array([v.solution_value() for v in x])
    return float(solver.Objective().Value()), values


def flow_optimum(candidates: CandidateEdges, scale: float = 1e6) -> npt.NDArray[np.int64]:
    """Edges chosen by OR-tools min-cost flow on scores scaled to integers (fast, for scale).

    Nodes: source, mentees, per provider a "whole places only" node and a total node, sink;
    a source-to-sink bypass lets any mentee stay unmatched at no cost.
    """
    places, needs_whole = _limits(candidates)
    n_mentees, n_providers = len(candidates.mentee_ids), len(candidates.provider_ids)
    source, sink = 0, 1
    mentee_node = 2 + np.arange(n_mentees)
    whole_node = 2 + n_mentees + np.arange(n_providers)
    total_node = 2 + n_mentees + n_providers + np.arange(n_providers)
    mentee = candidates.mentee_index.astype(np.int64)
    provider = candidates.provider_index.astype(np.int64)
    edge_head = np.where(needs_whole, whole_node[provider], total_node[provider])
    tails = np.concatenate(
        [[source], np.full(n_mentees, source), mentee_node[mentee], whole_node, total_node]
    )
    heads = np.concatenate([[sink], mentee_node, edge_head, total_node, np.full(n_providers, sink)])
    caps = np.concatenate(
        [
            [n_mentees],
            np.ones(n_mentees),
            np.ones(mentee.size),
            places.whole,
            places.whole + (places.fraction > 0),
        ]
    )
    costs = np.concatenate(
        [[0], np.zeros(n_mentees), -np.round(candidates.score * scale), np.zeros(2 * n_providers)]
    )
    flow = min_cost_flow.SimpleMinCostFlow()
    arcs = flow.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int32),
        heads.astype(np.int32),
        caps.astype(np.int64),
        costs.astype(np.int64),
    )
    flow.set_nodes_supplies(np.array([source, sink]), np.array([n_mentees, -n_mentees]))
    if flow.solve() != flow.OPTIMAL:
        raise RuntimeError("OR-tools min-cost flow did not reach an optimum")
    edge_arcs = arcs[1 + n_mentees : 1 + n_mentees + mentee.size]
    return np.flatnonzero(flow.flows(edge_arcs) > 0).astype(np.int64)

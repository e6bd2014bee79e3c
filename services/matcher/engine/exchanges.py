"""Secondment exchanges: short cycles of trusts that swap staff with no net loss.

A candidate secondment (mentee of trust A, placement hosted by trust B) is an arc A -> B in a
directed graph of trusts (networkx). An exchange is a cycle of 2 or 3 trusts (A -> B -> A,
A -> B -> C -> A) with one secondment on each arc: every trust in it releases one person and
hosts one, like a kidney-exchange cycle. Several exchanges may share trusts.

We choose the exchanges that maximise the total score, each mentee in at most one, each
placement within its places. Limiting cycles to 3 trusts makes this NP-hard in general (as in
kidney exchange, Abraham, Blum and Sandholm 2007), so it is solved exactly as a small integer
program (scipy's HiGHS), in the cycle formulation at trust level:

    x[a] in {0, 1}  for each candidate secondment a,
    y[c] >= 0 int   for each 2- or 3-trust cycle c (how many times that exchange runs),
    for each trust arc (A, B):  sum of x over its secondments == sum of y over cycles using it,

so the chosen secondments always split into whole short cycles; hence no trust ever loses more
staff than it gains. The program is small: one binary per secondment candidate and one integer
per trust cycle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from services.matcher.engine.assignment import IntArray, Places, best_unique_edges
from services.matcher.engine.contract import CandidateEdges

TrustArc = tuple[str, str]


@dataclass(frozen=True)
class Exchange:
    """One exchange cycle: a secondment (candidate edge index) per trust arc, in cycle order."""

    id: str
    trusts: tuple[str, ...]
    edges: tuple[int, ...]
    total_score: float


@dataclass(frozen=True)
class ExchangeGraph:
    """Candidate secondments as arcs between trusts, and the short cycles among those trusts."""

    arcs: IntArray  # candidate edge indices that cross trusts and lie on a short cycle
    arc_trusts: tuple[TrustArc, ...]  # (releasing trust, hosting trust) per arc
    cycles: tuple[tuple[str, ...], ...]

    @classmethod
    def build(
        cls,
        candidates: CandidateEdges,
        mentee_trust: Sequence[str],
        provider_trust: Sequence[str],
        max_length: int = 3,
    ) -> ExchangeGraph:
        edges = best_unique_edges(candidates, candidates.score)
        pairs = [
            (mentee_trust[candidates.mentee_index[e]], provider_trust[candidates.provider_index[e]])
            for e in edges.tolist()
        ]
        crossing = [i for i, (home, host) in enumerate(pairs) if home != host]
        graph = nx.DiGraph([pairs[i] for i in crossing])
        cycles = tuple(sorted(_canonical(c) for c in nx.simple_cycles(graph, max_length)))
        on_cycle = {arc for cycle in cycles for arc in cycle_arcs(cycle)}
        kept = [i for i in crossing if pairs[i] in on_cycle]
        return cls(
            arcs=edges[kept].astype(np.int64),
            arc_trusts=tuple(pairs[i] for i in kept),
            cycles=cycles,
        )


def cycle_arcs(cycle: tuple[str, ...]) -> list[TrustArc]:
    return [(cycle[i], cycle[(i + 1) % len(cycle)]) for i in range(len(cycle))]


def _canonical(cycle: list[str]) -> tuple[str, ...]:
    """Rotate a cycle to start at its smallest trust, so each cycle has one spelling."""
    start = cycle.index(min(cycle))
    return tuple(cycle[start:] + cycle[:start])


def find_exchanges(
    candidates: CandidateEdges,
    mentee_trust: Sequence[str],
    provider_trust: Sequence[str],
    *,
    max_length: int = 3,
    time_limit_s: float = 10.0,
) -> list[Exchange]:
    """The best set of exchange cycles of 2..max_length trusts (see the module docstring)."""
    graph = ExchangeGraph.build(candidates, mentee_trust, provider_trust, max_length)
    if not graph.cycles:
        return []
    chosen_arcs, runs = _solve_cycle_program(candidates, graph, time_limit_s)
    return _split_into_exchanges(candidates, graph, chosen_arcs, runs)


def _solve_cycle_program(
    candidates: CandidateEdges, graph: ExchangeGraph, time_limit_s: float
) -> tuple[IntArray, IntArray]:
    """Chosen arc positions (into graph.arcs) and how often each cycle runs."""
    n_arcs, n_cycles = graph.arcs.size, len(graph.cycles)
    objective = np.concatenate((-candidates.score[graph.arcs], np.zeros(n_cycles)))
    constraints = [
        _flow_balance(graph),
        _at_most_once(candidates.mentee_index[graph.arcs], n_cycles, None),
        _at_most_once(
            candidates.provider_index[graph.arcs],
            n_cycles,
            Places.from_capacity(candidates.provider_capacity).whole,
        ),
    ]
    result = milp(
        objective,
        integrality=np.ones(n_arcs + n_cycles),
        bounds=Bounds(0, np.concatenate((np.ones(n_arcs), np.full(n_cycles, np.inf)))),
        constraints=constraints,
        options={"time_limit": time_limit_s},
    )
    if result.x is None:
        return np.zeros(0, dtype=np.int64), np.zeros(n_cycles, dtype=np.int64)
    values = np.round(result.x).astype(np.int64)
    return np.flatnonzero(values[:n_arcs]), values[n_arcs:]


def _flow_balance(graph: ExchangeGraph) -> LinearConstraint:
    """Per trust arc: secondments chosen on it == runs of the cycles through it."""
    arc_row = {arc: row for row, arc in enumerate(sorted(set(graph.arc_trusts)))}
    n_arcs = graph.arcs.size
    rows = [arc_row[arc] for arc in graph.arc_trusts]
    cols = list(range(n_arcs))
    values = [1.0] * n_arcs
    for c, cycle in enumerate(graph.cycles):
        for arc in cycle_arcs(cycle):
            rows.append(arc_row[arc])
            cols.append(n_arcs + c)
            values.append(-1.0)
    matrix = sp.csr_matrix((values, (rows, cols)), shape=(len(arc_row), n_arcs + len(graph.cycles)))
    return LinearConstraint(matrix, 0, 0)


def _at_most_once(
    owner: npt.NDArray[np.int32], n_cycles: int, limit_by_owner: IntArray | None
) -> LinearConstraint:
    """Each owner (mentee, or placement) used at most its limit (1 when no limits are given)."""
    owners, row = np.unique(owner, return_inverse=True)
    n_arcs = owner.size
    matrix = sp.csr_matrix(
        (np.ones(n_arcs), (row, np.arange(n_arcs))), shape=(owners.size, n_arcs + n_cycles)
    )
    upper = 1.0 if limit_by_owner is None else limit_by_owner[owners].astype(np.float64)
    return LinearConstraint(matrix, 0, upper)


def _split_into_exchanges(
    candidates: CandidateEdges, graph: ExchangeGraph, chosen: IntArray, runs: IntArray
) -> list[Exchange]:
    """Deal the chosen secondments out to cycle runs, best-scoring first, deterministically."""
    pools: dict[TrustArc, list[int]] = {}
    for position in sorted(chosen.tolist(), key=lambda i: -candidates.score[graph.arcs[i]]):
        pools.setdefault(graph.arc_trusts[position], []).append(int(graph.arcs[position]))
    exchanges = []
    for cycle, count in zip(graph.cycles, runs.tolist(), strict=True):
        for _ in range(count):
            edges = tuple(pools[arc].pop(0) for arc in cycle_arcs(cycle))
            exchanges.append(_exchange(candidates, cycle, edges))
    return exchanges


def _exchange(
    candidates: CandidateEdges, trusts: tuple[str, ...], edges: tuple[int, ...]
) -> Exchange:
    """An exchange whose id depends only on who goes where, so a re-solve keeps the same id."""
    members = sorted(
        f"{candidates.provider_ids[candidates.provider_index[e]]}:"
        f"{candidates.mentee_ids[candidates.mentee_index[e]]}"
        for e in edges
    )
    digest = hashlib.sha1("|".join(members).encode()).hexdigest()[:12]
    return Exchange(
        id=f"exchange-{digest}",
        trusts=trusts,
        edges=edges,
        total_score=float(candidates.score[list(edges)].sum()),
    )

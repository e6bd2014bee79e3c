"""Secondment exchanges and chains: short cycles of trusts that swap staff, solved exactly.

A candidate secondment (mentee of trust A, placement hosted by trust B) is an arc A -> B in a
directed graph of trusts. An *exchange* is a cycle of 2 or 3 trusts (A -> B -> A,
A -> B -> C -> A) with one secondment on each arc: every trust in it releases one person and
hosts one, like a kidney-exchange cycle. Several exchanges may share trusts.

A *chain* starts at a placement that asks nothing back (its trust hosts without sending):
A <- B <- C means B's mentee takes A's placement, and C's mentee takes one of B's, so B is
whole and C, the chain's end, has released one person, as a one-way secondment would. All
placements that ask nothing back are hosted by one virtual trust, ``ALTRUIST``, and every trust
may end a chain by a free arc ALTRUIST -> C, so a chain of k secondments is a cycle of k + 1
through ALTRUIST and the cycle model below serves both (Manlove and O'Malley 2014 treat
altruistic donor chains in the UK kidney scheme the same way).

We choose the exchanges and chains that maximise the total score, each mentee in at most one,
each placement within its places: NP-hard for cycles of at most 3 (Abraham, Blum and Sandholm
2007), solved exactly by integer programming in the cycle formulation (the NHS kidney-sharing
scheme's since 2008):

    x[a] in {0, 1}  for each candidate secondment a,
    y[c] >= 0 int   for each cycle c of 2 or 3 trusts (how many times that exchange runs),
    for each trust arc (A, B):  sum of x over its secondments == sum of y over cycles using it.

Its linear relaxation is tight on these instances (within 0.3 %), but the program is large (at
60 trusts about 45,000 cycles) and branch and bound on all of it is slow. So, exactly:

1. Solve the relaxation once (HiGHS interior point); its duals give every column a reduced
   cost r >= 0, and any integer solution is worth at most ``bound - sum of r over its columns``.
2. Take an incumbent z: the best of a greedy packing and the integer program restricted to
   the columns with r <= delta (small).
3. A solution better than z can only use columns with r < bound - z. Solve the integer program
   on exactly those columns: its optimum is the optimum (reduced-cost fixing). When delta
   already covered them, step 2's answer is the optimum and step 3 is skipped.

Every limit counts work (simplex/interior-point iterations, branch-and-bound nodes), not time,
so a run gives the same answer on a busy machine. If a limit is reached the search returns
the best set found with its bound, and logs both; it never returns nothing when the greedy
found something.
But a node limit does not bound the work of HiGHS' root node, where large pools (200
placements over 60 trusts) spend minutes: see docs/matching.md, "What the formulations allow".
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from services.matcher.engine.assignment import FloatArray, IntArray, Places, best_unique_edges
from services.matcher.engine.contract import CandidateEdges

log = logging.getLogger(__name__)

TrustArc = tuple[str, str]
# The virtual host of every placement that asks nothing back (no real trust code is empty).
ALTRUIST = ""
# Columns whose reduced cost is within this of the bound gap are kept (float safety).
_EPS = 1e-7


@dataclass(frozen=True)
class Exchange:
    """One exchange cycle or chain: a secondment (candidate edge) per arc, in order."""

    id: str
    trusts: tuple[str, ...]
    edges: tuple[int, ...]
    total_score: float

    @property
    def is_chain(self) -> bool:
        """Whether it starts at a placement that asks nothing back (its last trust is net -1)."""
        return self.id.startswith("chain-")


@dataclass(frozen=True)
class ExchangeSearch:
    """The exchanges chosen, their total, and the bound that proves (or bounds) it."""

    exchanges: list[Exchange]
    total_score: float
    bound: float
    optimal: bool


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
        asks_nothing_back: Sequence[bool] | None = None,
    ) -> ExchangeGraph:
        host = [
            ALTRUIST if asks_nothing_back and asks_nothing_back[p] else trust
            for p, trust in enumerate(provider_trust)
        ]
        edges = best_unique_edges(candidates, candidates.score)
        pairs = [
            (mentee_trust[candidates.mentee_index[e]], host[candidates.provider_index[e]])
            for e in edges.tolist()
        ]
        crossing = [i for i, (home, to) in enumerate(pairs) if home != to]
        graph = nx.DiGraph([pairs[i] for i in crossing])
        if ALTRUIST in graph:  # any trust that sends someone may end a chain
            graph.add_edges_from((ALTRUIST, home) for home, _ in graph.edges if home != ALTRUIST)
        cycles = tuple(sorted(_canonical(c) for c in nx.simple_cycles(graph, max_length)))
        on_cycle = {arc for cycle in cycles for arc in cycle_arcs(cycle)}
        kept = [i for i in crossing if pairs[i] in on_cycle]
        return cls(
            arcs=edges[kept].astype(np.int64),
            arc_trusts=tuple(pairs[i] for i in kept),
            cycles=cycles,
        )


def cycle_arcs(cycle: tuple[str, ...]) -> list[TrustArc]:
    """The arcs of a cycle that carry a secondment (a chain's free arc from ALTRUIST does not)."""
    arcs = [(cycle[i], cycle[(i + 1) % len(cycle)]) for i in range(len(cycle))]
    return [arc for arc in arcs if arc[0] != ALTRUIST]


def _canonical(cycle: list[str]) -> tuple[str, ...]:
    """Rotate a cycle to start at its smallest trust (ALTRUIST for a chain): one spelling."""
    start = cycle.index(min(cycle))
    return tuple(cycle[start:] + cycle[:start])


def find_exchanges(
    candidates: CandidateEdges,
    mentee_trust: Sequence[str],
    provider_trust: Sequence[str],
    **options: Any,
) -> list[Exchange]:
    """The best set of exchange cycles (and chains): ``search_exchanges`` without the proof."""
    return search_exchanges(candidates, mentee_trust, provider_trust, **options).exchanges


def search_exchanges(
    candidates: CandidateEdges,
    mentee_trust: Sequence[str],
    provider_trust: Sequence[str],
    *,
    max_length: int = 3,
    asks_nothing_back: Sequence[bool] | None = None,
    node_limit: int = 2_000,
    iteration_limit: int = 200_000,
) -> ExchangeSearch:
    """Exchanges with the proof of their optimality (see the module docstring)."""
    graph = ExchangeGraph.build(
        candidates, mentee_trust, provider_trust, max_length, asks_nothing_back
    )
    if not graph.cycles:
        return ExchangeSearch([], 0.0, 0.0, optimal=True)
    program = _CycleProgram(candidates, graph)
    chosen, runs = program.greedy()
    best = float(candidates.score[graph.arcs[chosen]].sum())
    relaxed = program.relaxation(iteration_limit)
    if relaxed is None:  # no bound to prune with: branch and bound on every column
        found = program.solve_restricted(np.ones(program.n_x + program.n_y, bool), node_limit)
        if found is not None and found[2] > best + 1e-9:
            chosen, runs, best, _ = found
        proven = found is not None and found[3] and found[2] >= best - 1e-9
        if not proven:
            log.warning(
                "exchanges: no relaxation within %d iterations and no proof within %d nodes;"
                " best total %.4f kept, bound unknown",
                iteration_limit,
                node_limit,
                best,
            )
        return _search(candidates, graph, chosen, runs, best, best if proven else np.inf)
    bound, reduced_cost = relaxed
    proven = False
    for delta in (min(bound - best, 0.0005 * bound), None):
        # First a small set of columns for a good incumbent, then every column that could
        # still beat it: that second solve is exact.
        gap = bound - best if delta is None else delta
        keep = reduced_cost <= gap + _EPS * max(1.0, bound)
        found = program.solve_restricted(keep, node_limit)
        if found is not None and found[2] > best + 1e-9:
            chosen, runs, best, _ = found
        if found is not None and found[3] and bound - best <= gap + _EPS * max(1.0, bound):
            proven = True
            break
    if not proven:
        log.warning(
            "exchanges: node limit %d reached; best total %.4f, bound %.4f (gap %.3f %%)",
            node_limit,
            best,
            bound,
            100 * (bound - best) / max(bound, 1e-12),
        )
    return _search(candidates, graph, chosen, runs, best, bound if not proven else best)


def _search(
    candidates: CandidateEdges,
    graph: ExchangeGraph,
    chosen: IntArray,
    runs: IntArray,
    total: float,
    bound: float,
) -> ExchangeSearch:
    exchanges = _split_into_exchanges(candidates, graph, chosen, runs)
    return ExchangeSearch(exchanges, total, bound, optimal=bound <= total + 1e-9)


class _CycleProgram:
    """The cycle formulation's matrices: columns are x (graph.arcs) then y (graph.cycles)."""

    def __init__(self, candidates: CandidateEdges, graph: ExchangeGraph) -> None:
        self.graph = graph
        self.n_x, self.n_y = graph.arcs.size, len(graph.cycles)
        self.score = candidates.score[graph.arcs].astype(np.float64)
        arc_row = {arc: row for row, arc in enumerate(sorted(set(graph.arc_trusts)))}
        self.arc_of_x = np.array([arc_row[a] for a in graph.arc_trusts], dtype=np.int64)
        cycle, arc = zip(
            *((c, arc_row[a]) for c, cyc in enumerate(graph.cycles) for a in cycle_arcs(cyc)),
            strict=True,
        )
        self.cycle_of, self.arc_of_cycle = np.array(cycle), np.array(arc)
        n_arcs = len(arc_row)
        self.balance = sp.csr_matrix(
            (
                np.r_[np.ones(self.n_x), -np.ones(self.cycle_of.size)],
                (
                    np.r_[self.arc_of_x, self.arc_of_cycle],
                    np.r_[np.arange(self.n_x), self.n_x + self.cycle_of],
                ),
            ),
            shape=(n_arcs, self.n_x + self.n_y),
        )
        self.mentee = candidates.mentee_index[graph.arcs].astype(np.int64)
        self.placement = candidates.provider_index[graph.arcs].astype(np.int64)
        _, mentee_row = np.unique(self.mentee, return_inverse=True)
        placements, placement_row = np.unique(self.placement, return_inverse=True)
        self.places = Places.from_capacity(candidates.provider_capacity).whole
        columns = np.arange(self.n_x)
        self.limits = sp.vstack(
            [
                sp.csr_matrix(
                    (np.ones(self.n_x), (mentee_row, columns)),
                    shape=(mentee_row.max() + 1, self.n_x + self.n_y),
                ),
                sp.csr_matrix(
                    (np.ones(self.n_x), (placement_row, columns)),
                    shape=(placements.size, self.n_x + self.n_y),
                ),
            ]
        ).tocsr()
        self.limit = np.r_[
            np.ones(mentee_row.max() + 1), self.places[placements].astype(np.float64)
        ]
        self.objective = np.r_[-self.score, np.zeros(self.n_y)]

    def relaxation(self, iteration_limit: int) -> tuple[float, FloatArray] | None:
        """The LP bound and every column's reduced cost (>= 0), or None past the limit."""
        result = linprog(
            self.objective,
            A_ub=self.limits,
            b_ub=self.limit,
            A_eq=self.balance,
            b_eq=np.zeros(self.balance.shape[0]),
            bounds=(0, None),
            method="highs-ipm",
            options={"maxiter": iteration_limit},
        )
        if result.status != 0:
            return None
        duals_ub, duals_eq = result.ineqlin.marginals, result.eqlin.marginals
        reduced = self.objective - self.limits.T @ duals_ub - self.balance.T @ duals_eq
        if reduced.min() < -1e-6:  # the duals do not prove a bound: no shortcut
            return None
        # The dual objective (not the primal one) is what bounds every integer solution.
        return float(-(self.limit @ duals_ub)), np.maximum(reduced, 0.0)

    def solve_restricted(
        self, keep: npt.NDArray[np.bool_], node_limit: int
    ) -> tuple[IntArray, IntArray, float, bool] | None:
        """The integer program on the kept columns: (chosen x, runs, total, proven optimal)."""
        columns = np.flatnonzero(keep)
        if columns.size == 0:
            return None
        result = milp(
            self.objective[columns],
            integrality=np.ones(columns.size),
            bounds=Bounds(0, np.where(columns < self.n_x, 1.0, np.inf)),
            constraints=[
                LinearConstraint(self.balance[:, columns], 0, 0),
                LinearConstraint(self.limits[:, columns], 0, self.limit),
            ],
            # HiGHS stops at a 0.01 % gap by default: 0 makes "proven" mean optimal.
            options={"node_limit": node_limit, "mip_rel_gap": 0.0},
        )
        if result.x is None:
            return None
        values = np.zeros(self.n_x + self.n_y, dtype=np.int64)
        values[columns] = np.round(result.x).astype(np.int64)
        chosen = np.flatnonzero(values[: self.n_x])
        return chosen, values[self.n_x :], float(self.score[chosen].sum()), result.status == 0

    def greedy(self) -> tuple[IntArray, IntArray]:
        """Best cycle first, each arc's best free secondment, until nothing positive is left."""
        mentee_free = np.ones(self.mentee.max() + 1, dtype=bool)
        places_left = self.places.copy()
        chosen: list[int] = []
        runs = np.zeros(self.n_y, dtype=np.int64)
        n_arcs = self.balance.shape[0]
        while True:
            usable = mentee_free[self.mentee] & (places_left[self.placement] > 0)
            value = np.where(usable, self.score, -np.inf)
            arc_best = np.full(n_arcs, -np.inf)
            np.maximum.at(arc_best, self.arc_of_x, value)
            cycle_value = np.bincount(
                self.cycle_of, weights=arc_best[self.arc_of_cycle], minlength=self.n_y
            )
            cycle_value[np.isnan(cycle_value)] = -np.inf
            best = int(np.argmax(cycle_value))
            if not cycle_value[best] > 0:
                return np.array(sorted(chosen), dtype=np.int64), runs
            runs[best] += 1
            for arc in self.arc_of_cycle[self.cycle_of == best].tolist():
                on_arc = np.flatnonzero((self.arc_of_x == arc) & usable)
                x = int(on_arc[np.argmax(self.score[on_arc])])
                chosen.append(x)
                mentee_free[self.mentee[x]] = False
                places_left[self.placement[x]] -= 1


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
    kind = "chain" if ALTRUIST in trusts else "exchange"
    return Exchange(
        id=f"{kind}-{digest}",
        trusts=tuple(t for t in trusts if t != ALTRUIST),
        edges=edges,
        total_score=float(candidates.score[list(edges)].sum()),
    )

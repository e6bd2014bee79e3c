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
2007). It is solved exactly by branch and price on the person-level set-packing program (the
kidney schemes' cycle formulation, one column per concrete exchange), in
``exchange_pricing``: columns are priced per trust cycle with numpy, the restricted master is
solved by HiGHS from a warm basis, and the search branches on secondments and on trust cycles'
runs. The greedy packing below is its first incumbent.

Every limit counts work (branch-and-price nodes, simplex iterations), not time, so a run gives
the same answer on a busy machine. If a limit is reached the search returns the best set found
with its bound, and logs both; it never returns nothing when the greedy found something.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np

from services.matcher.engine.assignment import IntArray, Places, best_unique_edges
from services.matcher.engine.contract import CandidateEdges
from services.matcher.engine.exchange_pricing import SCALE, BranchAndPrice, PackingProblem

log = logging.getLogger(__name__)

TrustArc = tuple[str, str]
# The virtual host of every placement that asks nothing back (no real trust code is empty).
ALTRUIST = ""


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
    nodes: int = 0  # branch-and-price nodes solved: the work done, independent of load
    iterations: int = 0  # simplex iterations, all nodes together


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
    iteration_limit: int = 2_000_000,
) -> ExchangeSearch:
    """Exchanges with the proof of their optimality (see the module docstring)."""
    graph = ExchangeGraph.build(
        candidates, mentee_trust, provider_trust, max_length, asks_nothing_back
    )
    if not graph.cycles:
        return ExchangeSearch([], 0.0, 0.0, optimal=True)
    program = _CycleProgram(candidates, graph)
    found = BranchAndPrice(program.packing_problem(), node_limit, iteration_limit).run(
        program.greedy()
    )
    exchanges = sorted(
        (
            _exchange(candidates, graph.cycles[c], program.edges_in_order(c, secs))
            for c, secs in found.exchanges
        ),
        key=lambda x: (x.trusts, x.edges),
    )
    total = float(sum(x.total_score for x in exchanges))
    if found.optimal:
        return ExchangeSearch(
            exchanges, total, total, optimal=True, nodes=found.nodes, iterations=found.iterations
        )
    # Scores were rounded to 1/SCALE: each secondment may gain up to half a unit back.
    bound = max(total, (found.bound + 0.5 * program.n_mentees) / SCALE)
    log.warning(
        "exchanges: work limit reached (%d nodes of %d, %d simplex iterations of %d);"
        " best total %.6f, bound %.6f (gap %.3f %%)",
        found.nodes,
        node_limit,
        found.iterations,
        iteration_limit,
        total,
        bound,
        100 * (bound - total) / max(bound, 1e-12),
    )
    return ExchangeSearch(
        exchanges, total, bound, optimal=False, nodes=found.nodes, iterations=found.iterations
    )


class _CycleProgram:
    """Secondments (graph.arcs) by trust arc, and trust cycles by their arcs, as arrays."""

    def __init__(self, candidates: CandidateEdges, graph: ExchangeGraph) -> None:
        self.graph = graph
        self.n_x, self.n_y = graph.arcs.size, len(graph.cycles)
        self.score = candidates.score[graph.arcs].astype(np.float64)
        arc_row = {arc: row for row, arc in enumerate(sorted(set(graph.arc_trusts)))}
        self.n_arcs = len(arc_row)
        self.arc_of_x = np.array([arc_row[a] for a in graph.arc_trusts], dtype=np.int64)
        # Each cycle's paying arcs, padded with n_arcs (a chain's free arc, or none).
        self.cycle_arcs = np.full((self.n_y, 3), self.n_arcs, dtype=np.int64)
        for c, cycle in enumerate(graph.cycles):
            arcs = [arc_row[a] for a in cycle_arcs(cycle)]
            self.cycle_arcs[c, : len(arcs)] = arcs
        self.mentee = candidates.mentee_index[graph.arcs].astype(np.int64)
        self.placement = candidates.provider_index[graph.arcs].astype(np.int64)
        self.places = Places.from_capacity(candidates.provider_capacity).whole

    @property
    def n_mentees(self) -> int:
        return int(np.unique(self.mentee).size)

    def packing_problem(self) -> PackingProblem:
        """The master program's data: mentees and placements renumbered as rows."""
        _, mentee_row = np.unique(self.mentee, return_inverse=True)
        placements, placement_row = np.unique(self.placement, return_inverse=True)
        return PackingProblem(
            score=np.round(self.score * SCALE).astype(np.int64),
            mentee=mentee_row.astype(np.int64),
            placement=placement_row.astype(np.int64),
            places=self.places[placements].astype(np.int64),
            arc=self.arc_of_x,
            cycle_arcs=self.cycle_arcs,
        )

    def edges_in_order(self, cycle: int, secondments: tuple[int, ...]) -> tuple[int, ...]:
        """The candidate edges of an exchange's secondments, in the order of its arcs."""
        by_arc = {int(self.arc_of_x[s]): s for s in secondments}
        arcs = [a for a in self.cycle_arcs[cycle].tolist() if a < self.n_arcs]
        return tuple(int(self.graph.arcs[by_arc[a]]) for a in arcs)

    def greedy(self) -> list[tuple[int, tuple[int, int, int]]]:
        """Best cycle first, each arc's best free secondment, until nothing positive is left.

        Returns the exchanges as (cycle, secondments sorted and padded with -1) columns.
        """
        mentee_free = np.ones(self.mentee.max() + 1, dtype=bool)
        places_left = self.places.copy()
        columns: list[tuple[int, tuple[int, int, int]]] = []
        while True:
            usable = mentee_free[self.mentee] & (places_left[self.placement] > 0)
            value = np.where(usable, self.score, -np.inf)
            arc_best = np.full(self.n_arcs + 1, -np.inf)
            np.maximum.at(arc_best, self.arc_of_x, value)
            arc_best[self.n_arcs] = 0.0
            cycle_value = arc_best[self.cycle_arcs].sum(axis=1)
            best = int(np.argmax(cycle_value))
            if not cycle_value[best] > 0:
                return columns
            picked = []
            for arc in self.cycle_arcs[best].tolist():
                if arc == self.n_arcs:
                    continue
                on_arc = np.flatnonzero((self.arc_of_x == arc) & usable)
                x = int(on_arc[np.argmax(self.score[on_arc])])
                picked.append(x)
                mentee_free[self.mentee[x]] = False
                places_left[self.placement[x]] -= 1
            padded = (*sorted(picked), -1, -1, -1)[:3]
            columns.append((best, (padded[0], padded[1], padded[2])))


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

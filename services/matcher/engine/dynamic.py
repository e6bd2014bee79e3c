"""Incremental optimal assignment: one arrival, availability change or decision re-solved in
milliseconds, with the same total as a full re-solve of the same edges.

The optimum of ``solve_assignment`` is kept together with a proof of its optimality: dual
prices ``u`` per mentee and ``v`` per place node with

    u >= 0, v >= 0, u[m] + v[q] >= w(m, q) on every edge          (feasible)
    tight on every chosen edge; u[m] > 0 only if m is matched;
    v[q] > 0 only if q is full                                   (complementary slackness)

(LP duality: a matching with such prices is a maximum-weight one). A change breaks at most a
few of these conditions at a few nodes, and each is repaired by one Hungarian search: a
Dijkstra over alternating paths from the node at fault, in reduced costs (non-negative by
feasibility), that stops at the first place where the path can end (a free place, or a mentee
whose price falls to 0), then moves the prices and flips the path. Each search keeps every
condition everywhere else, so after the repairs the matching is optimal again.

Places as in ``assignment``: provider p has a whole-places node (p) and, with a fractional place,
a fractional node (P + p) that only light enough mentees may enter. Scores are scaled to
integers as the flow scales them (``cost_scale``), so prices and reduced costs are exact, the
flow's optimum is exactly optimal here, and the result is the same on every run.

The prices of a solution found elsewhere (the OR-tools flow) come from a shortest-path problem:
given the matching, the conditions are difference constraints between place nodes
(``from_solution``).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from services.matcher.engine.assignment import (
    LOAD_TOLERANCE,
    FloatArray,
    IntArray,
    Places,
    cost_scale,
    flow_nodes,
    mentee_loads,
)
from services.matcher.engine.contract import CandidateEdges

_INF = 1 << 62


@dataclass
class _Search:
    """A finished search: where it ended and the distances of the nodes it settled."""

    end: int  # the node it ended at (a mentee, or a place node), or -1
    end_is_place: bool
    length: int
    mentees: dict[int, int]  # settled mentee -> distance
    places: dict[int, int]  # settled place node -> distance
    came_to_place: dict[int, int]  # place node -> the mentee it was reached from
    came_to_mentee: dict[int, int]  # mentee -> the place node it was reached from


class IncrementalAssignment:
    """A maximum-weight assignment of mentees to places, kept optimal through changes."""

    def __init__(self, candidates: CandidateEdges) -> None:
        n_providers = len(candidates.provider_ids)
        self.candidates = candidates
        self.n_providers = n_providers
        self.load: list[float] = mentee_loads(candidates).tolist()
        places = Places.from_capacity(candidates.provider_capacity)
        self.fraction: list[float] = places.fraction.tolist()
        self.capacity: list[int] = places.whole.tolist() + (
            (places.fraction > LOAD_TOLERANCE).astype(int).tolist()
        )
        n_mentees = len(candidates.mentee_ids)
        self.adj: list[dict[int, int]] = [{} for _ in range(n_mentees)]  # mentee: provider -> w
        self.radj: list[dict[int, int]] = [{} for _ in range(n_providers)]  # provider: mentee -> w
        self.score: dict[tuple[int, int], float] = {}
        self.present = [True] * n_mentees
        # The flow's own integer scale, so that its optimum is exactly optimal here too.
        positive = candidates.score[candidates.score > 0]
        largest = float(positive.max()) if positive.size else 1.0
        self.scale = cost_scale(largest, flow_nodes(candidates))
        self.match = [-1] * n_mentees  # place node, or -1
        self.holders: list[set[int]] = [set() for _ in range(2 * n_providers)]
        self.u = [0] * n_mentees
        self.v = [0] * (2 * n_providers)

    # --- building ---

    @classmethod
    def from_solution(cls, candidates: CandidateEdges, chosen: IntArray) -> IncrementalAssignment:
        """``solve_assignment``'s optimum of ``candidates`` (its edges), with its prices.

        Mentees without edges may arrive later (``add_mentee``).
        """
        state = cls(candidates)
        keep = candidates.score > 0
        for m, p, s in zip(
            candidates.mentee_index[keep].tolist(),
            candidates.provider_index[keep].tolist(),
            candidates.score[keep].tolist(),
            strict=True,
        ):
            state._add_edge(m, p, s)
        for e in np.asarray(chosen, dtype=np.int64).tolist():
            m, p = int(candidates.mentee_index[e]), int(candidates.provider_index[e])
            state._seat(m, p)
        state._derive_prices()
        return state

    def _add_edge(self, m: int, p: int, score: float) -> None:
        w = round(score * self.scale)
        if w <= 0 or w <= self.adj[m].get(p, 0):
            return
        self.adj[m][p] = w
        self.radj[p][m] = w
        self.score[(m, p)] = score

    def _seat(self, m: int, p: int) -> None:
        """Put matched mentee m on a node of p: the fractional one when it fits and is free."""
        frac = self.n_providers + p
        whole_full = len(self.holders[p]) >= self.capacity[p]
        use_fraction = self._fits(m, p) and not self.holders[frac] and self.capacity[frac] > 0
        q = frac if use_fraction and (whole_full or self.load[m] < 1) else p
        if len(self.holders[q]) >= self.capacity[q]:
            q = p if q == frac else frac
        self.match[m] = q
        self.holders[q].add(m)

    def _fits(self, m: int, p: int) -> bool:
        size = self.fraction[p]
        return size > 0 and self.load[m] <= size + LOAD_TOLERANCE

    def _nodes(self, m: int, p: int) -> tuple[int, ...]:
        return (p, self.n_providers + p) if self._fits(m, p) else (p,)

    def _derive_prices(self) -> None:
        """Prices that prove the current matching optimal (it must be optimal).

        For matched m on node a: u[m] = w(m, a) - v[a], and every other edge (m, b) asks
        v[a] <= v[b] + w(m, a) - w(m, b); u[m] >= 0 asks v[a] <= w(m, a); a node with room
        has v = 0. The largest v meeting these is each node's shortest distance to "zero" in
        the graph of those constraints (Bellman-Ford, vectorised: at an optimum there is no
        negative cycle), and it meets every lower bound too, since some feasible prices exist.
        """
        n_nodes = 2 * self.n_providers
        bound = np.full(n_nodes, _INF, dtype=np.int64)
        tails, heads, costs = [], [], []
        for q in range(n_nodes):
            if len(self.holders[q]) < self.capacity[q]:
                bound[q] = 0
            for m in self.holders[q]:
                p = q % self.n_providers
                w_here = self.adj[m][p]
                bound[q] = min(bound[q], w_here)
                for p2, w in self.adj[m].items():
                    for b in self._nodes(m, p2):
                        if b != q:
                            tails.append(q)
                            heads.append(b)
                            costs.append(w_here - w)
        v = _shortest_to_zero(
            bound, np.array(tails, np.int64), np.array(heads, np.int64), np.array(costs, np.int64)
        )
        for m, q in enumerate(self.match):
            if q >= 0:
                self.u[m] = self.adj[m][q % self.n_providers] - int(v[q])
        # Nodes no constraint reaches (no room, nobody held): just high enough to be feasible.
        for q in np.flatnonzero(v >= _INF).tolist():
            p = q % self.n_providers
            need = [w - self.u[m] for m, w in self.radj[p].items() if q in self._nodes(m, p)]
            v[q] = max([0, *need])
        self.v = [int(x) for x in v]

    # --- changes ---

    def add_mentee(self, m: int, providers: IntArray, scores: FloatArray) -> None:
        """Mentee m arrives with these edges (scored pairs)."""
        if self.adj[m]:
            raise ValueError(f"mentee {m} is already in the market")
        self.present[m] = True
        for p, s in zip(np.asarray(providers).tolist(), np.asarray(scores).tolist(), strict=True):
            self._add_edge(int(m), int(p), float(s))
        self.u[m] = max(
            [0] + [w - self.v[q] for p, w in self.adj[m].items() for q in self._nodes(m, p)]
        )
        self._repair(mentees=[m])

    def remove_mentee(self, m: int) -> None:
        """Mentee m leaves (erased, withdrawn, or matched elsewhere)."""
        if not self.present[m]:
            return
        q = self._unseat(m)
        for p in self.adj[m]:
            del self.radj[p][m]
            del self.score[(m, p)]
        self.adj[m] = {}
        self.present[m] = False
        self.u[m] = 0
        self._repair(places=[] if q < 0 else [q])

    def forbid(self, m: int, p: int) -> None:
        """The pair (m, p) was rejected: never again."""
        if p not in self.adj[m]:
            return
        q = self.match[m]
        if q >= 0 and q % self.n_providers == p:
            self._unseat(m)
        del self.adj[m][p], self.radj[p][m], self.score[(m, p)]
        self._repair(mentees=[m], places=[p, self.n_providers + p])

    def set_capacity(self, p: int, capacity: float) -> None:
        """Provider p's capacity changed (paused, resumed, more or fewer mentees)."""
        places = Places.from_capacity([capacity])
        whole, fraction = int(places.whole[0]), float(places.fraction[0])
        frac = self.n_providers + p
        self.capacity[p] = whole
        self.capacity[frac] = int(fraction > LOAD_TOLERANCE)
        self.fraction[p] = fraction
        evicted = [m for m in self.holders[frac] if not self._fits(m, p)]
        for q in (p, frac):
            staying = sorted(self.holders[q] - set(evicted))
            evicted += staying[self.capacity[q] :]
        for m in evicted:
            self._unseat(m)
        # Edges to a fractional node may be new: raise its price until they are feasible (a
        # node with room and a positive price is then repaired).
        need = [w - self.u[m] for m, w in self.radj[p].items() if self._fits(m, p)]
        self.v[frac] = max([self.v[frac], 0, *need])
        self._repair(mentees=evicted, places=[p, frac])

    def approve(self, m: int, p: int) -> None:
        """A decision approved pair (m, p): both leave the market, with m's place at p."""
        q = self.match[m]
        if q >= 0 and q % self.n_providers == p:
            self.capacity[q] -= 1
            if q != p:  # the fractional place is gone
                self.fraction[p] = 0.0
            self.holders[q].discard(m)
            self.match[m] = -1
            self.remove_mentee(m)
            return
        self.remove_mentee(m)
        taken = self.load[m] if self._fits(m, p) else 1.0
        self.set_capacity(p, max(self.capacity[p] + self.fraction[p] - taken, 0.0))

    # --- reading ---

    @property
    def total_score(self) -> float:
        return float(sum(self.score[(m, q % self.n_providers)] for m, q in self._matched()))

    def pairs(self) -> list[tuple[int, int, float]]:
        """(mentee, provider, score) of every chosen pair, by mentee."""
        return [
            (m, q % self.n_providers, self.score[(m, q % self.n_providers)])
            for m, q in self._matched()
        ]

    def _matched(self) -> list[tuple[int, int]]:
        return [(m, q) for m, q in enumerate(self.match) if q >= 0]

    def as_candidates(self) -> CandidateEdges:
        """The instance as it stands, for a full re-solve."""
        pairs = [(m, p, s) for (m, p), s in sorted(self.score.items())]
        arrays = np.array(pairs, dtype=np.float64).reshape(-1, 3)
        whole = np.array(self.capacity[: self.n_providers], dtype=np.float64)
        fractional = np.array(self.capacity[self.n_providers :]) > 0
        return CandidateEdges(
            provider_ids=self.candidates.provider_ids,
            mentee_ids=self.candidates.mentee_ids,
            provider_capacity=whole + np.where(fractional, self.fraction, 0.0),
            mentee_index=arrays[:, 0].astype(np.int32),
            provider_index=arrays[:, 1].astype(np.int32),
            score=arrays[:, 2],
            mentee_load=np.array(self.load),
        )

    def violations(self) -> list[str]:
        """Where the prices fail to prove the matching optimal (empty when they prove it)."""
        found = []
        for m in range(len(self.adj)):
            q = self.match[m]
            if self.u[m] < 0 or (self.u[m] > 0 and q < 0):
                found.append(f"mentee {m}: price {self.u[m]}, unmatched")
            for p, w in self.adj[m].items():
                found += [
                    f"edge {m}-{b} below its score"
                    for b in self._nodes(m, p)
                    if self.u[m] + self.v[b] < w
                ]
            if q >= 0 and self.u[m] + self.v[q] != self.adj[m][q % self.n_providers]:
                found.append(f"chosen pair {m}-{q} not tight")
        for q, held in enumerate(self.holders):
            if len(held) > self.capacity[q]:
                found.append(f"place {q} over capacity")
            if self.v[q] < 0 or (self.v[q] > 0 and len(held) < self.capacity[q]):
                found.append(f"place {q}: price {self.v[q]} with room")
        return found

    # --- repairs ---

    def _unseat(self, m: int) -> int:
        q = self.match[m]
        if q >= 0:
            self.holders[q].discard(m)
            self.match[m] = -1
        return q

    def _repair(self, mentees: list[int] | None = None, places: list[int] | None = None) -> None:
        """Restore complementary slackness at these nodes (prices stay feasible throughout)."""
        for m in mentees or []:
            if self.present[m] and self.match[m] < 0 and self.u[m] > 0:
                self._augment_from_mentee(m)
        for q in places or []:
            while len(self.holders[q]) < self.capacity[q] and self.v[q] > 0:
                self._augment_from_place(q)

    def _augment_from_mentee(self, root: int) -> None:
        """Root is unmatched with a positive price: match it, or bring its price to 0."""
        search = self._search_from_mentee(root)
        for m, d in search.mentees.items():
            self.u[m] -= search.length - d
        for q, d in search.places.items():
            self.v[q] += search.length - d
        q = search.end
        if not search.end_is_place:
            if search.end == root:
                return
            q = self._unseat(search.end)  # its price is 0 now: it gives up its place
        while True:  # flip the path back to the root
            m = search.came_to_place[q]
            previous = self.match[m]
            self._unseat(m)
            self.match[m] = q
            self.holders[q].add(m)
            if m == root:
                return
            q = previous

    def _search_from_mentee(self, root: int) -> _Search:
        n = self.n_providers
        best, end, end_is_place = self.u[root], root, False
        mentees: dict[int, int] = {}
        places: dict[int, int] = {}
        came_to_place: dict[int, int] = {}
        came_to_mentee: dict[int, int] = {}
        seen_place: dict[int, int] = {}
        heap: list[tuple[int, int, int]] = [(0, 0, root)]  # (distance, 0 mentee / 1 place, node)
        while heap:
            d, is_place, x = heapq.heappop(heap)
            if d >= best:
                break
            if is_place:
                if x in places:
                    continue
                places[x] = d
                if len(self.holders[x]) < self.capacity[x]:
                    best, end, end_is_place = d, x, True
                    break
                for m in self.holders[x]:
                    if m not in mentees and m not in came_to_mentee:
                        came_to_mentee[m] = x
                        heapq.heappush(heap, (d, 0, m))
                continue
            if x in mentees:
                continue
            mentees[x] = d
            if d + self.u[x] < best:
                best, end, end_is_place = d + self.u[x], x, False
            base = d + self.u[x]
            own = self.match[x]
            load = self.load[x]
            for p, w in self.adj[x].items():
                for q in (
                    (p, n + p)
                    if self.fraction[p] > 0 and load <= self.fraction[p] + LOAD_TOLERANCE
                    else (p,)
                ):
                    if q == own or q in places:
                        continue
                    nd = base + self.v[q] - w
                    if nd < seen_place.get(q, _INF):
                        seen_place[q] = nd
                        came_to_place[q] = x
                        heapq.heappush(heap, (nd, 1, q))
        return _Search(end, end_is_place, best, mentees, places, came_to_place, came_to_mentee)

    def _augment_from_place(self, root: int) -> None:
        """Place node root has room and a positive price: fill it, or bring its price to 0."""
        search = self._search_from_place(root)
        for q, d in search.places.items():
            self.v[q] -= search.length - d
        for m, d in search.mentees.items():
            self.u[m] += search.length - d
        if search.end_is_place:
            if search.end == root:
                return
            m = search.came_to_place[search.end]  # it leaves the node whose price fell to 0
        else:
            m = search.end
        while True:  # each mentee on the path moves to the node it was reached from
            q = search.came_to_mentee[m]
            self._unseat(m)
            self.match[m] = q
            self.holders[q].add(m)
            if q == root:
                return
            m = search.came_to_place[q]

    def _search_from_place(self, root: int) -> _Search:
        n = self.n_providers
        best, end, end_is_place = self.v[root], root, True
        mentees: dict[int, int] = {}
        places: dict[int, int] = {}
        came_to_place: dict[int, int] = {}
        came_to_mentee: dict[int, int] = {}
        seen_mentee: dict[int, int] = {}
        heap: list[tuple[int, int, int]] = [(0, 1, root)]
        while heap:
            d, is_place, x = heapq.heappop(heap)
            if d >= best:
                break
            if not is_place:
                if x in mentees:
                    continue
                mentees[x] = d
                own = self.match[x]
                if own < 0:  # unmatched, so its price is 0: the path ends here
                    best, end, end_is_place = d, x, False
                    break
                if own not in places and own not in came_to_place:
                    came_to_place[own] = x
                    heapq.heappush(heap, (d, 1, own))
                continue
            if x in places:
                continue
            places[x] = d
            # Its price falls with its holders' prices rising alike, so that their pairs stay
            # tight: they are in the tree at the same distance (they lead nowhere new).
            for held in self.holders[x]:
                mentees.setdefault(held, d)
            if d + self.v[x] < best:
                best, end, end_is_place = d + self.v[x], x, True
            base = d + self.v[x]
            p = x % n
            fractional = x >= n
            for m, w in self.radj[p].items():
                if m in mentees or self.match[m] == x:
                    continue
                if fractional and not self.load[m] <= self.fraction[p] + LOAD_TOLERANCE:
                    continue
                nd = base + self.u[m] - w
                if nd < seen_mentee.get(m, _INF):
                    seen_mentee[m] = nd
                    came_to_mentee[m] = x
                    heapq.heappush(heap, (nd, 0, m))
        return _Search(end, end_is_place, best, mentees, places, came_to_place, came_to_mentee)


def _shortest_to_zero(
    bound: np.ndarray, tails: np.ndarray, heads: np.ndarray, costs: np.ndarray
) -> np.ndarray:
    """Largest v with v[a] <= bound[a] and v[a] <= v[b] + c for each (a, b, c): Bellman-Ford."""
    v = bound.copy()
    if tails.size == 0:
        return v
    order = np.argsort(tails, kind="stable")
    tails, heads, costs = tails[order], heads[order], costs[order]
    starts = np.flatnonzero(np.r_[True, tails[1:] != tails[:-1]])
    owners = tails[starts]
    for _ in range(v.size + 1):
        through = np.where(v[heads] >= _INF, _INF, v[heads] + costs)
        best = np.minimum.reduceat(through, starts)
        improved = best < v[owners]
        if not improved.any():
            return v
        v[owners[improved]] = best[improved]
    raise ValueError("the matching is not optimal: its price constraints have a negative cycle")

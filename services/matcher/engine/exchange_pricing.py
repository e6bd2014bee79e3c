"""Branch and price for secondment exchanges: the person-level set-packing program, exactly.

The master program packs *concrete exchanges*: a trust cycle of at most three trusts (or a
chain through the virtual trust) plus one concrete secondment per arc. Rows are mentees (each
in at most one exchange) and placements (at most their places); a column is one exchange.
There are far too many columns to list (hundreds of thousands inside the gap at 200
placements over 60 trusts), so they are generated: given the rows' duals, an exchange's reduced
score is the sum over its arcs of each secondment's reduced score (score minus its mentee's and
its placement's dual). The arcs of a cycle involve different trusts, hence different people, so
the best exchange on a trust cycle takes each arc's best secondment independently: pricing
every trust cycle at once is a maximum per arc and a sum per cycle, vectorised with numpy.

Branching keeps pricing that simple, trying in turn:

- a trust arc whose flow (secondments on it) is fractional: at least its ceiling, or at most
  its floor (a row over the exchanges through the arc, whose dual is a bonus or a charge on
  every secondment of the arc). These coarse branches halve the tree at 160 placements over
  50 trusts against branching on secondments first. The arc is chosen by strong branching:
  the few most fractional arcs' children are re-solved briefly without pricing, and the arc
  whose weaker child loses most bound wins (docs/matching.md has its effect);
- a secondment s whose total use x_s is fractional: one child forces it (a row x_s >= 1, whose
  dual is a bonus on s's reduced score; the mentee's other secondments are dropped), the
  other forbids it (dropped from pricing);
- a trust cycle whose number of runs y_c is fractional: y_c >= ceil or y_c <= floor (a row over
  the cycle's exchanges, whose dual enters that cycle's price). Integral x and y make an
  integer solution: any dealing of the chosen secondments to the runs works.

Scores are scaled to integers (``SCALE``), so the optimum is an integer and a node is pruned
when its bound cannot reach the incumbent plus one unit. The bound of a node is Lagrangian
(weak duality with the duals the LP solver returned, any non-negative duals will do, plus the
largest positive reduced score times the most columns a solution can have), so it does not
trust the LP solver's tolerances. The search is best-bound first, plunging into the first
child; its limits count nodes and simplex iterations, never time, and HiGHS runs on one
thread, so a run gives the same answer on a busy machine.
"""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.optimize._highspy import _core as _highs_core

log = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# Scores are compared as integers in units of 2**-20 (about 1e-6), finer than any score's
# meaning and coarse enough that LP round-off (about 1e-9 here) cannot fake a proof.
SCALE = 2.0**20
# Reduced scores below this count as zero when column generation stops (the bound adds
# whatever is left, so this only trades LP solves against bound slack).
_PRICE_TOLERANCE = 1e-9
_NEW_COLUMNS = 400  # columns added per pricing round, best first
# Strong branching on trust arcs: candidates tried per node, simplex iterations per child,
# and the weight of the weaker child's loss of bound in a candidate's score.
_STRONG_CANDIDATES = 4
_STRONG_ITERATIONS = 60
_STRONG_WEAKER = 5.0
_RELIABLE = 2  # strong-branching tries after which an arc's pseudo-costs are trusted

Secondments = tuple[int, int, int]  # an exchange's secondments, sorted, padded with -1
Column = tuple[int, Secondments]  # (trust cycle, secondments): one concrete exchange
# A branching row on a trust arc's secondments (kind ARC) or a trust cycle's exchanges
# (kind CYCLE): (kind, arc or cycle, lowest count, highest count).
Cap = tuple[int, int, float, float]
ARC, CYCLE = 0, 1
Branch = tuple[frozenset[int], tuple[int, ...], tuple[Cap, ...]]  # a child's rules


@dataclass(frozen=True)
class PackingProblem:
    """The data of the master program, by secondment and by trust cycle."""

    score: IntArray  # per secondment, in 1/SCALE units
    mentee: IntArray  # per secondment: mentee row
    placement: IntArray  # per secondment: placement row
    places: IntArray  # per placement row
    arc: IntArray  # per secondment: trust-arc index
    cycle_arcs: IntArray  # (cycles, 3) trust-arc indices, padded with n_arcs (a free arc)

    @property
    def n_secondments(self) -> int:
        return int(self.score.size)

    @property
    def n_arcs(self) -> int:
        return int(self.arc.max()) + 1 if self.arc.size else 0


@dataclass(frozen=True)
class PackingResult:
    """Chosen columns as (trust cycle, secondments) pairs, the integer total and bound."""

    exchanges: list[tuple[int, tuple[int, ...]]]
    total: int
    bound: int
    optimal: bool
    nodes: int
    lp_solves: int
    iterations: int


@dataclass(order=True)
class _Node:
    priority: tuple[float, int, int]  # (-bound, -depth, serial): best bound, then deepest
    forbidden: frozenset[int] = field(compare=False)
    forced: tuple[int, ...] = field(compare=False)  # secondments with x_s >= 1
    caps: tuple[Cap, ...] = field(compare=False)
    # The arc branched on to make this node, the direction (0: at most the floor, 1: at
    # least the ceiling) and the flow it moved, for the arc's pseudo-costs.
    origin: tuple[int, int, float] | None = field(default=None, compare=False)


class _Pool:
    """Every column generated so far (each exchange once), shared by all nodes."""

    def __init__(self) -> None:
        self.cycle: list[int] = []
        self.secondments: list[Secondments] = []  # padded with -1
        self._seen: set[Secondments] = set()
        self._index: dict[Secondments, int] = {}

    def add(self, cycle: int, secondments: Secondments) -> bool:
        if secondments in self._seen:
            return False
        self._seen.add(secondments)
        self._index[secondments] = len(self.cycle)
        self.cycle.append(cycle)
        self.secondments.append(secondments)
        return True

    def index(self, secondments: Secondments) -> int:
        return self._index[secondments]

    def arrays(self) -> tuple[IntArray, IntArray]:
        return (
            np.array(self.cycle, dtype=np.int64),
            np.array(self.secondments, dtype=np.int64).reshape(-1, 3),
        )


class _Master:
    """The restricted master LP in HiGHS, kept across nodes so each solve starts warm.

    Rows: mentees (<= 1), placements (<= places), and, made when first needed, a row per
    branched secondment (x_s, bounds set per node) and per branched trust cycle (y_c). Each
    such row has an artificial column at a big cost, so a node's program is always feasible.
    Columns: the pool's exchanges and the artificials; a node bars the exchanges that use a
    secondment it forbids by an upper bound of 0.

    HiGHS through scipy's own binding (``scipy.optimize._highspy``): the ``highspy`` package
    cannot share a process with OR-tools (each ships HiGHS symbols of its own version), and
    scipy's public ``linprog`` starts every solve cold, which costs 20-50 times more here.
    """

    def __init__(self, problem: PackingProblem, n_mentees: int, big: float) -> None:
        self.problem = problem
        self.n_mentees = n_mentees
        self.big = big
        self.highs = _highs_core._Highs()
        self.highs.setOptionValue("output_flag", False)
        self.highs.setOptionValue("threads", 1)
        self.highs.setOptionValue("presolve", "off")
        upper = np.r_[np.ones(n_mentees), problem.places.astype(np.float64)]
        self.lower = np.full(upper.size, -np.inf)
        self.upper = upper
        self._add_rows(self.lower.copy(), upper.copy())
        self.pool_of_column = np.zeros(0, dtype=np.int64)  # -1 for an artificial column
        self.secs = np.zeros((0, 3), dtype=np.int64)
        self.cycles = np.zeros(0, dtype=np.int64)
        self.secondment_row: dict[int, int] = {}
        self.cap_row: dict[tuple[int, int], int] = {}  # (kind, arc or cycle) -> row
        self.iterations = 0
        self.column_upper = np.zeros(0)  # every column's upper bound as HiGHS has it
        self.row_bounds: dict[int, tuple[float, float]] = {}  # branching rows' bounds

    def _add_rows(self, lower: FloatArray, upper: FloatArray) -> None:
        n = lower.size
        self.highs.addRows(
            n, lower, upper, 0, np.zeros(n, np.int32), np.zeros(0, np.int32), np.zeros(0)
        )

    def add_columns(self, columns: list[Column]) -> None:
        p = self.problem
        cycles = np.array([c for c, _ in columns], dtype=np.int64)
        secs = np.array([s for _, s in columns], dtype=np.int64).reshape(-1, 3)
        first = self.secs.shape[0]
        self.secs = np.vstack([self.secs, secs])
        self.cycles = np.r_[self.cycles, cycles]
        starts: list[int] = []
        index: list[int] = []
        cost: list[float] = []
        for c, row in zip(cycles.tolist(), secs.tolist(), strict=True):
            starts.append(len(index))
            total = 0
            for s in row:
                if s < 0:
                    continue
                index += [int(p.mentee[s]), self.n_mentees + int(p.placement[s])]
                total += int(p.score[s])
                if s in self.secondment_row:
                    index.append(self.secondment_row[s])
                if (ARC, int(p.arc[s])) in self.cap_row:
                    index.append(self.cap_row[ARC, int(p.arc[s])])
            if (CYCLE, c) in self.cap_row:
                index.append(self.cap_row[CYCLE, c])
            cost.append(-total / SCALE)
        n = len(columns)
        self.highs.addCols(
            n,
            np.array(cost),
            np.zeros(n),
            np.full(n, np.inf),
            len(index),
            np.array(starts, dtype=np.int32),
            np.array(index, dtype=np.int32),
            np.ones(len(index)),
        )
        self.pool_of_column = np.r_[self.pool_of_column, np.arange(first, first + n)]

    def _new_row(self, members: IntArray) -> int:
        """A free row over the given pool columns, with its artificial column."""
        row = self.lower.size
        self.lower = np.r_[self.lower, -np.inf]
        self.upper = np.r_[self.upper, np.inf]
        self._add_rows(np.array([-np.inf]), np.array([np.inf]))
        for column in np.flatnonzero(np.isin(self.pool_of_column, members)).tolist():
            self.highs.changeCoeff(row, column, 1.0)
        self.highs.addCols(
            1,
            np.array([self.big]),
            np.zeros(1),
            np.full(1, np.inf),
            1,
            np.zeros(1, np.int32),
            np.array([row], np.int32),
            np.ones(1),
        )
        self.pool_of_column = np.r_[self.pool_of_column, -1]
        return row

    def _cap_members(self, kind: int, key: int) -> IntArray:
        """The pool columns a branching row counts: a trust arc's or a trust cycle's."""
        if kind == CYCLE:
            return np.flatnonzero(self.cycles == key)
        on_arc = np.r_[self.problem.arc == key, False]  # the last entry: padding (-1)
        return np.flatnonzero(on_arc[self.secs].any(axis=1))

    def enter(self, node: _Node, forbidden: npt.NDArray[np.bool_]) -> None:
        """Set the bounds of a node: its branching rows and the exchanges it bars."""
        for s in node.forced:
            if s not in self.secondment_row:
                self.secondment_row[s] = self._new_row(np.flatnonzero((self.secs == s).any(axis=1)))
        for kind, key, _, _ in node.caps:
            if (kind, key) not in self.cap_row:
                self.cap_row[kind, key] = self._new_row(self._cap_members(kind, key))
        base = self.n_mentees + self.problem.places.size
        self.lower[base:], self.upper[base:] = -np.inf, np.inf
        for s in node.forced:
            self.lower[self.secondment_row[s]] = 1.0
        for kind, key, low, high in node.caps:
            row = self.cap_row[kind, key]
            self.lower[row] = max(self.lower[row], low)
            self.upper[row] = min(self.upper[row], high)
        for row in range(base, self.lower.size):
            if (self.lower[row], self.upper[row]) != self.row_bounds.get(row):
                self.highs.changeRowBounds(row, self.lower[row], self.upper[row])
                self.row_bounds[row] = (self.lower[row], self.upper[row])
        padded = np.where(self.secs >= 0, self.secs, forbidden.size - 1)
        barred: npt.NDArray[np.bool_] = np.any(forbidden[padded], axis=1)
        pool = self.pool_of_column
        upper = np.full(pool.size, np.inf)
        upper[pool >= 0] = np.where(barred[pool[pool >= 0]], 0.0, np.inf)
        # Only the bounds that change: HiGHS then keeps more of its factorisation.
        current = np.r_[self.column_upper, np.full(pool.size - self.column_upper.size, np.inf)]
        changed = np.flatnonzero(current != upper).astype(np.int32)
        if changed.size:
            self.highs.changeColsBounds(
                changed.size, changed, np.zeros(changed.size), upper[changed]
            )
        self.column_upper = upper

    def solve(self, iteration_limit: int) -> bool:
        """Solve from the current basis, within what is left of ``iteration_limit``."""
        left = iteration_limit - self.iterations
        if left <= 0:
            return False
        self.highs.setOptionValue("simplex_iteration_limit", left)
        self.highs.run()
        self.iterations += self.highs.getInfo().simplex_iteration_count
        return bool(self.highs.getModelStatus() == _highs_core.HighsModelStatus.kOptimal)

    def duals(self) -> FloatArray:
        """Row duals made valid for weak duality: a sign only where that side is bounded."""
        y = np.array(self.highs.getSolution().row_dual)
        return np.where(np.isfinite(self.upper), np.minimum(y, 0.0), 0.0) + np.where(
            np.isfinite(self.lower), np.maximum(y, 0.0), 0.0
        )

    def dual_bound(self, y: FloatArray) -> float:
        """Max-form weak-duality bound of the node from row duals (before reduced scores)."""
        low = np.where(y > 0, y * np.where(np.isfinite(self.lower), self.lower, 0.0), 0.0)
        high = np.where(y < 0, y * np.where(np.isfinite(self.upper), self.upper, 0.0), 0.0)
        return -float(low.sum() + high.sum())

    def values(self) -> tuple[FloatArray, IntArray]:
        """The positive exchange columns' values and their pool indices."""
        x = np.array(self.highs.getSolution().col_value)
        keep = (self.pool_of_column >= 0) & (x > 1e-9)
        return x[keep], self.pool_of_column[keep]


class BranchAndPrice:
    """Best-bound branch and price over the set-packing master (see the module docstring)."""

    def __init__(self, problem: PackingProblem, node_limit: int, iteration_limit: int) -> None:
        self.problem = problem
        self.node_limit = node_limit
        self.iteration_limit = iteration_limit
        self.pool = _Pool()
        self.lp_solves = 0
        self.incumbent: list[int] = []  # pool column indices
        self.incumbent_total = 0
        order = np.argsort(problem.arc, kind="stable")
        self._by_arc = order
        self._arc_start = np.searchsorted(problem.arc[order], np.arange(problem.n_arcs))
        n_m = int(problem.mentee.max()) + 1 if problem.mentee.size else 0
        self._n_mentees = n_m
        self._big = float(problem.score.clip(min=0).sum()) / SCALE + 1.0
        self.master = _Master(problem, n_m, self._big)
        # Pseudo-costs per trust arc: bound lost per unit of flow (down, up), and tries.
        self._loss = np.zeros((problem.n_arcs, 2))
        self._tries = np.zeros((problem.n_arcs, 2), dtype=np.int64)
        self._split_arc: tuple[int, float] | None = None  # the last arc split, its fraction

    # -- pricing -----------------------------------------------------------------------------

    def _best_per_arc(self, reduced: FloatArray) -> tuple[FloatArray, IntArray]:
        """Each trust arc's largest reduced score and the secondment that has it."""
        ordered = reduced[self._by_arc]
        best = np.maximum.reduceat(ordered, self._arc_start)
        counts = np.diff(np.r_[self._arc_start, ordered.size])
        at_best = np.flatnonzero(ordered == np.repeat(best, counts))
        arcs_at_best = self.problem.arc[self._by_arc[at_best]]
        _, first = np.unique(arcs_at_best, return_index=True)
        return best, self._by_arc[at_best[first]]

    def _price(self, reduced: FloatArray, cycle_bonus: FloatArray) -> tuple[float, list[Column]]:
        """The largest reduced score of any exchange, and the best exchanges to add."""
        best, argbest = self._best_per_arc(reduced)
        best = np.r_[best, 0.0]
        argbest = np.r_[argbest, -1]
        value = best[self.problem.cycle_arcs].sum(axis=1) + cycle_bonus
        value[~np.isfinite(value)] = -np.inf
        top = float(value.max()) if value.size else 0.0
        if not top > _PRICE_TOLERANCE:
            return top, []
        count = min(_NEW_COLUMNS, int(np.count_nonzero(value > _PRICE_TOLERANCE)))
        chosen = np.argpartition(-value, count - 1)[:count]
        chosen = chosen[np.lexsort((chosen, -value[chosen]))]
        picks = argbest[self.problem.cycle_arcs[chosen]]
        columns: list[Column] = []
        for c, row in zip(chosen.tolist(), picks.tolist(), strict=True):
            padded = (*sorted(s for s in row if s >= 0), -1, -1, -1)
            columns.append((int(c), (padded[0], padded[1], padded[2])))
        return top, columns

    # -- one node ----------------------------------------------------------------------------

    def _solve_node(self, node: _Node) -> tuple[float, FloatArray, IntArray] | None:
        """Column generation at a node: its bound and its LP's positive columns (values, pool
        indices); None past a work limit."""
        p = self.problem
        forbidden = np.zeros(p.n_secondments + 1, dtype=bool)
        forbidden[list(node.forbidden)] = True
        self.master.enter(node, forbidden)
        n_cycles = p.cycle_arcs.shape[0]
        while True:
            self.lp_solves += 1
            if not self.master.solve(self.iteration_limit):
                return None
            duals = self.master.duals()
            reduced = p.score / SCALE + duals[p.mentee] + duals[self._n_mentees + p.placement]
            for s in node.forced:
                reduced[s] += duals[self.master.secondment_row[s]]
            reduced[forbidden[:-1]] = -np.inf
            cycle_bonus = np.zeros(n_cycles)
            for kind, key, _, _ in node.caps:
                dual = duals[self.master.cap_row[kind, key]]
                if kind == CYCLE:
                    cycle_bonus[key] += dual
                else:
                    reduced[p.arc == key] += dual
            top, new = self._price(reduced, cycle_bonus)
            if not self._add(new):
                bound = self.master.dual_bound(duals) + max(top, 0.0) * self._n_mentees
                values, cols = self.master.values()
                return bound, values, cols

    def _add(self, columns: list[Column]) -> bool:
        """Add the new ones among ``columns`` to the pool and the master: any new?"""
        fresh = [(c, s) for c, s in columns if self.pool.add(c, s)]
        if fresh:
            self.master.add_columns(fresh)
        return bool(fresh)

    # -- the tree ----------------------------------------------------------------------------

    def run(self, incumbent: list[Column]) -> PackingResult:
        """Best-bound search with plunging, from a feasible set of columns (may be empty)."""
        n_cycles = self.problem.cycle_arcs.shape[0]
        self._add(incumbent + self._price(self.problem.score / SCALE, np.zeros(n_cycles))[1])
        self.incumbent = [self.pool.index(secs) for _, secs in incumbent]
        self.incumbent_total = sum(
            int(self.problem.score[[s for s in secs if s >= 0]].sum()) for _, secs in incumbent
        )
        heap: list[_Node] = []
        node: _Node | None = _Node((-np.inf, 0, 0), frozenset(), (), ())
        serial = 0
        nodes = 0
        solved_bound = -1  # the largest bound of a node closed by an integral LP
        while node is not None or heap:
            if node is None:
                node = heapq.heappop(heap)
                if self._cannot_improve(-node.priority[0]):
                    node = None
                    continue
            if nodes >= self.node_limit:
                heapq.heappush(heap, node)
                break
            solved = self._solve_node(node)
            if solved is None:
                heapq.heappush(heap, node)
                break
            nodes += 1
            bound, values, cols = solved
            # A child can do no better than its parent. Deep in the tree some duals give a
            # valid but huge bound (a large leftover reduced score): the parent's is tighter.
            bound = min(bound, -node.priority[0])
            if node.origin is not None and np.isfinite(node.priority[0]):
                arc, direction, moved = node.origin
                self._loss[arc, direction] += (-node.priority[0] - bound) / moved
                self._tries[arc, direction] += 1
            branch = None if self._cannot_improve(bound) else self._branch(node, values, cols)
            if branch is None:
                if not self._cannot_improve(bound):
                    solved_bound = max(solved_bound, self._units(bound))
                node = None
                continue
            depth = 1 - node.priority[1]
            children = [_Node((-bound, -depth, serial + i), *c) for i, c in enumerate(branch)]
            if self._split_arc is not None:  # the ceiling first, then the floor
                arc, fraction = self._split_arc
                children[0].origin = (arc, 1, 1.0 - fraction)
                children[1].origin = (arc, 0, fraction)
            serial += len(children)
            node = children[0]  # plunge: the child that forces a secondment first
            for child in children[1:]:
                heapq.heappush(heap, child)
        open_bound = max((self._units(-n.priority[0]) for n in heap), default=-1)
        bound_units = max(self.incumbent_total, solved_bound, open_bound)
        cycles, secs = self.pool.arrays()
        return PackingResult(
            exchanges=[
                (int(cycles[j]), tuple(int(s) for s in secs[j] if s >= 0)) for j in self.incumbent
            ],
            total=self.incumbent_total,
            bound=bound_units,
            optimal=bound_units <= self.incumbent_total,
            nodes=nodes,
            lp_solves=self.lp_solves,
            iterations=self.master.iterations,
        )

    @staticmethod
    def _units(bound: float) -> int:
        """A float bound in integer units: no integer total above it (round-off allowed)."""
        if not np.isfinite(bound):
            return np.iinfo(np.int64).max
        return int(np.floor(bound * SCALE + 1e-4))

    def _cannot_improve(self, bound: float) -> bool:
        return self._units(bound) <= self.incumbent_total

    def _branch(self, node: _Node, values: FloatArray, cols: IntArray) -> list[Branch] | None:
        """The children of a fractional node, or None after recording an integral one."""
        p = self.problem
        self._split_arc = None
        cycles, secs = self.pool.arrays()
        secs, cycles = secs[cols], cycles[cols]
        used = values > 1e-9
        x = np.zeros(p.n_secondments)
        flat = secs[used]
        weight = np.repeat(values[used], 3).reshape(-1, 3)
        np.add.at(x, flat[flat >= 0], weight[flat >= 0])
        flow = np.bincount(p.arc, weights=x, minlength=p.n_arcs).astype(np.float64)
        if np.abs(flow - np.round(flow)).max(initial=0.0) > 1e-6:
            arc = self._arc_to_branch(flow)
            self._split_arc = (arc, float(flow[arc] - np.floor(flow[arc])))
            return self._split(node, ARC, flow, arc)
        frac = np.abs(x - np.round(x))
        if frac.max(initial=0.0) > 1e-6:
            closeness = np.abs(x - 0.5)
            s = int(np.lexsort((-p.score, closeness))[0])
            others = np.flatnonzero(p.mentee == p.mentee[s])
            return [
                (node.forbidden | {int(o) for o in others if o != s}, (*node.forced, s), node.caps),
                (node.forbidden | {s}, node.forced, node.caps),
            ]
        n_cycles = p.cycle_arcs.shape[0]
        y = np.bincount(cycles[used], weights=values[used], minlength=n_cycles).astype(np.float64)
        if np.abs(y - np.round(y)).max(initial=0.0) > 1e-6:
            return self._split(node, CYCLE, y)
        self._record(np.flatnonzero(np.round(x) == 1), np.round(y).astype(np.int64))
        return None

    def _arc_to_branch(self, flow: FloatArray) -> int:
        """The trust arc to branch on, by reliability branching.

        Every fractional arc is scored by pseudo-costs (the bound its children lost per unit
        of flow when tried before; the average for an arc never tried); the best few that
        have been tried fewer than ``_RELIABLE`` times are tried now: both children re-solved
        from the node's basis without pricing, within a few simplex iterations (counted as
        work). The arc whose weaker child loses most bound wins. Without it each branch
        closed a small share of the gap and the tree grew wide.
        """
        down = flow - np.floor(flow)
        fractional = np.flatnonzero(np.abs(down - 0.5) < 0.5 - 1e-6)
        known = self._tries > 0
        mean = np.where(
            known.any(axis=0),
            (self._loss * known).sum(axis=0) / np.maximum(self._tries.sum(axis=0), 1),
            1.0,
        )
        rate = np.where(known, self._loss / np.maximum(self._tries, 1), mean)
        estimate = self._score(
            rate[fractional, 0] * down[fractional], rate[fractional, 1] * (1 - down[fractional])
        )
        order = fractional[np.lexsort((fractional, -estimate))]
        scores = dict(zip(fractional.tolist(), estimate.tolist(), strict=True))
        trials = [int(a) for a in order[:_STRONG_CANDIDATES] if self._tries[a].min() < _RELIABLE]
        if trials and fractional.size > 1:
            master = self.master
            parent = master.highs.getInfo().objective_function_value  # min-form
            for arc in trials:  # free rows first, so one basis serves every trial
                if (ARC, arc) not in master.cap_row:
                    master.cap_row[ARC, arc] = master._new_row(master._cap_members(ARC, arc))
            basis = master.highs.getBasis()
            for arc in trials:
                row = master.cap_row[ARC, arc]
                low, high = master.lower[row], master.upper[row]
                below = float(np.floor(flow[arc]))
                drops = []
                for child_low, child_high in ((low, below), (max(low, below + 1.0), high)):
                    master.highs.changeRowBounds(row, child_low, child_high)
                    master.solve(min(master.iterations + _STRONG_ITERATIONS, self.iteration_limit))
                    value = master.highs.getInfo().objective_function_value
                    drops.append(max(value - parent, 0.0))
                    master.highs.setBasis(basis)
                master.highs.changeRowBounds(row, low, high)
                fraction = down[arc]
                self._loss[arc] += (drops[0] / fraction, drops[1] / (1 - fraction))
                self._tries[arc] += 1
                scores[arc] = self._score(np.array(drops[0]), np.array(drops[1])).item()
        return max(scores, key=lambda a: (scores[a], -a))

    @staticmethod
    def _score(down: FloatArray, up: FloatArray) -> FloatArray:
        """A branching candidate's score from its children's losses of bound."""
        return _STRONG_WEAKER * np.minimum(down, up) + np.maximum(down, up)

    @staticmethod
    def _split(node: _Node, kind: int, counts: FloatArray, key: int | None = None) -> list[Branch]:
        """Branch on the count (arc flow or cycle runs) whose fraction is nearest a half:
        at least its ceiling (first: the plunge) or at most its floor."""
        if key is None:
            key = int(np.argmin(np.abs(counts - np.floor(counts) - 0.5)))
        low = float(np.floor(counts[key]))
        return [
            (node.forbidden, node.forced, (*node.caps, (kind, key, low + 1.0, np.inf))),
            (node.forbidden, node.forced, (*node.caps, (kind, key, -np.inf, low))),
        ]

    def _record(self, chosen: IntArray, runs: IntArray) -> None:
        """An integral x and y as a set of exchanges: deal each arc's secondments to the runs."""
        p = self.problem
        total = int(p.score[chosen].sum())
        if total <= self.incumbent_total:
            return
        by_arc: dict[int, list[int]] = {}
        for s in sorted(chosen.tolist()):
            by_arc.setdefault(int(p.arc[s]), []).append(s)
        columns = []
        for c in np.flatnonzero(runs).tolist():
            for _ in range(int(runs[c])):
                picked = [by_arc[a].pop() for a in p.cycle_arcs[c].tolist() if a < p.n_arcs]
                padded = (*sorted(picked), -1, -1, -1)
                secs = (padded[0], padded[1], padded[2])
                self._add([(c, secs)])
                columns.append(self.pool.index(secs))
        self.incumbent, self.incumbent_total = columns, total
        log.debug("exchanges: incumbent %.6f after %d LP solves", total / SCALE, self.lp_solves)

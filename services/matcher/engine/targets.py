"""Fairness targets: the best total score with every group matched at a share of a reference rate.

Each target says: group g's match rate is at least ``share_g`` times a reference rate among the
mentees a round counts (those who list a gap and seek this kind of match): the overall rate, or
the rate of everyone outside the group (``Group.against_others``: small trusts' staff against
large trusts'). With k matched mentees of n, and k_g of the group's n_g, that is the linear
constraint

    slack_g(x) = k_g - share_g * (n_g / n) * k >= 0                          (overall), or
    slack_g(x) = k_g - share_g * (n_g / (n - n_g)) * (k - k_g) >= 0          (the others),

added to the assignment. A few side constraints make the problem NP-hard in general (it contains
budgeted bipartite matching), so it is solved by Lagrangian relaxation: with a price beta_g >= 0
per group, every mentee's edges get the bonus  sum_g beta_g * ([mentee in g] - share_g n_g / n),
and the assignment with those bonuses (the ordinary min-cost flow) gives

    D(beta) = max_x  score(x) + beta . slack(x)  >=  the constrained optimum,

for every beta >= 0 (weak duality), while every x it returns with all slacks >= 0 is a feasible
matching. Kelley's cutting planes minimise D over beta (a tiny LP over the cuts seen so far);
the Lagrangian's own solutions are extreme (ties at the optimal prices are broken all one way),
so the best feasible one is improved by switching pieces of its difference with the infeasible
ones (``_repair``). The result is that matching and the smallest D: an upper bound on the
constrained optimum. Their difference, ``bound_gap``, certifies how close to exact the result
is (it is 0 when no target binds; at a binding target it is the integrality gap, a fraction of
one mentee's score). The price of fairness is the free optimum minus the chosen total.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components

from services.matcher.engine.assignment import Assignment, FloatArray
from services.matcher.engine.contract import CandidateEdges, FairnessOutcome, GroupOutcome

log = logging.getLogger(__name__)

# The Lagrangian solve: an assignment of the candidates with this bonus per edge added.
Solve = Callable[[FloatArray | None], Assignment]
MAX_ROUNDS = 40  # cutting-plane rounds (each one assignment solve); a work limit, not a clock
TOLERANCE = 1e-9  # relative: D's upper bound and the cuts' lower bound this close is converged
# Relative: a feasible matching this close to the upper bound ends the search. Each further
# solve holds the network's lock (arrivals wait) for a gain the certified gap shows is below
# a hundredth of a percent of the round's score.
GOOD_ENOUGH = 1e-4


@dataclass(frozen=True)
class Group:
    """A fairness group among the candidate mentees, with its target share of the overall rate."""

    name: str
    members: npt.NDArray[np.bool_]  # by mentee position in the candidates
    share: float
    against_others: bool = False  # the share is of the others' rate, not the overall rate


def solve_with_targets(
    candidates: CandidateEdges,
    counted: npt.NDArray[np.bool_],
    groups: list[Group],
    solve: Solve,
) -> tuple[Assignment, FairnessOutcome]:
    """The best assignment meeting every group's target, with its price and certified gap.

    ``counted`` marks the mentees the rates are over. Groups without a target or without a
    counted member impose nothing.
    """
    active = [
        g
        for g in groups
        if g.share > 0
        and np.any(g.members & counted)
        and (not g.against_others or np.any(counted & ~g.members))
    ]
    free = solve(None)
    search = _Search(candidates, counted, active, solve, free)
    chosen, upper = search.run()
    return chosen, _outcome(candidates, counted, groups, free, chosen, upper, search.rounds)


class _Search:
    def __init__(
        self,
        candidates: CandidateEdges,
        counted: npt.NDArray[np.bool_],
        groups: list[Group],
        solve: Solve,
        free: Assignment,
    ) -> None:
        self.candidates = candidates
        self.solve = solve
        self.weight = np.array(
            [_slack_weights(g, counted) for g in groups], dtype=np.float64
        ).reshape(len(groups), counted.size)
        self.cuts: list[tuple[float, FloatArray]] = []
        self.best: Assignment | None = None
        self.infeasible: list[Assignment] = []
        self.feasible: list[Assignment] = []
        self.upper = np.inf
        self.rounds = 0
        self.free = free
        largest = float(candidates.score.max()) if candidates.edge_count else 1.0
        self.box = 4.0 * max(largest, 1e-9)
        self.dominant = self.box  # a price above any difference of two scores
        self.seen: set[bytes] = set()  # the matchings solved so far, by their edges

    def run(self) -> tuple[Assignment, float]:
        beta = np.zeros(len(self.weight))
        result = self.free
        self._record(beta, result)
        if self.best is self.free:  # the free optimum meets every target: it is the optimum
            return self.free, self.free.total_score
        stuck = False
        while self.rounds < MAX_ROUNDS:
            box = self.box
            prices = self._next_beta()
            if prices is None:  # the price LP failed numerically: keep what the cuts have found
                break
            beta, lower = prices
            if self.upper - lower <= TOLERANCE * max(abs(self.upper), 1.0) or self._close():
                break
            short = self._short()
            result = self.solve(self._bonus(beta))
            if self._record(beta, result):
                # The same matching again adds no cut: with the box unchanged the next prices
                # would be these (the cuts have converged); at prices above every score nothing
                # higher moves a group either, and raising them below is no use.
                stuck = self._dominant(beta, short)
                if stuck or box == self.box:
                    break
        # At the optimal prices the flow may return only infeasible extremes: raise the prices
        # of the groups still short until a feasible matching appears (or the rounds run out).
        step = self.box / 64
        while self.best is None and not stuck and self.rounds < MAX_ROUNDS:
            short = self._short()
            beta = beta + step * short
            step *= 2
            result = self.solve(self._bonus(beta))
            stuck = self._record(beta, result) and self._dominant(beta, short)
        if self.best is None:  # no feasible matching found: the targets cannot all be met
            return result, self.upper
        for feasible in list(self.feasible):
            for infeasible in self.infeasible:
                repaired = self._repair(infeasible, feasible)
                if repaired.total_score > self.best.total_score:
                    self.best = repaired
        return self.best, self.upper

    def _close(self) -> bool:
        """The best feasible matching is within ``GOOD_ENOUGH`` of the upper bound."""
        if self.best is None:
            return False
        return self.upper - self.best.total_score <= GOOD_ENOUGH * max(abs(self.upper), 1.0)

    def _repair(self, start: Assignment, feasible: Assignment) -> Assignment:
        """The best of ``start``'s moves toward ``feasible`` that meets the targets.

        The pairs in one matching and not the other fall into connected pieces (alternating
        paths and cycles through mentees and providers). Any set of pieces can be switched
        independently: each mentee's and provider's changed pairs lie in one piece, so places
        stay respected. At the Lagrangian optimum most pieces cost little; switching the ones
        that buy the missing slack cheapest (greedily) recovers a good feasible matching that
        the extreme solutions the flow returns both miss.
        """
        pieces = _pieces(self.candidates, start.edges, feasible.edges)
        if not pieces:
            return feasible
        gains = np.array(
            [self.candidates.score[b].sum() - self.candidates.score[a].sum() for a, b in pieces]
        )
        slacks = np.array([self._slack_change(a, b) for a, b in pieces])
        slack = self.slack(start)
        chosen = np.zeros(len(pieces), dtype=bool)
        while np.any(slack < -1e-9):
            need = np.maximum(-slack, 0.0)
            helps = np.minimum(np.maximum(slacks, 0.0), need).sum(axis=1)
            value = np.where(~chosen & (helps > 0), gains / np.maximum(helps, 1e-12), -np.inf)
            if not np.isfinite(value.max()):
                return feasible
            best = int(np.argmax(value))
            chosen[best] = True
            slack = slack + slacks[best]
        # Then every remaining piece that gains score without breaking a target.
        for i in np.argsort(-gains, kind="stable"):
            if not chosen[i] and gains[i] > 0 and np.all(slack + slacks[i] >= -1e-9):
                chosen[i] = True
                slack = slack + slacks[i]
        keep = set(start.edges.tolist())
        for i in np.flatnonzero(chosen):
            a, b = pieces[i]
            keep -= set(a.tolist())
            keep |= set(b.tolist())
        edges = np.array(sorted(keep), dtype=np.int64)
        return Assignment(edges=edges, total_score=float(self.candidates.score[edges].sum()))

    def _slack_change(
        self, removed: npt.NDArray[np.int64], added: npt.NDArray[np.int64]
    ) -> FloatArray:
        change = np.zeros(self.weight.shape[1])
        change[self.candidates.mentee_index[removed]] -= 1.0
        change[self.candidates.mentee_index[added]] += 1.0
        result: FloatArray = self.weight @ change
        return result

    def _short(self) -> npt.NDArray[np.bool_]:
        """The groups the last matching solved leaves short of their target (its recorded cut)."""
        short: npt.NDArray[np.bool_] = self.cuts[-1][1] < -1e-9
        return short

    def _dominant(self, beta: FloatArray, short: npt.NDArray[np.bool_]) -> bool:
        """Every short group's price is above any pair's score: taking a member for anyone
        else pays more than any score can, so a matching unmoved at these prices stays so.
        (Pending proposals the re-solve keeps are such: their mentees stay matched at any
        price, and where they hold every place no price moves a group.)"""
        return bool(np.any(short)) and bool(np.all(beta[short] >= self.dominant))

    def _record(self, beta: FloatArray, result: Assignment) -> bool:
        """Keeps ``result``'s cut; whether the search had already seen this matching."""
        key = result.edges.tobytes()
        seen = key in self.seen
        self.seen.add(key)
        self.rounds += 1
        slack = self.slack(result)
        value = result.total_score
        self.cuts.append((value, slack))
        self.upper = min(self.upper, value + float(beta @ slack))
        if np.all(slack >= -1e-9):
            self.feasible.append(result)
            if self.best is None or value > self.best.total_score:
                self.best = result
        else:
            self.infeasible.append(result)
        return seen

    def slack(self, result: Assignment) -> FloatArray:
        matched = np.zeros(self.weight.shape[1])
        matched[self.candidates.mentee_index[result.edges]] = 1.0
        slack: FloatArray = self.weight @ matched
        return slack

    def _next_beta(self) -> tuple[FloatArray, float] | None:
        """The minimum of the cutting-plane model max_i (value_i + beta . slack_i) in the box."""
        groups = len(self.weight)
        # Variables (beta_1..beta_G, t): minimise t with t >= value_i + beta . slack_i.
        cost = np.zeros(groups + 1)
        cost[-1] = 1.0
        rows = np.array([[*slack, -1.0] for _, slack in self.cuts])
        bounds = [(0.0, self.box)] * groups + [(None, None)]
        found = linprog(
            cost,
            A_ub=rows,
            b_ub=-np.array([value for value, _ in self.cuts]),
            bounds=bounds,
            method="highs",
        )
        if found.status != 0:
            # HiGHS can fail on a nearly degenerate model (seen on rounds of a few hundred
            # mentees). The round must still propose: the search ends with the best matching
            # found and its certified gap, rather than failing the network's round.
            log.warning(
                "fairness price search stopped after %d solves: %s", self.rounds, found.message
            )
            return None
        beta = np.asarray(found.x[:groups], dtype=np.float64)
        if np.any(beta >= self.box * (1 - 1e-9)) and self.best is None:
            self.box *= 4.0  # the price of the targets is higher than the box allowed
        return beta, float(found.x[-1])

    def _bonus(self, beta: FloatArray) -> FloatArray:
        per_mentee = beta @ self.weight
        bonus: FloatArray = per_mentee[self.candidates.mentee_index]
        return bonus


def _slack_weights(group: Group, counted: npt.NDArray[np.bool_]) -> FloatArray:
    """Per mentee: d slack_g / d (mentee matched). Against the overall rate it is
    [in g] - share n_g / n for every counted mentee; against the others' rate, 1 for a member
    and -share n_g / (n - n_g) for a counted mentee outside the group."""
    members = group.members & counted
    n_group = float(members.sum())
    if group.against_others:
        others = counted & ~group.members
        ratio = group.share * n_group / max(float(others.sum()), 1.0)
        weights: FloatArray = members - ratio * others
    else:
        weights = members - group.share * n_group / max(float(counted.sum()), 1.0) * counted
    return weights.astype(np.float64)


def _pieces(
    candidates: CandidateEdges, first: npt.NDArray[np.int64], second: npt.NDArray[np.int64]
) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """Connected pieces of the pairs in exactly one of two matchings: (first's, second's)."""
    only_first = np.setdiff1d(first, second)
    only_second = np.setdiff1d(second, first)
    edges = np.concatenate((only_first, only_second))
    if edges.size == 0:
        return []
    n_mentees = len(candidates.mentee_ids)
    mentee = candidates.mentee_index[edges].astype(np.int64)
    provider = n_mentees + candidates.provider_index[edges].astype(np.int64)
    size = n_mentees + len(candidates.provider_ids)
    graph = sp.coo_matrix((np.ones(edges.size), (mentee, provider)), shape=(size, size))
    _, label = connected_components(graph, directed=False)
    piece = label[mentee]
    in_first = np.arange(edges.size) < only_first.size
    return [
        (edges[(piece == p) & in_first], edges[(piece == p) & ~in_first]) for p in np.unique(piece)
    ]


def _outcome(
    candidates: CandidateEdges,
    counted: npt.NDArray[np.bool_],
    groups: list[Group],
    free: Assignment,
    chosen: Assignment,
    upper: float,
    rounds: int,
) -> FairnessOutcome:
    matched = np.zeros(len(candidates.mentee_ids), dtype=bool)
    matched[candidates.mentee_index[chosen.edges]] = True
    matched &= counted
    overall = float(matched.sum() / counted.sum()) if counted.any() else None
    outcomes = []
    for group in groups:
        members = group.members & counted
        rate = float(matched[members].mean()) if members.any() else None
        ratio = rate / overall if rate is not None and overall else None
        others = counted & ~group.members
        others_rate = float(matched[others].mean()) if others.any() else None
        to_others = rate / others_rate if rate is not None and others_rate else None
        reached = to_others if group.against_others else ratio
        outcomes.append(
            GroupOutcome(
                group=group.name,
                target_share=group.share,
                mentees=int(members.sum()),
                matched=int(matched[members].sum()),
                rate_to_overall=ratio,
                reference="others" if group.against_others else "overall",
                rate_to_reference=reached,
                met=reached is None or group.share <= 0 or reached >= group.share - 1e-12,
            )
        )
    price = free.total_score - chosen.total_score
    return FairnessOutcome(
        total_score=chosen.total_score,
        free_total_score=free.total_score,
        price=price,
        price_pct=100 * price / free.total_score if free.total_score > 0 else 0.0,
        bound_gap=max(0.0, upper - chosen.total_score),
        overall_rate=overall,
        groups=tuple(outcomes),
        solves=rounds,
    )

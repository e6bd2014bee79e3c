"""The engine: candidates, then a solver, then proposals that explain themselves.

Mentoring: each mentee's best candidate mentors (``build_candidates``) are assigned globally —
the largest total score that meets the fairness targets (``mode="optimal"``, targets.py) or the
mentee-optimal stable matching (``mode="stable"``). Secondments: exchange cycles between
trusts first, since they cost no trust any staff; then, if configured, the remaining placement
places as one-way secondments.

Pending proposals in the input make re-solves sticky: in optimal mode a pending pair is only
replaced by one at least ``replace_margin`` better; a pending exchange stays as long as all of
its secondments are still admissible. Stable mode recomputes from scratch: pinning pairs would
break the stability it promises (deferred acceptance is deterministic, so an unchanged input
gives unchanged proposals anyway).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import numpy as np

from services.matcher.engine.assignment import Assignment, FloatArray, IntArray, solve_assignment
from services.matcher.engine.candidates import (
    Explainer,
    build_candidates,
    build_placement_candidates,
)
from services.matcher.engine.config import FairnessGroup, FairnessOptions, MatchingConfig
from services.matcher.engine.contract import (
    CandidateEdges,
    FairnessOutcome,
    MatchingInput,
    MatchingResult,
    PendingProposal,
    Proposal,
)
from services.matcher.engine.exchanges import Exchange, find_exchanges
from services.matcher.engine.incremental import Solver, resolve_keeping_pending
from services.matcher.engine.scoring import ScoreTables, ScoringContext, fairness_groups
from services.matcher.engine.stable import (
    blocks_reaching,
    pairs_reaching,
    solve_stable_everywhere,
)
from services.matcher.engine.targets import Group, solve_with_targets
from services.matcher.engine.two_sided import StatedOrders, solve_two_sided_everywhere
from shared.matching import MatchKind
from shared.people import WorkingPattern
from shared.skills import DEFAULT_TAXONOMY, Taxonomy

# (provider id, mentee id, score, exchange id)
Chosen = tuple[str, str, float, str | None]


class BridgeworkEngine:
    """Implements ``MatchingEngine``; one instance serves many rounds with one configuration."""

    def __init__(self, config: MatchingConfig, taxonomy: Taxonomy = DEFAULT_TAXONOMY) -> None:
        self.config = config
        self.taxonomy = taxonomy

    def propose(self, data: MatchingInput) -> MatchingResult:
        context = ScoringContext.build(data, self.config, self.taxonomy)
        explainer = Explainer(context)
        kept = {(p.kind, p.provider_id, p.mentee_id) for p in data.pending}
        mentoring, fairness = self._mentoring(data, context)
        secondments = self._secondments(data, context) if data.placements else []
        proposals = [
            self.proposal(explainer, MatchKind.MENTORING, chosen, kept) for chosen in mentoring
        ] + [self.proposal(explainer, MatchKind.SECONDMENT, chosen, kept) for chosen in secondments]
        proposals.sort(key=lambda p: (p.kind, p.exchange_id or "", p.mentee_id))
        return MatchingResult(proposals=tuple(proposals), fairness=fairness)

    def _mentoring(
        self, data: MatchingInput, context: ScoringContext
    ) -> tuple[list[Chosen], FairnessOutcome | None]:
        candidates, full = self.mentoring_candidates(data, context)
        return self.assign_mentoring(candidates, data, context, full)

    def mentoring_candidates(
        self, data: MatchingInput, context: ScoringContext
    ) -> tuple[CandidateEdges, bool]:
        """The mentoring pairs ``propose`` solves over (mentee loads set), and whether they are
        every admissible pair (a small round) rather than each side's best."""
        full = len(data.mentors) * len(data.mentees) <= self.config.full_candidates_up_to_pairs
        candidates = with_mentee_loads(
            build_candidates(data, self.config, full=full, context=context), data, self.config
        )
        return candidates, full

    def assign_mentoring(
        self, candidates: CandidateEdges, data: MatchingInput, context: ScoringContext, full: bool
    ) -> tuple[list[Chosen], FairnessOutcome | None]:
        """The mentoring pairs chosen among ``candidates`` (mentee loads set), by the configured
        solver: what ``propose`` does once it has scored the candidates."""
        pending = pending_pairs(data, MatchKind.MENTORING)
        if self.config.mode == "stable":
            # Targets are side constraints of an optimisation; a stable matching has none.
            result, candidates = self.solve(candidates, data, context, MatchKind.MENTORING, full)
            outcome = None
        else:
            result, outcome = solve_with_targets(
                candidates,
                np.array([m.seeks(MatchKind.MENTORING) for m in data.mentees], dtype=bool),
                target_groups(data, self.config.fairness),
                lambda bonus: resolve_keeping_pending(
                    candidates, pending, self.config.replace_margin, solve=with_bonus(bonus)
                ),
            )
        return [(p, m, s, None) for p, m, s in result.pairs(candidates)], outcome

    def solve(
        self,
        candidates: CandidateEdges,
        data: MatchingInput,
        context: ScoringContext,
        kind: MatchKind,
        full: bool,
    ) -> tuple[Assignment, CandidateEdges]:
        """The configured solver on one kind's candidate edges, and the edges it ended with.

        Stable mode is stable over every admissible pair: it may score more pairs than the
        candidates hold (``solve_stable_everywhere``), and returns them with the result.
        """
        if self.config.mode == "stable":
            tables, chunk = ScoreTables.build(context, kind), self.config.chunk_size
            top_k = None if full else self.config.top_k
            if kind is MatchKind.MENTORING:
                orders = StatedOrders.of(data, candidates)
                if orders.any:  # each side its own order: not one score, no greedy shortcut
                    more_pairs = pairs_reaching(tables, chunk)
                    return solve_two_sided_everywhere(candidates, orders, more_pairs, top_k)
            return solve_stable_everywhere(candidates, blocks_reaching(tables, chunk), top_k)
        pending = pending_pairs(data, kind)
        return resolve_keeping_pending(candidates, pending, self.config.replace_margin), candidates

    def _secondments(self, data: MatchingInput, context: ScoringContext) -> list[Chosen]:
        full = len(data.placements) * len(data.mentees) <= self.config.full_candidates_up_to_pairs
        candidates = with_mentee_loads(
            build_placement_candidates(data, self.config, full=full, context=context),
            data,
            self.config,
        )
        kept, candidates = keep_pending_exchanges(candidates, data)
        exchanges = self._exchanges(candidates, data)
        chosen = kept + [(*_pair(candidates, e), x.id) for x in exchanges for e in x.edges]
        if self.config.one_way_secondments:
            used = np.array([e for x in exchanges for e in x.edges], dtype=np.int64)
            residual = without_edges(candidates, used)
            result, residual = self.solve(residual, data, context, MatchKind.SECONDMENT, full)
            chosen += [(p, m, s, None) for p, m, s in result.pairs(residual)]
        return chosen

    def _exchanges(self, candidates: CandidateEdges, data: MatchingInput) -> list[Exchange]:
        if not self.config.exchanges:
            return []
        mentee_trust = {m.id: m.trust_code for m in data.mentees}
        placements = {p.id: p for p in data.placements}
        return find_exchanges(
            candidates,
            [mentee_trust[m] for m in candidates.mentee_ids],
            [placements[p].host_trust_code for p in candidates.provider_ids],
            max_length=self.config.max_exchange_trusts,
            asks_nothing_back=[placements[p].asks_nothing_back for p in candidates.provider_ids],
            node_limit=self.config.exchange_node_limit,
            iteration_limit=self.config.exchange_iteration_limit,
        )

    @staticmethod
    def proposal(
        explainer: Explainer, kind: MatchKind, chosen: Chosen, kept: set[tuple[MatchKind, str, str]]
    ) -> Proposal:
        """The chosen pair as a proposal, explained unless it is a pending one kept."""
        provider_id, mentee_id, score, exchange_id = chosen
        is_kept = (kind, provider_id, mentee_id) in kept
        return Proposal(
            kind=kind,
            provider_id=provider_id,
            mentee_id=mentee_id,
            score=score,
            explanation=None if is_kept else explainer.explain(kind, provider_id, mentee_id),
            exchange_id=exchange_id,
        )


def with_bonus(bonus: FloatArray | None) -> Solver:
    """``solve_assignment`` with a fixed extra bonus per edge (the fairness prices)."""
    if bonus is None:
        return solve_assignment

    def solve(candidates: CandidateEdges, extra: FloatArray | None) -> Assignment:
        return solve_assignment(candidates, bonus if extra is None else bonus + extra)

    return solve


def target_groups(data: MatchingInput, options: FairnessOptions) -> list[Group]:
    """Each fairness group's members (by mentee position) and its target share."""
    trusts = {t.code: t for t in data.trusts}
    memberships = [fairness_groups(m, trusts) for m in data.mentees]
    return [
        Group(
            name=group.value,
            members=np.array([group in mine for mine in memberships], dtype=bool),
            share=options.target(group),
            against_others=options.against_others(group),
        )
        for group in FairnessGroup
    ]


def build_engine(config: MatchingConfig | None = None) -> BridgeworkEngine:
    return BridgeworkEngine(config or MatchingConfig())


def with_mentee_loads(
    candidates: CandidateEdges, data: MatchingInput, config: MatchingConfig
) -> CandidateEdges:
    """Part-time mentees take ``config.part_time_load`` of a place (see assignment.py)."""
    part_time = {m.id for m in data.mentees if m.working_pattern is WorkingPattern.PART_TIME}
    load = np.array(
        [config.part_time_load if m in part_time else 1.0 for m in candidates.mentee_ids]
    )
    return replace(candidates, mentee_load=load)


def pending_pairs(data: MatchingInput, kind: MatchKind) -> list[tuple[str, str]]:
    """Pending (provider, mentee) pairs of one kind that are not part of an exchange."""
    return [
        (p.provider_id, p.mentee_id)
        for p in data.pending
        if p.kind == kind and p.exchange_id is None
    ]


def keep_pending_exchanges(
    candidates: CandidateEdges, data: MatchingInput
) -> tuple[list[Chosen], CandidateEdges]:
    """Pending exchanges whose secondments are all still admissible, and what is left after."""
    edge_of = {_pair(candidates, e)[:2]: e for e in np.flatnonzero(candidates.score > 0).tolist()}
    groups: dict[str, list[PendingProposal]] = defaultdict(list)
    for pending in data.pending:
        if pending.kind == MatchKind.SECONDMENT and pending.exchange_id is not None:
            groups[pending.exchange_id].append(pending)
    kept: list[Chosen] = []
    used: list[int] = []
    for exchange_id, members in sorted(groups.items()):
        edges = [edge_of.get((p.provider_id, p.mentee_id)) for p in members]
        if len(members) >= 2 and all(e is not None for e in edges):
            found = [int(e) for e in edges if e is not None]
            if _fits(candidates, used + found):
                used += found
                kept += [(*_pair(candidates, e), exchange_id) for e in found]
    return kept, without_edges(candidates, np.array(used, dtype=np.int64))


def _fits(candidates: CandidateEdges, edges: list[int]) -> bool:
    mentees = candidates.mentee_index[edges]
    taken = np.bincount(candidates.provider_index[edges], minlength=len(candidates.provider_ids))
    return len(set(mentees.tolist())) == len(edges) and bool(
        np.all(taken <= np.floor(candidates.provider_capacity + 1e-9))
    )


def without_edges(candidates: CandidateEdges, used: IntArray) -> CandidateEdges:
    """The candidates left once ``used`` edges are taken: their mentees out, places reduced."""
    if used.size == 0:
        return candidates
    taken = np.bincount(candidates.provider_index[used], minlength=len(candidates.provider_ids))
    busy = np.zeros(len(candidates.mentee_ids), dtype=bool)
    busy[candidates.mentee_index[used]] = True
    keep = ~busy[candidates.mentee_index]
    return replace(
        candidates,
        provider_capacity=np.maximum(candidates.provider_capacity - taken, 0.0),
        mentee_index=candidates.mentee_index[keep],
        provider_index=candidates.provider_index[keep],
        score=candidates.score[keep],
    )


def _pair(candidates: CandidateEdges, edge: int) -> tuple[str, str, float]:
    return (
        candidates.provider_ids[int(candidates.provider_index[edge])],
        candidates.mentee_ids[int(candidates.mentee_index[edge])],
        float(candidates.score[edge]),
    )

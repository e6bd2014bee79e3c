"""Bridgework's matching engine: pure Python, no Kafka, SQL or HTTP.

``build_engine(config).propose(data)`` turns a ``MatchingInput`` into proposals with scores and
explanations. The solvers are usable alone on ``CandidateEdges``.
"""

from services.matcher.engine.assignment import Assignment, Places, solve_assignment
from services.matcher.engine.candidates import (
    Explainer,
    build_candidates,
    build_placement_candidates,
)
from services.matcher.engine.config import MatchingConfig
from services.matcher.engine.contract import (
    CandidateEdges,
    FairnessOutcome,
    MatchingEngine,
    MatchingInput,
    MatchingResult,
    PendingProposal,
    Proposal,
)
from services.matcher.engine.exchanges import Exchange, find_exchanges
from services.matcher.engine.fairness import FairnessReport, fairness_report
from services.matcher.engine.incremental import resolve_keeping_pending
from services.matcher.engine.optimal import BridgeworkEngine, build_engine
from services.matcher.engine.pruning import ProviderBest, with_provider_best
from services.matcher.engine.stable import blocking_pairs, solve_stable

__all__ = [
    "Assignment",
    "BridgeworkEngine",
    "CandidateEdges",
    "Exchange",
    "Explainer",
    "FairnessOutcome",
    "FairnessReport",
    "MatchingConfig",
    "MatchingEngine",
    "MatchingInput",
    "MatchingResult",
    "PendingProposal",
    "Places",
    "Proposal",
    "ProviderBest",
    "blocking_pairs",
    "build_candidates",
    "build_engine",
    "build_placement_candidates",
    "fairness_report",
    "find_exchanges",
    "resolve_keeping_pending",
    "solve_assignment",
    "solve_stable",
    "with_provider_best",
]

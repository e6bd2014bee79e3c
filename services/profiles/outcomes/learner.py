"""Learning score weights from a network's history (docs/outcomes.md), with scikit-learn.
Pure: history in, a suggestion with its evidence out; no SQL, no Kafka.

Each decided proposal is one example: its score parts (skills, region, availability,
preferences, text: each in [0, 1], as its explanation recorded them) and whether it was good,
meaning the coordinator approved it and it did not turn out badly (ended early, or rated 1-2
for usefulness). A logistic regression on the parts fits what coordinators approve and what
works; its coefficients, clipped at zero and normalised, are the suggested weights.

The evidence: how much history there is; the ranking quality (ROC AUC: the chance a good
proposal scores above a bad one) of the current and the suggested weights on held-out history,
by stratified k-fold cross-validation (each fold's weights are fitted without it); and which
pending proposals would change. A suggestion is refused when, choosing as many proposals as
were approved, it would leave any group's match rate below 0.9 times the overall rate and
lower than the current weights leave it; with too little history nothing is suggested."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from uuid import UUID

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

COMPONENTS = ("skills", "region", "availability", "preferences", "text")
GROUPS = ("part_time", "social_care", "small_trust")
MIN_HISTORY = 40  # decided proposals
MIN_EACH = 10  # good and not-good examples each
FAIRNESS_FLOOR = 0.9
FOLDS = 5

Weights = Mapping[str, float]


@dataclass(frozen=True)
class Example:
    """One decided proposal of the history."""

    parts: Mapping[str, float]
    good: bool  # approved, and not ended early nor rated 1-2
    mentee: str
    groups: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Pending:
    match_id: UUID
    mentee: str
    parts: Mapping[str, float]


@dataclass(frozen=True)
class Change:
    """A mentee whose best pending proposal would be another one under the suggestion."""

    mentee: str
    now_first: UUID
    then_first: UUID


@dataclass(frozen=True)
class Suggestion:
    history: int
    good: int
    current: dict[str, float]
    suggested: dict[str, float] | None  # None: nothing suggested (see ``refused``)
    current_auc: float | None = None  # mean held-out ROC AUC over the folds
    suggested_auc: float | None = None
    current_auc_spread: tuple[float, float] | None = None  # (min, max) over the folds
    suggested_auc_spread: tuple[float, float] | None = None
    folds: int = 0
    overall_rate: float | None = None  # under the suggestion
    group_rates: dict[str, float] | None = None  # under the suggestion
    current_group_rates: dict[str, float] | None = None
    changes: tuple[Change, ...] = ()
    refused: str | None = None  # why nothing is suggested


def normalised(weights: Weights) -> dict[str, float]:
    total = sum(max(0.0, weights.get(c, 0.0)) for c in COMPONENTS)
    if total <= 0:
        return {c: 0.0 for c in COMPONENTS}
    return {c: max(0.0, weights.get(c, 0.0)) / total for c in COMPONENTS}


def _matrix(parts: Sequence[Mapping[str, float]]) -> NDArray[np.float64]:
    return np.array([[p.get(c, 0.0) for c in COMPONENTS] for p in parts], dtype=np.float64)


def fit_weights(x: NDArray[np.float64], y: NDArray[np.bool_]) -> dict[str, float]:
    """Weights from a logistic regression of ``y`` on the parts: coefficients clipped at 0,
    normalised to sum to 1 (the engine normalises them the same way)."""
    model = LogisticRegression(C=100.0, max_iter=2000)
    model.fit(x, y)
    return normalised(dict(zip(COMPONENTS, (float(c) for c in model.coef_[0]), strict=True)))


def _scores(x: NDArray[np.float64], weights: Weights) -> NDArray[np.float64]:
    w = normalised(weights)
    scores: NDArray[np.float64] = x @ np.array([w[c] for c in COMPONENTS], dtype=np.float64)
    return scores


def held_out_quality(
    x: NDArray[np.float64], y: NDArray[np.bool_], current: Weights, seed: int = 0
) -> tuple[list[float], list[float]]:
    """ROC AUC of the current and the fitted weights on each held-out fold."""
    current_aucs: list[float] = []
    fitted_aucs: list[float] = []
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    for train, test in folds.split(x, y):
        fitted = fit_weights(x[train], y[train])
        current_aucs.append(float(roc_auc_score(y[test], _scores(x[test], current))))
        fitted_aucs.append(float(roc_auc_score(y[test], _scores(x[test], fitted))))
    return current_aucs, fitted_aucs


def match_rates(
    examples: Sequence[Example], weights: Weights, chosen: int
) -> tuple[float, dict[str, float]]:
    """The share of mentees (overall, and in each group) who would have a proposal among the
    ``chosen`` best-scoring ones under ``weights``."""
    scores = _scores(_matrix([e.parts for e in examples]), weights)
    order = np.argsort(-scores, kind="stable")[:chosen]
    matched = {examples[i].mentee for i in order}
    mentees = {e.mentee: e.groups for e in examples}
    overall = len(matched) / len(mentees)
    rates = {}
    for group in GROUPS:
        members = [m for m, groups in mentees.items() if group in groups]
        if members:
            rates[group] = sum(m in matched for m in members) / len(members)
    return overall, rates


def fairness_refusal(
    overall: float, rates: Mapping[str, float], current_rates: Mapping[str, float]
) -> str | None:
    for group, rate in sorted(rates.items()):
        if rate < FAIRNESS_FLOOR * overall and rate < current_rates.get(group, 0.0):
            return (
                f"refused: the {group.replace('_', ' ')} group's match rate would fall to"
                f" {rate:.0%}, below {FAIRNESS_FLOOR} times the overall rate ({overall:.0%})"
            )
    return None


def changed_firsts(
    pending: Sequence[Pending], current: Weights, suggested: Weights
) -> tuple[Change, ...]:
    """Mentees whose best-scoring pending proposal differs under the suggestion."""
    changes = []
    for mentee in sorted({p.mentee for p in pending}):
        mine = [p for p in pending if p.mentee == mentee]
        x = _matrix([p.parts for p in mine])
        now = mine[int(np.argmax(_scores(x, current)))]
        then = mine[int(np.argmax(_scores(x, suggested)))]
        if now.match_id != then.match_id:
            changes.append(Change(mentee, now.match_id, then.match_id))
    return tuple(changes)


def suggest(
    examples: Sequence[Example], current: Weights, pending: Sequence[Pending] = ()
) -> Suggestion:
    """Suggested weights with their evidence, or the reason there are none."""
    good = sum(e.good for e in examples)
    base = Suggestion(history=len(examples), good=good, current=normalised(current), suggested=None)
    if len(examples) < MIN_HISTORY or min(good, len(examples) - good) < MIN_EACH:
        return _with(
            base,
            refused=f"too little history: {len(examples)} decided proposals, {good} good"
            f" (at least {MIN_HISTORY}, with {MIN_EACH} good and {MIN_EACH} not): nothing is"
            " suggested",
        )
    x = _matrix([e.parts for e in examples])
    y = np.array([e.good for e in examples], dtype=bool)
    suggested = fit_weights(x, y)
    current_aucs, fitted_aucs = held_out_quality(x, y, current)
    overall, rates = match_rates(examples, suggested, good)
    _, current_rates = match_rates(examples, current, good)
    evidence = _with(
        base,
        current_auc=float(np.mean(current_aucs)),
        suggested_auc=float(np.mean(fitted_aucs)),
        current_auc_spread=(min(current_aucs), max(current_aucs)),
        suggested_auc_spread=(min(fitted_aucs), max(fitted_aucs)),
        folds=FOLDS,
        overall_rate=overall,
        group_rates=rates,
        current_group_rates=current_rates,
    )
    if suggested["skills"] <= 0:
        return _with(evidence, refused="refused: the fitted weights ignore skills entirely")
    refusal = fairness_refusal(overall, rates, current_rates)
    if refusal is not None:
        return _with(evidence, refused=refusal)
    return _with(evidence, suggested=suggested, changes=changed_firsts(pending, current, suggested))


def _with(suggestion: Suggestion, **changes: object) -> Suggestion:
    return replace(suggestion, **changes)  # type: ignore[arg-type]

"""Random changes to a live network's assignment, for the incremental tests and benchmark."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from services.matcher.engine.contract import CandidateEdges
from services.matcher.engine.dynamic import IncrementalAssignment

CAPACITIES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)


def held_out(candidates: CandidateEdges, absent: np.ndarray) -> CandidateEdges:
    """The same instance with the absent mentees' edges left out (they arrive later)."""
    keep = ~absent[candidates.mentee_index]
    return replace(
        candidates,
        mentee_index=candidates.mentee_index[keep],
        provider_index=candidates.provider_index[keep],
        score=candidates.score[keep],
    )


def random_change(
    rng: np.random.Generator,
    state: IncrementalAssignment,
    full: CandidateEdges,
    waiting: list[int],
) -> tuple[str, Callable[[], None]]:
    """One arrival, availability change or decision (approved or rejected), or a mentee
    leaving, as a live network sees them: its kind and the call that applies it (chosen, and
    its edges looked up, before the call, so that timing the call times the re-solve alone)."""
    kind = str(rng.choice(["arrival", "capacity", "reject", "approve", "leave"]))
    matched = [m for m, q in enumerate(state.match) if q >= 0]
    if kind == "arrival" and waiting:
        m = waiting.pop(int(rng.integers(len(waiting))))
        mine = full.mentee_index == m
        providers, scores = full.provider_index[mine], full.score[mine]
        return kind, lambda: state.add_mentee(m, providers, scores)
    if kind == "capacity":
        p, capacity = int(rng.integers(state.n_providers)), float(rng.choice(CAPACITIES))
        return kind, lambda: state.set_capacity(p, capacity)
    if kind in ("reject", "approve") and matched:
        m = matched[int(rng.integers(len(matched)))]
        p = state.match[m] % state.n_providers
        decide = state.forbid if kind == "reject" else state.approve
        return kind, lambda: decide(m, p)
    if kind == "leave":
        leaving = int(rng.integers(len(state.adj)))
        return kind, lambda: state.remove_mentee(leaving)
    return "none", lambda: None


def apply_random_change(
    rng: np.random.Generator,
    state: IncrementalAssignment,
    full: CandidateEdges,
    waiting: list[int],
) -> str:
    kind, change = random_change(rng, state, full, waiting)
    change()
    return kind

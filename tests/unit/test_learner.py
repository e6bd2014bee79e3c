"""The weight learner (services/profiles/outcomes/learner.py), pure: it recovers the weights a
synthetic history was generated with, says so when the history is too short, and refuses a
suggestion that would push a group's match rate below the fairness floor."""

from __future__ import annotations

import pytest

from devtools.demo_history import synthetic_examples
from services.profiles.outcomes.learner import (
    COMPONENTS,
    Pending,
    changed_firsts,
    match_rates,
    suggest,
)

CURRENT = {"skills": 0.55, "region": 0.20, "availability": 0.10, "preferences": 0.10, "text": 0.05}
HIDDEN = {"skills": 0.40, "region": 0.10, "availability": 0.30, "preferences": 0.15, "text": 0.05}


def test_the_learner_recovers_the_weights_a_history_was_generated_with() -> None:
    examples = synthetic_examples(HIDDEN, proposals=4000, seed=7)
    suggestion = suggest(examples, CURRENT)
    assert suggestion.refused is None, suggestion.refused
    assert suggestion.suggested is not None
    for component in COMPONENTS:
        assert suggestion.suggested[component] == pytest.approx(HIDDEN[component], abs=0.04)
    # Held out, the weights that made the history rank it better than today's.
    assert suggestion.suggested_auc is not None
    assert suggestion.current_auc is not None
    assert suggestion.suggested_auc > suggestion.current_auc
    assert suggestion.folds == 5


def test_too_little_history_suggests_nothing_and_says_so() -> None:
    suggestion = suggest(synthetic_examples(HIDDEN, proposals=30, seed=1), CURRENT)
    assert suggestion.suggested is None
    assert suggestion.refused is not None
    assert suggestion.refused.startswith("too little history")


def test_a_suggestion_that_breaks_the_fairness_floor_is_refused_with_the_reason() -> None:
    """Coordinators approved on region alone, and part-time mentees are all far away: the
    weights that fit them would leave part-time mentees far behind everyone else."""
    biased = {"skills": 0.05, "region": 0.9, "availability": 0.05, "preferences": 0, "text": 0}
    examples = synthetic_examples(biased, proposals=2000, seed=3, far_group="part_time")
    overall, rates = match_rates(examples, biased, sum(e.good for e in examples))
    assert rates["part_time"] < 0.9 * overall  # what the fit would do
    suggestion = suggest(examples, CURRENT)
    assert suggestion.suggested is None
    assert suggestion.refused is not None
    assert "part time group's match rate would fall" in suggestion.refused
    assert "below 0.9 times the overall rate" in suggestion.refused


def test_the_pending_proposals_whose_first_choice_would_change() -> None:
    from uuid import uuid4

    near, skilled = uuid4(), uuid4()
    pending = [
        Pending(near, "m1", {"skills": 0.5, "region": 1.0}),
        Pending(skilled, "m1", {"skills": 0.9, "region": 0.0}),
    ]
    region_heavy = {"skills": 0.2, "region": 0.8}
    [change] = changed_firsts(pending, CURRENT, region_heavy)
    assert (change.now_first, change.then_first) == (skilled, near)
    assert changed_firsts(pending, CURRENT, CURRENT) == ()

"""The matcher's roles: one process doing everything (the default), or consumers and a
rounds process apart (docs/scaling.md)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from services.matcher.bootstrap import arrivals_config, create_app, duties
from services.matcher.engine import MatchingConfig, build_engine
from services.matcher.engine.incremental import resolve_keeping_pending
from shared.settings import Settings
from tests.support.engine.instances import synthetic_input


@pytest.mark.parametrize(
    ("role", "consumes", "runs_rounds"),
    [("all", True, True), ("events", True, False), ("rounds", False, True)],
)
def test_each_role_consumes_and_solves_as_its_name_says(
    role: str, consumes: bool, runs_rounds: bool
) -> None:
    settings = Settings(matcher_role=role, propose_on_arrival=True)
    assert duties(settings) == {
        "consume events": consumes,
        "run rounds": runs_rounds,
        "retry waiting arrivals": consumes,
    }
    broker = create_app(settings).broker
    assert broker is not None
    assert bool(broker.subscribers) is consumes


def test_no_arrivals_to_retry_unless_proposals_on_arrival_are_on() -> None:
    assert not duties(Settings(matcher_role="all"))["retry waiting arrivals"]


def test_an_unknown_role_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="matcher_role"):
        Settings(matcher_role="both")


def test_arrivals_are_solved_once_without_the_rounds_fairness_targets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Targets over a batch of newcomers mean nothing, and their price search re-solved every
    # batch up to 40 times: on-arrival p99 went from 0.45 s to 23 s (docs/scaling.md).
    solves = 0

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal solves
        solves += 1
        return resolve_keeping_pending(*args, **kwargs)

    monkeypatch.setattr("services.matcher.engine.optimal.resolve_keeping_pending", counting)
    data = synthetic_input(np.random.default_rng(1), 10, 200)  # mentors scarce: targets bind
    rounds_config = MatchingConfig()
    build_engine(rounds_config).propose(data)
    assert solves > 1, "the rounds' default targets bind on this network"
    solves = 0
    build_engine(arrivals_config(rounds_config)).propose(data)
    assert solves == 1
    assert arrivals_config(rounds_config).weights == rounds_config.weights

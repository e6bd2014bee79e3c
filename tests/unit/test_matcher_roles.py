"""The matcher's roles: one process doing everything (the default), or consumers and a
rounds process apart (docs/scaling.md)."""

from __future__ import annotations

import pytest

from services.matcher.bootstrap import create_app, duties
from shared.settings import Settings


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

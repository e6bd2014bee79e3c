"""A participant's state and standing on their own page: pure rules, no I/O."""

from __future__ import annotations

import pytest

from services.profiles.self_service.actions import (
    Action,
    Participation,
    allowed_actions,
    participation,
)
from services.profiles.self_service.standing import Match, Stage, where_they_stand
from shared.people import Role


@pytest.mark.parametrize(
    ("role", "paused", "withdrawn", "expected"),
    [
        (Role.MENTOR, False, False, Participation.TAKING_PART),
        (Role.MENTOR, True, False, Participation.PAUSED),
        (Role.MENTOR, True, True, Participation.WITHDRAWN),  # shown withdrawn, not paused
        (Role.MENTEE, False, False, Participation.TAKING_PART),
        (Role.MENTEE, True, True, Participation.WITHDRAWN),
        (Role.MENTEE, True, False, Participation.WITHDRAWN),  # a mentee's only pause
    ],
)
def test_participation(role: Role, paused: bool, withdrawn: bool, expected: Participation) -> None:
    assert participation(role, paused, withdrawn) is expected


def test_allowed_actions_follow_the_state() -> None:
    taking_part, paused, withdrawn = Participation
    assert allowed_actions(Role.MENTOR, taking_part) == [
        Action.PAUSE,
        Action.WITHDRAW,
        Action.ERASE,
    ]
    assert allowed_actions(Role.MENTEE, taking_part) == [Action.WITHDRAW, Action.ERASE]
    assert allowed_actions(Role.MENTOR, paused) == [Action.RESUME, Action.WITHDRAW, Action.ERASE]
    for role in Role:
        assert allowed_actions(role, withdrawn) == [Action.RESUME, Action.ERASE]


def test_nobody_is_named_before_approval() -> None:
    pending = [Match("pending", None), Match("pending", None)]
    standing = where_they_stand(Participation.TAKING_PART, pending)
    assert (standing.stage, standing.considered, standing.introduced) == (
        Stage.CONSIDERED,
        2,
        (),
    )
    introduced = where_they_stand(
        Participation.TAKING_PART, [Match("approved", "Morag"), Match("pending", "leak")]
    )
    assert (introduced.stage, introduced.introduced, introduced.considered) == (
        Stage.INTRODUCED,
        ("Morag",),
        1,
    )


def test_waiting_and_not_taking_part() -> None:
    assert where_they_stand(Participation.TAKING_PART, []).stage is Stage.WAITING
    for state in (Participation.PAUSED, Participation.WITHDRAWN):
        standing = where_they_stand(state, [Match("pending", None)])
        assert (standing.stage, standing.considered) == (Stage.NOT_TAKING_PART, 0)
        # An introduction stands whatever the state.
        assert where_they_stand(state, [Match("approved", "Ann")]).stage is Stage.INTRODUCED

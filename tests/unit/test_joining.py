"""The join and profile forms: a form's fields to the API's profile and back, and refusals in
plain words. Pure rules, no I/O (the newcomers' emails: test_notifier_handlers.py)."""

from __future__ import annotations

import pytest
from starlette.datastructures import FormData

from services.profiles.api.schemas import MenteeIn, MentorIn
from services.profiles.self_service import profile_form
from services.profiles.self_service.profile_form import ProfileRefused
from shared.people import Role, Weekday, WorkingPattern
from shared.skills import LEVEL_DESCRIPTIONS, MAX_LEVEL, MIN_LEVEL

IDENTITY = {
    "name": "Vera",
    "email": "vera@example.org",
    "job_title": "CCIO",
    "trust_code": "T1",
    "sector": "nhs",
}


def read(role: Role, pairs: list[tuple[str, str]]) -> MentorIn | MenteeIn:
    form = FormData([*IDENTITY.items(), *pairs])
    keys = (*profile_form.IDENTITY, *profile_form.EDITABLE[role])
    return profile_form.read_profile(role, profile_form.form_fields(role, form, keys))


def test_every_level_has_a_plain_description() -> None:
    assert sorted(LEVEL_DESCRIPTIONS) == list(range(MIN_LEVEL, MAX_LEVEL + 1))


def test_a_mentors_form_becomes_the_apis_profile_and_back() -> None:
    mentor = read(
        Role.MENTOR,
        [
            ("mode", "remote"),
            ("working_pattern", "part_time"),
            ("working_days", "monday"),
            ("working_days", "friday"),
            ("skill-data-analytics", "5"),
            ("skill-cyber-security", ""),
            ("capacity", "1.5"),
            ("hours_per_month", "6"),
        ],
    )
    assert isinstance(mentor, MentorIn)
    assert [(s.skill, s.level) for s in mentor.skills] == [("data-analytics", 5)]
    assert mentor.working_days == [Weekday.MONDAY, Weekday.FRIDAY]
    values = profile_form.values_of(mentor.model_dump(mode="json"))
    assert (values["skill-data-analytics"], values["capacity"]) == ("5", "1.5")
    assert values["working_days"] == ["monday", "friday"]


def test_a_mentees_gaps_take_their_levels_and_priority() -> None:
    mentee = read(
        Role.MENTEE,
        [
            ("gap-board-influence-current", "2"),
            ("gap-board-influence-target", "5"),
            ("gap-board-influence-priority", "2"),
            ("gap-data-analytics-current", "3"),  # no target: not a gap
            ("open_to_secondment", "yes"),
        ],
    )
    assert isinstance(mentee, MenteeIn)
    [gap] = mentee.gaps
    assert (gap.skill, gap.current, gap.target, gap.priority) == ("board-influence", 2, 5, 2.0)
    assert mentee.open_to_secondment is True
    assert mentee.working_pattern is WorkingPattern.FULL_TIME
    values = profile_form.values_of(mentee.model_dump(mode="json"))
    assert (values["gap-board-influence-target"], values["gap-board-influence-priority"]) == (
        "5",
        "2",
    )


@pytest.mark.parametrize(
    ("role", "pairs", "problem"),
    [
        (Role.MENTEE, [], "What you want to grow: choose at least one skill"),
        (
            Role.MENTEE,
            [("gap-board-influence-current", "5"), ("gap-board-influence-target", "3")],
            "Board influence: target level 3 must be above current level 5",
        ),
        (Role.MENTOR, [("skill-board-influence", "9"), ("capacity", "1")], "Board influence:"),
        (
            Role.MENTOR,
            [("skill-board-influence", "4"), ("capacity", "1"), ("hours_per_month", "x")],
            "Hours a month:",
        ),
        (
            Role.MENTEE,
            [("gap-board-influence-target", "3"), ("working_days", "monday")],
            "Working days are given for part-time working only",
        ),
    ],
)
def test_refusals_are_written_for_the_person_filling_the_form(
    role: Role, pairs: list[tuple[str, str]], problem: str
) -> None:
    with pytest.raises(ProfileRefused) as refused:
        read(role, pairs)
    assert any(problem in p for p in refused.value.problems), refused.value.problems

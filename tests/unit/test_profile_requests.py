"""The HTTP API's request models: what a user sending bad input is told."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.profiles.api.schemas import MenteeIn, MentorIn, PlacementIn, TrustIn
from shared.regions import Region


def mentor(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Ann Mentor",
        "email": "ann@example.org",
        "job_title": "CIO",
        "trust_code": "T1",
        "skills": [{"skill": "board-influence", "level": 6}],
        "capacity": 2,
        "hours_per_month": 4,
    }
    return body | changes


def errors(model: type[Any], body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return {".".join(map(str, e["loc"])): e["msg"] for e in caught.value.errors()}


def test_a_valid_mentor_is_accepted() -> None:
    assert MentorIn.model_validate(mentor()).capacity == 2


def test_half_capacity_is_allowed_for_part_time_mentors() -> None:
    assert MentorIn.model_validate(mentor(capacity=0.5)).capacity == 0.5


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"capacity": -1}, "capacity", "greater than or equal to 0"),
        ({"email": "not-an-email"}, "email", "not a valid email address"),
        (
            {"skills": [{"skill": "juggling", "level": 3}]},
            "skills.0.skill",
            "unknown skill 'juggling'",
        ),
        (
            {"skills": [{"skill": "board-influence", "level": 8}]},
            "skills.0.level",
            "less than or equal to 7",
        ),
        ({"skills": []}, "skills", "at least 1 item"),
        ({"favourite_colour": "blue"}, "favourite_colour", "Extra inputs are not permitted"),
        ({"name": ""}, "name", "at least 1 character"),
    ],
)
def test_bad_mentor_fields_are_named(changes: dict[str, Any], field: str, message: str) -> None:
    assert message in errors(MentorIn, mentor(**changes))[field]


def test_missing_fields_are_named() -> None:
    body = mentor()
    del body["email"]
    assert errors(MentorIn, body)["email"] == "Field required"


def test_repeated_skills_are_refused() -> None:
    skills = [{"skill": "procurement", "level": 5}, {"skill": "procurement", "level": 6}]
    assert "repeated: procurement" in errors(MentorIn, mentor(skills=skills))[""]


def test_a_gap_must_go_upwards() -> None:
    body = {
        "name": "Ben",
        "email": "ben@example.org",
        "job_title": "Analyst",
        "trust_code": "T2",
        "gaps": [{"skill": "data-analytics", "current": 4, "target": 3}],
    }
    assert "must be above current level 4" in errors(MenteeIn, body)["gaps.0"]


def test_trust_region_accepts_a_name_and_refuses_an_unknown_one() -> None:
    trust = {"name": "Trust One", "network_id": "north"}
    assert TrustIn.model_validate(trust | {"region": "London"}).region is Region.LONDON
    assert "unknown NHS region 'Narnia'" in errors(TrustIn, trust | {"region": "Narnia"})["region"]


def test_placement_start_window_must_be_in_order() -> None:
    body = {
        "host_trust_code": "T1",
        "role": "Digital lead",
        "months": 6,
        "fte": 0.6,
        "skills_developed": [{"skill": "change-management", "level": 5}],
        "start_from": "2027-03-01",
        "start_to": "2027-01-01",
    }
    assert "start_to must not be before start_from" in errors(PlacementIn, body)[""]

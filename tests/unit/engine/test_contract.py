"""The engine's contract refuses what it cannot serve, with an error that says what and where."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.matcher.engine.contract import (
    MAX_HOURS_PER_MONTH,
    MAX_MENTOR_CAPACITY,
    MAX_PLACEMENT_PLACES,
    MatchingInput,
    MenteeInput,
    MentorInput,
    PlacementInput,
    TrustInfo,
)
from shared.people import Mode, Sector, SkillGap, SkillLevel, WorkingPattern
from shared.regions import Region

NOT_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])


def mentor(id: str = "m", /, **changes: Any) -> MentorInput:
    fields: dict[str, Any] = {
        "id": id,
        "trust_code": "RAL",
        "region": Region.LONDON,
        "skills": (SkillLevel(skill="data-analytics", level=6),),
        "capacity": 1.0,
        "hours_per_month": 4.0,
        "mode": Mode.EITHER,
    }
    return MentorInput(**{**fields, **changes})


def mentee(id: str = "e", /, **changes: Any) -> MenteeInput:
    fields: dict[str, Any] = {
        "id": id,
        "trust_code": "RJ1",
        "region": Region.LONDON,
        "gaps": (SkillGap(skill="data-analytics", current=2, target=4),),
        "working_pattern": WorkingPattern.FULL_TIME,
        "sector": Sector.NHS,
        "mode": Mode.EITHER,
    }
    return MenteeInput(**{**fields, **changes})


def placement(id: str = "p", /, **changes: Any) -> PlacementInput:
    fields: dict[str, Any] = {
        "id": id,
        "host_trust_code": "RAL",
        "region": Region.LONDON,
        "role": "data lead",
        "skills_developed": (SkillLevel(skill="data-analytics", level=5),),
        "places": 1,
        "months": 6,
        "fte": 1.0,
    }
    return PlacementInput(**{**fields, **changes})


def trust(code: str = "RAL", /, **changes: Any) -> TrustInfo:
    return TrustInfo(**{"code": code, "name": code, "region": Region.LONDON, **changes})


def refused(build: Any, field: str) -> str:
    """The validation error's text, which must name the offending field."""
    with pytest.raises(ValidationError) as error:
        build()
    text = str(error.value)
    assert field in text
    return text


@given(value=NOT_FINITE, field=st.sampled_from(["capacity", "hours_per_month"]))
def test_a_mentor_with_a_nan_or_infinite_number_is_refused(value: float, field: str) -> None:
    assert "finite" in refused(lambda: mentor(**{field: value}), field)


@given(value=NOT_FINITE, field=st.sampled_from(["latitude", "longitude"]))
def test_a_trust_with_a_nan_or_infinite_coordinate_is_refused(value: float, field: str) -> None:
    assert "finite" in refused(lambda: trust(**{field: value}), field)


@given(value=NOT_FINITE)
def test_a_placement_with_a_nan_or_infinite_fte_is_refused(value: float) -> None:
    refused(lambda: placement(fte=value), "fte")


@given(capacity=st.floats(min_value=0, max_value=MAX_MENTOR_CAPACITY))
def test_any_capacity_within_the_bound_is_served(capacity: float) -> None:
    assert mentor(capacity=capacity).capacity == capacity


@given(capacity=st.floats(min_value=MAX_MENTOR_CAPACITY, exclude_min=True, allow_infinity=False))
def test_a_capacity_above_the_bound_is_refused(capacity: float) -> None:
    assert str(int(MAX_MENTOR_CAPACITY)) in refused(lambda: mentor(capacity=capacity), "capacity")


@given(places=st.integers(min_value=MAX_PLACEMENT_PLACES + 1))
def test_places_above_the_bound_are_refused(places: int) -> None:
    refused(lambda: placement(places=places), "places")


@given(hours=st.floats(min_value=MAX_HOURS_PER_MONTH, exclude_min=True, allow_infinity=False))
def test_more_hours_than_a_month_has_are_refused(hours: float) -> None:
    refused(lambda: mentor(hours_per_month=hours), "hours_per_month")


IDS = st.lists(st.sampled_from("abcdefgh"), max_size=8)


@given(mentor_ids=IDS, mentee_ids=IDS, placement_ids=IDS, trust_codes=IDS)
def test_duplicate_ids_are_refused_and_named(
    mentor_ids: list[str], mentee_ids: list[str], placement_ids: list[str], trust_codes: list[str]
) -> None:
    def build() -> MatchingInput:
        return MatchingInput(
            mentors=tuple(mentor(i) for i in mentor_ids),
            mentees=tuple(mentee(i) for i in mentee_ids),
            placements=tuple(placement(i) for i in placement_ids),
            trusts=tuple(trust(c) for c in trust_codes),
        )

    lists = {
        "mentor": mentor_ids,
        "mentee": mentee_ids,
        "placement": placement_ids,
        "trust": trust_codes,
    }
    first_repeat = next(
        ((what, ids) for what, ids in lists.items() if len(set(ids)) < len(ids)), None
    )
    if first_repeat is None:
        assert len(build().mentors) == len(mentor_ids)
        return
    what, ids = first_repeat
    text = refused(build, f"duplicate {what} id(s)")
    for repeated in {i for i in ids if ids.count(i) > 1}:
        assert repr(repeated) in text


def test_one_id_may_be_a_mentor_and_a_placement() -> None:
    # Providers of different kinds are different edge sets: only a repeat within a kind clashes.
    data = MatchingInput(mentors=(mentor("x"),), placements=(placement("x"),))
    assert data.mentors[0].id == data.placements[0].id


def test_a_round_built_from_kept_mentees_does_not_check_them_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A round's input is built each round from the mentees kept since the last one: their
    own checks ran when they were built, once (pydantic runs a model validator of a nested
    instance again, so the ranking checks are field validators)."""
    from services.matcher.engine import contract

    mentees = tuple(mentee(f"e{i}", ranked_mentors=("m",)) for i in range(50))
    checked: list[object] = []
    real = contract._repeated

    def counted(ids: Any) -> list[str]:
        checked.append(ids)
        return real(ids)

    monkeypatch.setattr(contract, "_repeated", counted)
    MatchingInput(mentors=(mentor(),), mentees=mentees)
    assert len(checked) == 4  # the input's own id check: mentors, mentees, placements, trusts


def test_a_mentee_ranked_and_excluded_is_still_refused_with_both_named() -> None:
    with pytest.raises(ValidationError, match="both ranked and excluded: 'a'"):
        mentee(ranked_mentors=("a", "b"), excluded_mentors=frozenset({"a", "c"}))

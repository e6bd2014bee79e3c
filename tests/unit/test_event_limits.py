"""Events skip none of the API's limits (issue 14, item 12): whatever the HTTP API refuses, an
event carrying the same values is unreadable, and so dead-lettered by every consumer, whoever
wrote it to the topic; and whatever the API accepts, the event it publishes is read. The limits
have one definition (shared/people.py, shared/text.py, shared/addresses.py) used by both."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from services.matcher.engine.contract import MAX_MENTOR_CAPACITY
from services.profiles.api.schemas import (
    PLACEMENT_PAGE_FIELDS,
    AvailabilityIn,
    MenteeIn,
    MentorIn,
    NetworkIn,
    PlacementIn,
    TrustIn,
)
from shared.consuming import Unreadable, read_message
from shared.events import UnreadableEvent, decode_event
from shared.people import MAX_CAPACITY
from shared.skills import DEFAULT_TAXONOMY

PERSON_ID = str(uuid4())
PROFILE: dict[str, Any] = {
    "person_id": PERSON_ID,
    "role": "mentor",
    "name": "Ann Mentor",
    "email": "ann@nhs.example",
    "job_title": "CIO",
    "trust_code": "RX1",
    "network_id": "north-east",
    "region": "Y63",
    "mode": "either",
    "working_pattern": "full_time",
    "sector": "nhs",
    "skills": [{"skill": "board-influence", "level": 6}],
    "capacity": 2,
    "hours_per_month": 4,
}
BROKEN: list[tuple[str, Any]] = [
    ("name", "<b>Ann</b>"),
    ("job_title", "CIO <script>"),
    ("email", "ann\u200b@nhs.example"),
    ("trust_code", "RX 1"),
    ("network_id", "north east/x"),
    ("capacity", -1),
    ("capacity", MAX_CAPACITY + 0.5),
    ("hours_per_month", 161),
    ("skills", [{"skill": "board-influence", "level": 6}] * 31),
    ("skills", []),
    (
        "skills",
        [{"skill": "board-influence", "level": 6}, {"skill": "board-influence", "level": 5}],
    ),
]


def _person_upserted(profile: dict[str, Any]) -> bytes:
    return json.dumps(
        {"event_type": "person.upserted", "entity_key": profile["person_id"], "profile": profile}
    ).encode()


def test_a_profile_within_the_apis_rules_is_read() -> None:
    assert decode_event(_person_upserted(PROFILE)).entity_key == PROFILE["person_id"]


@pytest.mark.parametrize(("field", "value"), BROKEN)
def test_what_the_api_refuses_an_event_cannot_carry(field: str, value: Any) -> None:
    api_body = {k: v for k, v in PROFILE.items() if k not in ("person_id", "role", "network_id")}
    api_body.pop("region")
    if field in api_body:  # the API refuses it too (network_id is the trust's, not sent)
        with pytest.raises(ValueError):  # noqa: PT011 - pydantic's ValidationError
            MentorIn.model_validate(api_body | {field: value})
    with pytest.raises(UnreadableEvent):
        decode_event(_person_upserted(PROFILE | {field: value}))


def test_a_capacity_above_the_engines_bound_is_dead_lettered_with_its_reason() -> None:
    """The one capacity bound: the engine's, the API's and the events'."""
    assert MAX_MENTOR_CAPACITY == MAX_CAPACITY
    assert decode_event(_person_upserted(PROFILE | {"capacity": MAX_CAPACITY}))
    parked = read_message(_person_upserted(PROFILE | {"capacity": MAX_CAPACITY + 1}))
    assert isinstance(parked, Unreadable)
    assert "capacity" in parked.reason
    assert f"less than or equal to {MAX_CAPACITY}" in parked.reason
    availability = {
        "event_type": "availability.changed",
        "entity_key": PERSON_ID,
        "person_id": PERSON_ID,
        "paused": False,
        "capacity": MAX_CAPACITY + 1,
        "hours_per_month": 4,
    }
    assert isinstance(read_message(json.dumps(availability).encode()), Unreadable)


# --- the property: the API's refusals and the events' are the same -------------------------

SKILLS = sorted(DEFAULT_TAXONOMY.codes())
SKILL = st.sampled_from([*SKILLS[:4], "juggling", ""])
LEVELS = st.lists(st.fixed_dictionaries({"skill": SKILL, "level": st.integers(-1, 9)}), max_size=32)
GAPS = st.lists(
    st.fixed_dictionaries(
        {
            "skill": SKILL,
            "current": st.integers(-1, 8),
            "target": st.integers(-1, 9),
            "priority": st.floats(-1, 6, allow_nan=False),
        }
    ),
    max_size=32,
)
# Numbers near and past every bound (capacity 50, hours 160, months 24, places 50, FTE 1,
# coordinates), and any other.
NUMBERS = st.one_of(
    st.sampled_from([0, 0.5, 1, 1.5, 24, 25, 49.5, 50, 50.5, 51, 60, 160, 160.5, 744, -0.5]),
    st.integers(-10, 1000),
    st.floats(allow_nan=False, allow_infinity=False),
)
TEXT = st.one_of(
    st.sampled_from(["", " ", "Ann", " Ann ", "RX1", "a<b", "north-east", "Y63", "London"]),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12),
    st.text(max_size=210),
    st.emails(),
)
ANY_JSON = st.recursive(
    st.none() | st.booleans() | NUMBERS | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
VALUE = st.one_of(NUMBERS, TEXT, LEVELS, GAPS, st.dates().map(str), st.booleans(), ANY_JSON)

VALID: dict[str, dict[str, Any]] = {
    "mentor": {
        k: v for k, v in PROFILE.items() if k not in ("person_id", "role", "network_id", "region")
    },
    "mentee": {
        "name": "Tom Mentee",
        "email": "tom@nhs.example",
        "job_title": "Digital Nurse",
        "trust_code": "RX1",
        "gaps": [{"skill": "board-influence", "current": 2, "target": 5}],
        "goals": "Lead a board paper",
    },
    "placement": {
        "host_trust_code": "RX1",
        "role": "Digital lead",
        "skills_developed": [{"skill": "change-management", "level": 5}],
        "months": 6,
        "fte": 0.6,
        "places": 2,
        "start_from": "2027-01-01",
        "start_to": "2027-03-01",
    },
    "trust": {
        "name": "Trust",
        "region": "Y63",
        "network_id": "north-east",
        "latitude": 54.9,
        "longitude": -1.6,
        "is_small": False,
        "contact_email": "hr@nhs.example",
    },
    "availability": {"paused": False, "capacity": 3, "hours_per_month": 6},
    "network": {"name": "North East", "coordinators": [{"name": "Cora", "email": "c@n.example"}]},
}
API: dict[str, type[BaseModel]] = {
    "mentor": MentorIn,
    "mentee": MenteeIn,
    "placement": PlacementIn,
    "trust": TrustIn,
    "availability": AvailabilityIn,
    "network": NetworkIn,
}
# The fields an event carries as the API takes them. A network's coordinators are not among
# them: the administrators' pages may take away a network's last coordinator, so the event
# carries any number (the API's rule, 1 to 20, is for what a client sends).
MUTABLE = {
    kind: [f for f in body if (kind, f) != ("network", "coordinators")]
    for kind, body in VALID.items()
}


def _event(kind: str, fields: dict[str, Any]) -> bytes:
    """The event the profiles service would publish for these (the API's) fields."""
    place = {"network_id": "north-east", "region": "Y63"}
    payload: dict[str, Any]
    if kind in ("mentor", "mentee"):
        defaults = {"mode": "either", "working_pattern": "full_time", "sector": "nhs"}
        profile = defaults | fields | place | {"person_id": PERSON_ID, "role": kind}
        payload = {"event_type": "person.upserted", "profile": profile}
    elif kind == "placement":
        placement = fields | place | {"placement_id": PERSON_ID}
        payload = {"event_type": "placement.upserted", "placement": placement}
    elif kind == "trust":
        payload = {"event_type": "trust.upserted", "trust_code": "RX1", **fields}
    elif kind == "availability":
        held = {"capacity": 2, "hours_per_month": 4}  # the mentor's, when the body leaves them
        payload = {"event_type": "availability.changed", "person_id": PERSON_ID} | held | fields
    else:
        payload = {"event_type": "network.upserted", "network_id": "north-east", **fields}
    return json.dumps(payload | {"entity_key": PERSON_ID}).encode()


def _accepted(check: Callable[[], object]) -> bool:
    try:
        check()
    except (ValidationError, UnreadableEvent):
        return False
    return True


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A valid body of one kind with some of its fields replaced by anything, or left out."""
    kind = draw(st.sampled_from(sorted(VALID)))
    body = dict(VALID[kind])
    for field in draw(
        st.lists(st.sampled_from(MUTABLE[kind]), min_size=1, max_size=3, unique=True)
    ):
        if draw(st.integers(0, 9)) == 0:
            del body[field]
        else:
            body[field] = draw(VALUE)
    return kind, body


@given(case=bodies())
@example(  # found by this test: the API took a placement's skill twice, its event did not
    case=(
        "placement",
        VALID["placement"] | {"skills_developed": [{"skill": "change-management", "level": 2}] * 2},
    )
)
@settings(max_examples=600)
def test_whatever_the_api_refuses_the_events_refuse_and_what_it_accepts_they_read(
    case: tuple[str, dict[str, Any]],
) -> None:
    kind, body = case
    # Through JSON, as both receive it (JSON has no tuples; FastAPI validates what json gives).
    body = json.loads(json.dumps(body))
    model = API[kind]
    if not _accepted(lambda: model.model_validate(body)):
        assert not _accepted(lambda: decode_event(_event(kind, body))), (kind, body)
        return
    # What the API accepts, as it stores and publishes it, every consumer reads.
    stored = model.model_validate(body)
    if kind == "placement":  # what the trust's page states stays in profiles
        published = stored.model_dump(mode="json", exclude=PLACEMENT_PAGE_FIELDS)
    else:
        published = stored.model_dump(mode="json", exclude_none=kind == "availability")
    decode_event(_event(kind, published))

"""An event carries nothing the API would refuse (issue 14, item 12): a person.upserted whose
profile breaks one of the API's field rules is unreadable, and so dead-lettered, whoever wrote
it to the topic."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

import pytest

from services.profiles.api.schemas import MentorIn
from shared.events import UnreadableEvent, decode_event

PROFILE: dict[str, Any] = {
    "person_id": str(uuid4()),
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
    ("hours_per_month", 161),
    ("skills", [{"skill": "board-influence", "level": 6}] * 31),
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

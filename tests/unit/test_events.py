from __future__ import annotations

import json
from uuid import uuid4

import pytest

from shared.events import (
    AvailabilityChanged,
    Event,
    MatchDecided,
    MatchProposed,
    PersonErased,
    PersonProfile,
    PersonUpserted,
    UnreadableEvent,
    decode_event,
)
from shared.people import Mode, Role, Sector, SkillLevel, WorkingPattern
from shared.regions import Region
from shared.topics import Topic
from tests.factories import match_proposed


def mentor_profile() -> PersonProfile:
    return PersonProfile(
        person_id=uuid4(),
        role=Role.MENTOR,
        name="Ann",
        email="ann@example.org",
        job_title="CIO",
        trust_code="T1",
        network_id="north",
        region=Region.LONDON,
        mode=Mode.EITHER,
        working_pattern=WorkingPattern.FULL_TIME,
        sector=Sector.NHS,
        skills=(SkillLevel(skill="board-influence", level=6),),
        capacity=2,
        hours_per_month=4,
    )


def proposal() -> MatchProposed:
    return match_proposed()


@pytest.mark.parametrize(
    "event",
    [
        PersonUpserted(entity_key="p1", profile=mentor_profile()),
        PersonErased(entity_key="p1", person_id=uuid4()),
        AvailabilityChanged(
            entity_key="p1", person_id=uuid4(), paused=True, capacity=0, hours_per_month=0
        ),
        proposal(),
        MatchDecided(
            entity_key="m",
            match_id=uuid4(),
            network_id="n",
            approved=False,
            reason="same team",
            decided_by="coordinator",
        ),
    ],
)
def test_every_event_survives_the_wire(event: Event) -> None:
    decoded = decode_event(event.to_json_bytes())
    assert decoded == event
    assert type(decoded) is type(event)


def test_events_carry_their_topic_and_key() -> None:
    person = PersonUpserted(entity_key="p1", profile=mentor_profile())
    assert person.topic is Topic.PEOPLE
    assert proposal().topic is Topic.PROPOSALS
    assert person.schema_version == 1
    assert person.occurred_at.tzinfo is not None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe not json", "not a valid Bridgework event"),
        (b'{"event_type": "person.teleported", "entity_key": "x"}', "not a valid Bridgework event"),
        (b'{"event_type": "person.erased", "entity_key": "x"}', "person_id"),
    ],
)
def test_unreadable_messages_say_why(raw: bytes, reason: str) -> None:
    with pytest.raises(UnreadableEvent, match=reason):
        decode_event(raw)


def test_unknown_schema_version_is_refused() -> None:
    payload = json.loads(PersonErased(entity_key="x", person_id=uuid4()).to_json_bytes())
    payload["schema_version"] = 99
    with pytest.raises(UnreadableEvent, match="unsupported schema version 99"):
        decode_event(json.dumps(payload).encode())

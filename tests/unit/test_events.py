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
    Upcasters,
    decode_event,
)
from shared.people import Mode, Role, Sector, SkillLevel, WorkingPattern
from shared.regions import Region
from shared.topics import Topic
from tests.support.factories import match_proposed


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
        (b'{"event_type": "person.teleported", "entity_key": "x"}', "unknown event type"),
        (b"[1, 2]", "not a JSON object"),
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


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"\x00\x01 binary", "malformed"),
        (b'"just a string"', "malformed"),
        (b'{"event_type": 7}', "unknown_type"),
        (
            b'{"event_type": "person.erased", "entity_key": "x", "schema_version": 2}',
            "unknown_version",
        ),
        (
            b'{"event_type": "person.erased", "entity_key": "x", "schema_version": "one"}',
            "unknown_version",
        ),
        (b'{"event_type": "person.erased", "entity_key": "x", "person_id": "nope"}', "invalid"),
    ],
)
def test_unreadable_messages_are_classified_for_counting(raw: bytes, kind: str) -> None:
    with pytest.raises(UnreadableEvent) as refused:
        decode_event(raw)
    assert refused.value.kind == kind


def test_an_old_schema_version_in_the_log_is_upcast_not_dropped() -> None:
    """Suppose availability.changed v2 split v1's single ``hours`` into hours_per_month: a v1
    message still in the log is read through the registered step, as the current version."""
    upcasters = Upcasters()

    @upcasters.register("availability.changed", from_version=1)
    def hours_became_hours_per_month(payload: dict[str, object]) -> dict[str, object]:
        upgraded = {k: v for k, v in payload.items() if k != "hours"}
        return {**upgraded, "hours_per_month": payload["hours"]}

    person_id = uuid4()
    version_1 = {
        "event_type": "availability.changed",
        "schema_version": 1,
        "entity_key": str(person_id),
        "person_id": str(person_id),
        "paused": False,
        "capacity": 2,
        "hours": 6,
    }
    event = decode_event(json.dumps(version_1).encode(), upcasters)
    assert isinstance(event, AvailabilityChanged)
    assert event.hours_per_month == 6
    assert event.schema_version == 2
    assert upcasters.current_version("availability.changed") == 2
    # A version newer than any this code knows is still refused (dead-lettered, not guessed).
    future = {**version_1, "schema_version": 3}
    with pytest.raises(UnreadableEvent, match="unsupported schema version 3") as refused:
        decode_event(json.dumps(future).encode(), upcasters)
    assert refused.value.kind == "unknown_version"


def test_a_missing_upcast_step_is_refused_clearly() -> None:
    upcasters = Upcasters()
    upcasters.register("person.erased", from_version=2)(lambda payload: payload)
    payload = {"event_type": "person.erased", "entity_key": "x", "person_id": str(uuid4())}
    with pytest.raises(UnreadableEvent, match="no upcaster to 3"):
        decode_event(json.dumps(payload).encode(), upcasters)


def test_event_ids_are_unique_and_grow_with_time() -> None:
    """Version 7 ids: each later event's id sorts after the earlier ones', so consumers add
    them at the end of their processed-events index."""
    events = [PersonErased(entity_key="p", person_id=uuid4()) for _ in range(2_000)]
    ids = [event.event_id for event in events]
    assert {i.version for i in ids} == {7}
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert decode_event(events[0].to_json_bytes()).event_id == ids[0]

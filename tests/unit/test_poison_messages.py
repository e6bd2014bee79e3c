"""Whatever bytes arrive on a topic, a consumer either applies the event or dead-letters the
message and moves on (issue 14, items 2-4): decoding never raises, and the dead letter always
fits under the producer's request limit.

The matcher, the notifier and the profiles read model all read their messages through
``BatchEventConsumer`` (shared/service.py ``event_broker``), which decodes each record with
``read_message``: the property tests below throw arbitrary bytes, arbitrary JSON and every event
with any of its fields replaced by anything (deep nesting included) at that one decode path."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shared.consuming import Unreadable, read_message
from shared.events import (
    AvailabilityChanged,
    CheckInRecorded,
    ConsentParty,
    ConsentRecorded,
    ConsentRequested,
    Coordinator,
    Event,
    FairnessFigures,
    FirstConversationHeld,
    GroupFigures,
    JoinEmailPurpose,
    JoinEmailRequested,
    LifeActor,
    MatchClosed,
    MatchDecided,
    MatchingWeightsApplied,
    MatchOutcome,
    MatchWithdrawn,
    NetworkUpserted,
    PersonErased,
    PersonUpserted,
    PlacementProfile,
    PlacementUpserted,
    PlacementWithdrawn,
    RoundCompleted,
    ScoreWeights,
    SecondmentChanged,
    SecondmentRequestDecided,
    SecondmentStatus,
    SelfServiceLinkRequested,
    TrustContact,
    TrustSignInRequested,
    TrustUpserted,
    read_current_version,
    read_step_by_step,
)
from shared.kafka import (
    DEAD_LETTER_MAX_REASON_CHARS,
    DEAD_LETTER_ORIGINAL_KEY_SHA256,
    DEAD_LETTER_ORIGINAL_SHA256,
    DEAD_LETTER_ORIGINAL_SIZE,
    DEAD_LETTER_TRUNCATED,
    Origin,
    dead_letter_headers,
    digest_only,
    fitting_copy,
)
from shared.matching import MatchKind
from shared.people import Role, SkillLevel
from shared.regions import Region
from tests.support.factories import match_proposed
from tests.support.factories import person as person_upserted

PRODUCER_MAX_REQUEST_BYTES = 1024 * 1024  # aiokafka's default max_request_size
BROKER_MAX_MESSAGE_BYTES = 1024 * 1024 + 12  # Kafka's default message.max.bytes


def one_of_each_event() -> list[Event]:
    """A valid event of every type the union knows."""
    profile = person_upserted(Role.MENTEE, "north", "T2").profile
    person = profile.person_id
    placement = PlacementProfile(
        placement_id=uuid4(),
        host_trust_code="T1",
        network_id="north",
        region=Region.LONDON,
        role="Data lead",
        skills_developed=(SkillLevel(skill="data-analytics", level=5),),
        months=6,
        fte=0.5,
        places=1,
    )
    figures = GroupFigures(label="all", mentees=3, matched=2, match_rate=0.67)
    match = uuid4()
    return [
        NetworkUpserted(
            entity_key="north",
            network_id="north",
            name="North",
            coordinators=(Coordinator(name="Nadia", email="nadia@example.org"),),
        ),
        TrustUpserted(
            entity_key="T1",
            trust_code="T1",
            name="Trust",
            region=Region.LONDON,
            network_id="n",
            contacts=(TrustContact(name="Tara", email="tara@example.org"),),
        ),
        TrustSignInRequested(entity_key="T1", trust_code="T1", contact_email="tara@example.org"),
        PersonUpserted(entity_key=str(person), profile=profile),
        PersonErased(entity_key=str(person), person_id=person),
        AvailabilityChanged(
            entity_key=str(person), person_id=person, paused=True, capacity=0, hours_per_month=0
        ),
        PlacementUpserted(entity_key=str(placement.placement_id), placement=placement),
        PlacementWithdrawn(entity_key="p", placement_id=placement.placement_id),
        match_proposed(),
        MatchWithdrawn(entity_key=str(match), match_id=match, network_id="n", reason="gone"),
        MatchDecided(
            entity_key=str(match), match_id=match, network_id="n", approved=True, decided_by="x"
        ),
        RoundCompleted(
            entity_key="north",
            network_id="north",
            fairness=FairnessFigures(kind=MatchKind.MENTORING, overall=figures, comparisons=()),
        ),
        SelfServiceLinkRequested(entity_key=str(person), person_id=person),
        FirstConversationHeld(
            entity_key=str(match), match_id=match, network_id="n", confirmed_by=LifeActor.MENTOR
        ),
        CheckInRecorded(
            entity_key=str(match),
            match_id=match,
            network_id="n",
            day=30,
            by=LifeActor.MENTEE,
            met=True,
            usefulness=4,
            note="going well",
        ),
        MatchClosed(
            entity_key=str(match),
            match_id=match,
            network_id="n",
            outcome=MatchOutcome.ENDED_EARLY,
            by=LifeActor.COORDINATOR,
            levels=(SkillLevel(skill="data-analytics", level=4),),
        ),
        MatchingWeightsApplied(
            entity_key="north",
            network_id="north",
            version=1,
            weights=ScoreWeights(
                skills=0.5, region=0.2, availability=0.1, preferences=0.1, text=0.1
            ),
            applied_by="nadia@example.org",
        ),
        JoinEmailRequested(
            entity_key=str(person),
            application_id=person,
            purpose=JoinEmailPurpose.CONFIRM_ADDRESS,
            role=Role.MENTOR,
            name="Vera",
            email="vera@example.org",
            network_name="North",
            token_id=person,
        ),
        ConsentRequested(
            entity_key=str(match),
            match_id=match,
            network_id="n",
            party=ConsentParty.HOST,
            trust_code="T1",
            deadline=datetime(2026, 12, 10, tzinfo=UTC),
        ),
        ConsentRecorded(
            entity_key=str(match),
            match_id=match,
            network_id="n",
            party=ConsentParty.HOME,
            trust_code="T2",
            given=False,
            reason="short-staffed",
            answered_by="tara@example.org",
            via="web",
        ),
        SecondmentChanged(
            entity_key=str(match),
            match_id=match,
            network_id="n",
            status=SecondmentStatus.STARTED,
            start_date=date(2027, 1, 4),
            end_date=date(2027, 7, 4),
        ),
        SecondmentRequestDecided(
            entity_key=str(person),
            person_id=person,
            trust_code="T2",
            agreed=False,
            reason="not during the audit",
            decided_by="tara@example.org",
        ),
    ]


EVENTS = [json.loads(event.to_json_bytes()) for event in one_of_each_event()]
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=30)
JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | ANY_TEXT
)
ANY_JSON = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=20,
)


def nested(depth: int) -> Any:
    """A list ``depth`` levels deep, as json.loads would give it (built without recursion)."""
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def deep_json_text(depth: int, inner: str = "") -> str:
    return "[" * depth + inner + "]" * depth


def decides(raw: bytes | None) -> Event | Unreadable:
    decision = read_message(raw)  # an exception here fails the test: that is the point
    assert isinstance(decision, Event | Unreadable)
    if isinstance(decision, Unreadable):
        assert decision.kind
        assert decision.reason
    return decision


# --- the four inputs of the issue, named ----------------------------------------------------


def test_an_event_type_that_is_a_json_list_is_dead_lettered() -> None:
    decision = decides(b'{"event_type": ["person.upserted"], "entity_key": "x"}')
    assert decision == Unreadable(
        "unknown_type", "not a valid Bridgework event: event_type is a list, not a string"
    )


@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_json_nested_thousands_deep_is_dead_lettered(depth: int) -> None:
    assert decides(deep_json_text(depth).encode()) == Unreadable(
        "malformed", "not a valid Bridgework event: nested too deeply"
    )
    inside_a_field = '{"event_type": "person.erased", "entity_key": "x", "person_id": %s}'
    decision = decides((inside_a_field % deep_json_text(depth)).encode())
    assert isinstance(decision, Unreadable)


def test_a_message_near_the_broker_limit_gets_a_dead_letter_that_fits() -> None:
    body = b'{"event_type": "person.erased", "pad": "' + b"x" * (BROKER_MAX_MESSAGE_BYTES - 80)
    body += b'"}'
    key = b"k" * 40
    headers = letter_headers("not a valid Bridgework event: " + "y" * 10_000)
    whole = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, body, headers)
    assert whole > PRODUCER_MAX_REQUEST_BYTES  # the copy as it was: refused by the producer
    copy = fitting_copy(key, body)
    size = DefaultRecordBatchBuilder.estimate_size_in_bytes(
        copy.key, copy.value, [*headers, *copy.headers]
    )
    assert size <= PRODUCER_MAX_REQUEST_BYTES
    assert dict(copy.headers)[DEAD_LETTER_ORIGINAL_SIZE] == str(len(body)).encode()


# --- the class: anything at all --------------------------------------------------------------


@given(st.binary(max_size=2_000) | st.none())
@example(b"\xff\xfe\x00")
@example(b"")
@example(b"null")
@example(b'{"event_type": {"a": 1}}')
@example(b'{"event_type": "person.erased", "schema_version": "2"}')
@example(b'{"event_type": "person.erased", "schema_version": 99}')
@example(b'{"event_type": "person.erased", "person_id": 1' + b"0" * 5_000 + b"}")
def test_any_bytes_are_an_event_or_a_dead_letter(raw: bytes | None) -> None:
    decides(raw)


@given(ANY_JSON)
def test_any_json_is_an_event_or_a_dead_letter(value: Any) -> None:
    decides(json.dumps(value).encode())


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document (the document itself included)."""
    found = [prefix]
    if isinstance(value, dict):
        for name, inner in value.items():
            found += paths(inner, (*prefix, name))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += paths(inner, (*prefix, index))
    return found


def replaced(document: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(document))
    holder = copy
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = new
    return copy


@settings(max_examples=300)
@given(st.data(), st.sampled_from(EVENTS))
def test_every_event_with_any_field_of_any_type_is_an_event_or_a_dead_letter(
    data: st.DataObject, event: dict[str, Any]
) -> None:
    path = data.draw(st.sampled_from(paths(event)), label="field")
    value = data.draw(
        # Nesting json.dumps can still write; deeper in the test below.
        ANY_JSON | st.integers(1, 500).map(nested) | st.just(event),
        label="value",
    )
    decides(json.dumps(replaced(event, path, value)).encode())


@settings(max_examples=50)
@given(st.sampled_from(EVENTS), st.integers(1, 20_000))
def test_deep_nesting_in_any_event_field_is_dead_lettered(
    event: dict[str, Any], depth: int
) -> None:
    for path in paths(event)[1:]:
        document = json.dumps(replaced(event, path, "DEEP"))
        raw = document.replace('"DEEP"', deep_json_text(depth), 1).encode()
        assert isinstance(decides(raw), Event | Unreadable)


def test_each_valid_event_still_decodes() -> None:
    for event in one_of_each_event():
        assert read_message(event.to_json_bytes()) == event


# --- the one-pass read takes only what the step-by-step read takes ----------------------------


def same_either_way(raw: bytes) -> None:
    """What the one-pass read (``read_current_version``) takes, the step-by-step read takes as
    the same event: the fast path never lets in what the careful one would park."""
    fast = read_current_version(raw)
    if fast is not None:
        assert read_step_by_step(raw) == fast


@settings(max_examples=300)
@given(st.data(), st.sampled_from(EVENTS))
def test_the_one_pass_read_takes_only_what_the_step_by_step_read_takes(
    data: st.DataObject, event: dict[str, Any]
) -> None:
    path = data.draw(st.sampled_from(paths(event)), label="field")
    value = data.draw(ANY_JSON | st.just(event), label="value")
    same_either_way(json.dumps(replaced(event, path, value)).encode())


@pytest.mark.parametrize("version", ["1", 1.0, True, 2, 0, None])
def test_a_version_that_is_not_the_current_integer_is_read_step_by_step(version: Any) -> None:
    raw = json.dumps({**EVENTS[0], "schema_version": version}).encode()
    assert read_current_version(raw) is None
    assert isinstance(decides(raw), Unreadable)


@pytest.mark.parametrize(
    "raw",
    [
        b'\xef\xbb\xbf{"event_type": "person.erased", "entity_key": "a", "person_id": "%s"}'
        % str(uuid4()).encode(),
        json.dumps({**EVENTS[0], "entity_key": "\ud800"}).encode(),
        json.dumps({**EVENTS[0], "occurred_at": 1_700_000_000}).encode(),
    ],
    ids=["a byte-order mark", "a lone surrogate", "a time as a number"],
)
def test_json_read_two_ways_is_the_same_event(raw: bytes) -> None:
    same_either_way(raw)


def test_a_repeated_key_is_read_either_way() -> None:
    """JSON leaves a repeated name's meaning open (RFC 8259, 4): the one-pass read keeps one of
    the values and the step-by-step read the other, but both take the event."""
    twice = b'"entity_key": "a", "entity_key": "b"'
    raw = b'{"event_type": "person.erased", %s, "person_id": "%s"}' % (twice, str(uuid4()).encode())
    assert read_current_version(raw) is not None
    assert isinstance(read_step_by_step(raw), PersonErased)


def test_each_valid_event_is_read_in_one_pass() -> None:
    for event in one_of_each_event():
        assert read_current_version(event.to_json_bytes()) == event


# --- the dead letter always fits --------------------------------------------------------------


def letter_headers(reason: str) -> list[tuple[str, bytes]]:
    trace = [
        ("traceparent", b"00-" + b"a" * 32 + b"-" + b"b" * 16 + b"-01"),
        ("x-correlation-id", b"c" * 64),
        ("tracestate", b"v" * 512),
        ("baggage", b"b" * 8192),  # OpenTelemetry's cap on the baggage header
    ]
    origin = Origin("t" * 400, 2**31, 2**63)
    return [*dead_letter_headers(origin, "notifier" * 40, "malformed" * 40, reason), *trace]


SIZES = st.integers(0, 1_500_000) | st.sampled_from([0, 1024, 1025, 512 * 1024, 1024 * 1024])


@settings(max_examples=60)
@given(SIZES, SIZES, st.booleans(), ANY_TEXT.map(lambda t: t * 500))
def test_a_dead_letter_always_fits_under_the_producer_limit(
    key_size: int, value_size: int, has_key: bool, reason: str
) -> None:
    pattern = bytes(range(256)) * (max(key_size, value_size) // 256 + 1)
    key = pattern[:key_size] if has_key else None
    value = pattern[:value_size]
    headers = letter_headers(reason)
    copy = fitting_copy(key, value)
    size = DefaultRecordBatchBuilder.estimate_size_in_bytes(
        copy.key, copy.value, [*headers, *copy.headers]
    )
    assert size <= PRODUCER_MAX_REQUEST_BYTES
    assert len(dict(headers)["x-dead-letter-reason"]) <= 4 * DEAD_LETTER_MAX_REASON_CHARS
    extra = dict(copy.headers)
    assert (copy.key or b"") == (key or b"")[: len(copy.key or b"")]
    assert (copy.value or b"") == value[: len(copy.value or b"")]
    if not copy.truncated:
        assert (copy.key, copy.value) == (key, value)  # the original, byte for byte
    elif b"value" in extra[DEAD_LETTER_TRUNCATED]:
        assert extra[DEAD_LETTER_ORIGINAL_SIZE] == str(len(value)).encode()
        assert extra[DEAD_LETTER_ORIGINAL_SHA256] == hashlib.sha256(value).hexdigest().encode()
    if copy.key is not None and key is not None and copy.key != key:
        assert extra[DEAD_LETTER_ORIGINAL_KEY_SHA256] == hashlib.sha256(key).hexdigest().encode()


def test_the_last_resort_letter_keeps_only_the_digests() -> None:
    copy = digest_only(b"key", b"value")
    assert (copy.key, copy.value) == (None, b"")
    assert dict(copy.headers)[DEAD_LETTER_ORIGINAL_SHA256] == (
        hashlib.sha256(b"value").hexdigest().encode()
    )

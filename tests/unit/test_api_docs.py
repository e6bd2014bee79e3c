"""The API documents in docs/ are what the code generates, and cover every topic and event."""

from __future__ import annotations

import json

from devtools.api_docs import generated, stale
from shared.observability.asyncapi import event_types
from shared.topics import Topic
from shared.topology import consumer_group, publications, subscriptions


def test_checked_in_api_docs_match_the_code() -> None:
    out_of_date = [path.name for path in stale(generated())]
    assert out_of_date == [], f"{out_of_date} drifted from the code: run `make api-docs`"


def test_generating_twice_writes_the_same_bytes() -> None:
    assert generated() == generated()


def test_asyncapi_names_every_topic_and_every_event_schema() -> None:
    document = json.loads(next(t for p, t in generated().items() if p.name == "asyncapi.json"))
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {topic.value for topic in Topic}
    schemas = document["components"]["schemas"]
    for event in event_types():
        assert event.__name__ in schemas, event.__name__
        event_type = event.model_fields["event_type"].default
        assert schemas[event.__name__]["properties"]["event_type"]["const"] == event_type


def test_openapi_documents_the_profiles_routes() -> None:
    document = json.loads(next(t for p, t in generated().items() if p.name == "openapi.json"))
    assert {"/mentors", "/mentees", "/people/{person_id}", "/placements"} <= set(document["paths"])


def test_asyncapi_operations_are_the_declared_topology() -> None:
    document = json.loads(next(t for p, t in generated().items() if p.name == "asyncapi.json"))
    declared = {
        f"{service}:{topic.value}:consume"
        for service, topics in subscriptions().items()
        for topic in topics
    } | {
        f"{service}:{topic.value}:publish"
        for service, topics in publications().items()
        for topic in topics
    }
    dead_letters = f"any:{Topic.DEAD_LETTERS.value}:publish"
    assert set(document["operations"]) == declared | {dead_letters}


def test_the_services_real_subscribers_are_the_declared_topology() -> None:
    from services.matcher.bootstrap import create_app as matcher
    from services.notifier.bootstrap import create_app as notifier
    from services.profiles.bootstrap import service_spec
    from shared.service import event_broker
    from shared.settings import Settings

    spec = service_spec(Settings())
    profiles = event_broker(spec.name, spec.topics, Settings(), lambda: None)
    brokers = {
        "matcher": matcher(Settings()).broker,
        "notifier": notifier(Settings()).broker,
        "profiles": profiles,
    }
    assert set(brokers) == set(subscriptions())
    for name, broker in brokers.items():
        assert broker is not None
        [subscriber] = list(broker.subscribers)
        topics = {topic.name for topic in subscriber.topics}  # type: ignore[attr-defined]
        assert topics == {topic.value for topic in subscriptions()[name]}, name
        assert subscriber.group_id == consumer_group(name)  # type: ignore[attr-defined]

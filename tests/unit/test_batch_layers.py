"""Batches are applied in layers that keep each entity's events in order."""

from __future__ import annotations

from uuid import uuid4

from shared.consuming import entity_layers
from shared.events import AvailabilityChanged, Event, PersonErased


def change(person: str, hours: float) -> AvailabilityChanged:
    return AvailabilityChanged(
        entity_key=person, person_id=uuid4(), paused=False, capacity=1, hours_per_month=hours
    )


def test_each_layer_holds_an_entity_at_most_once_and_keeps_its_order() -> None:
    events: list[Event] = [
        change("a", 1),
        change("b", 1),
        change("a", 2),
        change("c", 1),
        change("a", 3),
        change("b", 2),
    ]

    layers = entity_layers(events)

    as_pairs = [
        [(e.entity_key, getattr(e, "hours_per_month", None)) for e in layer] for layer in layers
    ]
    assert as_pairs == [[("a", 1), ("b", 1), ("c", 1)], [("a", 2), ("b", 2)], [("a", 3)]]


def test_the_same_key_on_another_topic_is_another_entity() -> None:
    on_people = change("x", 1)
    erased = PersonErased(entity_key="x", person_id=uuid4())
    assert entity_layers([on_people, erased]) == [[on_people], [erased]]
    assert entity_layers([]) == []

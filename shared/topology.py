"""Who publishes each topic and who consumes it, declared once.

The services' subscribers (shared/service.py), the AsyncAPI document
(shared/observability/asyncapi.py) and the operators' commands (``bridgework status``, ``dlq``)
all read this table; the topic names themselves live in shared/topics.py."""

from __future__ import annotations

from dataclasses import dataclass

from shared.topics import Topic

SERVICES = ("profiles", "matcher", "notifier")


@dataclass(frozen=True)
class Route:
    """One topic's publisher and its consumers (each service consumes in a group of its own)."""

    publisher: str
    consumers: tuple[str, ...]


ROUTES: dict[Topic, Route] = {
    # Networks, trusts, people and placements: the profiles service is their system of record.
    Topic.NETWORKS: Route("profiles", ("matcher", "notifier")),
    Topic.PEOPLE: Route("profiles", ("matcher", "notifier")),
    Topic.PLACEMENTS: Route("profiles", ("matcher", "notifier")),
    # The profiles service keeps a read model of proposals and decisions for the coordinators'
    # pages (its decisions are stored when taken; the topic covers its other replicas).
    Topic.PROPOSALS: Route("matcher", ("profiles", "notifier")),
    Topic.DECISIONS: Route("profiles", ("profiles", "matcher", "notifier")),
}
# Every consumer parks what it cannot read on Topic.DEAD_LETTERS; no service consumes it (the
# operators read and replay it with ``bridgework dlq``).


def consumer_group(service: str) -> str:
    return f"bridgework-{service}"


def consumed_by(service: str) -> tuple[Topic, ...]:
    """The topics ``service`` subscribes to, in the order shared/topics.py lists them."""
    return tuple(topic for topic, route in ROUTES.items() if service in route.consumers)


def published_by(service: str) -> tuple[Topic, ...]:
    return tuple(topic for topic, route in ROUTES.items() if route.publisher == service)


def subscriptions() -> dict[str, tuple[Topic, ...]]:
    """Each consuming service and its topics."""
    return {service: topics for service in SERVICES if (topics := consumed_by(service))}


def publications() -> dict[str, tuple[Topic, ...]]:
    """Each publishing service and its topics (dead letters aside)."""
    return {service: topics for service in SERVICES if (topics := published_by(service))}


def replayable(topic: str) -> bool:
    """Whether a dead letter from ``topic`` can go back: only to a topic some service reads."""
    return any(topic == t.value for t in ROUTES)

"""Kafka topic names, defined once. Every message is keyed by its entity's id, so one entity's
events land on one partition and stay in order."""

from __future__ import annotations

from enum import StrEnum


class Topic(StrEnum):
    NETWORKS = "bridgework.networks.v1"  # networks and trusts (key: network id / trust code)
    PEOPLE = "bridgework.people.v1"  # person upserted/erased, availability (key: person id)
    PLACEMENTS = "bridgework.placements.v1"  # secondment placements (key: placement id)
    PROPOSALS = "bridgework.proposals.v1"  # match proposed/withdrawn (match id), round completed
    DECISIONS = "bridgework.decisions.v1"  # match decided (key: match id)
    DEAD_LETTERS = "bridgework.dead-letters.v1"  # messages no consumer could read


PARTITIONS: dict[Topic, int] = {
    Topic.NETWORKS: 1,
    Topic.PEOPLE: 6,
    Topic.PLACEMENTS: 3,
    Topic.PROPOSALS: 6,
    Topic.DECISIONS: 3,
    Topic.DEAD_LETTERS: 1,
}

# Topics whose order spans keys, or that carry too little to spread: one partition whatever
# BRIDGEWORK_KAFKA_PARTITIONS says.
SINGLE_PARTITION = frozenset({Topic.NETWORKS, Topic.DEAD_LETTERS})


def partition_count(topic: Topic, keyed_partitions: int | None = None) -> int:
    """How many partitions ``topic`` is created with: ``keyed_partitions``
    (BRIDGEWORK_KAFKA_PARTITIONS) for the keyed topics when set, else the default above."""
    if keyed_partitions is None or topic in SINGLE_PARTITION:
        return PARTITIONS[topic]
    return keyed_partitions


# Personal data leaves the log with time: an erased person's old profile messages are deleted
# with their segment once older than this (an erasure also removes every unpublished copy from
# the outbox, and consumers forget them at once). Not compaction: the people topic also carries
# availability and link events under the person's key, and compaction would keep only the
# latest message per person, losing the profile a replay needs.
PEOPLE_RETENTION_MS = 7 * 24 * 3600 * 1000
TOPIC_CONFIGS: dict[Topic, dict[str, str]] = {
    Topic.PEOPLE: {"cleanup.policy": "delete", "retention.ms": str(PEOPLE_RETENTION_MS)},
}

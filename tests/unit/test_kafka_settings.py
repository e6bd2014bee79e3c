"""The deployment's Kafka settings reach the topics the services create."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.kafka import new_topic
from shared.settings import KafkaSettings
from shared.topics import PARTITIONS, PEOPLE_RETENTION_MS, Topic


def test_by_default_topics_have_their_own_partitions_and_one_copy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("PARTITIONS", "REPLICATION_FACTOR", "MIN_INSYNC_REPLICAS"):
        monkeypatch.delenv(f"BRIDGEWORK_KAFKA_{name}", raising=False)  # a cluster's with-infra
    settings = KafkaSettings()
    for topic in Topic:
        made = new_topic(topic, settings)
        assert made.num_partitions == PARTITIONS[topic]
        assert made.replication_factor == 1
        assert made.topic_configs["min.insync.replicas"] == "1"


def test_a_cluster_replicates_every_topic_and_spreads_the_keyed_ones() -> None:
    settings = KafkaSettings(
        kafka_partitions=12, kafka_replication_factor=3, kafka_min_insync_replicas=2
    )
    made = {topic: new_topic(topic, settings) for topic in Topic}
    assert {t: m.num_partitions for t, m in made.items()} == {
        Topic.NETWORKS: 1,  # one order for networks and their trusts
        Topic.PEOPLE: 12,
        Topic.PLACEMENTS: 12,
        Topic.PROPOSALS: 12,
        Topic.DECISIONS: 12,
        Topic.DEAD_LETTERS: 1,
    }
    assert {m.replication_factor for m in made.values()} == {3}
    assert {m.topic_configs["min.insync.replicas"] for m in made.values()} == {"2"}
    # The people topic keeps its retention beside them.
    assert made[Topic.PEOPLE].topic_configs["retention.ms"] == str(PEOPLE_RETENTION_MS)


@pytest.mark.parametrize(
    ("replicas", "in_sync"), [(1, 2), (2, 3), (0, 1), (3, 0)], ids=["1-2", "2-3", "0-1", "3-0"]
)
def test_replicas_no_broker_set_could_acknowledge_are_refused(replicas: int, in_sync: int) -> None:
    with pytest.raises(ValidationError):
        KafkaSettings(kafka_replication_factor=replicas, kafka_min_insync_replicas=in_sync)


def test_the_services_broker_is_given_every_broker_of_the_list() -> None:
    # FastStream's KafkaBroker takes a string as one address: shared/service.py gives it these.
    settings = KafkaSettings(kafka_bootstrap_servers="k1:9092, k2:9092,k3:9092")
    assert settings.kafka_brokers == ["k1:9092", "k2:9092", "k3:9092"]


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGEWORK_KAFKA_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("BRIDGEWORK_KAFKA_MIN_INSYNC_REPLICAS", "2")
    monkeypatch.setenv("BRIDGEWORK_KAFKA_PARTITIONS", "24")
    settings = KafkaSettings()
    assert (settings.kafka_replication_factor, settings.kafka_min_insync_replicas) == (3, 2)
    assert new_topic(Topic.PEOPLE, settings).num_partitions == 24

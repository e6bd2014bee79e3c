"""The chaos run on a three-broker cluster (`make chaos-cluster`, part of `make chaos`): two
processes of every service, a leader broker killed, a broker down for 60 s and one process of
each service killed mid-batch (tests/chaos/cluster.py), with the guarantees of the one-broker
run (test_chaos.py) and the same final proposals as a calm run."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.settings import Settings
from tests.chaos.cluster import BROKERS, ClusterPlan
from tests.chaos.harness import Comparison, assert_guarantees_held, calm_and_chaos
from tests.support.services import require_service

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]


@pytest.fixture
def cluster(base_settings: Settings) -> None:
    brokers = base_settings.kafka_bootstrap_servers.split(",")
    if len(brokers) < len(BROKERS):
        pytest.skip("needs the local three-broker cluster: `make chaos-cluster`")
    for broker in brokers:
        host, port = broker.rsplit(":", 1)
        require_service("Kafka", host, int(port))


def assert_cluster_faults_survived(comparison: Comparison, kills: int) -> None:
    assert_guarantees_held(comparison)
    faults = comparison.chaos.faults
    assert sum(faults.kills.values()) == 3 * kills
    assert len(faults.broker_faults) == 2  # the leader killed, a broker stopped for 60 s
    assert len(faults.stalls) == 2 * (3 * kills + 2)  # each fault, for matcher and notifier
    # Two processes in each group: every SIGKILL made the survivor take the partitions over,
    # and the restarted one share them again.
    for group in ("bridgework-matcher", "bridgework-notifier"):
        assert comparison.chaos.rebalances[group] > comparison.calm.rebalances[group]


@pytest.mark.timeout(1200)
@pytest.mark.usefixtures("cluster")
async def test_short_cluster_chaos_run(tmp_path: Path) -> None:
    comparison = await calm_and_chaos(700, ClusterPlan(), tmp_path, chaos_quiet_seconds=30)
    assert_cluster_faults_survived(comparison, kills=1)


@pytest.mark.timeout(2400)
@pytest.mark.usefixtures("cluster")
async def test_full_cluster_chaos_run(tmp_path: Path) -> None:
    comparison = await calm_and_chaos(3000, ClusterPlan(kills_per_service=2), tmp_path)
    assert_cluster_faults_survived(comparison, kills=2)
    assert comparison.chaos.events >= 3000

"""Stall visibility (issue 14): a partition whose consumer keeps retrying shows in readiness
(which partition, since when) once past the threshold, and in metrics at once."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY

from shared.observability.health import readiness, stall_check
from shared.observability.progress import PartitionProgress

PEOPLE = ("bridgework.people.v1", 2)
DECISIONS = ("bridgework.decisions.v1", 0)
T0 = 1_796_000_000.0  # 2026-11-30T00:53:20Z


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def sample(name: str, group: str, partition: tuple[str, int]) -> float | None:
    labels = {"group": group, "topic": partition[0], "partition": str(partition[1])}
    return REGISTRY.get_sample_value(name, labels)


def ready(progress: PartitionProgress, threshold: float) -> tuple[bool, dict[str, str]]:
    check = stall_check(lambda: progress, threshold)
    return asyncio.run(readiness({"consumer": check}, timeout=1))


def test_a_partition_retried_past_the_threshold_is_named_in_readiness_with_its_start() -> None:
    clock = Clock()
    progress = PartitionProgress("bridgework-test-stuck", clock)
    for _ in range(3):  # the same batch fails and is redelivered, again and again
        progress.trying([PEOPLE, DECISIONS])
        progress.failed([PEOPLE, DECISIONS])
        clock.now += 10
    progress.trying([DECISIONS])
    progress.moved([DECISIONS])  # the other partition got past it (e.g. after a rebalance)
    progress.trying([PEOPLE])
    assert ready(progress, threshold=60) == (True, {"consumer": "ok"})
    clock.now += 31  # 61 s since the first try
    ok, checks = ready(progress, threshold=60)
    assert not ok
    assert checks == {
        "consumer": "failed: bridgework.people.v1[2] stuck since 2026-11-30T00:53:20+00:00"
        " (3 retries)"
    }


def test_the_gauge_and_the_retries_counter_show_the_stall_before_readiness_does() -> None:
    clock = Clock()
    group = "bridgework-test-gauge"
    progress = PartitionProgress(group, clock)
    progress.trying([PEOPLE])
    progress.failed([PEOPLE])
    clock.now += 5
    progress.trying([PEOPLE])
    clock.now += 2.5
    assert sample("bridgework_consumer_stalled_seconds", group, PEOPLE) == 7.5
    assert sample("bridgework_consumer_retries_total", group, PEOPLE) == 1
    progress.moved([PEOPLE])
    assert sample("bridgework_consumer_stalled_seconds", group, PEOPLE) == 0
    assert ready(progress, threshold=1) == (True, {"consumer": "ok"})


def test_a_partition_no_longer_tried_here_stops_counting_as_stuck() -> None:
    clock = Clock()
    progress = PartitionProgress("bridgework-test-revoked", clock)
    progress.trying([PEOPLE])
    progress.failed([PEOPLE])
    clock.now += 61
    assert [s.partition for s in progress.stuck(60)] == []  # revoked: never tried again here
    progress.trying([PEOPLE])  # ... until it comes back and is still stuck
    assert [s.partition for s in progress.stuck(60)] == [2]


def test_a_batch_in_flight_for_long_counts_as_stuck_while_it_lasts() -> None:
    clock = Clock()
    progress = PartitionProgress("bridgework-test-in-flight", clock)
    progress.trying([PEOPLE])  # e.g. retrying inside the transaction for a minute
    clock.now += 90
    assert [s.retries for s in progress.stuck(60)] == [0]

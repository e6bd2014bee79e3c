"""Stall visibility: a partition whose consumer keeps retrying the same messages.

A transient error (the database away, a bug that raises on every try) makes a consumer retry a
batch again and again; the partition's lag then stops moving, and nothing else says so. Each
consumer notes, per topic and partition, since when it has been trying to get past its current
messages and how many tries failed. Readiness names a partition stuck longer than
``BRIDGEWORK_CONSUMER_STALL_SECONDS`` (and since when); metrics show every partition's stalled
seconds and retries."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.observability import metrics

Partition = tuple[str, int]  # (topic, partition)


@dataclass
class _Waiting:
    since: float  # when the consumer first tried these messages (wall clock, seconds)
    last_try: float
    retries: int = 0
    in_flight: bool = True


@dataclass(frozen=True)
class Stuck:
    topic: str
    partition: int
    since: float
    retries: int

    def describe(self) -> str:
        since = datetime.fromtimestamp(self.since, UTC).isoformat(timespec="seconds")
        return f"{self.topic}[{self.partition}] stuck since {since} ({self.retries} retries)"


class PartitionProgress:
    """Per partition of one consumer group: since when it waits to move on, and its retries.

    ``trying`` when a batch starts, then ``moved`` (handled: progress) or ``failed`` (it will
    be redelivered). A partition neither in flight nor tried again within the threshold (its
    batch went to another consumer in a rebalance) no longer counts as stuck here."""

    def __init__(self, group: str, clock: Callable[[], float] = time.time) -> None:
        self.group = group
        self._clock = clock
        self._waiting: dict[Partition, _Waiting] = {}
        self._gauged: set[Partition] = set()

    def trying(self, partitions: Iterable[Partition]) -> None:
        now = self._clock()
        for partition in partitions:
            waiting = self._waiting.setdefault(partition, _Waiting(since=now, last_try=now))
            waiting.last_try, waiting.in_flight = now, True
            self._gauge(partition)

    def moved(self, partitions: Iterable[Partition]) -> None:
        for partition in partitions:
            self._waiting.pop(partition, None)

    def failed(self, partitions: Iterable[Partition]) -> None:
        for partition in partitions:
            waiting = self._waiting.get(partition)
            if waiting is not None:
                waiting.retries += 1
                waiting.in_flight = False
            topic, number = partition
            metrics.CONSUMER_RETRIES.labels(
                group=self.group, topic=topic, partition=str(number)
            ).inc()

    def stalled_seconds(self, partition: Partition) -> float:
        """How long the partition has waited to move on (0: it is moving, or idle)."""
        waiting = self._waiting.get(partition)
        return 0.0 if waiting is None else max(self._clock() - waiting.since, 0.0)

    def stuck(self, threshold: float) -> list[Stuck]:
        """The partitions waiting longer than ``threshold`` seconds and still being tried."""
        now = self._clock()
        return [
            Stuck(topic, number, waiting.since, waiting.retries)
            for (topic, number), waiting in sorted(self._waiting.items())
            if now - waiting.since > threshold
            and (waiting.in_flight or now - waiting.last_try <= threshold)
        ]

    def _gauge(self, partition: Partition) -> None:
        if partition in self._gauged:
            return
        self._gauged.add(partition)
        topic, number = partition
        metrics.CONSUMER_STALLED_SECONDS.labels(
            group=self.group, topic=topic, partition=str(number)
        ).set_function(lambda: self.stalled_seconds(partition))

"""The chaos run on a three-broker cluster (``BRIDGEWORK_KAFKA_BROKERS=3``): the same workload
and checks as harness.py, with two processes of every service (two profiles processes, so two
outbox relays race) and the cluster's own faults while events flow:

- the broker leading most partitions of the busiest topic (people) is killed with SIGKILL and
  restarted later: its partitions' leadership moves to the others;
- one broker is stopped for 60 s: every partition under-replicated, writes go on with two
  copies in sync (min.insync.replicas 2);
- one process of each service is killed with SIGKILL mid-batch and restarted, so each consumer
  group rebalances.

It reports each group's partition assignments (rebalances) and, for each fault, how long
consumption stalled: the longest time nothing was applied while events waited.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from devtools.stack import ServiceProcess, StackConfig
from shared.topics import Topic
from tests.chaos.harness import QUIET_SQL, ChaosPlan, Faults, Monkey, node_script

BROKERS = (1, 2, 3)  # devtools/kafka.sh numbers a cluster's nodes 1..N (their node.id)
CONSUMERS = ("matcher", "notifier")  # the groups whose progress is watched
STALL_WINDOW_AFTER_SECONDS = 30.0  # a fault's effect is looked for until this long after it


@dataclass(frozen=True)
class ClusterPlan(ChaosPlan):
    kills_per_service: int = 1
    restart_kafka: bool = False  # the cluster's own faults instead
    restart_postgres: bool = False
    smtp_outage_seconds: float = 0.0
    replicas: int = 2
    leader_down_seconds: float = 15.0
    broker_outage_seconds: float = 60.0

    def monkey(
        self,
        config: StackConfig,
        processes: dict[str, ServiceProcess],
        maildir: Path,
        waves: int,
        rng: random.Random,
    ) -> Monkey:
        return ClusterMonkey(config, processes, maildir, self, waves, rng)


@dataclass
class Sample:
    at: float
    applied: dict[str, int]  # events each consumer has applied
    waiting: dict[str, int]  # events stored by a producer that it has not applied


@dataclass
class FaultWindow:
    label: str
    started: float
    ended: float = 0.0


@dataclass
class Progress:
    samples: list[Sample] = field(default_factory=list)

    def longest_stall(self, consumer: str, start: float, end: float) -> float:
        """The longest stretch between ``start`` and ``end`` in which ``consumer`` applied
        nothing while events waited for it."""
        longest, stalled_since = 0.0, None
        previous: Sample | None = None
        for sample in (s for s in self.samples if start <= s.at <= end):
            if previous is not None:
                stuck = sample.waiting[consumer] > 0 and (
                    sample.applied[consumer] == previous.applied[consumer]
                )
                if stuck:
                    stalled_since = previous.at if stalled_since is None else stalled_since
                    longest = max(longest, sample.at - stalled_since)
                else:
                    stalled_since = None
            previous = sample
        return longest


APPLIED_SQL = "SELECT count(*) FROM {0}.processed_events WHERE consumer = '{0}'"


class ClusterMonkey(Monkey):
    """The cluster's faults, and the consumers' progress sampled throughout."""

    def __init__(
        self,
        config: StackConfig,
        processes: dict[str, ServiceProcess],
        maildir: Path,
        plan: ClusterPlan,
        waves: int,
        rng: random.Random,
    ) -> None:
        self._cluster = plan
        super().__init__(config, processes, maildir, plan, waves, rng)
        self._windows: list[FaultWindow] = []
        self._progress = Progress()

    def actions(self) -> list[str]:
        kills = [f"kill:{name}" for name in ("profiles", "matcher", "notifier")]
        return kills * self._cluster.kills_per_service + ["leader", "broker"]

    async def supervise(self) -> None:
        await asyncio.gather(super().supervise(), self._sample_forever())

    async def _do(self, action: str) -> None:
        window = FaultWindow(action, time.monotonic())
        self._windows.append(window)
        if action == "leader":
            node, led = await busiest_leader(self._config.kafka_bootstrap_servers)
            window.label = f"leader SIGKILL (node {node}, {led} of the people partitions)"
            await node_script("kill-node", node)
            await asyncio.sleep(self._cluster.leader_down_seconds)
            await node_script("start-node", node)
            self.faults.broker_faults.append(
                f"node {node} led {led} people partitions: SIGKILLed,"
                f" restarted after {time.monotonic() - window.started:.0f}s"
            )
        elif action == "broker":
            node = self._rng.choice(BROKERS)
            window.label = f"broker down (node {node})"
            await node_script("stop-node", node)
            await asyncio.sleep(self._cluster.broker_outage_seconds)
            await node_script("start-node", node)
            self.faults.broker_faults.append(
                f"node {node} stopped for {time.monotonic() - window.started:.0f}s"
            )
        else:
            window.label = f"SIGKILL {action.split(':', 1)[1]}"
            await super()._do(action)
        window.ended = time.monotonic()

    async def _sample_forever(self) -> None:
        conn: asyncpg.Connection | None = None
        while True:
            try:
                conn = conn or await asyncpg.connect(self._config.database_url)
                self._progress.samples.append(await _sample(conn))
            except (OSError, asyncpg.PostgresError):
                if conn is not None:
                    with contextlib.suppress(OSError, asyncpg.PostgresError):
                        await conn.close()
                conn = None
            await asyncio.sleep(0.5)

    def settled_faults(self) -> Faults:
        self.faults.stalls = [
            (
                f"{window.label} [{consumer}]",
                self._progress.longest_stall(
                    consumer, window.started, window.ended + STALL_WINDOW_AFTER_SECONDS
                ),
            )
            for window in self._windows
            for consumer in CONSUMERS
        ]
        return self.faults


async def _sample(conn: asyncpg.Connection) -> Sample:
    applied = {c: int(await conn.fetchval(APPLIED_SQL.format(c))) for c in CONSUMERS}
    waiting = {c: int(await conn.fetchval(QUIET_SQL[f"unapplied by {c}"])) for c in CONSUMERS}
    return Sample(time.monotonic(), applied, waiting)


async def busiest_leader(bootstrap: str) -> tuple[int, int]:
    """The node leading the most partitions of the people topic, and how many it leads."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [topic] = await admin.describe_topics([Topic.PEOPLE.value])
    finally:
        await admin.close()
    leaders = Counter(int(p["leader"]) for p in topic["partitions"])
    node, led = leaders.most_common(1)[0]
    return node, led

"""Pipeline benchmark: the event pipeline against what the broker and client themselves carry.

    make bench-pipeline                      # the full run (3 repetitions, 5-minute window, soak)
    python -m bench.bench_pipeline --repeats 3 --soak-seconds 120 --events 20000
    make bench-cluster                       # one broker against three (--brokers 1 3)

Runs on the real local broker and database (``devtools/with-infra.sh`` starts them, as for
``make demo``), the services as processes (``devtools/stack.py``), and an in-process aiosmtpd
server. Each scenario gets a fresh database; the consumer groups are moved to the end of the
topics between scenarios, so a service only sees its own scenario's events.

1. limit: a plain aiokafka producer and consumer move the ingest's own messages (same bytes,
   same keys, same partitions) through the broker, concurrently: messages/s.
   broker_limit: Kafka's own producer and consumer performance tools (the JVM client, same
   broker, same record count and size; bench/broker_reference.py).
2. ingest: the same events published to Kafka; time until the matcher's tables hold all of
   them (rounds deferred, so this is the consumer's throughput): events/s, ratio to each limit.
3. scale-out: the same, with two matcher processes in one consumer group.
4. latency: mentees published at a steady rate; time from publish to their proposal on the
   proposals topic, p50/p95/p99, and the matcher's own round durations. sustained: proposals
   on arrival over a long window (5 minutes), with the p99 of each minute, in the deployments'
   arrangement (the rounds in a matcher process of their own; ``--no-rounds-apart`` for one
   process doing both).
5. notifier: proposals published; emails/s received by the SMTP server.
6. soak: the three services under a steady mixed load; resident memory, start vs end.

The limits, the ingest, the two drains, the three latency scenarios and the sustained window run
``--repeats`` times (3 by default);
each keeps every run and reports the min, median and max of its figures (bench/spread.py), and
a latency target is met only when every run meets it.

Writes bench/results/pipeline.json and prints a table against the targets.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from rich.console import Console
from rich.table import Table

from bench.broker_reference import consumer_performance, producer_performance
from bench.cpu_use import CpuWindow
from bench.machine_speed import machine_speed, speed_range
from bench.pipeline_data import (
    MARKER_HOURS,
    PeopleFactory,
    Population,
    availability,
    ingest_events,
    load_population,
    proposal,
)
from bench.spread import p99_by_window, percentiles, summarise_runs, worst_window
from devtools import ROOT
from devtools.stack import (
    ServiceProcess,
    StackConfig,
    fresh_database,
    start_service,
    wait_until_ready,
    with_api_token,
)
from shared.db import connection
from shared.events import Event, MatchProposed, PersonUpserted, TrustUpserted
from shared.kafka import ensure_topics, idempotent_producer, new_topic
from shared.regions import Region
from shared.settings import Settings
from shared.topics import Topic, partition_count

console = Console(width=150)
RESULTS = ROOT / "bench" / "results" / "pipeline.json"
LOG_DIR = ROOT / ".local" / "bench-logs"
MENTOR_CAPACITY = 50  # places per mentor in the latency scenarios
# Rounds are deferred while ingesting: the ingest figure is the consumer's, not the solver's.
DEFERRED_ROUNDS = (
    ("BRIDGEWORK_ROUND_QUIET_SECONDS", "3600"),
    ("BRIDGEWORK_ROUND_MAX_DELAY_SECONDS", "3600"),
)
SCENARIOS = (
    "limit",
    "broker_limit",
    "ingest",
    "backlog_one",
    "backlog_two",
    "latency",
    "latency_on_arrival",
    "latency_on_arrival_rounds_apart",
    "sustained",
    "notifier",
    "soak",
)
# Run --repeats times each (limit, broker and ingest side by side in each repetition, so that
# each run's ratio compares figures measured minutes apart; the two drains likewise, one matcher
# then two), reported as their spread.
REPEATED = (
    "limit",
    "broker_limit",
    "ingest",
    "backlog_one",
    "backlog_two",
    "latency",
    "latency_on_arrival",
    "latency_on_arrival_rounds_apart",
    "sustained",
)
# Run once before the repetitions, and left out of the figures: the scenarios whose ratios the
# table gives. The first run of each invocation was always the slowest, for the plain client,
# Kafka's own tools and the ingest alike (a broker just started, the JVM not yet compiled its
# hot paths): a first repetition then compared a cold broker's figures, not the clients'.
WARMED_UP = ("limit", "broker_limit", "ingest")
# Before them, a minute of the sustained scenario's steady stream, also unreported: a run of
# each alone left the broker cold, and only minutes of steady load warmed it (docs/scaling.md,
# "A cold broker"), so the first repetition measured a cold broker.
WARM_UP_STREAM_SECONDS = 60.0
# The figures whose spread each repeated scenario reports.
SPREAD_OF = {
    "limit": ("end_to_end_per_second",),
    "broker_limit": ("per_second", "produce_per_second", "consume_per_second"),
    "ingest": ("events_per_second", "ratio_to_limit", "ratio_to_broker"),
    "backlog_one": ("events_per_second",),
    "backlog_two": ("events_per_second", "ratio_to_one"),
    "latency": ("p50_ms", "p95_ms", "p99_ms"),
    "latency_on_arrival": ("p50_ms", "p95_ms", "p99_ms"),
    "latency_on_arrival_rounds_apart": ("p50_ms", "p95_ms", "p99_ms"),
    "sustained": ("p50_ms", "p95_ms", "p99_ms", "worst_minute_p99_ms"),
}
TARGETS = {
    "ingest_events_per_second": 5000.0,
    "ingest_ratio_to_limit": 0.7,
    "latency_p99_ms": 200.0,
    "emails_per_second": 50.0,
    "scale_out_factor": 1.6,
}


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


class Bench:
    def __init__(
        self,
        settings: Settings,
        population: Population,
        smtp_port: int,
        service_log_level: str = "WARNING",
    ) -> None:
        self.settings = settings
        self.service_log_level = service_log_level
        self.bootstrap = settings.kafka_bootstrap_servers
        self.server_url = settings.database_url
        self.population = population
        self.factory = PeopleFactory(population)
        self.smtp_port = smtp_port
        self.http_port = settings.http_port

    # --- infrastructure -----------------------------------------------------------------

    def config(self, database_url: str, *extra: tuple[str, str]) -> StackConfig:
        return StackConfig(
            database_url=database_url,
            kafka_bootstrap_servers=self.bootstrap,
            smtp_port=self.smtp_port,
            http_port=self.http_port,
            log_dir=LOG_DIR,
            extra_environment=(("BRIDGEWORK_LOG_LEVEL", self.service_log_level), *extra),
        )

    async def publish(self, events: Sequence[Event]) -> None:
        producer = idempotent_producer(self.bootstrap)
        await producer.start()
        try:
            await send_all(
                producer, [(e.topic.value, e.entity_key, e.to_json_bytes()) for e in events]
            )
        finally:
            await producer.stop()

    async def move_groups_to_end(self) -> None:
        """Earlier scenarios' events stay in the topics: each service's group starts after
        them, so a scenario's service sees only that scenario's events."""
        for service in ("matcher", "notifier"):
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                group_id=f"bridgework-{service}",
                enable_auto_commit=False,
            )
            await consumer.start()
            try:
                partitions = [
                    TopicPartition(topic.value, p)
                    for topic in Topic
                    for p in range(partition_count(topic, self.settings.kafka_partitions))
                ]
                consumer.assign(partitions)
                await consumer.seek_to_end(*partitions)
                await consumer.commit({tp: await consumer.position(tp) for tp in partitions})
            finally:
                await consumer.stop()

    async def wait_for_group(self, group: str, members: int, timeout: float = 180) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                described = (await admin.describe_consumer_groups([group]))[0].to_object()
                state = described["groups"][0]
                if state["state"] == "Stable" and len(state["members"]) == members:
                    return
                await asyncio.sleep(0.2)
        finally:
            await admin.close()
        raise TimeoutError(f"group {group} did not settle with {members} members")

    async def start_consumers(
        self, service: str, database_url: str, count: int, *extra: tuple[str, str]
    ) -> list[ServiceProcess]:
        """Start ``count`` processes of a service; return once the group is stable and a probe
        event has reached the service's tables."""
        config = self.config(database_url, *extra)
        # One after the other: two processes migrating a fresh database at once can race on
        # CREATE SCHEMA IF NOT EXISTS (PostgreSQL does not make it atomic).
        processes: list[ServiceProcess] = []
        try:
            for started in range(1, count + 1):
                processes.append(start_service(service, config))
                await self.wait_for_group(f"bridgework-{service}", started)
            probe = TrustUpserted(
                entity_key="PROBE",
                trust_code=f"PROBE{time.monotonic_ns()}",
                name="Probe",
                region=Region.LONDON,
                network_id="probe",
            )
            await self.publish([probe])
            await wait_for(
                database_url,
                f"SELECT count(*) FROM {service}.trusts WHERE code = $1",
                1,
                probe.trust_code,
            )
        except BaseException:
            stop_all(processes)
            raise
        return processes


async def send_all(producer: Any, messages: Sequence[tuple[str, str, bytes]]) -> list[Any]:
    """Send without waiting for each acknowledgement (the client batches), then wait for all;
    returns each message's record metadata (its partition and offset), in order."""
    pending = [await producer.send(topic, body, key=key.encode()) for topic, key, body in messages]
    return list(await asyncio.gather(*pending))


def last_of_each_partition(events: Sequence[Event], sent: Sequence[Any]) -> list[UUID]:
    """The id of the last event published to each partition (``sent``: ``send_all``'s record
    metadata for ``events``)."""
    last: dict[tuple[str, int], tuple[int, UUID]] = {}
    for event, metadata in zip(events, sent, strict=True):
        where = (metadata.topic, metadata.partition)
        if where not in last or metadata.offset > last[where][0]:
            last[where] = (metadata.offset, event.event_id)
    return [event_id for _, event_id in last.values()]


def polling(database_url: str) -> AbstractAsyncContextManager[asyncpg.Connection]:
    """A connection for the benchmark's own polls, planned as the services' connections are
    (shared/db.py): each execution for the tables as they are. A poll repeated every 20 ms
    from the first batch on kept the generic plan PostgreSQL made after five executions, for
    a table still nearly empty, and that plan's cost grew with the table: 28-44 ms a poll by
    the end of a 200,000-event drain, 5.7 s of polling in a 13 s drain, on the cores the drain
    is measured on (docs/scaling.md, "The ingest's own clock")."""
    return connection(database_url, "bench")


async def wait_for(
    database_url: str, query: str, expected: int, *args: Any, timeout: float = 600
) -> float:
    """Poll until the query's count reaches ``expected``; returns the monotonic time it did."""
    async with polling(database_url) as conn:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with suppress(asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
                if await conn.fetchval(query, *args) >= expected:
                    return time.monotonic()
            await asyncio.sleep(0.02)
    raise TimeoutError(f"{query} did not reach {expected} within {timeout:.0f}s")


async def expect_count(database_url: str, query: str, expected: int, *args: Any) -> None:
    """The query's count is ``expected`` now, or the measurement stopped too early."""
    async with polling(database_url) as conn:
        found = await conn.fetchval(query, *args)
    if found != expected:
        raise RuntimeError(f"{query}: {found}, not {expected}, when the run was timed as done")


def stop_all(processes: Sequence[ServiceProcess]) -> None:
    for process in processes:
        process.stop()


# --- 1. the limit -------------------------------------------------------------------------


async def fresh_topic(bench: Bench, prefix: str) -> str:
    """An empty topic with the people topic's partitions: only this run's messages count."""
    topic = f"{prefix}.{time.time_ns()}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bench.bootstrap)
    await admin.start()
    # Partitioned and replicated as the people topic (on a cluster: three copies, acks from two).
    people = new_topic(Topic.PEOPLE, bench.settings)
    like_people = NewTopic(
        topic,
        num_partitions=people.num_partitions,
        replication_factor=people.replication_factor,
        topic_configs=people.topic_configs,
    )
    with suppress(TopicAlreadyExistsError):
        await admin.create_topics([like_people])
    await admin.close()
    return topic


async def measure_limit(bench: Bench, events: Sequence[Event]) -> dict[str, Any]:
    """A plain producer and consumer, moving the same messages concurrently. The consumer runs
    in a process of its own (bench/plain_consumer.py), as the matcher does in the ingest: in
    the producer's process it took the producer's CPU, and the limit measured one Python
    process doing both jobs against an ingest that gives the consumer a process to itself."""
    topic = await fresh_topic(bench, "bench.limit")
    messages = [(topic, e.entity_key, e.to_json_bytes()) for e in events]
    consumer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.plain_consumer",
        bench.bootstrap,
        topic,
        str(len(messages)),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert consumer.stdout is not None
    try:
        async with asyncio.timeout(180):
            ready = await consumer.stdout.readline()
        if ready.strip() != b"ready":
            raise RuntimeError(f"the plain consumer did not start: {ready!r}")
        producer = idempotent_producer(bench.bootstrap)
        await producer.start()
        cpu = CpuWindow(own={consumer.pid: "plain consumer"})
        try:
            cpu.start()
            started = time.monotonic()
            with objects_frozen():
                await send_all(producer, messages)
            produced = time.monotonic()
        finally:
            await producer.stop()
        async with asyncio.timeout(600):
            last = (await consumer.stdout.readline()).split()
        used = cpu.stop()
        if last[:1] != [b"done"]:
            raise RuntimeError(f"the plain consumer stopped early: {last!r}")
        done = float(last[1])
        await asyncio.wait_for(consumer.wait(), 30)
    finally:
        if consumer.returncode is None:
            with suppress(ProcessLookupError):
                consumer.terminate()
        await consumer.wait()
    return {
        "messages": len(messages),
        "mean_bytes": round(sum(len(m[2]) for m in messages) / len(messages)),
        "produce_per_second": round(len(messages) / (produced - started)),
        "end_to_end_per_second": round(len(messages) / (done - started)),
        "cpu": used,
        "cpu_us_per_message": cpu_per_message(used, len(messages)),
    }


def cpu_per_message(used: dict[str, Any], messages: int) -> dict[str, float]:
    """A CpuWindow's seconds per group as microseconds of CPU per message moved: what each
    part of a pipeline costs the two cores it shares, summed in "all". (The benchmark's own
    group is the producer: the window's only other work in it is polling for the end.)"""
    seconds = used.get("cpu_seconds", {})
    per = {group: round(value / messages * 1e6, 1) for group, value in seconds.items()}
    return {**per, "all": round(sum(seconds.values()) / messages * 1e6, 1)} if per else {}


async def measure_broker_limit(bench: Bench, events: Sequence[Event]) -> dict[str, Any]:
    """Kafka's own producer, then consumer, performance tool (bench/broker_reference.py) on as
    many records of the ingest's mean size: what the broker carries for the JVM client. The
    tools run one after the other, so the slower of the two rates is the broker's limit for a
    pipeline that does both."""
    topic = await fresh_topic(bench, "bench.broker")
    size = round(sum(len(e.to_json_bytes()) for e in events) / len(events))
    produced = await asyncio.to_thread(
        producer_performance, bench.bootstrap, topic, len(events), size
    )
    consumed = await asyncio.to_thread(consumer_performance, bench.bootstrap, topic, len(events))
    return {
        "records": len(events),
        "record_bytes": size,
        "producer": produced,
        "consumer": consumed,
        "produce_per_second": produced["per_second"],
        "consume_per_second": consumed["per_second"],
        "per_second": min(produced["per_second"], consumed["per_second"]),
    }


# --- 2 and 3. ingest, one matcher or two ----------------------------------------------------


# How many of these events the matcher has claimed. The consumer's name leads the primary key:
# without it the poll scanned the whole table every 20 ms, in parallel, on the cores the ingest
# is measured on (28 ms of CPU a poll at 200,000 events; docs/scaling.md, "The ingest's own
# clock").
CLAIMED_BY_MATCHER = (
    "SELECT count(*) FROM matcher.processed_events"
    " WHERE consumer = 'matcher' AND event_id = ANY($1::uuid[])"
)


async def measure_ingest(
    bench: Bench, events: Sequence[Event], matchers: int, backlog: bool = False
) -> dict[str, Any]:
    """Live (``backlog`` False): the events are published while the matchers consume, from the
    first send to the last effect. Backlog: the matchers are held (the bench holds a SHARE lock
    on processed_events, which their inserts wait for) while the events are published, then
    released: the time to drain them is the consumers' alone, with every matcher assigned."""
    people = sum(1 for e in events if e.topic is Topic.PEOPLE) // 2
    await bench.move_groups_to_end()
    name = f"bench_{'backlog' if backlog else 'ingest'}_{matchers}"
    database_url = await fresh_database(bench.server_url, name)
    processes = await bench.start_consumers("matcher", database_url, matchers, *DEFERRED_ROUNDS)
    holder = await asyncpg.connect(database_url)
    # As for the plain client (measure_limit): the messages are serialised and the producer
    # started before the clock starts, so both figures time the same span, first send to last
    # message handled.
    messages = [(e.topic.value, e.entity_key, e.to_json_bytes()) for e in events]
    producer = idempotent_producer(bench.bootstrap)
    await producer.start()
    try:
        load_before = load_average()
        hold = holder.transaction()
        if backlog:
            await hold.start()
            await holder.execute("LOCK TABLE matcher.processed_events IN SHARE MODE")
        cpu = CpuWindow(own={p.process.pid: "matchers" for p in processes})
        if not backlog:
            cpu.start()
        started = time.monotonic()
        with objects_frozen():
            sent = await send_all(producer, messages)
        published = time.monotonic()
        if backlog:
            cpu.start()
            await hold.rollback()
            started = time.monotonic()
        # Done when the last event of each partition is claimed (processed_events, in the
        # transaction of its effect): a partition's events are applied in order, so every
        # earlier one is then applied too, which the counts below check once, off the clock.
        # Polled every 20 ms, as the plain consumer's own count is checked on every fetch:
        # counting every claimed id at that pace (a scan growing with the run) took a share of
        # the cores the ingest is measured on, and more the longer the run.
        last = last_of_each_partition(events, sent)
        done = await wait_for(database_url, CLAIMED_BY_MATCHER, len(last), last)
        used = cpu.stop()
        await expect_count(
            database_url, CLAIMED_BY_MATCHER, len(events), [e.event_id for e in events]
        )
        await expect_count(
            database_url,
            "SELECT count(*) FROM matcher.people WHERE hours_per_month = $1",
            people,
            MARKER_HOURS,
        )
    finally:
        await producer.stop()
        await holder.close()
        stop_all(processes)
    return {
        "matchers": matchers,
        "mode": "backlog" if backlog else "live",
        "events": len(events),
        "publish_seconds": round(published - started, 3) if not backlog else None,
        "seconds": round(done - started, 3),
        "events_per_second": round(len(events) / (done - started)),
        "cpu_seconds": used.get("cpu_seconds"),
        "cores_busy": used.get("cores_busy"),
        "cpu_us_per_event": cpu_per_message(used, len(events)),
        "load_average": [load_before, load_average()],
    }


# --- 4. latency -----------------------------------------------------------------------------


async def measure_latency(
    bench: Bench,
    rate: float,
    seconds: float,
    mentors_per_network: int | None,
    on_arrival: bool,
    rounds_apart: bool = False,
    rounds: bool = True,
) -> dict[str, Any]:
    """Mentees arrive at a steady rate across every network; each one's proposal is timed
    from the moment its event was handed to the producer to the moment it is read back.

    Rounds only (``on_arrival`` False): rounds are due as soon as a network changes (quiet 0)
    and looked for every 10 ms, the best the round design can do. On arrival: proposals on
    arrival, with the rounds at their default debounce (1.5 s quiet, 10 s at most). Rounds apart
    (``rounds_apart``): the same, with the rounds in a second matcher process of their own
    (``BRIDGEWORK_MATCHER_ROLE`` rounds, the consumer's events), so that the CPU-bound solving
    does not hold the consumer's GIL. Without ``rounds`` no network falls due during the run:
    what the arrival path alone delivers (a diagnostic)."""
    await bench.move_groups_to_end()
    database_url = await fresh_database(bench.server_url, "bench_latency")
    trusts_by_network: dict[str, list[TrustUpserted]] = {}
    for trust in bench.population.trusts:
        trusts_by_network.setdefault(trust.network_id, []).append(trust)
    mentors = [
        bench.factory.person(
            "mentor", trust=trusts[i % len(trusts)], capacity=MENTOR_CAPACITY, mode="either"
        )
        for trusts in trusts_by_network.values()
        for i in range(
            mentors_per_network
            or places_for(rate * seconds, len(trusts) / len(bench.population.trusts))
        )
    ]
    settings = (
        {
            "propose_on_arrival": "true",
            "round_quiet_seconds": "1.5",
            "round_max_delay_seconds": "10",
            "round_poll_seconds": "0.25",
        }
        if on_arrival
        else {
            "propose_on_arrival": "false",
            "round_quiet_seconds": "0",
            "round_max_delay_seconds": "0.001",
            "round_poll_seconds": "0.01",
        }
    )
    # Rounds are paced only where arrivals are proposed to at once (as in deploy/k8s).
    settings["round_duty_cycle"] = "0.25" if on_arrival else "1"
    if not rounds:  # the arrival path alone: no network falls due during the run
        settings["round_quiet_seconds"] = settings["round_max_delay_seconds"] = "1000000"
    # Recorded with the figures: the fresh-fetch wait is left at its default.
    settings["consumer_fresh_fetch_ms"] = str(Settings().consumer_fresh_fetch_ms)
    if rounds_apart:
        settings["matcher_role"] = "events"
    environment = [(f"BRIDGEWORK_{name.upper()}", value) for name, value in settings.items()]
    processes = await bench.start_consumers("matcher", database_url, 1, *environment)
    if rounds_apart:
        config = bench.config(database_url, *environment, ("BRIDGEWORK_MATCHER_ROLE", "rounds"))
        processes.append(start_service("matcher", config))
        await asyncio.to_thread(wait_until_ready, config, processes[-1:])
    try:
        await bench.publish([*bench.population.setup_events(), *mentors])
        await wait_for(database_url, "SELECT count(*) FROM matcher.people", len(mentors))
        if rounds:  # the mentors' rounds are over before the clock starts
            await wait_for(
                database_url, "SELECT 1 - least(count(*), 1) FROM matcher.dirty_networks", 1
            )
        published: dict[UUID, float] = {}
        received: dict[UUID, float] = {}
        mentees = [bench.factory.person("mentee") for _ in range(int(rate * seconds))]
        # The consumer first, then (apart) the rounds' process: each one's CPU by name.
        roles = ["matcher (events)", "matcher (rounds)"] if rounds_apart else ["matcher"]
        cpu = CpuWindow(own={p.process.pid: r for p, r in zip(processes, roles, strict=True)})
        with objects_frozen():
            async with proposal_reader(bench.settings, received):
                load_before = load_average()
                cpu.start()
                await paced_publish(bench, rate, mentees, published)
                cpu_use = cpu.stop()
                await settle(received, published, timeout=30)
        rounds_run = await round_seconds(database_url)
        stages = await latency_stages(database_url, published, received, mentees)
    finally:
        stop_all(processes)
    latencies = sorted((received[m] - published[m]) * 1000 for m in published if m in received)
    minutes = p99_by_window(published, received, 60, seconds)
    return {
        "rate": rate,
        "seconds": seconds,
        "networks": len(trusts_by_network),
        "mentors": len(mentors),
        "mentees": len(published),
        "proposed": len(latencies),
        "settings": settings,
        **percentiles(latencies),
        "stages": stages,
        "cpu_while_publishing": cpu_use,
        "worst_ms_by_second": worst_by_second(published, received),
        # Second 0 of worst_ms_by_second (Unix time): lines the run up with the machine's own
        # records of the same seconds (/proc/pressure, /proc/stat).
        "first_published_at": min(published.values(), default=None),
        "rounds_apart": rounds_apart,
        "p99_by_minute": minutes,
        "worst_minute_p99_ms": worst_window(minutes),
        "rounds": rounds_run,
        "load_average": [load_before, load_average()],
    }


def places_for(mentees: float, share: float) -> int:
    """Mentors for a network with places for its share of the run's mentees and a tenth to
    spare: a sustained run must not measure only the mentees who came before the places ran
    out. Each mentee's trust is drawn at random, so a network's share is its share of the
    trusts (the same mentors everywhere left the networks of many trusts without places for a
    fifth of the run's mentees)."""
    return max(5, math.ceil(mentees * share * 1.1 / MENTOR_CAPACITY))


def worst_by_second(published: dict[UUID, float], received: dict[UUID, float]) -> list[int]:
    """The slowest proposal of the mentees published in each second of the run: shows when in
    the run the tail happens (the rounds' first sweep starts at their 10 s maximum delay)."""
    if not published:
        return []
    start = min(published.values())
    worst: dict[int, float] = {}
    for mentee, sent in published.items():
        if mentee in received:
            second = int(sent - start)
            worst[second] = max(worst.get(second, 0.0), (received[mentee] - sent) * 1000)
    return [round(worst.get(second, 0.0)) for second in range(max(worst, default=-1) + 1)]


@asynccontextmanager
async def proposal_reader(settings: Settings, received: dict[UUID, float]) -> Any:
    """Reads match.proposed events from the end of the proposals topic, noting when each
    mentee's first proposal arrived."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    partitions = [
        TopicPartition(Topic.PROPOSALS.value, p)
        for p in range(partition_count(Topic.PROPOSALS, settings.kafka_partitions))
    ]
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)

    async def read() -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=50)
            now = time.time()  # wall clock: compared with the database's timestamps
            for records in batches.values():
                for record in records:
                    body = json.loads(record.value or b"{}")
                    if body.get("event_type") == MatchProposed.model_fields["event_type"].default:
                        received.setdefault(UUID(body["mentee_id"]), now)

    task = asyncio.create_task(read())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        await consumer.stop()


@contextmanager
def objects_frozen() -> Iterator[None]:
    """Python's full collections leave the objects made so far alone meanwhile. The benchmark
    holds a run's mentees (150,000 in the sustained window): a full collection walking them
    held its event loop for 1.5 s mid-run, and the proposal reader on that loop timed the
    proposals that came meanwhile that much late. The producer of the plain client's limit
    and of the ingest sends under it too: collections walking whatever the process held then
    (earlier runs' events) moved its CPU a message, and the plain client's rate with it, in a
    pattern set by the runs before (docs/scaling.md, "The benchmark's producer and its own
    garbage")."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def paced_publish(
    bench: Bench, rate: float, mentees: Sequence[PersonUpserted], published: dict[UUID, float]
) -> None:
    producer = idempotent_producer(bench.bootstrap)
    await producer.start()
    tick = 0.01
    per_tick = rate * tick
    started = time.monotonic()
    sent = 0
    pending: list[asyncio.Future[Any]] = []
    try:
        while sent < len(mentees):
            due = min(len(mentees), int((time.monotonic() - started) / tick * per_tick) + 1)
            for mentee in mentees[sent:due]:
                published[mentee.profile.person_id] = time.time()
                pending.append(
                    await producer.send(
                        Topic.PEOPLE.value, mentee.to_json_bytes(), key=mentee.entity_key.encode()
                    )
                )
            sent = due
            pending = still_pending(pending)
            await asyncio.sleep(tick)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def still_pending(sends: list[asyncio.Future[Any]]) -> list[asyncio.Future[Any]]:
    """The sends not yet acknowledged; a failed one raises its error. Gathering every send of
    a long run at its end ran one callback per send in one turn of the event loop (3.7 s after
    a 300 s run), and the proposal reader, on the same loop, read the last second's proposals
    that late: the run's worst second was the benchmark's own."""
    for send in sends:
        if send.done():
            send.result()
    return [send for send in sends if not send.done()]


async def settle(received: dict[UUID, Any], published: dict[UUID, float], timeout: float) -> None:
    """Wait until proposals stop arriving (not every mentee gets one: some have no admissible
    mentor), at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline and len(received) < len(published):
        await asyncio.sleep(2)
        if len(received) == last:
            return
        last = len(received)


async def commit_times(conn: asyncpg.Connection) -> dict[float, float]:
    """Each consumer batch's commit time by its transaction's start (``processed_at``, the
    same ``now()`` as its outbox rows' ``created_at``), where the server tracks commit times
    (``BRIDGEWORK_PG_OPTIONS="-c track_commit_timestamp=on"``); empty where it does not."""
    if await conn.fetchval("SELECT current_setting('track_commit_timestamp')") != "on":
        return {}
    rows = await conn.fetch(
        """
        SELECT DISTINCT extract(epoch FROM processed_at) AS started,
          extract(epoch FROM pg_xact_commit_timestamp(xmin)) AS committed
        FROM matcher.processed_events
        """
    )
    return {float(r["started"]): float(r["committed"]) for r in rows if r["committed"]}


SLOW_MS = 200  # the sustained target's p99


async def latency_stages(
    database_url: str,
    published: dict[UUID, float],
    received: dict[UUID, float],
    mentees: Sequence[PersonUpserted] = (),
) -> dict[str, Any]:
    """Where each mentee's wait went, from the first proposal's outbox row: published to the
    matcher's transaction (the row's created_at), that transaction to Kafka's acknowledgement
    of the proposal (published_at), and that to the reader."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            """
            SELECT DISTINCT ON (payload->>'mentee_id') (payload->>'mentee_id')::uuid AS mentee,
              extract(epoch FROM created_at) AS created, extract(epoch FROM published_at) AS acked,
              EXISTS (SELECT 1 FROM matcher.rounds r WHERE r.ran_at = o.created_at) AS by_round
            FROM matcher.outbox o WHERE topic = $1 AND payload->>'event_type' = $2
              AND published_at IS NOT NULL
            ORDER BY payload->>'mentee_id', id
            """,
            Topic.PROPOSALS.value,
            MatchProposed.model_fields["event_type"].default,
        )
        committed = await commit_times(conn)
        rounds = await rounds_by_network(conn)
        stored = await stored_at(conn, mentees)
    finally:
        await conn.close()
    timed = [r for r in rows if r["mentee"] in published and r["mentee"] in received]
    networks = {m.profile.person_id: m.profile.network_id for m in mentees}
    waited = {r["mentee"]: (received[r["mentee"]] - published[r["mentee"]]) * 1000 for r in timed}

    def stage(spans: list[float]) -> dict[str, float | None]:
        return percentiles(sorted(spans))

    # A batch's commit, where the server records it: splits the transaction from the relay.
    split = [
        (committed[float(r["created"])], r)
        for r in timed
        if not r["by_round"] and float(r["created"]) in committed
    ]
    commit_stages = {
        "transaction_to_commit": stage([(c - float(r["created"])) * 1000 for c, r in split]),
        "commit_to_kafka_ack": stage([(float(r["acked"]) - c) * 1000 for c, r in split]),
    }
    return {
        **(commit_stages if split else {}),
        "to_matcher_transaction": stage(
            [(float(r["created"]) - published[r["mentee"]]) * 1000 for r in timed]
        ),
        "transaction_to_kafka_ack": stage(
            [(float(r["acked"]) - float(r["created"])) * 1000 for r in timed]
        ),
        "ack_to_reader": stage([(received[r["mentee"]] - float(r["acked"])) * 1000 for r in timed]),
        # A newcomer who found no room on arrival may be proposed by a later round, which
        # replaces a weaker pending proposal: seconds later, by design.
        "first_proposed_by_a_round": {
            "mentees": sum(1 for r in timed if r["by_round"]),
            **stage([waited[r["mentee"]] for r in timed if r["by_round"]]),
        },
        "first_proposed_on_arrival": stage(
            [waited[r["mentee"]] for r in timed if not r["by_round"]]
        ),
        "by_round_passed_over": passed_over_split(
            [
                (waited[m], stored[m], float(r["created"]), networks[m])
                for r in timed
                if r["by_round"] and (m := r["mentee"]) in stored
            ],
            rounds,
        ),
        "slow_seconds": slow_seconds(timed, published, received),
    }


# A round as the mentees' wait sees it: when it started reading its network, and its write's
# transaction time (``ran_at``, the created_at of the proposals it made).
RoundSpan = tuple[float, float]


async def rounds_by_network(conn: asyncpg.Connection) -> dict[str, list[RoundSpan]]:
    rows = await conn.fetch(
        "SELECT network_id, extract(epoch FROM ran_at) AS ran_at, seconds FROM matcher.rounds"
    )
    spans: dict[str, list[RoundSpan]] = {}
    for row in rows:
        ran_at = float(row["ran_at"])
        spans.setdefault(row["network_id"], []).append((ran_at - row["seconds"], ran_at))
    return spans


async def stored_at(
    conn: asyncpg.Connection, mentees: Sequence[PersonUpserted]
) -> dict[UUID, float]:
    """When the matcher's transaction stored each mentee (its claim's ``processed_at``)."""
    person = {m.event_id: m.profile.person_id for m in mentees}
    rows = await conn.fetch(
        "SELECT event_id, extract(epoch FROM processed_at) AS at FROM matcher.processed_events"
        " WHERE consumer = 'matcher' AND event_id = ANY($1::uuid[])",
        list(person),
    )
    return {person[row["event_id"]]: float(row["at"]) for row in rows}


def rounds_passed_over(stored: float, proposed: float, spans: Sequence[RoundSpan]) -> int:
    """The rounds of a mentee's network that began reading after the mentee was stored and
    wrote before the round that first proposed them: each could have proposed them and did
    not (the network's places were held by better pairs)."""
    return sum(1 for started, ran_at in spans if started > stored and ran_at < proposed)


def passed_over_split(
    proposed: Sequence[tuple[float, float, float, str]],
    rounds: Mapping[str, Sequence[RoundSpan]],
) -> dict[str, Any]:
    """Mentees first proposed by a round, each as (ms waited, stored at, proposed at, network):
    those proposed by the first round that read them (their wait is the rounds' own: the
    queue of networks due and the round's length) against those that later rounds passed
    over first (they waited for a place, which no speed of rounds shortens)."""
    first: list[float] = []
    later: list[tuple[float, int]] = []
    for waited, stored, created, network in proposed:
        passed = rounds_passed_over(stored, created, rounds.get(network, ()))
        if passed:
            later.append((waited, passed))
        else:
            first.append(waited)
    counts = sorted(n for _, n in later)
    return {
        "first_round_to_read_them": {"mentees": len(first), **percentiles(sorted(first))},
        "after_rounds_passed_them_over": {
            "mentees": len(later),
            **percentiles(sorted(w for w, _ in later)),
            "rounds_passed_over_median": statistics.median(counts) if counts else None,
            "rounds_passed_over_max": max(counts, default=None),
        },
    }


def slow_seconds(
    timed: list[asyncpg.Record], published: dict[UUID, float], received: dict[UUID, float]
) -> list[dict[str, Any]]:
    """Each second (of publishing, as in ``worst_ms_by_second``) whose slowest proposal on
    arrival took over ``SLOW_MS``, with that proposal's stages: where a tail's seconds went."""
    start = min(published.values(), default=0.0)
    worst: dict[int, dict[str, Any]] = {}
    for r in timed:
        mentee, created, acked = r["mentee"], float(r["created"]), float(r["acked"])
        total = (received[mentee] - published[mentee]) * 1000
        second = int(published[mentee] - start)
        if r["by_round"] or total <= SLOW_MS or total <= worst.get(second, {}).get("ms", 0):
            continue
        worst[second] = {
            "second": second,
            "ms": round(total, 1),
            "to_matcher_transaction_ms": round((created - published[mentee]) * 1000, 1),
            "transaction_to_kafka_ack_ms": round((acked - created) * 1000, 1),
            "ack_to_reader_ms": round((received[mentee] - acked) * 1000, 1),
        }
    return [worst[second] for second in sorted(worst)]


async def round_seconds(database_url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT seconds, mentees FROM matcher.rounds ORDER BY id")
    finally:
        await conn.close()
    times = sorted(r["seconds"] * 1000 for r in rows)
    return {
        "count": len(rows),
        "mean_ms": round(statistics.fmean(times), 1) if times else None,
        **{f"round_{k}": v for k, v in percentiles(times).items()},
        "largest_network_mentees": max((r["mentees"] for r in rows), default=0),
    }


# --- 5. notifier ----------------------------------------------------------------------------


class CountingHandler:
    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            self.count += 1
        return "250 OK"


async def measure_notifier(bench: Bench, handler: CountingHandler, emails: int) -> dict[str, Any]:
    await bench.move_groups_to_end()
    database_url = await fresh_database(bench.server_url, "bench_notifier")
    network = bench.population.networks[0]
    trust = next(t for t in bench.population.trusts if t.network_id == network.network_id)
    mentors = [bench.factory.person("mentor", trust=trust) for _ in range(20)]
    mentees = [bench.factory.person("mentee", trust=trust) for _ in range(200)]
    processes = await bench.start_consumers("notifier", database_url, 1)
    try:
        await bench.publish([network, trust, *mentors, *mentees])
        await wait_for(
            database_url, "SELECT count(*) FROM notifier.people", len(mentors) + len(mentees)
        )
        proposals = [proposal(mentors[i % 20], mentees[i % 200]) for i in range(emails)]
        load_before = load_average()
        before = handler.count
        started = time.monotonic()
        await bench.publish(proposals)
        deadline = started + 600
        while handler.count - before < emails and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        done = time.monotonic()
    finally:
        stop_all(processes)
    sent = handler.count - before
    return {
        "emails": sent,
        "seconds": round(done - started, 3),
        "emails_per_second": round(sent / (done - started), 1),
        "load_average": [load_before, load_average()],
    }


# --- 6. memory soak -------------------------------------------------------------------------


def resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


async def measure_soak(bench: Bench, seconds: float, rate: float) -> dict[str, Any]:
    """The three services under a steady load: profile and availability changes at ``rate``
    events/s straight to Kafka (the matcher re-solves, the notifier emails the proposals), and
    network updates through the profiles API (its outbox relay publishes them)."""
    await bench.move_groups_to_end()
    database_url = await fresh_database(bench.server_url, "bench_soak")
    config = bench.config(database_url, ("BRIDGEWORK_ROUND_QUIET_SECONDS", "1.5"))
    config = await asyncio.to_thread(with_api_token, config, "bench-soak")
    processes = {name: start_service(name, config) for name in ("profiles", "matcher", "notifier")}
    try:
        await asyncio.to_thread(wait_until_ready, config, list(processes.values()))
        await bench.wait_for_group("bridgework-matcher", 1)
        await bench.wait_for_group("bridgework-notifier", 1)
        people = bench.factory.people(2000)
        await bench.publish([*bench.population.setup_events(), *people])
        samples: list[dict[str, float]] = []
        started = time.monotonic()
        producer = idempotent_producer(bench.bootstrap)
        await producer.start()
        async with httpx.AsyncClient(
            base_url=config.base_url, headers=config.api_headers, timeout=10
        ) as client:
            next_sample = started
            i = 0
            while (now := time.monotonic()) - started < seconds:
                batch = [people[(i + k) % len(people)] for k in range(int(rate / 10))]
                i += len(batch)
                await send_all(
                    producer,
                    [
                        (
                            Topic.PEOPLE.value,
                            p.entity_key,
                            availability(p, hours=float(i % 7)).to_json_bytes(),
                        )
                        for p in batch
                    ],
                )
                network = bench.population.networks[i % len(bench.population.networks)]
                await client.put(
                    f"/networks/{network.network_id}",
                    json={
                        "name": network.name,
                        "coordinators": [c.model_dump() for c in network.coordinators],
                    },
                )
                if now >= next_sample:
                    samples.append(
                        {"t": round(now - started, 1)}
                        | {name: resident_mib(p.process.pid) for name, p in processes.items()}
                    )
                    next_sample += max(seconds / 60, 1)
                await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - now)))
        await producer.stop()
    finally:
        stop_all(list(processes.values()))
    # The first tenth is warm-up (imports, caches, pools filling); growth is measured after it.
    warm = [s for s in samples if s["t"] >= seconds / 10] or samples
    return {
        "seconds": seconds,
        "rate": rate,
        "samples": samples,
        "services": {
            name: {
                "start_mib": warm[0][name],
                "end_mib": warm[-1][name],
                "max_mib": max(s[name] for s in warm),
                "growth_percent": round((warm[-1][name] / warm[0][name] - 1) * 100, 1),
            }
            for name in processes
        },
        "load_average": load_average(),
    }


# --- the run --------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """The scenarios on the broker(s) running now, or with ``--brokers``, on a fresh local
    Kafka of each size in turn (one broker, then a three-broker cluster)."""
    if not args.brokers:
        return await run_scenarios(Settings(), args)
    results: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_at_start": list(os.getloadavg()),
        "brokers": {},
    }
    for brokers in args.brokers:
        console.print(f"[bold]Kafka with {brokers} broker(s)[/]")
        results["brokers"][str(brokers)] = await run_scenarios(await fresh_kafka(brokers), args)
    results["load_average_at_end"] = list(os.getloadavg())
    return results


async def fresh_kafka(brokers: int) -> Settings:
    """A fresh local Kafka of ``brokers`` nodes (devtools/kafka.sh), any other one stopped; the
    services started from now on use it, with three copies of each partition on a cluster."""
    replicas = min(brokers, 3)
    os.environ.update(
        BRIDGEWORK_KAFKA_BROKERS=str(brokers),
        BRIDGEWORK_KAFKA_REPLICATION_FACTOR=str(replicas),
        BRIDGEWORK_KAFKA_MIN_INSYNC_REPLICAS=str(2 if replicas > 1 else 1),
    )
    script = str(ROOT / "devtools" / "kafka.sh")
    for action in ("stop", "reset", "start"):
        process = await asyncio.create_subprocess_exec("bash", script, action)
        if await process.wait() != 0:
            raise RuntimeError(f"devtools/kafka.sh {action} failed")
    bootstrap = await asyncio.create_subprocess_exec(
        "bash", script, "bootstrap", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await bootstrap.communicate()
    os.environ["BRIDGEWORK_KAFKA_BOOTSTRAP_SERVERS"] = out.decode().strip()
    return Settings()


async def run_scenarios(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    await ensure_topics(settings)
    handler = CountingHandler()
    smtp = Controller(handler, hostname="127.0.0.1", port=settings.smtp_port)
    smtp.start()
    bench = Bench(settings, load_population(), settings.smtp_port, args.service_log_level)
    # The demo trusts are 2 networks and 10 mentors: their latency is that of the first second.
    console.print(f"[bold]population:[/] {bench.population.source}")
    people = bench.factory.people(args.events // 2)
    events = ingest_events(people)
    results: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_at_start": list(os.getloadavg()),
        "cpus": os.cpu_count(),
        "population": bench.population.source,
        "kafka": {
            "brokers": len(settings.kafka_bootstrap_servers.split(",")),
            "replication_factor": settings.kafka_replication_factor,
            "min_insync_replicas": settings.kafka_min_insync_replicas,
        },
    }

    def drain_events() -> list[Event]:
        return ingest_events(bench.factory.people(args.drain_events // 2))

    def sustained_for(seconds: float) -> Awaitable[dict[str, Any]]:
        """The sustained scenario's stream (proposals on arrival) for ``seconds``."""
        return measure_latency(
            bench,
            args.rate,
            seconds,
            None,
            True,
            rounds_apart=args.rounds_apart,
            rounds=args.rounds,
        )

    steps: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
        "limit": lambda: measure_limit(bench, events),
        "broker_limit": lambda: measure_broker_limit(bench, events),
        "ingest": lambda: measure_ingest(bench, events, args.ingest_matchers),
        "backlog_one": lambda: measure_ingest(bench, drain_events(), 1, backlog=True),
        "backlog_two": lambda: measure_ingest(bench, drain_events(), 2, backlog=True),
        "latency": lambda: measure_latency(bench, args.rate, args.latency_seconds, 5, False),
        "latency_on_arrival": lambda: measure_latency(
            bench, args.rate, args.latency_seconds, 5, True
        ),
        "latency_on_arrival_rounds_apart": lambda: measure_latency(
            bench, args.rate, args.latency_seconds, 5, True, True
        ),
        "sustained": lambda: sustained_for(args.sustained_seconds),
        "notifier": lambda: measure_notifier(bench, handler, args.emails),
        "soak": lambda: measure_soak(bench, args.soak_seconds, args.soak_rate),
    }

    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in REPEATED}
    try:
        if args.warm_up:
            warm_up = [name for name in WARMED_UP if name not in args.skip]
            if warm_up:
                results["warm_up_stream"] = await _measure(
                    "a minute of steady load, warm-up (not in the figures)",
                    lambda: sustained_for(WARM_UP_STREAM_SECONDS),
                )
            results["warm_up"] = {
                name: await _measure(f"{name}, warm-up (not in the figures)", steps[name])
                for name in warm_up
            }
        for repetition in range(args.repeats):
            for name in REPEATED:
                if name not in args.skip:
                    label = f"{name}, run {repetition + 1} of {args.repeats}"
                    runs[name].append(await _measure(label, steps[name]))
        for name in runs:
            if runs[name]:
                results[name] = summarise_runs(with_ratios(name, runs), SPREAD_OF[name])
        for name in steps:
            if name not in REPEATED and name not in args.skip:
                results[name] = await _measure(name, steps[name])
    finally:
        smtp.stop()
    results["load_average_at_end"] = list(os.getloadavg())
    return results


async def _measure(label: str, step: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """One scenario's run, with the time and the load average it started at."""
    console.print(f"[bold]{label}[/] (load average {load_average()})")
    started = datetime.now(UTC).isoformat(timespec="seconds")
    result = {
        "measured_at": started,
        "load_average_at_start": load_average(),
        "machine_speed": machine_speed(),
        **await step(),
    }
    console.print_json(data={k: v for k, v in result.items() if k != "samples"})
    return result


def with_ratios(name: str, runs: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Ingest runs gain their ratio to the same repetition's plain-client and broker limits; a
    drain with two matchers, its ratio to the same repetition's drain with one."""
    if name == "backlog_two":
        ones = runs["backlog_one"]
        return [
            {
                **run,
                "ratio_to_one": (
                    round(run["events_per_second"] / ones[i]["events_per_second"], 3)
                    if i < len(ones)
                    else None
                ),
            }
            for i, run in enumerate(runs[name])
        ]
    if name != "ingest":
        return runs[name]
    ratios: list[dict[str, Any]] = []
    for i, run in enumerate(runs["ingest"]):
        rate = run["events_per_second"]
        limit = runs["limit"][i]["end_to_end_per_second"] if i < len(runs["limit"]) else None
        broker = runs["broker_limit"][i]["per_second"] if i < len(runs["broker_limit"]) else None
        ratios.append(
            {
                **run,
                "ratio_to_limit": round(rate / limit, 3) if limit else None,
                "ratio_to_broker": round(rate / broker, 3) if broker else None,
            }
        )
    return ratios


def cpu_rows(results: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """What a message costs the cores in the plain client's pipeline and in the ingest: the
    median over the runs of each group's CPU microseconds per message. With both pipelines
    holding the two cores, the ingest's ratio to the limit is about the inverse of their
    "all" figures."""
    rows: list[tuple[str, str, str, bool | None]] = []
    for name, key, label in (
        ("limit", "cpu_us_per_message", "plain client"),
        ("ingest", "cpu_us_per_event", "ingest"),
    ):
        runs = [r.get(key) or {} for r in results.get(name, {}).get("runs", [])]
        groups = dict.fromkeys(group for run in runs for group in run)
        if not groups:
            continue
        medians = {g: statistics.median(r[g] for r in runs if g in r) for g in groups}
        text = ", ".join(f"{g} {v:.1f}" for g, v in medians.items() if v >= 0.5)
        rows.append((f"{label}: CPU microseconds per message (median)", text, "-", None))
    return rows


def _spread_text(spread: dict[str, Any], unit: str = "", digits: int = 0) -> str:
    if spread["median"] is None:
        return "n/a"
    median, low, high = (f"{spread[k]:,.{digits}f}" for k in ("median", "min", "max"))
    return f"{median}{unit} (min {low}, max {high})"


def verdicts(results: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """The table's rows: medians with the min and max of the runs, each against its target;
    a latency target is met only when every run meets it (the max)."""
    rows: list[tuple[str, str, str, bool | None]] = []
    spreads = {name: results[name]["spread"] for name in REPEATED if name in results}
    every_run = [
        run
        for name in SCENARIOS
        if isinstance(results.get(name), dict)
        for run in results[name].get("runs", [results[name]])
    ]
    events, matmul = (speed_range(every_run, k) for k in ("events_per_second", "matmul_gflops"))
    if events and matmul:
        rows.append(
            (
                "machine at each run's start, one core: events read and written back /s;"
                " float32 matmul GFLOP/s",
                f"{events[0]:,.0f} - {events[1]:,.0f}; {matmul[0]} - {matmul[1]}",
                "-",
                None,
            )
        )
    if "limit" in spreads:
        limit = spreads["limit"]["end_to_end_per_second"]
        rows.append(("plain-client limit (msgs/s)", _spread_text(limit), "-", None))
    if "broker_limit" in spreads:
        broker = spreads["broker_limit"]
        rows.append(
            (
                "Kafka perf tools: produce (msgs/s)",
                _spread_text(broker["produce_per_second"]),
                "-",
                None,
            )
        )
        rows.append(
            (
                "Kafka perf tools: consume (msgs/s)",
                _spread_text(broker["consume_per_second"]),
                "-",
                None,
            )
        )
    if "ingest" in spreads:
        ingest = spreads["ingest"]
        rate = ingest["events_per_second"]
        target = TARGETS["ingest_events_per_second"]
        met = rate["min"] is not None and rate["min"] >= target
        matchers = results["ingest"]["runs"][0].get("matchers", 1)
        label = "ingest (events/s)" if matchers == 1 else f"ingest, {matchers} matchers (events/s)"
        rows.append((label, _spread_text(rate), f">= {target:,.0f}", met))
        for key, label, goal in (
            ("ratio_to_limit", "ingest / plain-client limit", TARGETS["ingest_ratio_to_limit"]),
            ("ratio_to_broker", "ingest / Kafka perf tools", None),
        ):
            ratio = ingest[key]
            if ratio["median"] is None:
                continue
            rows.append(
                (
                    label,
                    _spread_text(ratio, digits=2),
                    f">= {goal:.2f}" if goal else "-",
                    ratio["min"] >= goal if goal else None,
                )
            )
    rows.extend(cpu_rows(results))
    # Issue 19 sets the 200 ms target on proposals on arrival; rounds only has none (what
    # bounds it is in docs/scaling.md), so its row reports the spread without a verdict.
    target = TARGETS["latency_p99_ms"]
    for name, label, has_target in (
        ("latency", "rounds only", False),
        ("latency_on_arrival", "on arrival", True),
        ("latency_on_arrival_rounds_apart", "on arrival, rounds apart", True),
    ):
        if name in spreads:
            p99 = spreads[name]["p99_ms"]
            p50 = spreads[name]["p50_ms"]
            rows.append(
                (
                    f"latency, {label}: p99 over {p99['runs']} runs (ms)",
                    f"median {p99['median']}, min {p99['min']}, max {p99['max']}"
                    f" (p50 median {p50['median']})",
                    f"p99 < {target:.0f} every run" if has_target else "- (none set)",
                    (p99["max"] is not None and p99["max"] < target) if has_target else None,
                )
            )
    if "sustained" in spreads:
        sustained = results["sustained"]["runs"]
        p99, worst = spreads["sustained"]["p99_ms"], spreads["sustained"]["worst_minute_p99_ms"]
        target = TARGETS["latency_p99_ms"]
        where = "rounds apart" if sustained[0]["rounds_apart"] else "rounds in one process"
        rows.append(
            (
                f"on arrival, sustained {sustained[0]['seconds']:.0f} s ({where}): p99 over"
                f" {p99['runs']} runs (ms)",
                f"median {p99['median']}, min {p99['min']}, max {p99['max']}; worst minute"
                f" {worst['max']} ({min(r['proposed'] / r['mentees'] for r in sustained):.1%}"
                " or more proposed)",
                f"p99 < {target:.0f} each minute, every run",
                worst["max"] is not None and worst["max"] < target,
            )
        )
    if "notifier" in results:
        rate = results["notifier"]["emails_per_second"]
        target = TARGETS["emails_per_second"]
        rows.append(("notifier (emails/s)", f"{rate}", f">= {target:.0f}", rate >= target))
    if "backlog_one" in spreads and "backlog_two" in spreads:
        one = spreads["backlog_one"]["events_per_second"]
        two = spreads["backlog_two"]["events_per_second"]
        factor = spreads["backlog_two"]["ratio_to_one"]
        rows.append(
            (
                "backlog drain, 1 -> 2 matchers (events/s)",
                f"{_spread_text(one)} -> {_spread_text(two)}",
                "-",
                None,
            )
        )
        if factor["median"] is not None:
            target = TARGETS["scale_out_factor"]
            rows.append(
                (
                    "backlog drain, two matchers / one (same repetition)",
                    _spread_text(factor, "x", digits=2),
                    f">= {target}x every run",
                    factor["min"] >= target,
                )
            )
    if "soak" in results:
        for name, figures in results["soak"]["services"].items():
            rows.append(
                (
                    f"{name} RSS start -> end (MiB)",
                    f"{figures['start_mib']} -> {figures['end_mib']}"
                    f" ({figures['growth_percent']:+}%)",
                    "flat (< +10%)",
                    figures["growth_percent"] < 10,
                )
            )
    return rows


def print_table(results: dict[str, Any]) -> None:
    kafka = results.get("kafka", {})
    table = Table(
        title=f"Pipeline benchmark ({results['measured_at']}, load average at start "
        f"{results['load_average_at_start'][0]:.2f}, {results['cpus']} CPUs,"
        f" {kafka.get('brokers', 1)} Kafka broker(s), {kafka.get('replication_factor', 1)}"
        " copies of each partition)",
        caption=f"population: {results.get('population', 'not recorded')}",
    )
    for column in ("measure", "result", "target", "met"):
        table.add_column(column)
    for measure, value, target, met in verdicts(results):
        table.add_row(measure, value, target, "" if met is None else ("yes" if met else "NO"))
    console.print(table)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events",
        type=int,
        default=60_000,
        help="ingest events (2 per person): long enough that one slow batch or a neighbour's"
        " burst does not move the ratio",
    )
    parser.add_argument(
        "--ingest-matchers",
        type=int,
        default=1,
        choices=range(1, 7),
        metavar="1-6",
        help="matchers consuming in the ingest scenario, at most one a partition of the people"
        " topic (1, the default, keeps its figure comparable with every earlier run; the"
        " deployments run three)",
    )
    parser.add_argument(
        "--drain-events",
        type=int,
        default=200_000,
        help="backlog drain events (2 per person): at 60,000 a drain with two matchers lasted"
        " 2-3 s, and its start and end moved the ratio more than the matchers did",
    )
    parser.add_argument(
        "--warm-up",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run a minute of steady load, then the limits and the ingest once, unreported,"
        " before the repetitions",
    )
    parser.add_argument("--rate", type=float, default=500, help="latency: events/s")
    parser.add_argument("--latency-seconds", type=float, default=20)
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of each repeated scenario (their spread)"
    )
    parser.add_argument(
        "--sustained-seconds", type=float, default=300, help="sustained on-arrival window"
    )
    parser.add_argument(
        "--rounds",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="--no-rounds: in the sustained run no round falls due (a diagnostic: what the"
        " arrival path alone delivers; not the figure the targets are about)",
    )
    parser.add_argument(
        "--rounds-apart",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the sustained run's rounds in a matcher process of their own, as deployed"
        " (deploy/k8s/matcher-rounds.yaml); --no-rounds-apart: one process consumes and solves",
    )
    parser.add_argument("--emails", type=int, default=1000)
    parser.add_argument("--soak-seconds", type=float, default=600)
    parser.add_argument("--soak-rate", type=float, default=200, help="soak: events/s")
    parser.add_argument("--skip", nargs="*", default=[], help="scenarios to leave out")
    parser.add_argument(
        "--service-log-level",
        default="WARNING",
        help="the services' log level (INFO: the matcher logs each batch of arrivals' load,"
        " engine and store milliseconds, in .local/bench-logs)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--brokers",
        type=int,
        nargs="*",
        default=[],
        help="run the scenarios on a fresh local Kafka of each size in turn (e.g. 1 3: one broker,"
        " then a three-broker cluster with three copies of each partition)",
    )
    parser.add_argument(
        "--update",
        action="store_true",
        help="keep the scenarios of an earlier run (in --out) that this run skips",
    )
    args = parser.parse_args(argv)
    results = asyncio.run(run(args))
    if args.brokers:
        for brokers in args.brokers:
            print_table(results["brokers"][str(brokers)])
    else:
        if args.update and args.out.is_file():
            earlier = json.loads(args.out.read_text())
            # A repeated scenario is kept only in its repeated form ("runs"): the sustained
            # window's earlier files hold one run, which the table no longer reads.
            kept = [
                name
                for name in SCENARIOS
                if name in earlier
                and name not in results
                and (name not in REPEATED or "runs" in earlier[name])
            ]
            results = {
                **{name: earlier[name] for name in kept},
                **results,
                "kept_from_earlier": kept,
            }
        print_table(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    console.print(
        f"written to {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}"
    )


if __name__ == "__main__":
    main()

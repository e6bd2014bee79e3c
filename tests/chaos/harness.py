"""The chaos run: the same workload through the real stack twice, calmly and under faults.

Each run gets a fresh Kafka log and its own database. The workload goes in through the HTTP
API in waves; coordinators' decisions go in as ``match.decided`` events chosen from the
previous wave's proposals. Under chaos, every service is killed with SIGKILL at random moments
and restarted, the broker and PostgreSQL are each restarted once (data kept) and the SMTP server
is down for a while. Rounds run only when a wave has gone quiet (longer than any fault lasts),
so both runs solve the same states and their final pending proposals must be identical.

Run by hand: ``devtools/with-infra.sh .venv/bin/python -m tests.chaos.harness --events 5000``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from devtools import ROOT
from devtools.stack import (
    SERVICES,
    ServiceProcess,
    StackConfig,
    drop_database,
    free_port,
    fresh_database,
    running_stack,
    start_service,
    start_smtp_catcher,
    with_api_token,
)
from services.notifier.mailer import dedupe_digest
from shared.events import MatchDecided
from shared.kafka import (
    DEAD_LETTER_CONSUMER,
    DEAD_LETTER_OFFSET,
    DEAD_LETTER_PARTITION,
    DEAD_LETTER_SOURCE,
    ensure_topics,
    idempotent_producer,
)
from shared.settings import KafkaSettings
from shared.topics import Topic
from shared.topology import ROUTES
from tests.chaos.workload import (
    POISON_KEY_PREFIX,
    Op,
    Poison,
    Workload,
    build_workload,
    decide,
)
from tests.support.stack import personal_data_in_logs

Pair = tuple[str, str, str]  # (kind, provider email, mentee email)
Parked = tuple[str, str, int, int]  # (consumer, source topic, partition, offset)


@dataclass(frozen=True)
class ChaosPlan:
    kills_per_service: int = 3
    restart_kafka: bool = True
    restart_postgres: bool = True
    smtp_outage_seconds: float = 30.0
    replicas: int = 1  # processes of each service

    def monkey(
        self,
        config: StackConfig,
        processes: dict[str, ServiceProcess],
        maildir: Path,
        waves: int,
        rng: random.Random,
    ) -> Monkey:
        return Monkey(config, processes, maildir, self, waves, rng)


@dataclass
class Faults:
    kills: Counter[str] = field(default_factory=Counter)
    kafka_restarts: int = 0
    # Services that exited on their own and were restarted by the harness, as a supervisor
    # (systemd, Docker's restart policy) would: reported, so a start-up weakness shows.
    unplanned_exits: Counter[str] = field(default_factory=Counter)
    postgres_restarts: int = 0
    smtp_outage_seconds: float = 0.0
    # On a cluster (tests/chaos/cluster.py): brokers killed or stopped, and for each fault how
    # long nothing was applied while events waited.
    broker_faults: list[str] = field(default_factory=list)
    stalls: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class RunReport:
    label: str
    events: int = 0
    decisions: int = 0
    people_expected: int = 0
    people_missing: int = 0  # alive people absent from a service's table
    people_wrong: int = 0  # present with a stale profile or availability
    erased_found: int = 0  # erased people still in some service's state
    effects_missing: int = 0  # published events some consumer never applied
    decisions_missing: int = 0
    emails_queued: int = 0
    emails_delivered: int = 0  # distinct messages at the SMTP server
    emails_duplicate: int = 0  # extra copies of a message (same Message-ID)
    emails_lost: int = 0  # queued, not delivered
    # Left 'uncertain' by the notifier (perhaps delivered, never re-sent by itself; the
    # operator's `bridgework emails uncertain` list): one not delivered is also counted lost.
    emails_uncertain: int = 0
    # Emails naming an erased person, delivered after the notifier had applied the erasure
    # (plus the SMTP send timeout, for one rendered just before): must be none.
    emails_about_erased: int = 0
    # ... delivered after the API accepted the erasure but before the notifier had heard of it
    # (the erasure travels outbox -> Kafka -> notifier): the asynchronous window, reported.
    emails_in_erasure_window: int = 0
    # What each email about an erased person was, and its times: the first thing to read when
    # that count is not 0 (the run's database is dropped at its end).
    about_erased: list[str] = field(default_factory=list)
    personal_data_in_logs: int = 0  # names and email addresses found in the services' logs
    # Names no email header can carry, sent to the API: each must be refused (422), none stored.
    names_sent: int = 0
    names_refused: int = 0
    # Poison written straight to the topics: each parked by every consumer of its topic (a
    # consumer that stalled on one would park none after it) ...
    poison_sent: int = 0
    poison_expected: int = 0  # (message, consumer) pairs
    poison_parked: int = 0
    # ... and nothing else: faults are retried, never skipped.
    dead_letters: int = 0  # every letter on the topic (a consumer killed after parking one and
    dead_letters_not_poison: int = 0  # before committing parks it again: copies are harmless)
    copies_absorbed: int = 0  # events on the log more than once (re-sent after a crash)
    pending: set[Pair] = field(default_factory=set)
    faults: Faults = field(default_factory=Faults)
    rebalances: Counter[str] = field(default_factory=Counter)  # assignments, by consumer group
    seconds: float = 0.0

    def lines(self) -> list[str]:
        return [
            f"[{self.label}] events={self.events} (decisions {self.decisions})"
            f" in {self.seconds:.0f}s",
            f"[{self.label}] people expected={self.people_expected}"
            f" missing={self.people_missing} stale={self.people_wrong}"
            f" erased-but-present={self.erased_found}",
            f"[{self.label}] effects missing={self.effects_missing}"
            f" decisions missing={self.decisions_missing}"
            f" re-delivered copies absorbed={self.copies_absorbed}",
            f"[{self.label}] poison sent={self.poison_sent} parked by its consumers"
            f" {self.poison_parked}/{self.poison_expected}; dead letters={self.dead_letters}"
            f" (not poison: {self.dead_letters_not_poison});"
            f" unsendable names refused {self.names_refused}/{self.names_sent}",
            f"[{self.label}] emails queued={self.emails_queued}"
            f" delivered={self.emails_delivered} duplicates={self.emails_duplicate}"
            f" lost={self.emails_lost} uncertain={self.emails_uncertain}"
            f" about-erased={self.emails_about_erased}"
            f" (in the erasure's propagation window: {self.emails_in_erasure_window})",
            *(f"[{self.label}] about an erased person: {email}" for email in self.about_erased),
            f"[{self.label}] pending proposals={len(self.pending)}"
            f" personal data in logs={self.personal_data_in_logs}",
            f"[{self.label}] faults: SIGKILLs {dict(self.faults.kills)},"
            f" kafka restarts={self.faults.kafka_restarts},"
            f" postgres restarts={self.faults.postgres_restarts},"
            f" smtp down {self.faults.smtp_outage_seconds:.0f}s,"
            f" unplanned exits {dict(self.faults.unplanned_exits)}",
            f"[{self.label}] partition assignments by group {dict(self.rebalances)}",
            *(f"[{self.label}] broker fault: {fault}" for fault in self.faults.broker_faults),
            *(
                f"[{self.label}] consumption stalled {seconds:.1f}s at {fault}"
                for fault, seconds in self.faults.stalls
            ),
        ]


# --- infrastructure -------------------------------------------------------------------------


async def _script(name: str, action: str) -> None:
    process = await asyncio.create_subprocess_exec(
        "bash",
        str(ROOT / "devtools" / name),
        action,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    if await process.wait() != 0:
        raise RuntimeError(f"devtools/{name} {action} failed")


async def node_script(action: str, node: int) -> None:
    """devtools/kafka.sh on one node of the cluster (start-node, stop-node, kill-node)."""
    process = await asyncio.create_subprocess_exec(
        "bash",
        str(ROOT / "devtools" / "kafka.sh"),
        action,
        str(node),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    if await process.wait() != 0:
        raise RuntimeError(f"devtools/kafka.sh {action} {node} failed")


async def fresh_kafka(bootstrap: str) -> None:
    """A fresh broker log: the run sees only its own events."""
    await _script("kafka.sh", "reset")
    await _script("kafka.sh", "start")
    await ensure_topics(KafkaSettings(kafka_bootstrap_servers=bootstrap))


async def create_database(server_url: str, label: str) -> str:
    return await fresh_database(server_url, f"bridgework_{label}_{uuid4().hex[:8]}")


async def _retry_db(url: str) -> asyncpg.Connection:
    deadline = time.monotonic() + 60
    while True:
        try:
            return await asyncpg.connect(url)
        except (OSError, asyncpg.PostgresError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


# --- the workload through the API -----------------------------------------------------------


@dataclass
class People:
    """What the harness knows of the people it created: ids and their expected state."""

    ids: dict[str, UUID] = field(default_factory=dict)  # email -> id
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    availability: dict[str, dict[str, Any]] = field(default_factory=dict)
    erased: set[str] = field(default_factory=set)
    erased_at: dict[str, float] = field(default_factory=dict)  # email -> wall clock

    def email_of(self) -> dict[UUID, str]:
        return {person_id: email for email, person_id in self.ids.items()}


class Driver:
    """Sends operations to the API, retrying through faults until each is answered."""

    def __init__(self, http: httpx.AsyncClient, database_url: str, people: People) -> None:
        self._http = http
        self._database_url = database_url
        self.people = people
        self.applied = 0
        self.refused = 0  # names the API refused, as it must

    async def _send(self, method: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
        while True:
            try:
                response = await self._http.request(method, path, json=body)
            except httpx.HTTPError:
                await asyncio.sleep(0.3)
                continue
            if response.status_code >= 500:
                await asyncio.sleep(0.3)
                continue
            return response

    async def apply(self, op: Op) -> None:
        people = self.people
        if op.kind == "refused":
            response = await self._send("POST", "/mentees", op.body)
            fields = [error["field"] for error in response.json().get("errors", [])]
            if response.status_code != 422 or fields != ["name"]:
                raise AssertionError(f"an unsendable name was not refused: {response.text}")
            self.refused += 1
            return
        if op.kind == "network":
            response = await self._send("PUT", f"/networks/{op.key}", op.body)
        elif op.kind == "trust":
            response = await self._send("PUT", f"/trusts/{op.key}", op.body)
        elif op.kind in ("mentor", "mentee"):
            response = await self._send("POST", f"/{op.kind}s", op.body)
            if response.status_code == 409:  # created before a crash ate the answer
                people.ids[op.key] = await self._id_by_email(op.key)
            else:
                people.ids[op.key] = UUID(response.json()["id"])
            assert op.body is not None
            people.bodies[op.key] = op.body
            people.roles[op.key] = op.kind
        elif op.kind == "update_mentee":
            assert op.body is not None
            body = people.bodies[op.key] | op.body
            response = await self._send("PUT", f"/mentees/{people.ids[op.key]}", body)
            people.bodies[op.key] = body
        elif op.kind == "availability":
            path = f"/people/{people.ids[op.key]}/availability"
            response = await self._send("PUT", path, op.body)
            assert op.body is not None
            people.availability[op.key] = op.body
        else:
            response = await self._send("DELETE", f"/people/{people.ids[op.key]}", None)
            people.erased.add(op.key)
            people.erased_at.setdefault(op.key, time.time())
            if response.status_code == 404:  # erased before a crash ate the answer
                response.status_code = 204
        if response.status_code not in (201, 204, 409):
            raise AssertionError(f"{op.kind} refused: {response.status_code} {response.text}")
        self.applied += 1

    async def _id_by_email(self, email: str) -> UUID:
        conn = await _retry_db(self._database_url)
        try:
            person_id: UUID = await conn.fetchval(
                "SELECT id FROM profiles.people WHERE email = $1", email
            )
            return person_id
        finally:
            await conn.close()

    async def apply_wave(self, wave: list[Op], workers: int = 6) -> None:
        """Networks and trusts in order; then people, each person's operations in order."""
        for op in (op for op in wave if op.kind in ("network", "trust")):
            await self.apply(op)
        lanes: list[list[Op]] = [[] for _ in range(workers)]
        for op in (op for op in wave if op.kind not in ("network", "trust")):
            lanes[hash(op.key) % workers].append(op)

        async def run_lane(lane: list[Op]) -> None:
            for op in lane:
                await self.apply(op)

        await asyncio.gather(*(run_lane(lane) for lane in lanes))


async def send_decisions(
    producer: AIOKafkaProducer, database_url: str, people: People
) -> list[MatchDecided]:
    """Coordinators decide on the pending proposals, by the workload's rule."""
    conn = await _retry_db(database_url)
    try:
        rows = await conn.fetch(
            "SELECT match_id, network_id, provider_id, mentee_id FROM matcher.proposals"
            " WHERE status = 'pending' AND kind = 'mentoring' ORDER BY match_id"
        )
    finally:
        await conn.close()
    email = people.email_of()
    decisions = []
    for row in rows:
        verdict = decide(email[row["provider_id"]], email[row["mentee_id"]])
        if verdict is None:
            continue
        decisions.append(
            MatchDecided(
                entity_key=str(row["match_id"]),
                match_id=row["match_id"],
                network_id=row["network_id"],
                approved=verdict,
                reason="chaos run",
                decided_by="coordinator",
            )
        )
    for decision in decisions:
        while True:
            try:
                await producer.send_and_wait(
                    decision.topic.value, decision.to_json_bytes(), key=decision.entity_key.encode()
                )
                break
            except Exception:  # the broker is restarting: the same event again (idempotent)
                await asyncio.sleep(0.5)
    return decisions


async def send_poison(producer: AIOKafkaProducer, poison: list[Poison]) -> list[Parked]:
    """Write the wave's poison straight to its topics; returns where each one landed, once for
    every consumer of its topic (what the dead-letter topic must show)."""
    expected: list[Parked] = []
    for message in poison:
        while True:
            try:
                meta = await producer.send_and_wait(
                    message.topic, message.value, key=message.key.encode()
                )
                break
            except Exception:  # the broker is restarting: send it again
                await asyncio.sleep(0.5)
        for consumer in ROUTES[Topic(message.topic)].consumers:
            expected.append((consumer, message.topic, meta.partition, meta.offset))
    return expected


@dataclass
class LogSummary:
    """What the whole log of a run's broker holds."""

    copies_absorbed: int = 0  # events on the log more than once (re-sent after a crash)
    dead_letters: int = 0
    not_poison: int = 0  # dead letters of anything but the harness's poison
    parked: set[Parked] = field(default_factory=set)


async def wait_for_poison_parked(bootstrap: str, expected: set[Parked], timeout: float) -> None:
    """Until every consumer has parked every poison message of its topics: one that stalled on
    a poison message would park none after it."""
    deadline = time.monotonic() + timeout
    missing = expected
    while time.monotonic() < deadline:
        missing = expected - (await read_log(bootstrap)).parked
        if not missing:
            return
        await asyncio.sleep(2)
    raise TimeoutError(f"poison not parked within {timeout:.0f}s: {sorted(missing)[:10]}")


# --- quiescence -----------------------------------------------------------------------------

QUIET_SQL = {
    "profiles outbox": "SELECT count(*) FROM profiles.outbox WHERE published_at IS NULL",
    "matcher outbox": "SELECT count(*) FROM matcher.outbox WHERE published_at IS NULL",
    "dirty networks": "SELECT count(*) FROM matcher.dirty_networks",
    "unapplied by matcher": """
        SELECT count(*) FROM profiles.outbox o WHERE NOT EXISTS (SELECT 1 FROM
        matcher.processed_events p WHERE p.consumer = 'matcher' AND p.event_id = o.event_id)""",
    "unapplied by notifier": """
        SELECT count(*) FROM (SELECT event_id FROM profiles.outbox UNION ALL
        SELECT event_id FROM matcher.outbox) o WHERE NOT EXISTS (SELECT 1 FROM
        notifier.processed_events p WHERE p.consumer = 'notifier' AND p.event_id = o.event_id)""",
}


async def backlog(database_url: str, decided: list[UUID]) -> dict[str, int]:
    conn = await _retry_db(database_url)
    try:
        counts = {name: int(await conn.fetchval(sql)) for name, sql in QUIET_SQL.items()}
        counts["undecided"] = len(decided) - int(
            await conn.fetchval(
                "SELECT count(*) FROM matcher.processed_events"
                " WHERE consumer = 'matcher' AND event_id = ANY($1::uuid[])",
                decided,
            )
        )
        return counts
    finally:
        await conn.close()


async def wait_until_quiet(database_url: str, decided: list[UUID], timeout: float) -> None:
    """Until every event is applied everywhere and every round has run (twice in a row)."""
    deadline = time.monotonic() + timeout
    quiet_checks = 0
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            counts = await backlog(database_url, decided)
            quiet_checks = quiet_checks + 1 if not any(counts.values()) else 0
            if quiet_checks >= 2:
                return
        await asyncio.sleep(1)
    raise TimeoutError(f"the stack did not go quiet within {timeout:.0f}s: {counts}")


async def wait_for_mail(database_url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = await _retry_db(database_url)
        try:
            pending = await conn.fetchval(
                "SELECT count(*) FROM notifier.emails WHERE status = 'pending'"
            )
            unannounced = await conn.fetchval(
                "SELECT count(*) FROM notifier.proposals WHERE NOT announced"
            )
        finally:
            await conn.close()
        if pending == 0 and unannounced == 0:
            return
        await asyncio.sleep(1)
    raise TimeoutError(f"emails still pending: {await _stuck_mail(database_url)}")


async def _stuck_mail(database_url: str) -> str:
    """What the notifier is still waiting on, by purpose and last error (no personal data)."""
    conn = await _retry_db(database_url)
    try:
        emails = await conn.fetch(
            "SELECT purpose, last_error, count(*) AS n FROM notifier.emails"
            " WHERE status = 'pending' GROUP BY 1, 2 ORDER BY 3 DESC"
        )
        proposals = await conn.fetch(
            "SELECT (n.id IS NOT NULL) AS network_known, count(*) AS n"
            " FROM notifier.proposals p LEFT JOIN notifier.networks n ON n.id = p.network_id"
            " WHERE NOT p.announced GROUP BY 1"
        )
    finally:
        await conn.close()
    return "; ".join(
        [f"{r['n']} {r['purpose']} email(s), last error {r['last_error']!r}" for r in emails]
        + [
            f"{r['n']} unannounced proposal(s), network known: {r['network_known']}"
            for r in proposals
        ]
    )


# --- the chaos monkey -----------------------------------------------------------------------


class Monkey:
    """Faults at random moments while a wave goes in."""

    def __init__(
        self,
        config: StackConfig,
        processes: dict[str, ServiceProcess],
        maildir: Path,
        plan: ChaosPlan,
        waves: int,
        rng: random.Random,
    ) -> None:
        self._config = config
        self._processes = processes
        self._maildir = maildir
        self._plan = plan
        self._rng = rng
        self.faults = Faults()
        rng.shuffle(actions := self.actions())
        self._per_wave = [actions[i::waves] for i in range(waves)]
        self._restarting: set[str] = set()

    def actions(self) -> list[str]:
        plan = self._plan
        actions = [f"kill:{name}" for name in SERVICES for _ in range(plan.kills_per_service)]
        actions += ["kafka"] * plan.restart_kafka + ["postgres"] * plan.restart_postgres
        return actions + ["smtp"] * (plan.smtp_outage_seconds > 0)

    async def supervise(self) -> None:
        """Restart a service that exited on its own (not one the monkey is restarting)."""
        while True:
            await asyncio.sleep(1)
            for name in [name for name in self._processes if name != "smtp"]:
                if name not in self._restarting and not self._processes[name].alive():
                    self.faults.unplanned_exits[name] += 1
                    self._processes[name] = start_service(name, self._config)

    def settled_faults(self) -> Faults:
        """The faults, once the run is over."""
        return self.faults

    async def run_wave(self, wave: int) -> None:
        for action in self._per_wave[wave]:
            await asyncio.sleep(self._rng.uniform(0.5, 3.0))
            await self._do(action)

    async def _do(self, action: str) -> None:
        if action.startswith("kill:"):
            name = action.split(":", 1)[1]
            self._restarting.add(name)
            self._processes[name].kill()
            self.faults.kills[name] += 1
            await asyncio.sleep(self._rng.uniform(0.2, 2.0))
            self._processes[name] = start_service(name, self._config)
            self._restarting.discard(name)
        elif action == "kafka":
            await _script("kafka.sh", "stop")
            await asyncio.sleep(1)
            await _script("kafka.sh", "start")
            self.faults.kafka_restarts += 1
        elif action == "postgres":
            await _script("postgres.sh", "stop")
            await asyncio.sleep(1)
            await _script("postgres.sh", "start")
            self.faults.postgres_restarts += 1
        else:
            self._processes["smtp"].stop()
            started = time.monotonic()
            await asyncio.sleep(self._plan.smtp_outage_seconds)
            self._processes["smtp"] = start_smtp_catcher(self._config, self._maildir)
            self.faults.smtp_outage_seconds += time.monotonic() - started


# --- checks ---------------------------------------------------------------------------------


async def check(report: RunReport, database_url: str, people: People, maildir: Path) -> None:
    conn = await _retry_db(database_url)
    try:
        await _check_people(report, conn, people)
        report.effects_missing = int(await conn.fetchval(QUIET_SQL["unapplied by matcher"])) + int(
            await conn.fetchval(QUIET_SQL["unapplied by notifier"])
        )
        rows = await conn.fetch(
            "SELECT kind, provider_id, mentee_id FROM matcher.proposals WHERE status = 'pending'"
        )
        email = people.email_of()
        report.pending = {
            (r["kind"], email.get(r["provider_id"], "?"), email.get(r["mentee_id"], "?"))
            for r in rows
        }
        await _check_mail(report, conn, people, maildir)
    finally:
        await conn.close()


async def _check_people(report: RunReport, conn: asyncpg.Connection, people: People) -> None:
    alive = {e: i for e, i in people.ids.items() if e not in people.erased}
    erased = [people.ids[e] for e in people.erased]
    report.people_expected = len(alive)
    for schema in ("profiles", "matcher", "notifier"):
        present = {r["id"] for r in await conn.fetch(f"SELECT id FROM {schema}.people")}
        report.people_missing += sum(1 for i in alive.values() if i not in present)
        report.erased_found += sum(1 for i in erased if i in present)
    report.erased_found += int(
        await conn.fetchval(
            "SELECT count(*) FROM matcher.proposals"
            " WHERE provider_id = ANY($1::uuid[]) OR mentee_id = ANY($1::uuid[])",
            erased,
        )
    )
    matcher = {r["id"]: r for r in await conn.fetch("SELECT * FROM matcher.people")}
    for email, person_id in alive.items():
        row = matcher.get(person_id)
        if row is None:
            continue
        body = people.bodies[email]
        profile = json.loads(row["profile"])
        stale = profile["name"] != body["name"]
        if people.roles[email] == "mentee":
            stale |= [g["skill"] for g in profile["gaps"]] != [g["skill"] for g in body["gaps"]]
        if email in people.availability:
            stale |= row["paused"] != people.availability[email]["paused"]
        report.people_wrong += stale


SEND_TIMEOUT_SECONDS = 10.0  # the notifier's SMTP timeout


async def _erasure_known_at(conn: asyncpg.Connection, people: People) -> dict[str, float]:
    """When the notifier applied each erasure: person name -> wall clock."""
    rows = await conn.fetch(
        """
        SELECT o.message_key, p.processed_at FROM profiles.outbox o
        JOIN notifier.processed_events p ON p.event_id = o.event_id AND p.consumer = 'notifier'
        WHERE o.payload->>'event_type' = 'person.erased'
        """
    )
    email = {str(person_id): address for person_id, address in people.email_of().items()}
    return {
        people.bodies[email[r["message_key"]]]["name"]: r["processed_at"].timestamp()
        for r in rows
        if r["message_key"] in email
    }


async def _check_mail(
    report: RunReport, conn: asyncpg.Connection, people: People, maildir: Path
) -> None:
    emails = await conn.fetch("SELECT * FROM notifier.emails WHERE status <> 'cancelled'")
    rows = {dedupe_digest(e["dedupe_key"]): e for e in emails}
    report.emails_queued = len(emails)
    report.emails_uncertain = sum(e["status"] == "uncertain" for e in emails)
    delivered: Counter[str] = Counter()
    accepted = {people.bodies[e]["name"]: people.erased_at[e] for e in people.erased}
    known = await _erasure_known_at(conn, people)
    for path in sorted(maildir.glob("*.eml")):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        delivered[str(message["X-Bridgework-Dedupe-Key"] or message["Message-ID"])] += 1
        received = path.stat().st_mtime
        text = message.get_body(("plain",))
        content = text.get_content() if text is not None else ""
        after = [name for name in accepted if f"{name}," in content and received > accepted[name]]
        late = [n for n in after if received > known.get(n, accepted[n]) + SEND_TIMEOUT_SECONDS]
        if late:
            report.emails_about_erased += 1
            row = rows.get(str(message["X-Bridgework-Dedupe-Key"]))
            report.about_erased.append(
                _about_erased(row, received, accepted[late[0]], known.get(late[0]))
            )
        elif after:
            report.emails_in_erasure_window += 1
    report.emails_delivered = len(delivered)
    report.emails_duplicate = sum(n - 1 for n in delivered.values())
    report.emails_lost = len(set(rows) - set(delivered))


def _about_erased(
    row: asyncpg.Record | None, received: float, accepted: float, known: float | None
) -> str:
    """One email about an erased person, with its times relative to the API's acceptance of
    the erasure: when the notifier queued and sent it and when it applied the erasure."""

    def since(moment: Any) -> str:
        return "?" if moment is None else f"{moment.timestamp() - accepted:+.1f}s"

    applied = "never" if known is None else f"{known - accepted:+.1f}s"
    if row is None:
        return f"unknown dedupe key, received {received - accepted:+.1f}s, applied {applied}"
    return (
        f"purpose={row['purpose']} status={row['status']} person_id set"
        f" {row['person_id'] is not None} recipient blanked {row['recipient_email'] == ''}"
        f" queued {since(row['created_at'])}"
        f" sent {since(row['sent_at'])} received {received - accepted:+.1f}s;"
        f" erasure applied by the notifier {applied}"
    )


async def read_log(bootstrap: str) -> LogSummary:
    """Extra copies of events, and the dead letters, over the whole log of this run's broker."""
    reader = AIOKafkaConsumer(
        *[topic.value for topic in Topic],
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await reader.start()
    copies: Counter[str] = Counter()
    summary = LogSummary()
    try:
        while batch := await reader.getmany(timeout_ms=2000, max_records=5000):
            for records in batch.values():
                for record in records:
                    poison = (record.key or b"").startswith(POISON_KEY_PREFIX.encode())
                    if record.topic == Topic.DEAD_LETTERS:
                        summary.dead_letters += 1
                        summary.not_poison += not poison
                        headers = {name: value.decode() for name, value in record.headers}
                        summary.parked.add(
                            (
                                headers[DEAD_LETTER_CONSUMER],
                                headers[DEAD_LETTER_SOURCE],
                                int(headers[DEAD_LETTER_PARTITION]),
                                int(headers[DEAD_LETTER_OFFSET]),
                            )
                        )
                    elif record.value and not poison:
                        copies[json.loads(record.value)["event_id"]] += 1
    finally:
        await reader.stop()
    summary.copies_absorbed = sum(n - 1 for n in copies.values())
    return summary


async def drive(
    workload: Workload,
    config: StackConfig,
    database_url: str,
    people: People,
    producer: AIOKafkaProducer,
    monkey: Monkey | None,
    report: RunReport,
) -> tuple[Driver, list[UUID], set[Parked]]:
    """Every wave in, with its poison and faults, each until the stack is quiet; returns the
    driver (what it applied and saw refused), the decision event ids and where the poison
    must be parked."""
    poisoner = AIOKafkaProducer(  # may write what the broker takes, up to its own limit
        bootstrap_servers=config.kafka_bootstrap_servers,
        enable_idempotence=True,
        max_request_size=2 * 1024 * 1024,
    )
    await poisoner.start()
    async with httpx.AsyncClient(
        base_url=config.base_url, headers=config.api_headers, timeout=15
    ) as http:
        driver = Driver(http, database_url, people)
        decided: list[UUID] = []
        poisoned: set[Parked] = set()
        for index, wave in enumerate(workload.waves):
            if index:
                decisions = await send_decisions(producer, database_url, people)
                decided += [d.event_id for d in decisions]
            poisoned |= set(await send_poison(poisoner, workload.poison[index]))
            report.poison_sent += len(workload.poison[index])
            faults = asyncio.create_task(monkey.run_wave(index)) if monkey else None
            await driver.apply_wave(wave)
            if faults:
                await faults
            await wait_until_quiet(database_url, decided, timeout=300)
    await poisoner.stop()
    return driver, decided, poisoned


# --- one run --------------------------------------------------------------------------------


async def run(
    workload: Workload,
    server_url: str,
    bootstrap: str,
    workdir: Path,
    label: str,
    plan: ChaosPlan | None = None,
    quiet_seconds: float = 5.0,
    seed: int = 7,
) -> RunReport:
    started = time.monotonic()
    report = RunReport(label=label)
    await fresh_kafka(bootstrap)
    database_url = await create_database(server_url, label)
    config = StackConfig(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        smtp_port=free_port(),
        http_port=free_port(),
        log_dir=workdir / label / "logs",
        round_quiet_seconds=quiet_seconds,
        extra_environment=(("BRIDGEWORK_ROUND_MAX_DELAY_SECONDS", "100000"),),
    )
    config = with_api_token(config, f"chaos-{label}")
    maildir = workdir / label / "mail"
    people = People()
    producer = idempotent_producer(bootstrap)
    try:
        replicas = plan.replicas if plan else 1
        with running_stack(config, maildir=maildir, replicas=replicas) as processes:
            await producer.start()
            monkey = (
                plan.monkey(config, processes, maildir, len(workload.waves), random.Random(seed))
                if plan
                else None
            )
            supervisor = asyncio.create_task(monkey.supervise()) if monkey else None
            try:
                driver, decided, poisoned = await drive(
                    workload, config, database_url, people, producer, monkey, report
                )
                await wait_for_mail(database_url, timeout=300)
                await wait_for_poison_parked(bootstrap, poisoned, timeout=120)
            finally:
                if supervisor:
                    supervisor.cancel()
            await asyncio.sleep(2)  # a duplicate, were there one, would arrive by now
            report.events = driver.applied + len(decided)
            report.names_sent = sum(op.kind == "refused" for wave in workload.waves for op in wave)
            report.names_refused = driver.refused
            report.decisions = len(decided)
            if monkey:
                report.faults = monkey.settled_faults()
            await check(report, database_url, people, maildir)
            conn = await _retry_db(database_url)
            try:
                known = await conn.fetchval(
                    "SELECT count(*) FROM matcher.processed_events"
                    " WHERE consumer = 'matcher' AND event_id = ANY($1::uuid[])",
                    decided,
                )
            finally:
                await conn.close()
            report.decisions_missing = len(decided) - int(known)
        log = await read_log(bootstrap)
        report.copies_absorbed, report.dead_letters = log.copies_absorbed, log.dead_letters
        report.dead_letters_not_poison = log.not_poison
        report.poison_expected = len(poisoned)
        report.poison_parked = len(poisoned & log.parked)
        report.personal_data_in_logs = personal_data_in_logs(
            config.log_dir, workload.names_and_emails()
        )
        report.rebalances = partition_assignments(config.log_dir)
    finally:
        await producer.stop()
        with contextlib.suppress(Exception):
            await drop_database(server_url, database_url)
    report.seconds = time.monotonic() - started
    return report


def partition_assignments(log_dir: Path) -> Counter[str]:
    """How many partition assignments each consumer group handed out, from every replica's log
    (``shared.service.RebalanceLog``): one per consumer at start-up, more at each rebalance."""
    found: Counter[str] = Counter()
    for path in log_dir.glob("*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if " rebalanced: assigned " in line:
                found[line.split(" rebalanced: ", 1)[0].rsplit(" ", 1)[-1]] += 1
    return found


@dataclass
class Comparison:
    calm: RunReport
    chaos: RunReport

    @property
    def proposals_identical(self) -> bool:
        return self.calm.pending == self.chaos.pending

    def lines(self) -> list[str]:
        only_calm = len(self.calm.pending - self.chaos.pending)
        only_chaos = len(self.chaos.pending - self.calm.pending)
        return [
            *self.calm.lines(),
            *self.chaos.lines(),
            f"final pending proposals identical: {self.proposals_identical}"
            f" (calm {len(self.calm.pending)}, chaos {len(self.chaos.pending)},"
            f" only calm {only_calm}, only chaos {only_chaos})",
        ]


async def calm_and_chaos(
    events: int, plan: ChaosPlan, workdir: Path, chaos_quiet_seconds: float = 30.0
) -> Comparison:
    """The workload calmly (one process of each service), then under ``plan``'s faults."""
    bootstrap = os.environ.get("BRIDGEWORK_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    server_url = os.environ.get(
        "BRIDGEWORK_DATABASE_URL", "postgresql://bridgework@127.0.0.1:55432/bridgework"
    )
    require_local(server_url)
    workload = build_workload(events, waves=3 if events >= 3000 else 2)
    calm = await run(workload, server_url, bootstrap, workdir, "calm", None, quiet_seconds=4.0)
    chaos = await run(
        workload, server_url, bootstrap, workdir, "chaos", plan, quiet_seconds=chaos_quiet_seconds
    )
    return Comparison(calm, chaos)


def assert_guarantees_held(comparison: Comparison) -> None:
    """What every chaos run must end with (test_chaos.py says why)."""
    print("\n" + "\n".join(comparison.lines()))
    for report in (comparison.calm, comparison.chaos):
        assert_run_clean(report)
    assert comparison.proposals_identical
    assert comparison.calm.events == comparison.chaos.events


def assert_run_clean(report: RunReport) -> None:
    assert report.people_missing == 0
    assert report.people_wrong == 0
    assert report.erased_found == 0
    assert report.effects_missing == 0
    assert report.decisions_missing == 0
    assert report.emails_lost == 0
    assert report.emails_duplicate == 0
    assert report.emails_about_erased == 0
    assert report.personal_data_in_logs == 0
    # Each unsendable name refused; each poison message parked by every consumer of its topic,
    # and nothing else parked (faults are retried, never skipped).
    assert report.names_refused == report.names_sent > 0
    assert report.poison_parked == report.poison_expected > report.poison_sent > 0
    assert report.dead_letters_not_poison == 0
    assert report.emails_delivered == report.emails_queued > 0


def require_local(server_url: str) -> None:
    """The harness restarts the broker and PostgreSQL with the devtools scripts: local only."""
    if urlsplit(server_url).hostname not in ("127.0.0.1", "localhost"):
        raise RuntimeError("the chaos run needs the local PostgreSQL (devtools/postgres.sh)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--smtp-outage", type=float, default=30.0)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".local" / "chaos")
    args = parser.parse_args()
    plan = ChaosPlan(kills_per_service=args.kills, smtp_outage_seconds=args.smtp_outage)
    comparison = asyncio.run(calm_and_chaos(args.events, plan, args.workdir))
    print("\n".join(comparison.lines()))
    print(json.dumps({"identical": comparison.proposals_identical}))


if __name__ == "__main__":
    main()

"""Rebuilding a consumer from nothing: its schema dropped, the people topic's old messages
deleted by a short retention, and `bridgework republish` (the profiles service's use case)
restores the notifier's directory, and with `--matches` the matcher's whole state (proposals,
decisions, capacity), exactly, without sending any email again; run twice, the same."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path
from uuid import uuid4

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from devtools import ROOT
from devtools.stack import (
    StackConfig,
    drop_database,
    fresh_database,
    running_stack,
    start_service,
)
from shared.events import PersonErased
from shared.kafka import new_topic
from shared.settings import Settings
from shared.topics import Topic, partition_count
from tests.support.mail import wait_for_mail
from tests.support.stack import e2e_config

pytestmark = pytest.mark.e2e

DIRECTORY = {  # the notifier's directory, as a consumer rebuilt from nothing must hold it again
    "networks": "SELECT id, name, coordinators::text FROM notifier.networks ORDER BY 1",
    "trusts": "SELECT code, name FROM notifier.trusts ORDER BY 1",
    "people": "SELECT id, role, name, email, job_title, trust_code FROM notifier.people ORDER BY 1",
    "placements": "SELECT id, role, host_trust_code FROM notifier.placements ORDER BY 1",
}


@pytest.fixture
async def own_database(base_settings: Settings, database_url: str) -> AsyncIterator[str]:
    """A database of this test's own: it drops the notifier's schema."""
    url = await fresh_database(database_url, f"bridgework_rebuild_{uuid4().hex[:8]}")
    yield url
    await drop_database(database_url, url)


def directory_body(tag: str) -> list[tuple[str, str, dict[str, object]]]:
    network = f"rb-{tag}"
    mentor = {
        "name": "Rhea Rebuild",
        "email": f"rhea.{tag}@example.org",
        "job_title": "Chief Digital Officer",
        "trust_code": f"RA{tag}",
        "skills": [{"skill": "data-analytics", "level": 6}],
        "capacity": 3,
        "hours_per_month": 6,
    }
    return [
        (
            "PUT",
            f"/networks/{network}",
            {
                "name": "Rebuild network",
                "coordinators": [{"name": "Cora", "email": coordinator(tag)}],
            },
        ),
        *[("PUT", f"/trusts/{code}", trust(code, network)) for code in (f"RA{tag}", f"RB{tag}")],
        ("POST", "/mentors", mentor),
        *[("POST", "/mentees", mentee(tag, n)) for n in range(2)],
        (
            "POST",
            "/placements",
            {
                "host_trust_code": f"RA{tag}",
                "role": "Data platform lead",
                "skills_developed": [{"skill": "data-analytics", "level": 5}],
                "months": 6,
                "fte": 0.5,
                "places": 1,
            },
        ),
    ]


def trust(code: str, network: str) -> dict[str, object]:
    return {"name": f"Trust {code}", "region": "London", "network_id": network}


def coordinator(tag: str) -> str:
    return f"cora.{tag}@network.example"


def mentee(tag: str, n: int) -> dict[str, object]:
    return {
        "name": f"Mika Mentee{n}",
        "email": f"mika{n}.{tag}@example.org",
        "job_title": "Analyst",
        "trust_code": f"RB{tag}",
        "gaps": [{"skill": "data-analytics", "current": 2, "target": 5}],
    }


Tables = dict[str, list[tuple[object, ...]]]


async def tables(url: str, queries: dict[str, str]) -> Tables:
    conn = await asyncpg.connect(url)
    try:
        return {name: [tuple(r) for r in await conn.fetch(sql)] for name, sql in queries.items()}
    finally:
        await conn.close()


async def directory(url: str) -> Tables:
    return await tables(url, DIRECTORY)


async def wait_for_tables(url: str, queries: dict[str, str], expected: Tables) -> None:
    deadline = time.monotonic() + 90
    while (found := await tables(url, queries)) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"not rebuilt: {found} != {expected}")
        await asyncio.sleep(0.5)


async def drop_schema(url: str, schema: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await conn.close()


def people_topic(configs: dict[str, str]) -> ConfigResource:
    return ConfigResource(ConfigResourceType.TOPIC, Topic.PEOPLE.value, configs)


async def expire_old_people_messages(settings: Settings) -> dict[int, int]:
    """Shorten the people topic's retention until every partition's log starts later than
    before (its old segments deleted), then restore it; returns each partition's new start."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    # AlterConfigs replaces a topic's overrides as a whole: the created ones, then shortened.
    created = new_topic(Topic.PEOPLE, settings).topic_configs
    try:
        short = {"retention.ms": "200", "segment.ms": "200"}
        await admin.alter_configs([people_topic(created | short)])
        for _ in range(2):  # the first message of an empty partition rolls nothing
            await asyncio.sleep(0.5)
            await write_to_every_people_partition(settings.kafka_bootstrap_servers)
        starts = await wait_for_log_starts_to_move(settings)
    finally:
        await admin.alter_configs([people_topic(created)])
        await admin.close()
    return starts


async def write_to_every_people_partition(bootstrap: str) -> None:
    """A harmless message (the erasure of nobody) on each partition: the broker rolls a segment
    older than segment.ms when a message arrives, and deletes only segments that are not the
    newest."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for partition in sorted(await producer.partitions_for(Topic.PEOPLE.value)):
            nobody = PersonErased(entity_key=str(uuid4()), person_id=uuid4())
            await producer.send_and_wait(
                Topic.PEOPLE.value,
                nobody.to_json_bytes(),
                key=nobody.entity_key.encode(),
                partition=partition,
            )
    finally:
        await producer.stop()


async def wait_for_log_starts_to_move(settings: Settings) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await consumer.start()
    count = partition_count(Topic.PEOPLE, settings.kafka_partitions)
    partitions = [TopicPartition(Topic.PEOPLE.value, p) for p in range(count)]
    try:
        deadline = time.monotonic() + 60
        while True:
            starts = await consumer.beginning_offsets(partitions)
            if all(offset > 0 for offset in starts.values()):
                return {tp.partition: offset for tp, offset in starts.items()}
            if time.monotonic() > deadline:
                raise AssertionError(f"the short retention deleted nothing: {starts}")
            await asyncio.sleep(0.5)
    finally:
        await consumer.stop()


def republish(config: StackConfig, *options: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "republish", *options],
        cwd=ROOT,
        env=config.environment(),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def emails(maildir: Path) -> list[str]:
    return sorted(path.name for path in maildir.glob("*.eml"))


@pytest.mark.timeout(600)
async def test_the_notifier_rebuilt_from_nothing_holds_its_directory_and_sends_nothing_again(
    own_database: str, kafka: str, base_settings: Settings, tmp_path: Path
) -> None:
    tag = uuid4().hex[:6]
    config = e2e_config(own_database, kafka, tmp_path)
    maildir = tmp_path / "mail"
    with running_stack(config, maildir=maildir) as processes:
        async with httpx.AsyncClient(base_url=config.base_url, headers=config.api_headers) as http:
            for method, path, body in directory_body(tag):
                (await http.request(method, path, json=body)).raise_for_status()
        wait_for_mail(maildir, "Mika Mentee")  # proposed and announced: the emails went out
        await asyncio.sleep(3)  # every email of this network, and any duplicate, arrives
        sent = emails(maildir)
        before = await directory(own_database)
        assert {name: len(rows) for name, rows in before.items()} == {
            "networks": 1,
            "trusts": 2,
            "people": 3,
            "placements": 1,
        }

        processes["notifier"].kill()
        await drop_schema(own_database, "notifier")
        starts = await expire_old_people_messages(base_settings)
        processes["notifier"] = start_service("notifier", config)
        assert "3 people" in await asyncio.to_thread(republish, config)
        await wait_for_tables(own_database, DIRECTORY, before)
        await asyncio.to_thread(republish, config)  # again: nothing changes
        await asyncio.sleep(5)
        assert await directory(own_database) == before
        assert emails(maildir) == sent
        assert all(offset > 0 for offset in starts.values())

        # The rebuilt notifier serves what comes next: a new mentee's proposal is announced.
        async with httpx.AsyncClient(base_url=config.base_url, headers=config.api_headers) as http:
            (await http.post("/mentees", json=mentee(tag, 7))).raise_for_status()
        wait_for_mail(maildir, "Mika Mentee7")


# --- the matcher ----------------------------------------------------------------------------

MATCHER_STATE = {  # what the matcher's rounds work from, as a matcher rebuilt must hold it again
    "networks": "SELECT id, weights::text, weights_version FROM matcher.networks ORDER BY 1",
    "trusts": "SELECT code, network_id, name, region FROM matcher.trusts ORDER BY 1",
    "people": "SELECT id, role, network_id, paused, capacity, hours_per_month, profile::text"
    " FROM matcher.people ORDER BY 1",
    "placements": "SELECT id, network_id, profile::text FROM matcher.placements ORDER BY 1",
    "proposals": "SELECT match_id, network_id, kind, provider_id, mentee_id, score,"
    " explanation::text, exchange_id, status, outcome FROM matcher.proposals ORDER BY 1",
    # A mentor's capacity left after their approved matches (round_input.py).
    "capacity": "SELECT p.id, p.capacity - count(a.match_id) FROM matcher.people p"
    " LEFT JOIN matcher.proposals a ON a.provider_id = p.id AND a.status = 'approved'"
    " WHERE p.role = 'mentor' GROUP BY p.id, p.capacity ORDER BY 1",
}


async def matcher_state(url: str) -> Tables:
    return await tables(url, MATCHER_STATE)


async def settled_matcher_state(url: str, quiet: float = 4.0) -> Tables:
    """The matcher's state once no round is due and it has not changed for ``quiet`` seconds."""
    deadline = time.monotonic() + 90
    state, since = await matcher_state(url), time.monotonic()
    while time.monotonic() - since < quiet or await rounds_due(url):
        if time.monotonic() > deadline:
            raise AssertionError("the matcher did not settle")
        await asyncio.sleep(0.5)
        if (found := await matcher_state(url)) != state:
            state, since = found, time.monotonic()
    return state


async def rounds_due(url: str) -> int:
    return len((await tables(url, {"due": "SELECT network_id FROM matcher.dirty_networks"}))["due"])


async def rounds_run(url: str) -> list[tuple[object, ...]]:
    """Each round the matcher ran: its new, kept and replaced proposals."""
    sql = "SELECT new_proposals, kept_proposals, replaced_proposals FROM matcher.rounds"
    return (await tables(url, {"rounds": f"{sql} ORDER BY ran_at"}))["rounds"]


async def proposal_to_decide(maildir: Path, mentee_name: str) -> str:
    """The text of the latest proposal email (one with decision links) naming ``mentee_name``."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = [
            text
            for path in sorted(maildir.glob("*.eml"))
            if mentee_name in (text := plain_text(path)) and "/links/decision/" in text
        ]
        if found:
            return found[-1]
        await asyncio.sleep(0.3)
    raise AssertionError(f"no proposal for {mentee_name} within 60s")


def plain_text(path: Path) -> str:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(preferencelist=("plain",))
    return "" if body is None else str(body.get_content())


async def decide(http: httpx.AsyncClient, proposal: str, approve: bool) -> None:
    verb = "Approve" if approve else "Reject"
    [link] = re.findall(rf"{verb}:\s+\S+?(/links/decision/\S+)", proposal)
    form = {} if approve else {"reason": "Not this pairing"}  # a rejection says why
    assert (await http.post(link, data=form)).status_code == 303


def mentor(tag: str, n: int) -> dict[str, object]:
    return {
        "name": f"Mo Mentor{n}",
        "email": f"mo{n}.{tag}@example.org",
        "job_title": "Head of Data",
        "trust_code": f"RA{tag}",
        "skills": [{"skill": "data-analytics", "level": 6}],
        "capacity": 2,
        "hours_per_month": 4,
    }


@pytest.mark.timeout(600)
async def test_the_matcher_rebuilt_from_nothing_holds_its_proposals_decisions_and_capacity(
    own_database: str, kafka: str, base_settings: Settings, tmp_path: Path
) -> None:
    """Approved, rejected and pending matches; the matcher's schema and the people topic's
    old messages gone; a matcher that only consumes (no rounds) gets the directory, then the
    matches; started whole again, its rounds keep every proposal and nobody gets an email."""
    tag = uuid4().hex[:6]
    config = e2e_config(own_database, kafka, tmp_path)
    maildir = tmp_path / "mail"
    with running_stack(config, maildir=maildir) as processes:
        async with httpx.AsyncClient(base_url=config.base_url, headers=config.api_headers) as http:
            network = directory_body(tag)
            network.insert(3, ("POST", "/mentors", mentor(tag, 1)))  # before the mentees come
            for method, path, body in network:
                (await http.request(method, path, json=body)).raise_for_status()
            await decide(http, await proposal_to_decide(maildir, "Mika Mentee0"), approve=True)
            await decide(http, await proposal_to_decide(maildir, "Mika Mentee1"), approve=False)
        before = await settled_matcher_state(own_database)
        statuses = {str(row[8]) for row in before["proposals"]}
        assert {"approved", "rejected"} <= statuses, statuses
        await asyncio.sleep(3)  # every email of this network, and any duplicate, arrives
        sent = emails(maildir)

        processes["matcher"].kill()
        await drop_schema(own_database, "matcher")
        starts = await expire_old_people_messages(base_settings)
        consuming_only = replace(
            config,
            extra_environment=(
                *config.extra_environment,
                ("BRIDGEWORK_MATCHER_ROLE", "events"),
                ("BRIDGEWORK_PROPOSE_ON_ARRIVAL", "false"),
            ),
        )
        processes["matcher"] = start_service("matcher", consuming_only)
        output = await asyncio.to_thread(republish, config, "--matches")
        assert f"{len(before['proposals'])} matches" in output, output
        await wait_for_tables(own_database, MATCHER_STATE, before)
        assert await rounds_run(own_database) == []  # rebuilt by the events alone

        # Whole again: its rounds re-solve the networks the republished events touched, and
        # keep every proposal (a new one would have been proposed, and emailed, twice).
        processes["matcher"].stop()
        processes["matcher"] = start_service("matcher", config)
        assert await settled_matcher_state(own_database) == before
        rounds = await rounds_run(own_database)
        assert rounds
        assert all(r[0] == r[2] == 0 for r in rounds), rounds  # none new, none replaced
        await asyncio.to_thread(republish, config, "--matches")  # again: nothing changes
        assert await settled_matcher_state(own_database) == before
        await asyncio.sleep(3)
        assert emails(maildir) == sent
        assert all(offset > 0 for offset in starts.values())

        # The rebuilt matcher matches what comes next.
        async with httpx.AsyncClient(base_url=config.base_url, headers=config.api_headers) as http:
            (await http.post("/mentees", json=mentee(tag, 7))).raise_for_status()
        wait_for_mail(maildir, "Mika Mentee7")

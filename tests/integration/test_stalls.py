"""Nothing stops the pipeline (issue 14, items 1-4), on the real broker, database and SMTP:
each poison message is dead-lettered and the good message behind it on the same partition is
applied; an email that cannot be built is failed and reported while the one behind it goes;
a partition its consumer keeps retrying is named by readiness and metrics."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from typer.testing import CliRunner

from services.cli.main import app as cli
from services.notifier.mailer import MailQueue
from shared.consuming import BatchEventConsumer, EventConsumer
from shared.events import Event, PersonErased
from shared.kafka import (
    DEAD_LETTER_CONSUMER,
    DEAD_LETTER_KIND,
    DEAD_LETTER_OFFSET,
    DEAD_LETTER_ORIGINAL_SHA256,
    DEAD_LETTER_ORIGINAL_SIZE,
    DEAD_LETTER_PARTITION,
    DEAD_LETTER_TRUNCATED,
)
from shared.observability.health import readiness, stall_check
from shared.service import event_broker
from shared.settings import Settings
from shared.topics import Topic
from tests.support.factories import network_events
from tests.support.kafka import read_topic
from tests.support.mail import Inbox
from tests.support.metrics import metric
from tests.support.notifier import deliver, send_everything

pytestmark = pytest.mark.integration

BROKER_MAX_MESSAGE_BYTES = 1024 * 1024 + 12  # Kafka's default message.max.bytes


def poison(key: str) -> dict[str, bytes]:
    """The issue's four poison messages, by what they are."""
    person = str(uuid4())
    unsendable_name = {
        "event_type": "person.upserted",
        "entity_key": key,
        "profile": {
            "person_id": person,
            "role": "mentee",
            "name": "Eve\u2028Bcc: victim@example.org",
            "email": "eve@example.org",
            "job_title": "Analyst",
            "trust_code": "TA",
            "network_id": "north",
            "region": "London",
            "mode": "either",
            "working_pattern": "full_time",
            "sector": "nhs",
        },
    }
    padding = "x" * (BROKER_MAX_MESSAGE_BYTES - 600)
    near_the_limit = {"event_type": "person.erased", "entity_key": key, "pad": padding}
    return {
        "a name with U+2028": json.dumps(unsendable_name).encode(),
        "an event_type that is a list": b'{"event_type": ["person.erased"], "entity_key": "x"}',
        "JSON 5,000 levels deep": b"[" * 5000 + b"]" * 5000,
        "a message near the broker's limit": json.dumps(near_the_limit).encode(),
    }


@asynccontextmanager
async def consuming(
    settings: Settings, consumer: BatchEventConsumer, topic: Topic
) -> AsyncIterator[None]:
    """``consumer`` fed by a real FastStream subscriber, as every service runs it."""
    broker = event_broker(consumer.name, [topic], settings, lambda: consumer)
    await broker.start()
    try:
        yield
    finally:
        await broker.stop()


async def eventually(condition: Callable[[], Awaitable[bool]], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.2)


@pytest.fixture
async def producer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    # Allowed to send what the broker takes, up to its own limit (the services' producers keep
    # aiokafka's 1 MiB default, which is why the dead letter must be smaller than the original).
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, max_request_size=2 * 1024 * 1024
    )
    await producer.start()
    yield producer
    await producer.stop()


async def test_each_poison_message_is_dead_lettered_and_the_good_one_behind_it_applied(
    settings: Settings, matcher_pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    name = f"stalls-{uuid4().hex[:8]}"
    applied: list[Event] = []

    async def record(_: asyncpg.Connection, event: Event) -> None:
        applied.append(event)

    key = f"poisoned-{uuid4()}"
    sent: dict[int, tuple[str, bytes]] = {}
    partitions = set()
    for what, body in poison(key).items():
        meta = await producer.send_and_wait(Topic.PEOPLE.value, body, key=key.encode())
        sent[meta.offset] = (what, body)
        partitions.add(meta.partition)
    good = PersonErased(entity_key=key, person_id=uuid4())
    behind = await producer.send_and_wait(
        Topic.PEOPLE.value, good.to_json_bytes(), key=key.encode()
    )
    assert partitions == {behind.partition}  # one key: one partition, the good one last

    consumer = BatchEventConsumer(name, matcher_pool, producer, record)
    async with consuming(settings, consumer, Topic.PEOPLE):

        async def good_one_applied() -> bool:
            return any(event.event_id == good.event_id for event in applied)

        await eventually(good_one_applied)

    def ours(letter: Any) -> bool:
        # The new group reads the whole topic: other tests' poison on other partitions is
        # parked under this consumer's name too. Ours are the letters from the key's partition.
        headers = dict(letter.headers)
        return (
            headers.get(DEAD_LETTER_CONSUMER) == name.encode()
            and headers.get(DEAD_LETTER_PARTITION) == str(behind.partition).encode()
            and int(headers.get(DEAD_LETTER_OFFSET, b"-1")) in sent
        )

    letters = await read_topic(
        settings.kafka_bootstrap_servers, Topic.DEAD_LETTERS.value, ours, count=len(sent)
    )
    parked: dict[str, dict[str, Any]] = {}
    for letter in letters:
        headers = {header: value.decode() for header, value in letter.headers}
        what, body = sent[int(headers[DEAD_LETTER_OFFSET])]
        parked[what] = headers | {"value": letter.value, "original": body}
    assert sorted(parked) == sorted(what for what, _ in sent.values())
    assert parked["a name with U+2028"][DEAD_LETTER_KIND] == "invalid"
    assert parked["an event_type that is a list"][DEAD_LETTER_KIND] == "unknown_type"
    assert parked["JSON 5,000 levels deep"][DEAD_LETTER_KIND] == "malformed"
    large = parked["a message near the broker's limit"]
    assert large[DEAD_LETTER_TRUNCATED] == "value"
    assert large[DEAD_LETTER_ORIGINAL_SIZE] == str(len(large["original"]))
    assert large[DEAD_LETTER_ORIGINAL_SHA256] == hashlib.sha256(large["original"]).hexdigest()
    assert large["original"].startswith(large["value"])
    for small in ("a name with U+2028", "an event_type that is a list", "JSON 5,000 levels deep"):
        assert parked[small]["value"] == parked[small]["original"]  # byte for byte


async def test_a_partition_its_consumer_keeps_retrying_is_named_by_readiness_and_metrics(
    settings: Settings, matcher_pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    name = f"stuck-{uuid4().hex[:8]}"
    group = f"bridgework-{name}"
    blocked = PersonErased(entity_key=f"stuck-{uuid4()}", person_id=uuid4())
    database_away = True
    applied: list[Event] = []

    async def flaky(_: asyncpg.Connection, event: Event) -> None:
        if event.event_id == blocked.event_id and database_away:
            raise ConnectionRefusedError("the database is away")  # transient: retried
        applied.append(event)

    meta = await producer.send_and_wait(
        Topic.DECISIONS.value, blocked.to_json_bytes(), key=blocked.entity_key.encode()
    )
    consumer = BatchEventConsumer(name, matcher_pool, producer, flaky)
    check = stall_check(lambda: consumer.progress, threshold=2)
    where = {"group": group, "topic": Topic.DECISIONS.value, "partition": str(meta.partition)}
    async with consuming(settings, consumer, Topic.DECISIONS):

        async def not_ready() -> bool:
            return not (await readiness({"consumer": check}, timeout=1))[0]

        await eventually(not_ready)
        _, checks = await readiness({"consumer": check}, timeout=1)
        assert f"{Topic.DECISIONS.value}[{meta.partition}] stuck since " in checks["consumer"]
        assert metric("bridgework_consumer_stalled_seconds", **where) > 2

        database_away = False  # the database is back: the retry gets past it

        async def ready_again() -> bool:
            return (await readiness({"consumer": check}, timeout=1))[0]

        await eventually(ready_again)
    assert blocked.event_id in {event.event_id for event in applied}
    assert metric("bridgework_consumer_stalled_seconds", **where) == 0


async def test_an_email_that_cannot_be_built_is_failed_and_reported_and_the_next_goes(
    settings: Settings,
    notifier_pool: asyncpg.Pool,
    notifier_consumer: EventConsumer,
    smtp_inbox: Inbox,
) -> None:
    # A name the rules refuse today, stored before they did (or by a future bug): the notifier
    # must not let its email hold up the queue.
    events, unbuildable = network_events()
    await deliver(notifier_consumer, *events)
    await notifier_pool.execute(
        "UPDATE people SET name = 'Theo\u2028Mentee' WHERE id = $1", unbuildable.mentee_id
    )
    await deliver(notifier_consumer, unbuildable)
    more_events, behind = network_events()
    await deliver(notifier_consumer, *more_events, behind)
    failed_before = metric("bridgework_emails_unbuildable_total", purpose="proposal")

    queue = MailQueue(notifier_pool, settings.model_copy(update={"smtp_port": smtp_inbox.port}))
    await send_everything(queue, notifier_pool)

    bad = await notifier_pool.fetchrow(
        "SELECT id, status, last_error FROM emails WHERE match_id = $1", unbuildable.match_id
    )
    assert bad["status"] == "failed"
    assert bad["last_error"].startswith("could not be built: ValueError: Header values")
    assert metric("bridgework_emails_unbuildable_total", purpose="proposal") == failed_before + 1
    sent = [m for m in smtp_inbox.messages if behind.network_id in str(m["To"])]
    assert len(sent) == 1

    env = {"BRIDGEWORK_DATABASE_URL": settings.database_url}
    listed = await asyncio.to_thread(
        CliRunner().invoke, cli, ["emails", "failed", "--json"], env=env
    )
    assert listed.exit_code == 0, listed.output
    [mine] = [e for e in json.loads(listed.output) if e["id"] == bad["id"]]
    assert mine["last_error"] == bad["last_error"]

"""Consumers' batches take in what arrived while the last batch was being handled
(shared.kafka.take_fresh_records), and the rounds are paced (services.matcher.rounds)."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import TopicPartition
from faststream.kafka import KafkaBroker

from services.matcher.bootstrap import create_app
from services.matcher.rounds import rest_after
from shared.kafka import take_fresh_records
from shared.service import FastStreamInternalsMoved, take_fresh_batches
from shared.settings import Settings

PEOPLE_0 = TopicPartition("people", 0)
PEOPLE_1 = TopicPartition("people", 1)


class ScriptedConsumer:
    """Answers getmany from a script, noting each call's timeout and record limit."""

    def __init__(self, *answers: dict[TopicPartition, list[int]]) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[int, int | None]] = []

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[int]]:
        self.calls.append((timeout_ms, max_records))
        return self.answers.pop(0) if self.answers else {}


def fresh(consumer: ScriptedConsumer, wait_ms: int = 5) -> Any:
    take_fresh_records(consumer, wait_ms)  # type: ignore[arg-type]
    return consumer


async def test_a_batch_takes_the_records_fetched_when_its_buffer_was_taken() -> None:
    consumer = fresh(ScriptedConsumer({PEOPLE_0: [1, 2]}, {PEOPLE_0: [3], PEOPLE_1: [7]}))
    batch = await consumer.getmany(timeout_ms=20, max_records=500)
    assert batch == {PEOPLE_0: [1, 2, 3], PEOPLE_1: [7]}  # each partition's records in order
    assert consumer.calls == [(20, 500), (5, 498)]  # the second waits at most wait_ms


async def test_an_empty_poll_or_a_full_batch_does_not_wait_for_more() -> None:
    idle = fresh(ScriptedConsumer({}))
    assert await idle.getmany(timeout_ms=20, max_records=500) == {}
    assert idle.calls == [(20, 500)]
    full = fresh(ScriptedConsumer({PEOPLE_0: [1, 2]}, {PEOPLE_0: [3]}))
    assert await full.getmany(timeout_ms=20, max_records=2) == {PEOPLE_0: [1, 2]}
    assert full.calls == [(20, 2)]


async def test_without_a_record_limit_the_fresh_records_are_taken_whole() -> None:
    consumer = fresh(ScriptedConsumer({PEOPLE_1: [4]}, {PEOPLE_1: [5, 6]}))
    assert await consumer.getmany(timeout_ms=10) == {PEOPLE_1: [4, 5, 6]}
    assert consumer.calls == [(10, None), (5, None)]


@pytest.mark.parametrize(("wait_ms", "calls"), [(5, 2), (0, 1)])
async def test_the_services_consumers_take_fresh_records_unless_turned_off(
    wait_ms: int, calls: int
) -> None:
    settings = Settings(consumer_fresh_fetch_ms=wait_ms)
    broker = create_app(settings).broker
    assert isinstance(broker, KafkaBroker)
    (subscriber,) = broker.subscribers
    # What FastStream's started subscriber holds: its aiokafka consumer.
    subscriber.consumer = ScriptedConsumer({PEOPLE_0: [1]}, {PEOPLE_0: [2]})  # type: ignore[attr-defined]
    take_fresh_batches(broker, settings)
    await subscriber.consumer.getmany(timeout_ms=20, max_records=500)  # type: ignore[attr-defined]
    assert len(subscriber.consumer.calls) == calls  # type: ignore[attr-defined]


class StartableConsumer(ScriptedConsumer):
    """What FastStream's subscriber does with its aiokafka consumer when it starts."""

    def subscribe(self, *args: Any, **kwargs: Any) -> None:
        del args, kwargs

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


async def test_faststream_fetches_batches_through_the_consumer_we_patch() -> None:
    """The FastStream internals take_fresh_batches relies on: a started Kafka subscriber keeps
    the consumer its broker built in ``consumer``, and fetches every batch with its
    ``getmany``. If an upgrade moves either, this fails (and start-up fails, see below)."""
    settings = Settings(consumer_fresh_fetch_ms=5, consumer_batch_max_records=500)
    broker = create_app(settings).broker
    assert isinstance(broker, KafkaBroker)
    (subscriber,) = broker.subscribers
    built = StartableConsumer({PEOPLE_0: [1]}, {PEOPLE_0: [2]})
    # The seam FastStream's own TestKafkaBroker uses to hand its subscribers a fake consumer.
    broker.config.broker_config.builder = lambda **_: built  # type: ignore[attr-defined]
    broker.config.broker_config.allow_auto_create_topics = False  # type: ignore[attr-defined]
    broker._setup_logger()
    subscriber.calls.clear()  # no handler: the subscriber starts no consume loop of its own
    await subscriber.start()
    try:
        assert subscriber.consumer is built  # type: ignore[attr-defined]
        take_fresh_batches(broker, settings)
        batch = await subscriber.get_msg(built)  # type: ignore[attr-defined]
    finally:
        await subscriber.stop()
    assert list(batch) == [1, 2]  # the fresh records joined the batch
    assert built.calls == [(settings.consumer_batch_timeout_ms, 500), (5, 499)]


def test_start_up_fails_loudly_when_the_subscriber_has_no_consumer() -> None:
    broker = create_app(Settings(consumer_fresh_fetch_ms=5)).broker
    assert isinstance(broker, KafkaBroker)
    with pytest.raises(FastStreamInternalsMoved, match="BRIDGEWORK_CONSUMER_FRESH_FETCH_MS"):
        take_fresh_batches(broker, Settings(consumer_fresh_fetch_ms=5))  # never started


@pytest.mark.parametrize(
    ("seconds", "duty_cycle", "rest"), [(0.1, 1.0, 0.0), (0.1, 0.25, 0.3), (0.2, 0.5, 0.2)]
)
def test_rounds_rest_so_they_take_at_most_their_duty_cycle(
    seconds: float, duty_cycle: float, rest: float
) -> None:
    assert rest_after(seconds, duty_cycle) == pytest.approx(rest)
    assert seconds / (seconds + rest_after(seconds, duty_cycle)) == pytest.approx(duty_cycle)

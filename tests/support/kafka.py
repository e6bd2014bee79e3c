"""Reading what the services published, straight from the broker, and publishing to it as a
service would."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from shared.events import Event


async def read_topic(
    bootstrap: str,
    topic: str,
    wanted: Callable[[ConsumerRecord[bytes, bytes]], bool],
    count: int = 1,
    timeout: float = 20.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Records of ``topic`` (from the beginning) that ``wanted`` accepts; waits for ``count``."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    found: list[ConsumerRecord[bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(found) < count:
            batch = await consumer.getmany(timeout_ms=300)
            found += [r for records in batch.values() for r in records if wanted(r)]
        # Linger briefly so duplicates, if any, are seen too.
        batch = await consumer.getmany(timeout_ms=500)
        found += [r for records in batch.values() for r in records if wanted(r)]
    finally:
        await consumer.stop()
    return found


async def publish(bootstrap: str, events: list[Event]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                event.topic.value, event.to_json_bytes(), key=event.entity_key.encode()
            )
    finally:
        await producer.stop()

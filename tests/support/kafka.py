"""Reading what the services published, straight from the broker."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord


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

"""The plain-client limit's consumer, in a process of its own as the matcher is
(bench/bench_pipeline.py, ``measure_limit``).

    python -m bench.plain_consumer BOOTSTRAP TOPIC COUNT

Prints ``ready`` once its group has assigned it the topic's partitions, then reads COUNT
records with a plain aiokafka consumer and prints ``done <time.monotonic()>`` at the last one
(the monotonic clock is the machine's, so the parent compares it with its own)."""

from __future__ import annotations

import asyncio
import sys
import time

from aiokafka import AIOKafkaConsumer


async def consume(bootstrap: str, topic: str, count: int) -> None:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-limit-{time.monotonic_ns()}",
        auto_offset_reset="earliest",
        # On a cluster just started, the new topic may reach the group before its metadata
        # reaches this consumer: it is then assigned nothing until its next metadata refresh
        # (5 minutes by default). Ask every second instead.
        metadata_max_age_ms=1000,
    )
    await consumer.start()
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)
        print("ready", flush=True)
        received = 0
        while received < count:
            batches = await consumer.getmany(timeout_ms=200, max_records=2000)
            received += sum(len(records) for records in batches.values())
        print(f"done {time.monotonic()!r}", flush=True)
    finally:
        await consumer.stop()


def main() -> None:
    bootstrap, topic, count = sys.argv[1:4]
    asyncio.run(consume(bootstrap, topic, int(count)))


if __name__ == "__main__":
    main()

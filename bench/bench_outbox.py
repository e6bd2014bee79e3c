"""The outbox's own cost, without a service around it (docs/scaling.md, "Figures").

Each of ``--batches`` times: one transaction stores 16 events in the matcher's outbox (what a
batch of arrivals' proposals costs the consumer), then one relay batch publishes them to the real
broker and marks them (what each proposal waits for after its transaction). Prints and writes the
p50 / p95 / p99 milliseconds of each. Run it with the broker and PostgreSQL up:

    bash devtools/with-infra.sh .venv/bin/python -m bench.bench_outbox --out F
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

from bench.bench_pipeline import load_average
from bench.spread import percentiles
from shared.events import PersonErased
from shared.kafka import ensure_topics, idempotent_producer
from shared.outbox import OutboxRelay, add_to_outbox
from shared.settings import Settings
from tests.support.database import migrated_pool

EVENTS_PER_BATCH = 16  # about a batch of arrivals' proposals under the sustained benchmark
WARM_UP_BATCHES = 20


async def measure(batches: int) -> dict[str, Any]:
    settings = Settings()
    await ensure_topics(settings)
    pool = await migrated_pool(settings, "matcher")
    producer = idempotent_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    relay = OutboxRelay(pool, producer)
    store, publish = [], []
    try:
        while await relay.publish_batch():  # whatever an earlier run left
            pass
        for i in range(WARM_UP_BATCHES + batches):
            events = [
                PersonErased(entity_key=f"outbox-bench-{i}-{k}", person_id=uuid4())
                for k in range(EVENTS_PER_BATCH)
            ]
            started = time.perf_counter()
            async with pool.acquire() as conn, conn.transaction():
                await add_to_outbox(conn, events)
            stored = time.perf_counter()
            published = await relay.publish_batch()
            done = time.perf_counter()
            if published != EVENTS_PER_BATCH:
                raise RuntimeError(f"the relay published {published} of {EVENTS_PER_BATCH}")
            if i >= WARM_UP_BATCHES:
                store.append((stored - started) * 1000)
                publish.append((done - stored) * 1000)
    finally:
        await producer.stop()
        await pool.close()
    return {"batches": batches, "store": percentiles(store), "publish": percentiles(publish)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--out", type=Path, help="append the result as one JSON line")
    args = parser.parse_args()
    result = {"load_average_at_start": load_average(), **asyncio.run(measure(args.batches))}
    print(json.dumps(result))
    if args.out:
        with args.out.open("a") as out:
            out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()

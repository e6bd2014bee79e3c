"""Liveness and readiness. Live: the process answers. Ready: its database and broker answer
now, each within a short timeout, so an orchestrator stops routing to (or restarts) a service
that lost either."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import asyncpg
from aiokafka import AIOKafkaProducer

from shared.observability.progress import PartitionProgress

Check = Callable[[], Awaitable[None]]


class NotReady(Exception):
    """A check's failure whose message readiness shows as it is (it names no personal data)."""


def database_check(pool: Callable[[], asyncpg.Pool | None]) -> Check:
    async def check() -> None:
        current = pool()
        if current is None:
            raise RuntimeError("not connected yet")
        async with current.acquire() as connection:
            await connection.fetchval("SELECT 1")

    return check


def kafka_check(producer: Callable[[], AIOKafkaProducer | None]) -> Check:
    async def check() -> None:
        current = producer()
        if current is None:
            raise RuntimeError("not connected yet")
        # A metadata round trip to the cluster, not the producer's cached view.
        await current.client.fetch_all_metadata()

    return check


def stall_check(progress: Callable[[], PartitionProgress | None], threshold: float) -> Check:
    """Not ready while a partition has kept its consumer retrying for over ``threshold``
    seconds: says which, since when, and how many retries."""

    async def check() -> None:
        current = progress()
        stuck = [] if current is None else current.stuck(threshold)
        if stuck:
            raise NotReady("; ".join(s.describe() for s in stuck))

    return check


async def readiness(checks: Mapping[str, Check], timeout: float) -> tuple[bool, dict[str, str]]:
    """Run every check at once; each gets ``timeout`` seconds. Returns (all ok, per-check)."""

    async def run(check: Check) -> str:
        try:
            await asyncio.wait_for(check(), timeout)
        except TimeoutError:
            return f"no answer within {timeout:g}s"
        except NotReady as error:
            return f"failed: {error}"
        except Exception as error:  # any failure means not ready; the type says which
            return f"failed: {type(error).__name__}"
        return "ok"

    names = list(checks)
    results = await asyncio.gather(*(run(checks[name]) for name in names))
    outcome = dict(zip(names, results, strict=True))
    return all(result == "ok" for result in results), outcome

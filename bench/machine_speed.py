"""How fast the machine is at a run's start: a reference beside the load average.

The same code's sustained p99 moved twofold between two quiet evenings on this 2-core machine
(docs/scaling.md), with the load average low both times: the load average says how much else
runs, not how fast a core is. Each benchmark run therefore starts with two short fixed
workloads, timed on one core: the pipeline's own kind of work (an event's JSON read into its
pydantic model and written back, as the consumers and the relay do) and numpy's float32 matrix
multiply (what the engine's scoring is made of). Runs whose references differ were measured on
a machine of different speed, whatever their load average.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from shared.events import decode_event
from shared.people import Role
from tests.support.factories import person

BURSTS = 3  # the median of three bursts: one preempted burst does not move it
BURST_SECONDS = 0.2
MATRIX_SIDE = 256


def machine_speed() -> dict[str, float]:
    """Events/s read and written back, and float32 matmul GFLOP/s, on one core: the median of
    ``BURSTS`` bursts each."""
    payload = person(Role.MENTEE, "reference-network", "RRF").to_json_bytes()

    def round_trip() -> int:
        decode_event(payload).model_dump_json()
        return 1

    left = np.random.default_rng(0).random((MATRIX_SIDE, MATRIX_SIDE), dtype=np.float32)
    right = left.T.copy()

    def multiply() -> int:
        left @ right
        return 2 * MATRIX_SIDE**3

    with threadpool_limits(1, user_api="blas"):
        return {
            "events_per_second": round(_rate(round_trip)),
            "matmul_gflops": round(_rate(multiply) / 1e9, 1),
        }


def _rate(work: Callable[[], int]) -> float:
    """Units of ``work`` a second: the median over the bursts."""
    rates = []
    for _ in range(BURSTS):
        done, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < BURST_SECONDS:
            done += work()
        rates.append(done / elapsed)
    return statistics.median(rates)


def speed_range(runs: list[dict[str, Any]], key: str) -> tuple[float, float] | None:
    """The lowest and highest of a reference over the runs that recorded it."""
    values = [run["machine_speed"][key] for run in runs if "machine_speed" in run]
    return (min(values), max(values)) if values else None

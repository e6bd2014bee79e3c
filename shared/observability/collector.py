"""How long Python's garbage collector holds a service up: every collection is timed into
``bridgework_gc_pause_seconds`` (by generation), and a full one over ``LOGGED_PAUSE_SECONDS``
is logged. A service answers nothing while its collector runs, so a pause is latency for every
event in flight: the events matcher's full collections of 115-210 ms every half minute were
most of the sustained benchmark's slow seconds (docs/scaling.md, "Collector pauses")."""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

from shared.gc_tuning import FULL_COLLECTION
from shared.observability.metrics import GC_PAUSE_SECONDS

log = logging.getLogger(__name__)

LOGGED_PAUSE_SECONDS = 0.05
# Each generation's series looked up once: a young collection runs many times a second.
_PAUSES = {
    generation: GC_PAUSE_SECONDS.labels(generation=str(generation))
    for generation in range(FULL_COLLECTION + 1)
}


class _CollectionTimer:
    """A ``gc.callbacks`` entry. Collections run one at a time (under the GIL), so one start
    time is enough."""

    def __init__(self) -> None:
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        seconds = time.perf_counter() - self._started
        generation = info["generation"]
        _PAUSES[generation].observe(seconds)
        if generation == FULL_COLLECTION and seconds > LOGGED_PAUSE_SECONDS:
            log.info(
                "a full garbage collection held the process %.0f ms (%d objects freed, %d frozen)",
                seconds * 1000,
                info.get("collected", 0),
                gc.get_freeze_count(),
            )


time_collections = _CollectionTimer()


def time_collector_pauses() -> None:
    """Time every collection from now on. Idempotent; first among the callbacks, so that what
    the others do after a collection is not counted as its pause."""
    if time_collections not in gc.callbacks:
        gc.callbacks.insert(0, time_collections)

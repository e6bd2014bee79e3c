"""Short garbage-collector pauses for long-running services.

CPython's full (generation 2) collection walks every container object the process holds. A
service holds many that live for ever (imported modules, scikit-learn, pydantic schemas, its
caches), so each full collection paused the matcher for up to 248 ms while it had events to
answer (docs/scaling.md). Two standard moves shorten those pauses without turning the collector
off:

* ``gc.freeze()`` once start-up is done: what start-up built is never scanned again;
* after each full collection, the objects that survived it are frozen too, so the next full
  collection walks only what was created since.

Frozen objects are still freed by reference counting when nothing refers to them; only a
*cycle* of them that became garbage after being frozen would be kept. So every
``UNFREEZE_EVERY``-th full collection is preceded by an unfreeze: that one walks everything and
reclaims such cycles (one long pause every few minutes under load instead of several a second).
The benchmark's 10-minute soak checks that memory stays flat.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

FULL_COLLECTION = 2
UNFREEZE_EVERY = 50
_full_collections = 0


def _freeze_after_full_collection(phase: str, info: dict[str, Any]) -> None:
    global _full_collections
    if phase != "stop" or info.get("generation") != FULL_COLLECTION:
        return
    _full_collections += 1
    if _full_collections % UNFREEZE_EVERY == 0:
        gc.unfreeze()  # the next full collection walks everything, frozen cycles included
    else:
        gc.freeze()


def shorten_gc_pauses() -> None:
    """Freeze what exists now and the survivors of every later full collection. Idempotent."""
    gc.freeze()
    if _freeze_after_full_collection not in gc.callbacks:
        gc.callbacks.append(_freeze_after_full_collection)


class _CollectorPause:
    """Pauses Python's cyclic garbage collector while work that makes many objects, all alive
    until it ends, runs: nested, in threads, or both (a round's scoring in its thread while the
    consumer handles a batch). Collection resumes, if it was on, when the outermost pause ends;
    reference counting frees memory as usual meanwhile.

    Scoring makes many small objects (providers, keys, dictionaries) while the round's input
    holds many more, so the collector's full passes walk all of them and free next to nothing:
    what scoring makes lives until the round ends (docs/matching.md has the measurement). A
    batch of events is the same: every event decoded stays alive until its transaction ends,
    so the collections its allocations set off find nothing to free, and they move the batch's
    objects into older generations for the full passes to walk again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._was_enabled = False

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0 and self._was_enabled:
                    gc.enable()


collector_paused = _CollectorPause()

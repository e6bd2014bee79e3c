"""The services' garbage-collector setting: full collections walk only what is new, and every
so often everything, so that a cycle that died after being frozen is still reclaimed."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from shared import gc_tuning


@pytest.fixture
def tuned() -> Iterator[None]:
    gc_tuning.shorten_gc_pauses()
    yield
    gc.callbacks.remove(gc_tuning._freeze_after_full_collection)
    gc.unfreeze()


class Node:
    partner: Node


def cycles(count: int) -> list[Node]:
    nodes = []
    for _ in range(count):
        a, b = Node(), Node()
        a.partner, b.partner = b, a
        nodes.append(a)
    return nodes


@pytest.mark.usefixtures("tuned")
def test_survivors_of_a_full_collection_are_frozen_and_not_walked_again() -> None:
    gc_tuning.shorten_gc_pauses()  # twice: one callback all the same
    assert gc.callbacks.count(gc_tuning._freeze_after_full_collection) == 1
    kept = cycles(1000)
    before = gc.get_freeze_count()
    gc.collect()
    assert gc.get_freeze_count() >= before + 2 * len(kept)


@pytest.mark.usefixtures("tuned")
def test_every_so_often_a_full_collection_walks_everything_and_reclaims_frozen_cycles() -> None:
    kept = cycles(1000)
    gc.collect()  # frozen now
    del kept  # a dead cycle among the frozen objects: only an unfrozen collection frees it
    assert gc.collect() == 0
    freed = 0
    for _ in range(gc_tuning.UNFREEZE_EVERY + 1):  # one of them unfreezes, the next walks all
        freed += gc.collect()
    assert freed >= 2000

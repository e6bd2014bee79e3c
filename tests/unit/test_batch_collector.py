"""A batch is handled with Python's cyclic garbage collector paused (every event it decodes
lives until its transaction ends, so a collection would free nothing), and the collector is
back on afterwards, whether the batch was applied or failed (shared/consuming.py)."""

from __future__ import annotations

import gc
from collections.abc import Sequence
from typing import Any, cast

import pytest

from shared.consuming import BatchEventConsumer, Record


class Observing(BatchEventConsumer):
    def __init__(self, fails: bool) -> None:
        super().__init__("collector-test", cast(Any, None), cast(Any, None), cast(Any, None))
        self.fails = fails
        self.collecting: list[bool] = []

    async def _handle_batch(self, records: Sequence[Record]) -> None:
        self.collecting.append(gc.isenabled())
        if self.fails:
            raise ConnectionError("the database went away")


@pytest.mark.parametrize("fails", [False, True])
async def test_the_collector_is_paused_while_a_batch_is_handled(fails: bool) -> None:
    consumer = Observing(fails)
    assert gc.isenabled()
    if fails:
        with pytest.raises(ConnectionError):
            await consumer.handle_batch([])
    else:
        await consumer.handle_batch([])
    assert consumer.collecting == [False]
    assert gc.isenabled()

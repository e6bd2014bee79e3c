"""Every garbage collection is timed into a metric by generation, and a long full one logged."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from shared.observability import collector


@pytest.fixture
def timed() -> Iterator[None]:
    collector.time_collector_pauses()
    collector.time_collector_pauses()  # twice: one callback all the same
    yield
    gc.callbacks.remove(collector.time_collections)


def full_collections() -> float:
    value = REGISTRY.get_sample_value("bridgework_gc_pause_seconds_count", {"generation": "2"})
    return value or 0.0


@pytest.mark.usefixtures("timed")
def test_each_collection_is_timed_by_generation() -> None:
    assert gc.callbacks.count(collector.time_collections) == 1
    assert gc.callbacks[0] is collector.time_collections
    before = full_collections()
    gc.collect()
    gc.collect()
    assert full_collections() == before + 2


@pytest.mark.usefixtures("timed")
def test_a_long_full_collection_is_logged(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collector, "LOGGED_PAUSE_SECONDS", 0.0)
    with caplog.at_level(logging.INFO, logger=collector.__name__):
        gc.collect()
    assert "a full garbage collection held the process" in caplog.text
    caplog.clear()
    monkeypatch.setattr(collector, "LOGGED_PAUSE_SECONDS", 60.0)
    with caplog.at_level(logging.INFO, logger=collector.__name__):
        gc.collect()
    assert caplog.text == ""

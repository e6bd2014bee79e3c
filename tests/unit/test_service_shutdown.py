"""A service's shutdown never hangs on a background loop that will not stop (a test module's
teardown once waited for ever on one), and still ends the loops that do."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from shared import service
from shared.service import ServiceRuntime, ServiceSpec
from shared.settings import Settings


async def _stubborn(released: asyncio.Event) -> None:
    """A loop that swallows its cancellation, as a broad ``except`` around a query can."""
    while not released.is_set():
        with contextlib.suppress(asyncio.CancelledError):
            await released.wait()


async def _apply_nothing(_conn: object, _event: object) -> None:
    return None


async def _obedient() -> None:
    await asyncio.sleep(3600)


async def test_shutdown_goes_on_past_a_loop_that_will_not_stop(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(service, "STOP_SECONDS", 0.2)
    spec = ServiceSpec(
        name="matcher", migrations=Path("."), apply=_apply_nothing, background=lambda _p, _k: []
    )
    runtime = ServiceRuntime(spec, Settings())
    released = asyncio.Event()
    stubborn = asyncio.create_task(_stubborn(released))
    obedient = asyncio.create_task(_obedient())
    runtime._tasks = [stubborn, obedient]
    await asyncio.sleep(0)
    await asyncio.wait_for(runtime.stop_background(), timeout=5)
    assert obedient.cancelled()
    assert not stubborn.done()
    assert "did not stop" in caplog.text
    released.set()  # the test's own clean-up: let the stubborn loop end
    await asyncio.wait_for(stubborn, timeout=5)

"""The chaos run as tests: a short form in every `make test`, the full one in `make chaos`.

Both run the same workload calmly and under faults (see harness.py) and require: every effect
present exactly once, erased people gone everywhere and never emailed about afterwards, zero
duplicate and zero lost emails, no personal data in any log, and the same final proposals;
and, whatever poison is written to the topics and whatever names are sent, every poison message
parked by each of its consumers (none stalled) and every unsendable name refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.settings import Settings
from tests.chaos.harness import ChaosPlan, assert_guarantees_held, calm_and_chaos
from tests.support.services import require_service

pytestmark = pytest.mark.e2e


@pytest.fixture
def local_infra(base_settings: Settings) -> None:
    host, port = base_settings.kafka_bootstrap_servers.split(",")[0].rsplit(":", 1)
    require_service("Kafka", host, int(port))


@pytest.mark.timeout(600)
@pytest.mark.usefixtures("local_infra")
async def test_short_chaos_run(tmp_path: Path) -> None:
    plan = ChaosPlan(kills_per_service=1, smtp_outage_seconds=8)
    # Quiet longer than the longest fault: a Kafka restart stalled consumption for 21 s once,
    # and a round on a half-applied wave makes the final proposals differ from the calm run.
    comparison = await calm_and_chaos(700, plan, tmp_path, chaos_quiet_seconds=30)
    assert_guarantees_held(comparison)
    assert sum(comparison.chaos.faults.kills.values()) == 3


@pytest.mark.chaos
@pytest.mark.timeout(1500)
@pytest.mark.usefixtures("local_infra")
async def test_full_chaos_run(tmp_path: Path) -> None:
    comparison = await calm_and_chaos(5000, ChaosPlan(), tmp_path)
    assert_guarantees_held(comparison)
    faults = comparison.chaos.faults
    assert min(faults.kills.values()) >= 3
    assert faults.kafka_restarts == 1
    assert faults.postgres_restarts == 1
    assert faults.smtp_outage_seconds >= 30
    assert comparison.chaos.events >= 5000

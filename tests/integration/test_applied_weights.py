"""Learned weights from the coordinator's page to the matcher's scores (docs/outcomes.md),
through the real PostgreSQL and Kafka: an applied suggestion travels as
``network.weights_applied``, the matcher takes it from the broker, and its next round scores
with those weights (the proposal's explanation says so, and its score follows); a suggestion
that would break the 0.9 fairness floor is refused on the page, and nothing is stored or sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import asyncpg
import pytest
from fastapi import FastAPI

from devtools.demo_history import synthetic_examples
from services.matcher.bootstrap import apply_event
from services.matcher.engine import MatchingConfig, build_engine
from services.matcher.rounds import run_round
from services.profiles.outcomes.learner import COMPONENTS
from shared.events import MatchingWeightsApplied, MatchProposed, decode_event
from shared.settings import Settings
from shared.topics import Topic
from tests.support.history import seed_history
from tests.support.kafka import read_topic
from tests.support.matcher import seed
from tests.support.pages import Browsers

pytestmark = pytest.mark.integration

ENGINE = build_engine(MatchingConfig())
HIDDEN = {"skills": 0.40, "region": 0.10, "availability": 0.30, "preferences": 0.15, "text": 0.05}


@pytest.fixture
async def browsers(app: FastAPI) -> AsyncIterator[Browsers]:
    opened = Browsers(app)
    yield opened
    await opened.close()


async def only_proposal(pool: asyncpg.Pool, network: str) -> MatchProposed:
    [proposed] = await run_round(pool, ENGINE, network) or []
    return proposed


def weights_of(proposal: MatchProposed) -> dict[str, float]:
    return {p.name: p.weight for p in proposal.explanation.parts}


async def test_applied_weights_reach_the_matchers_next_round(
    settings: Settings,
    pool: asyncpg.Pool,
    matcher_pool: asyncpg.Pool,
    browsers: Browsers,
) -> None:
    # Two networks in the matcher with the same kind of mentor and mentee; the first one's
    # coordinators have a history decided by the hidden weights.
    async with matcher_pool.acquire() as conn:
        network, _, _ = await seed(conn)
        control, _, _ = await seed(conn)
    async with pool.acquire() as conn:
        coordinator = await seed_history(
            conn, network, synthetic_examples(HIDDEN, proposals=480, seed=18)
        )
    page = await browsers.signed_in(coordinator)
    evidence = await page.get(f"/dashboard/{network}/weights")
    assert "480" in evidence.text
    applied = await page.submit(f"/dashboard/{network}/weights/apply")
    assert applied.status_code == 303, applied.text
    stored = await pool.fetchrow(
        "SELECT version, weights, applied_by FROM matching_weights WHERE network_id = $1", network
    )
    assert (stored["version"], stored["applied_by"]) == (1, coordinator)
    assert stored["weights"]["availability"] > 0.2  # the hidden 0.30, far above today's 0.10

    # The matcher takes the event from the broker, as its consumer does.
    [record] = await read_topic(
        settings.kafka_bootstrap_servers, Topic.NETWORKS.value, lambda r: r.key == network.encode()
    )
    event = decode_event(record.value)
    assert isinstance(event, MatchingWeightsApplied)
    async with matcher_pool.acquire() as conn:
        await apply_event(conn, event)
        await apply_event(conn, event)  # delivered again: still version 1, no change

    weighted, unweighted = (
        await only_proposal(matcher_pool, network),
        await only_proposal(matcher_pool, control),
    )
    applied_weights = event.weights.model_dump()
    for component in COMPONENTS:
        assert weights_of(weighted)[component] == pytest.approx(
            applied_weights[component], abs=1e-6
        )
    assert weights_of(unweighted) != weights_of(weighted)
    # The same pair's parts, scored with the applied weights instead of the configured ones.
    values = {p.name: p.value for p in weighted.explanation.parts}
    assert values == {p.name: p.value for p in unweighted.explanation.parts}
    expected = sum(applied_weights[c] * values[c] for c in COMPONENTS)
    assert weighted.score == pytest.approx(expected, abs=1e-6)
    assert weighted.score != pytest.approx(unweighted.score, abs=1e-3)
    for part in weighted.explanation.parts:
        assert part.contribution == pytest.approx(part.weight * part.value, abs=1e-6)


async def test_a_suggestion_below_the_fairness_floor_is_refused_and_nothing_changes(
    pool: asyncpg.Pool, browsers: Browsers
) -> None:
    """Coordinators approved on region alone, and part-time mentees all live far away."""
    network = f"fair-{uuid4().hex[:6]}"
    biased = {"skills": 0.05, "region": 0.9, "availability": 0.05, "preferences": 0, "text": 0}
    examples = synthetic_examples(biased, proposals=600, seed=3, far_group="part_time")
    async with pool.acquire() as conn:
        coordinator = await seed_history(conn, network, examples)
    page = await browsers.signed_in(coordinator)
    shown = await page.get(f"/dashboard/{network}/weights")
    assert "below 0.9 times the overall rate" in shown.text
    refused = await page.submit(f"/dashboard/{network}/weights/apply")
    assert refused.status_code == 409
    assert "part time group&#39;s match rate would fall" in refused.text
    assert (
        await pool.fetchval("SELECT count(*) FROM matching_weights WHERE network_id = $1", network)
        == 0
    )
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE subject = $1"
            " AND action = 'network.weights_applied'",
            network,
        )
        == 0
    )
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE message_key = $1", network) == 0

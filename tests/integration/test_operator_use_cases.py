"""The use cases the CLI and the demo call, where the CLI tests do not reach them: an uncertain
email recorded as delivered, a round's outcome awaited, fairness read back, and an export of a
network that does not exist."""

from __future__ import annotations

from uuid import uuid4

import asyncpg
import pytest

from services.matcher import use_cases as matcher
from services.matcher.bootstrap import apply_event
from services.notifier import use_cases as notifier
from services.profiles.directory import export
from services.profiles.directory.errors import NotFound
from shared.settings import Settings
from tests.support.matcher import network_upserted

pytestmark = pytest.mark.integration

FAIRNESS = {
    "kind": "mentoring",
    "overall": {"label": "all", "mentees": 2, "matched": 1, "match_rate": 0.5, "mean_score": 0.8},
    "comparisons": [],
}


async def test_an_uncertain_email_recorded_as_delivered_is_sent_and_left_alone_after(
    settings: Settings, notifier_pool: asyncpg.Pool
) -> None:
    async with notifier_pool.acquire() as conn:
        email_id = await conn.fetchval(
            "INSERT INTO emails (dedupe_key, purpose, recipient_name, recipient_email, status,"
            " sending_since) VALUES ($1, 'proposal', 'U', 'u@example.org', 'uncertain',"
            " now() - interval '1 hour') RETURNING id",
            f"uc:{uuid4().hex}",
        )
        listed = [e.id for e in await notifier.uncertain_emails(conn, settings)]
        assert email_id in listed
        assert await notifier.mark_delivered(conn, [email_id, -1]) == [email_id]
        row = await conn.fetchrow(
            "SELECT status, sent_at, sending_since FROM emails WHERE id = $1", email_id
        )
        assert row["status"] == "sent"
        assert row["sent_at"] == row["sending_since"]  # when it went out, not now
        assert await notifier.resend(conn, [email_id]) == []  # sent: nothing to re-queue
        assert await notifier.mark_delivered(conn, [email_id]) == []


async def test_a_requested_round_is_awaited_until_the_matcher_records_it(
    matcher_pool: asyncpg.Pool,
) -> None:
    network = f"uc-{uuid4().hex[:6]}"
    async with matcher_pool.acquire() as conn:
        with pytest.raises(matcher.UnknownNetwork):
            await matcher.request_round(conn, network)
        await apply_event(conn, network_upserted(network))  # now the matcher knows it
        before = await matcher.request_round(conn, network)
        assert before == 0
        assert await matcher.wait_for_round(conn, network, before, timeout=0.3) is None
        await conn.execute(
            "INSERT INTO rounds (network_id, mentors, mentees, placements, new_proposals,"
            " kept_proposals, replaced_proposals, seconds, fairness)"
            " VALUES ($1, 1, 2, 0, 1, 0, 0, 0.25, $2)",
            network,
            FAIRNESS,
        )
        outcome = await matcher.wait_for_round(conn, network, before, timeout=5)
        assert outcome == matcher.RoundOutcome(
            new_proposals=1, kept_proposals=0, replaced_proposals=0, seconds=0.25
        )
        assert (await matcher.latest_fairness(conn))[network].overall.match_rate == 0.5
        assert (await matcher.export_network(conn, network))["rounds"][0]["new_proposals"] == 1


async def test_exporting_a_network_that_does_not_exist_is_refused(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(NotFound):
            await export.export_network(conn, f"none-{uuid4().hex[:6]}")

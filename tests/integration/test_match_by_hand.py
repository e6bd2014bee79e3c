"""A coordinator matches a mentee by hand (issue 16, item 3), through the profiles app over HTTP
on the real database: the score and its explanation before confirming, a broken hard rule
refused in plain words with nothing stored, and a confirmed match stored as the coordinator's,
marked by hand, audited and put in the outbox as an approved decision carrying the pair. (That
the event goes out like any approval, to the matcher and the introductions, is
tests/e2e/test_front_doors.py's, in the browser.)"""

from __future__ import annotations

from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from shared.events import MatchDecided
from tests.support.pages import Browser, Browsers, SeededNetwork, seed_network

pytestmark = pytest.mark.integration


@pytest.fixture
async def network(app: FastAPI, pool: asyncpg.Pool) -> SeededNetwork:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://profiles"
    ) as client:
        return await seed_network(client, pool)


async def add_mentor(browser: Browser, network: SeededNetwork, trust_code: str) -> UUID:
    """A second mentor, through the coordinator's form."""
    tag = uuid4().hex[:6]
    form = {
        "role": "mentor",
        "name": f"Sam Sametrust {tag}",
        "email": f"sam.{tag}@example.org",
        "job_title": "CNIO",
        "trust_code": trust_code,
        "skills": "clinical-engagement:7",
        "capacity": "2",
        "hours_per_month": "4",
    }
    added = await browser.submit(f"/dashboard/{network.network_id}/people-new", form)
    assert added.status_code == 303, added.text
    return UUID(added.headers["location"].rsplit("/", 1)[1])


async def by_hand_rows(pool: asyncpg.Pool, mentee_id: UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await pool.fetch(
        "SELECT match_id, provider_id, status, by_hand, decided_by, reason, score"
        " FROM proposals WHERE mentee_id = $1",
        mentee_id,
    )
    return rows


async def test_a_coordinator_sees_the_score_then_confirms_a_match_by_hand(
    browsers: Browsers, network: SeededNetwork, pool: asyncpg.Pool
) -> None:
    browser = await browsers.signed_in(network.coordinator_email)
    people = f"/dashboard/{network.network_id}/people"
    mentee_page = await browser.get(f"{people}/{network.mentee_id}")
    assert 'id="by-hand-heading"' in mentee_page.text
    assert f'<option value="{network.mentor_id}">Morag Mentor' in mentee_page.text

    match_url = f"{people}/{network.mentee_id}/match"
    checked = await browser.get(f"{match_url}?mentor={network.mentor_id}")
    assert checked.status_code == 200
    assert "Clinical engagement: from level 2 to 5" in checked.text
    assert "how it adds up" in checked.text
    assert "are each emailed an introduction" in checked.text
    assert await by_hand_rows(pool, network.mentee_id) == []  # checking changes nothing

    confirmed = await browser.submit(
        match_url, {"mentor": str(network.mentor_id), "note": "They met at the conference"}
    )
    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == f"{people}/{network.mentee_id}"
    [row] = await by_hand_rows(pool, network.mentee_id)
    assert (row["provider_id"], row["status"], row["by_hand"]) == (
        network.mentor_id,
        "approved",
        True,
    )
    assert (row["decided_by"], row["reason"]) == (
        network.coordinator_email,
        "They met at the conference",
    )
    audit = await pool.fetchrow(
        "SELECT actor, reason FROM audit_log WHERE action = 'match.approved_by_hand'"
        " AND subject = $1",
        str(row["match_id"]),
    )
    assert audit is not None
    assert audit["actor"] == network.coordinator_email
    payload = await pool.fetchval(
        "SELECT payload FROM outbox WHERE message_key = $1", str(row["match_id"])
    )
    decided = MatchDecided.model_validate(payload)
    assert decided.approved
    assert decided.decided_by == network.coordinator_email
    assert decided.by_hand is not None
    assert (decided.by_hand.provider_id, decided.by_hand.mentee_id) == (
        network.mentor_id,
        network.mentee_id,
    )
    assert decided.by_hand.score == pytest.approx(row["score"])

    after = await browser.get(f"{people}/{network.mentee_id}")
    assert "approved (matched by hand)" in after.text
    assert f'href="/dashboard/{network.network_id}/matches/{row["match_id"]}"' in after.text
    match_page = await browser.get(f"/dashboard/{network.network_id}/matches/{row['match_id']}")
    assert match_page.status_code == 200, match_page.text
    assert "End this match" in match_page.text
    # Matched, the mentee seeks no second mentor: another is refused, and says why.
    other = await add_mentor(browser, network, network.trust_codes[0])
    again = await browser.get(f"{match_url}?mentor={other}")
    assert "already has a mentor" in again.text
    assert "Match Sam Sametrust" not in again.text  # no button to confirm


async def test_a_broken_hard_rule_is_refused_in_plain_words_and_nothing_is_stored(
    browsers: Browsers, network: SeededNetwork, pool: asyncpg.Pool, app: FastAPI
) -> None:
    browser = await browsers.signed_in(network.coordinator_email)
    same_trust = await add_mentor(browser, network, network.trust_codes[1])
    match_url = f"/dashboard/{network.network_id}/people/{network.mentee_id}/match"
    checked = await browser.get(f"{match_url}?mentor={same_trust}")
    assert "They cannot be matched." in checked.text
    assert "work in the same trust" in checked.text
    refused = await browser.submit(match_url, {"mentor": str(same_trust)})
    assert refused.status_code == 422
    assert "work in the same trust" in refused.text
    assert await by_hand_rows(pool, network.mentee_id) == []
    assert not await pool.fetchval(
        "SELECT EXISTS (SELECT 1 FROM audit_log WHERE action = 'match.approved_by_hand'"
        " AND details->>'mentee_id' = $1)",
        str(network.mentee_id),
    )

    # Someone of another network is no choice at all; nor is a mentor as the mentee.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://profiles"
    ) as client:
        elsewhere = await seed_network(client, pool)
    assert (await browser.get(f"{match_url}?mentor={elsewhere.mentor_id}")).status_code == 404
    mentor_as_mentee = f"/dashboard/{network.network_id}/people/{network.mentor_id}/match"
    assert (await browser.get(mentor_as_mentee)).status_code == 404

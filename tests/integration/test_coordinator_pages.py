"""The coordinators' pages as a new user meets them: the import page explains its columns and
offers templates, a dry run says what it would do, and the proposals page pages, sorts and
searches hundreds of proposals (through the profiles app, over HTTP, on the real database)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.profiles.bootstrap import apply_event
from services.profiles.coordination.decisions import decide
from shared.events import MatchProposed, MatchWithdrawn
from shared.matching import REPLACED_BY_A_BETTER_MATCH
from tests.support.factories import covered, match_proposed
from tests.support.pages import Browsers, SeededNetwork, seed_network

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def network(app: FastAPI, pool: asyncpg.Pool) -> SeededNetwork:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://profiles"
    ) as client:
        return await seed_network(client, pool)


async def test_the_import_page_lists_its_columns_and_its_template_imports(
    browsers: Browsers, network: SeededNetwork, pool: asyncpg.Pool
) -> None:
    browser = await browsers.signed_in(network.coordinator_email)
    page = await browser.get(f"/dashboard/{network.network_id}/imports")
    for column in ("trust_code", "hours_per_month", "gaps", "skills_developed", "ods_code"):
        assert f"<code>{column}</code>" in page.text
    template_url = f"/dashboard/{network.network_id}/imports/template/people.csv"
    assert template_url in page.text
    template = await browser.get(template_url)
    assert template.headers["content-type"].startswith("text/csv")
    assert template.content.startswith(b"\xef\xbb\xbfrole,name,email,job_title,trust_code")
    missing = await browser.get(f"/dashboard/{network.network_id}/imports/template/trusts.csv")
    assert missing.status_code == 404

    # Filled in with one of the network's trusts, the template's rows import; checked first.
    tag = uuid4().hex[:6]
    filled = template.text.replace("YOURTRUST", network.trust_codes[0]).replace("@", f".{tag}@")
    files = {"file": ("people.csv", filled.encode(), "text/csv")}
    url = f"/dashboard/{network.network_id}/imports"
    checked = await browser.submit(url, {"kind": "people", "dry_run": "on"}, files=files)
    assert checked.status_code == 200
    assert checked.text.count("would create") == 2
    assert ">created<" not in checked.text
    imported = await browser.submit(url, {"kind": "people"}, files=files)
    assert imported.text.count(">created<") == 2
    stored = await pool.fetchval("SELECT count(*) FROM people WHERE email LIKE $1", f"%.{tag}@%")
    assert stored == 2


@pytest.fixture
async def fresh_network(app: FastAPI, pool: asyncpg.Pool) -> SeededNetwork:
    """A network of its own for each test, so its counts are the test's alone."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://profiles"
    ) as client:
        return await seed_network(client, pool, mentee_name="Tariq Mentee")


async def propose_many(
    pool: asyncpg.Pool, network: SeededNetwork, scores: Sequence[float]
) -> list[MatchProposed]:
    """Proposals in the read model as its consumer stores them, one a minute apart (oldest
    first), between the network's mentor and mentee."""
    start = datetime.now(UTC) - timedelta(days=3)
    events = [
        match_proposed(
            network_id=network.network_id,
            provider_id=network.mentor_id,
            mentee_id=network.mentee_id,
            score=score,
            skills=(covered("clinical-engagement", "Clinical engagement", 2, 5, 7),),
        ).model_copy(update={"occurred_at": start + timedelta(minutes=i)})
        for i, score in enumerate(scores)
    ]
    async with pool.acquire() as conn, conn.transaction():
        for event in events:
            await apply_event(conn, event)
    return events


def cards(html: str) -> list[str]:
    """The match ids of the proposal cards, in page order."""
    return re.findall(r'<li class="card proposal" id="match-([0-9a-f-]+)"', html)


async def test_hundreds_of_proposals_are_paged_sorted_searched_and_counted(
    browsers: Browsers, fresh_network: SeededNetwork, pool: asyncpg.Pool
) -> None:
    scores = [round(0.3 + (i * 37 % 60) / 100, 2) for i in range(60)]
    events = await propose_many(pool, fresh_network, scores)
    browser = await browsers.signed_in(fresh_network.coordinator_email)
    base = f"/dashboard/{fresh_network.network_id}/proposals"

    first = await browser.get(base)
    assert "60 pending proposals; showing 1–25." in first.text
    assert cards(first.text) == [str(e.match_id) for e in events[:25]]  # waiting longest first
    assert "Page 1 of 3" in first.text
    assert 'rel="next"' in first.text
    last = await browser.get(f"{base}?page=3")
    assert cards(last.text) == [str(e.match_id) for e in events[50:]]
    assert 'rel="prev"' in last.text
    assert 'rel="next"' not in last.text

    by_score = await browser.get(f"{base}?sort=score")
    best = sorted(events, key=lambda e: (-e.score, e.occurred_at))
    assert cards(by_score.text)[:5] == [str(e.match_id) for e in best[:5]]
    # The next page keeps the order and the filters.
    assert "sort=score&amp;page=2" in by_score.text

    found = await browser.get(f"{base}?search=tariq&kind=mentoring")
    assert "60 of 60 pending proposals match these filters" in found.text
    for search in ("nobody-called-this", "%", "_"):
        response = await browser.get(base, params={"search": search})
        assert "0 of 60 pending proposals match these filters" in response.text, search
        assert cards(response.text) == []
    # Each card says what is left uncovered and who will be emailed.
    assert "If you approve:" in first.text
    assert "Nobody is emailed" in first.text


async def test_withdrawn_and_replaced_proposals_are_shown_since_the_last_look(
    browsers: Browsers, fresh_network: SeededNetwork, pool: asyncpg.Pool
) -> None:
    replaced, withdrawn, kept = await propose_many(pool, fresh_network, [0.5, 0.6, 0.7])
    browser = await browsers.signed_in(fresh_network.coordinator_email)
    base = f"/dashboard/{fresh_network.network_id}/proposals"
    first = await browser.get(base)
    assert "Since you last looked" not in first.text
    async with pool.acquire() as conn, conn.transaction():
        for event, reason in (
            (replaced, REPLACED_BY_A_BETTER_MATCH),
            (withdrawn, "the mentee withdrew"),
        ):
            await apply_event(
                conn,
                MatchWithdrawn(
                    entity_key=str(event.match_id),
                    match_id=event.match_id,
                    network_id=event.network_id,
                    reason=reason,
                ),
            )
    again = await browser.get(base)
    assert "Since you last looked" in again.text
    assert "Replaced:</strong> Morag Mentor" in again.text
    assert "the matcher found a better match" in again.text
    assert "Withdrawn:</strong> Morag Mentor" in again.text
    assert "the mentee withdrew" in again.text
    assert cards(again.text) == [str(kept.match_id)]


async def test_approving_the_selected_proposals_is_confirmed_first(
    browsers: Browsers, fresh_network: SeededNetwork, pool: asyncpg.Pool
) -> None:
    first, second = await propose_many(pool, fresh_network, [0.5, 0.6])
    browser = await browsers.signed_in(fresh_network.coordinator_email)
    base = f"/dashboard/{fresh_network.network_id}/proposals"
    review = await browser.get(
        f"{base}/approve-selected", params={"match_id": [str(first.match_id)]}
    )
    assert review.status_code == 200
    assert "Approve 1 proposal?" in review.text
    assert "are each emailed an introduction" in review.text
    assert str(second.match_id) not in review.text
    # Looking at the confirmation changed nothing.
    status = "SELECT status FROM proposals WHERE match_id = $1"
    assert await pool.fetchval(status, first.match_id) == "pending"
    confirmed = await browser.submit(f"{base}/bulk-approve", {"match_id": [str(first.match_id)]})
    assert confirmed.status_code == 303
    assert await pool.fetchval(status, first.match_id) == "approved"
    assert await pool.fetchval(status, second.match_id) == "pending"
    nothing = await browser.get(f"{base}/approve-selected")
    assert nothing.status_code == 400


async def test_a_person_page_shows_the_profile_each_gap_and_every_proposal(
    browsers: Browsers, fresh_network: SeededNetwork, network: SeededNetwork, pool: asyncpg.Pool
) -> None:
    approved, _pending = await propose_many(pool, fresh_network, [0.5, 0.6])
    async with pool.acquire() as conn:
        await decide(
            conn,
            network_id=fresh_network.network_id,
            match_ids=[approved.match_id],
            approved=True,
            reason="",
            decided_by=fresh_network.coordinator_email,
        )
    browser = await browsers.signed_in(fresh_network.coordinator_email)
    base = f"/dashboard/{fresh_network.network_id}/people"
    mentee = await browser.get(f"{base}/{fresh_network.mentee_id}")
    assert mentee.status_code == 200
    assert "<h1>Tariq Mentee</h1>" in mentee.text
    assert "Clinical engagement</td>" in mentee.text
    assert "covered: Morag Mentor" in mentee.text
    assert "(approved)" in mentee.text
    assert f"approved by {fresh_network.coordinator_email}" in mentee.text
    assert mentee.text.count('class="status pending"') == 1
    mentor = await browser.get(f"{base}/{fresh_network.mentor_id}")
    assert "Clinical engagement (level 7)" in mentor.text
    assert mentor.text.count("Tariq Mentee</td>") == 2  # both proposals, from their side
    # The proposals page leads to both people; another network's person is not found.
    proposals = await browser.get(f"/dashboard/{fresh_network.network_id}/proposals")
    assert f'href="{base}/{fresh_network.mentee_id}"' in proposals.text
    assert f'href="{base}/{fresh_network.mentor_id}"' in proposals.text
    elsewhere = await browser.get(f"{base}/{network.mentee_id}")
    assert elsewhere.status_code == 404


async def test_a_coordinator_adds_and_edits_a_person_through_the_form(
    browsers: Browsers, fresh_network: SeededNetwork, network: SeededNetwork, pool: asyncpg.Pool
) -> None:
    browser = await browsers.signed_in(fresh_network.coordinator_email)
    base = f"/dashboard/{fresh_network.network_id}"
    tag = uuid4().hex[:6]
    form = {
        "role": "mentee",
        "name": "Nia Newcomer",
        "email": f"nia.{tag}@example.org",
        "job_title": "Informatics Lead",
        "trust_code": fresh_network.trust_codes[1],
        "mode": "remote",
        "working_pattern": "part_time",
        "sector": "social_care",
        "gaps": "clinical-engagement:2-5; procurement:1-4:2",
        "goals": "Lead a records project",
    }
    page = await browser.get(f"{base}/people-new?role=mentee")
    assert "Add a mentee" in page.text
    # Refused with reasons a coordinator can act on, and nothing stored.
    for change, reason in (
        ({"gaps": "procurement:4-2"}, "must be above current"),
        ({"name": "<b>Nia</b>"}, "HTML is not accepted in names"),
        ({"trust_code": network.trust_codes[0]}, "choose one of your network"),
    ):
        refused = await browser.submit(f"{base}/people-new", form | change)
        assert refused.status_code == 422, change
        assert reason in refused.text, refused.text
    stored = "SELECT id, details FROM people WHERE email = $1"
    assert await pool.fetchrow(stored, form["email"]) is None

    added = await browser.submit(f"{base}/people-new", form)
    assert added.status_code == 303
    row = await pool.fetchrow(stored, form["email"])
    assert added.headers["location"] == f"{base}/people/{row['id']}"
    assert (row["details"]["working_pattern"], row["details"]["sector"]) == (
        "part_time",
        "social_care",
    )
    published = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE message_key = $1", str(row["id"])
    )
    assert published == 1

    edit = await browser.get(f"{base}/people/{row['id']}/edit")
    assert 'value="clinical-engagement:2-5:1; procurement:1-4:2"' in edit.text
    saved = await browser.submit(
        f"{base}/people/{row['id']}/edit", form | {"gaps": "information-strategy:3-6"}
    )
    assert saved.status_code == 303
    details = (await pool.fetchrow(stored, form["email"]))["details"]
    assert [g["skill"] for g in details["gaps"]] == ["information-strategy"]
    audit = await pool.fetchval(
        "SELECT array_agg(action ORDER BY id) FROM audit_log WHERE subject = $1", str(row["id"])
    )
    assert audit == ["person.added", "person.edited"]

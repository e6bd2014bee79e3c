"""A participant's own page against the real database: where they stand (waiting, a match being
considered without names, introduced with names), withdrawn told apart from paused on their
page and the coordinators', and the pages' HTML error pages and post-redirect-get."""

from __future__ import annotations

import re
from uuid import UUID

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.profiles.bootstrap import apply_event
from services.profiles.coordination.decisions import decide
from shared.links import sign_self_service_link
from shared.settings import Settings
from tests.support.factories import covered, match_proposed
from tests.support.pages import Browser, Browsers, SeededNetwork, seed_network

pytestmark = pytest.mark.integration
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}  # what a browser sends


@pytest.fixture
async def network(app: FastAPI, pool: asyncpg.Pool) -> SeededNetwork:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://profiles"
    ) as client:
        return await seed_network(client, pool)


def own_link(settings: Settings, person_id: UUID) -> str:
    return (
        f"/me/{sign_self_service_link(settings.secret_key.get_secret_value(), person_id=person_id)}"
    )


async def act(browser: Browser, link: str, action: str) -> httpx.Response:
    """Press one of the page's buttons, as the page's form does; then follow the redirect."""
    page = await browser.get(link)
    [csrf] = set(re.findall(r'name="csrf" value="([^"]+)"', page.text))
    response = await browser.post(f"{link}/{action}", data={"csrf": csrf})
    assert (response.status_code, response.headers["location"]) == (
        303,
        f"{link}?done={action}",
    )
    return await browser.get(response.headers["location"])


def standing(page: httpx.Response) -> str:
    found = re.search(r'<p class="box" id="standing">(.*?)</p>', page.text, re.S)
    assert found is not None, page.text
    return " ".join(found.group(1).split())


async def test_a_participant_sees_waiting_then_considered_without_names_then_introduced(
    browsers: Browsers, network: SeededNetwork, pool: asyncpg.Pool, settings: Settings
) -> None:
    browser = browsers.new()
    mentee_page, mentor_page = (
        own_link(settings, network.mentee_id),
        own_link(settings, network.mentor_id),
    )
    assert standing(await browser.get(mentee_page)).startswith("You are waiting for a match")

    proposal = match_proposed(
        network_id=network.network_id,
        provider_id=network.mentor_id,
        mentee_id=network.mentee_id,
        skills=(covered("clinical-engagement", "Clinical engagement", 2, 5, 7),),
    )
    async with pool.acquire() as conn, conn.transaction():
        await apply_event(conn, proposal)
    for link in (mentee_page, mentor_page):
        page = await browser.get(link)
        assert standing(page).startswith("A match for you is being considered")
        assert "Morag Mentor" not in standing(page)
        assert "Tariq" not in standing(page)

    async with pool.acquire() as conn:
        await decide(
            conn,
            network_id=network.network_id,
            match_ids=[proposal.match_id],
            approved=True,
            reason="",
            decided_by=network.coordinator_email,
        )
    assert "introduced to <strong>Morag Mentor" in standing(await browser.get(mentee_page))
    assert "introduced to <strong>Tariq Mentee" in standing(await browser.get(mentor_page))


async def test_a_withdrawn_mentor_is_shown_withdrawn_and_a_withdrawn_mentee_is_not_waiting(
    browsers: Browsers, network: SeededNetwork, settings: Settings
) -> None:
    participant = browsers.new()
    mentor_page = own_link(settings, network.mentor_id)
    paused = await act(participant, mentor_page, "pause")
    assert "You are currently <strong>paused</strong>" in paused.text
    withdrawn = await act(participant, mentor_page, "withdraw")  # a paused mentor may withdraw
    assert "You have <strong>withdrawn</strong>" in withdrawn.text
    assert "/pause" not in withdrawn.text
    assert "Take part again" in withdrawn.text

    coordinator = await browsers.signed_in(network.coordinator_email)
    state = await coordinator.get(f"/dashboard/{network.network_id}/network")
    assert re.search(r"Morag Mentor \w+(</a>)? <span class=\"tag\">withdrawn</span>", state.text)
    assert "Tariq Mentee" in state.text  # waiting

    mentee_page = own_link(settings, network.mentee_id)
    await act(participant, mentee_page, "withdraw")
    state = await coordinator.get(f"/dashboard/{network.network_id}/network")
    assert "Tariq Mentee" not in state.text

    back = await act(participant, mentor_page, "resume")
    assert "You take part again" in back.text
    assert "You are currently <strong>taking part</strong>" in back.text
    state = await coordinator.get(f"/dashboard/{network.network_id}/network")
    assert not re.search(r"Morag Mentor \w+(</a>)? <span class=\"tag\">", state.text)


async def test_pages_answer_errors_with_pages_and_the_api_keeps_json(
    browsers: Browsers, network: SeededNetwork, settings: Settings
) -> None:
    browser = browsers.new()
    missing = await browser.get("/no/such/page", headers=HTML)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "Page not found" in missing.text
    wrong_method = await browser.client.put("/me", headers=HTML)
    assert wrong_method.status_code == 405
    assert "This address takes a form" in wrong_method.text
    unreadable = await browser.get("/links/decided/perhaps", headers=HTML)
    assert unreadable.status_code == 422
    assert "This request cannot be read" in unreadable.text

    # A form's address opened again leads to the form's page.
    link = own_link(settings, network.mentor_id)
    again = await browser.get(f"{link}/pause", headers=HTML)
    assert (again.status_code, again.headers["location"]) == (303, link)
    remove = await browser.get("/admin/coordinators/remove", headers=HTML)
    assert (remove.status_code, remove.headers["location"]) == (303, "/admin")

    # The JSON API keeps JSON, whatever the client accepts.
    for response in (
        await browser.get("/no/such/page"),
        await browser.get("/people/not-a-uuid", headers=HTML),
        await browser.client.put("/networks", headers=HTML),
    ):
        assert response.headers["content-type"] == "application/json", response.text
        assert "detail" in response.json()

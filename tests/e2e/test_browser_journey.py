"""End to end in a real headless Chromium: the three services run as processes; a coordinator
signs in, sees the matcher's proposal with its reasons, approves it, the decision reaches Kafka
as match.decided, and the introduction email (with its invitation) arrives at the SMTP server.
Skips locally without /usr/bin/chromium (`make browser`); fails under CI=true."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from playwright.async_api import async_playwright, expect

from devtools.browser import launch_chromium
from devtools.stack import StackConfig
from services.profiles.accounts.accounts import NewAccount, create_account
from services.profiles.accounts.permissions import AccountRole
from shared.db import create_pool
from shared.events import MatchDecided, decode_event
from shared.topics import Topic
from tests.support.kafka import read_topic
from tests.support.mail import wait_for_message
from tests.support.stack import e2e_stack, require_chromium

pytestmark = pytest.mark.e2e
PASSWORD = "a long demo password"


@pytest.fixture(scope="module")
def stack(
    database_url: str, kafka: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[StackConfig, Path]]:
    require_chromium()
    with e2e_stack(database_url, kafka, tmp_path_factory.mktemp("browser")) as running:
        yield running


def load_pair(config: StackConfig, tag: str, coordinator: str) -> None:
    """A network, two trusts, a mentor and a mentee (a name that needs escaping), over HTTP."""
    with httpx.Client(base_url=config.base_url, headers=config.api_headers, timeout=10) as http:
        network = {
            "name": "Browser Network",
            "coordinators": [{"name": "Bea", "email": coordinator}],
        }
        assert http.put(f"/networks/br-{tag}", json=network).status_code == 204
        for code, region in ((f"A{tag}", "North West"), (f"B{tag}", "Midlands")):
            trust = {"name": f"Trust {code}", "region": region, "network_id": f"br-{tag}"}
            assert http.put(f"/trusts/{code}", json=trust).status_code == 204
        mentor = http.post(
            "/mentors",
            json={
                "name": f"Morag Mentor {tag}",
                "email": f"morag.{tag}@example.org",
                "job_title": "CCIO",
                "trust_code": f"A{tag}",
                "skills": [{"skill": "clinical-engagement", "level": 7}],
                "capacity": 1,
                "hours_per_month": 4,
            },
        )
        mentee = http.post(
            "/mentees",
            json={
                "name": f"Tariq O'Neil & Mentee {tag}",
                "email": f"tariq.{tag}@example.org",
                "job_title": "Digital Nurse",
                "trust_code": f"B{tag}",
                "gaps": [{"skill": "clinical-engagement", "current": 2, "target": 5}],
            },
        )
        assert (mentor.status_code, mentee.status_code) == (201, 201)


async def coordinator_account(database_url: str, network_id: str, email: str) -> UUID:
    """Creates the sign-in account, then waits for the proposal to reach the read model."""
    pool = await create_pool(database_url, "profiles", min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            new = NewAccount(
                email=email,
                name="Bea Coordinator",
                role=AccountRole.COORDINATOR,
                network_id=network_id,
                password=PASSWORD,
            )
            await create_account(conn, new, actor="test")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                match_id: UUID | None = await conn.fetchval(
                    "SELECT match_id FROM proposals WHERE network_id = $1", network_id
                )
                if match_id is not None:
                    return match_id
                await asyncio.sleep(0.3)
    finally:
        await pool.close()
    raise AssertionError("no proposal reached the coordinators' read model within 60s")


async def test_a_coordinator_signs_in_approves_in_the_browser_and_kafka_hears_it(
    stack: tuple[StackConfig, Path], kafka: str
) -> None:
    config, maildir = stack
    tag = uuid4().hex[:6]
    network_id, coordinator = f"br-{tag}", f"bea.{tag}@network.example"
    load_pair(config, tag, coordinator)
    match_id = await coordinator_account(config.database_url, network_id, coordinator)

    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844})  # a phone
            await page.goto(f"{config.base_url}/")
            await expect(page).to_have_url(f"{config.base_url}/sign-in")
            await page.get_by_label("Email").fill(coordinator)
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page).to_have_url(f"{config.base_url}/dashboard/{network_id}/proposals")
            card = page.locator(f"#match-{match_id}")
            await expect(card).to_contain_text(f"Tariq O'Neil & Mentee {tag}")
            await expect(card).to_contain_text("Clinical engagement: from level 2 to 5")
            await expect(card).to_contain_text("Region: neighbouring regions")
            await card.get_by_role("button", name="Approve").click()
            await expect(page.locator(".flash")).to_contain_text("Approved 1 proposal")
            await expect(page.locator(f"#match-{match_id}")).to_have_count(0)
        finally:
            await browser.close()

    [record] = await read_topic(
        kafka, Topic.DECISIONS.value, lambda r: r.key == str(match_id).encode()
    )
    decided = decode_event(record.value)
    assert isinstance(decided, MatchDecided)
    assert (decided.approved, decided.decided_by, decided.network_id) == (
        True,
        coordinator,
        network_id,
    )
    status = await _status(config.database_url, match_id)
    assert status == "approved"

    introduction = await wait_for_message(maildir, f"tariq.{tag}@example.org", "Introducing")
    assert f"Morag Mentor {tag}" in str(introduction["Subject"])
    invitations = [
        part for part in introduction.walk() if part.get_content_type() == "text/calendar"
    ]
    assert len(invitations) == 1


async def _status(database_url: str, match_id: UUID) -> str:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "profiles"})
    try:
        status: str = await conn.fetchval(
            "SELECT status FROM proposals WHERE match_id = $1", match_id
        )
        return status
    finally:
        await conn.close()

"""The coordinators' pages in Debian's Chromium, as a new coordinator uses them, on the three
services run as processes: 2,000 proposals are paged and still fit a phone, the daily digest
arrives once and not per proposal, and every page passes axe-core with no serious or critical
violation. Skips locally without Chromium (`make browser`) or axe-core (`make axe`); fails
under CI=true."""

from __future__ import annotations

import asyncio
import dataclasses
import email
import email.policy
import os
import re
import time
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest
from playwright.async_api import Page, async_playwright, expect

from devtools.browser import chromium_present, launch_chromium
from devtools.stack import StackConfig, running_stack
from services.profiles.accounts.accounts import NewAccount, create_account
from services.profiles.accounts.permissions import AccountRole
from shared.db import create_pool
from tests.support.accessibility import require_axe, serious_violations
from tests.support.browser import PHONE, fits
from tests.support.browser import sign_in as browser_sign_in
from tests.support.crowded_network import seed_crowded_network
from tests.support.stack import e2e_config

pytestmark = pytest.mark.e2e
PASSWORD = "a long coordinator password"


def require(present: bool, message: str) -> None:
    if present:
        return
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def stack(
    database_url: str, kafka: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[StackConfig, Path]]:
    require(
        chromium_present(), "Chromium is not installed at /usr/bin/chromium: run `make browser`"
    )
    require_axe()
    folder = tmp_path_factory.mktemp("coordinator-browser")
    config = e2e_config(database_url, kafka, folder)
    # The digest is due at any hour, so the test need not wait for the morning.
    config = dataclasses.replace(config, extra_environment=(("BRIDGEWORK_DIGEST_HOUR", "0"),))
    with running_stack(config, maildir=folder / "mail"):
        yield config, folder / "mail"


@pytest.fixture
async def profiles(stack: tuple[StackConfig, Path]) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the profiles schema, with the services' JSON codecs."""
    pool = await create_pool(stack[0].database_url, "profiles", min_size=1, max_size=1)
    async with pool.acquire() as conn:
        yield conn
    await pool.close()


async def add_account(
    conn: asyncpg.Connection, email_address: str, network_id: str | None = None
) -> None:
    role = AccountRole.COORDINATOR if network_id else AccountRole.ADMINISTRATOR
    new = NewAccount(
        email=email_address,
        name="Cora Coordinator",
        role=role,
        network_id=network_id,
        password=PASSWORD,
    )
    await create_account(conn, new, actor="test")


async def sign_in(page: Page, base_url: str, email_address: str) -> None:
    await browser_sign_in(page, base_url, email_address, PASSWORD)


@pytest.mark.timeout(900)  # sixteen pages through axe on a shared machine
async def test_two_thousand_proposals_are_paged_and_every_page_passes_axe(
    stack: tuple[StackConfig, Path], profiles: asyncpg.Connection
) -> None:
    config, _ = stack
    network_id = f"crowd-{uuid4().hex[:6]}"
    coordinator = f"cora.{network_id}@network.example"
    await seed_crowded_network(profiles, network_id, 2000, coordinator)
    await add_account(profiles, coordinator, network_id)
    admin = f"ada.{network_id}@bridgework.example"
    await add_account(profiles, admin)
    base = config.base_url
    dashboard = f"{base}/dashboard/{network_id}"

    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        try:
            # axe's script is injected into pages whose CSP forbids inline scripts.
            context = await browser.new_context(viewport=PHONE, bypass_csp=True)
            page = await context.new_page()
            await page.goto(f"{base}/sign-in")
            assert await serious_violations(page) == []
            await sign_in(page, base, coordinator)
            await expect(page).to_have_url(f"{dashboard}/proposals")
            counts = page.locator(".counts")
            await expect(counts).to_contain_text("2000 pending proposals; showing 1–25.")
            await expect(page.locator("li.proposal")).to_have_count(25)
            await page.get_by_role("link", name="Next page").click()
            await expect(counts).to_contain_text("showing 26–50")
            await page.get_by_label("Order").select_option("score")
            await page.get_by_label("Name").fill("Mentee 17")
            await page.get_by_role("button", name="Show").click()
            await expect(counts).to_contain_text("of 2000 pending proposals match these filters")
            # Every control names the proposal it acts on.
            first = page.locator("li.proposal").first
            approve = first.get_by_role("button", name="Approve")
            await expect(approve).to_have_accessible_name(
                re.compile(r"^Approve Mentor \d+ for Mentee 17")
            )
            await page.goto(f"{dashboard}/proposals")
            assert await fits(page, PHONE["width"]), "the proposals page is wider than a phone"
            assert await serious_violations(page) == []

            box = page.locator("li.proposal input[type=checkbox]").first
            await box.check()
            await page.get_by_role("button", name="Review and approve the selected").click()
            await expect(page.get_by_role("heading", level=1)).to_have_text("Approve 1 proposal?")
            assert await serious_violations(page) == []

            for path in (
                "network",
                "pictures",
                "imports",
                "emails",
                "newcomers",
                "matches",
                "people-new?role=mentor",
                "people-new?role=mentee",
            ):
                await page.goto(f"{dashboard}/{path}")
                assert await fits(page, PHONE["width"]), path
                assert await serious_violations(page) == [], path
            # The trusts page's tables are still wider than a phone: axe only, for now.
            await page.goto(f"{dashboard}/trusts")
            assert await serious_violations(page) == [], "trusts"
            # A mentee's page, and choosing a mentor for them by hand.
            await page.goto(f"{dashboard}/proposals")
            await page.locator("li.proposal dl.pair a").nth(1).click()
            await expect(page.get_by_role("heading", name="Match by hand")).to_be_visible()
            assert await fits(page, PHONE["width"]), "a person's page"
            assert await serious_violations(page) == []
            await page.get_by_label("Mentor").select_option(index=1)
            await page.get_by_role("button", name=re.compile("^Check this match")).click()
            await expect(page.locator("#verdict")).to_be_visible()
            assert await fits(page, PHONE["width"]), "the match-by-hand page"
            assert await serious_violations(page) == []
            await page.goto(f"{base}/account/password")
            assert await serious_violations(page) == []

            admin_page = await (
                await browser.new_context(viewport=PHONE, bypass_csp=True)
            ).new_page()
            await sign_in(admin_page, base, admin)
            for path in ("/admin", "/admin/audit"):
                await admin_page.goto(f"{base}{path}")
                assert await serious_violations(admin_page) == [], path
        finally:
            await browser.close()


def load_people(config: StackConfig, network_id: str, coordinator: str, mentees: int) -> None:
    """A network whose coordinator is ``coordinator``, two trusts, a mentor with room for
    everyone, and ``mentees`` mentees (none when 0), over the JSON API."""
    tag = network_id[-6:]
    with httpx.Client(base_url=config.base_url, headers=config.api_headers, timeout=10) as http:
        if mentees == 0:
            network = {
                "name": "Digest Network",
                "coordinators": [{"name": "Cora", "email": coordinator}],
            }
            assert http.put(f"/networks/{network_id}", json=network).status_code == 204
            for code, region in ((f"A{tag}", "North West"), (f"B{tag}", "North West")):
                trust = {"name": f"Trust {code}", "region": region, "network_id": network_id}
                assert http.put(f"/trusts/{code}", json=trust).status_code == 204
            mentor = {
                "name": f"Morag Mentor {tag}",
                "email": f"morag.{tag}@example.org",
                "job_title": "CCIO",
                "trust_code": f"A{tag}",
                "skills": [{"skill": "clinical-engagement", "level": 7}],
                "capacity": 6,
                "hours_per_month": 12,
            }
            assert http.post("/mentors", json=mentor).status_code == 201
            return
        for number in range(mentees):
            mentee = {
                "name": f"Mentee {number} {tag}",
                "email": f"mentee.{number}.{tag}@example.org",
                "job_title": "Digital Nurse",
                "trust_code": f"B{tag}",
                "gaps": [{"skill": "clinical-engagement", "current": 2, "target": 5}],
            }
            assert http.post("/mentees", json=mentee).status_code == 201


def emails_to(maildir: Path, recipient: str) -> list[EmailMessage]:
    found = []
    for path in sorted(maildir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if recipient in str(message["To"]):
            found.append(message)
    return found


async def wait_until(check: Any, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"{what} did not happen within {timeout}s")


async def test_a_coordinator_chooses_the_daily_digest_and_it_arrives_once_not_per_proposal(
    stack: tuple[StackConfig, Path], profiles: asyncpg.Connection
) -> None:
    config, maildir = stack
    network_id = f"digest-{uuid4().hex[:6]}"
    coordinator = f"cora.{network_id}@network.example"
    load_people(config, network_id, coordinator, mentees=0)
    await add_account(profiles, coordinator, network_id)

    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        try:
            page = await browser.new_page(viewport=PHONE)
            await sign_in(page, config.base_url, coordinator)
            await page.get_by_role("link", name="Emails").click()
            await page.get_by_label("One email a day").check()
            await page.get_by_role("button", name="Save").click()
            await expect(page.get_by_role("status")).to_contain_text("Saved")
            await expect(page.get_by_label("One email a day")).to_be_checked()
        finally:
            await browser.close()

    notifier = await create_pool(config.database_url, "notifier", min_size=1, max_size=1)
    try:

        async def notifier_knows_the_choice() -> bool:
            coordinators = await notifier.fetchval(
                "SELECT coordinators FROM networks WHERE id = $1", network_id
            )
            return any(c.get("proposal_emails") == "daily" for c in coordinators or [])

        await wait_until(notifier_knows_the_choice, what="the notifier hearing of the digest")
        load_people(config, network_id, coordinator, mentees=6)

        async def all_proposed_and_digested() -> bool:
            proposed = await profiles.fetchval(
                "SELECT count(*) FROM proposals WHERE network_id = $1", network_id
            )
            return bool(proposed >= 6 and emails_to(maildir, coordinator))

        await wait_until(all_proposed_and_digested, what="six proposals and a digest")
        await asyncio.sleep(5)  # time enough for any email per proposal to go out
    finally:
        await notifier.close()

    received = emails_to(maildir, coordinator)
    subjects = [str(m["Subject"]) for m in received]
    assert len(received) == 1, subjects  # one digest, and no email per proposal
    [digest] = received
    assert subjects[0].startswith("Bridgework: ")
    body = digest.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert f"{config.base_url}/dashboard/{network_id}/proposals" in text
    assert f"{config.base_url}/links/decision/" in text

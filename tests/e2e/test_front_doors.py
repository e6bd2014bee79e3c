"""The front doors in a real headless Chromium, the three services running as processes: a
mentor volunteers, confirms the address from the email, a coordinator confirms them and they are
proposed; a mentee applies the same way; a participant changes their gaps on their own page and
the next proposal follows; a coordinator matches a mentee by hand, the pair is introduced, and
the coordinator ends the match. Every page on the way passes axe-core with no serious or
critical violation. Skips locally without /usr/bin/chromium (`make browser`) or axe-core
(`make axe`)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from devtools.browser import launch_chromium
from devtools.stack import StackConfig
from services.profiles.accounts.accounts import NewAccount, create_account
from services.profiles.accounts.permissions import AccountRole
from shared.db import create_pool
from tests.support.accessibility import require_axe, serious_violations
from tests.support.browser import fits
from tests.support.mail import wait_for_message
from tests.support.stack import e2e_stack, require_chromium

pytestmark = pytest.mark.e2e
PASSWORD = "a long front-door password"


@pytest.fixture(scope="module")
def stack(
    database_url: str, kafka: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[StackConfig, Path]]:
    require_chromium()
    require_axe()
    with e2e_stack(database_url, kafka, tmp_path_factory.mktemp("doors")) as running:
        yield running


async def a_network(config: StackConfig, tag: str) -> str:
    """A network with two trusts and a coordinator account; nobody in it yet."""
    network_id = network_over_the_api(config, tag)
    await _coordinator_account(config.database_url, network_id, coordinator(tag))
    return network_id


def network_over_the_api(config: StackConfig, tag: str) -> str:
    network_id = f"door-{tag}"
    with httpx.Client(base_url=config.base_url, headers=config.api_headers, timeout=10) as http:
        body = {
            "name": f"Door Network {tag}",
            "coordinators": [{"name": "Cy", "email": coordinator(tag)}],
        }
        assert http.put(f"/networks/{network_id}", json=body).status_code == 204
        for code, region in ((f"A{tag}", "North West"), (f"B{tag}", "North West")):
            trust = {"name": f"Trust {code}", "region": region, "network_id": network_id}
            assert http.put(f"/trusts/{code}", json=trust).status_code == 204
    return network_id


def coordinator(tag: str) -> str:
    return f"cy.{tag}@network.example"


async def _coordinator_account(database_url: str, network_id: str, email: str) -> None:
    pool = await create_pool(database_url, "profiles", min_size=1, max_size=1)
    try:
        new = NewAccount(
            email=email,
            name="Cy Coordinator",
            role=AccountRole.COORDINATOR,
            network_id=network_id,
            password=PASSWORD,
        )
        async with pool.acquire() as conn:
            await create_account(conn, new, actor="test")
    finally:
        await pool.close()


async def link_from(maildir: Path, recipient: str, subject: str, path: str) -> str:
    """The link (to ``path``) in the email to ``recipient`` whose subject starts ``subject``."""
    message = await wait_for_message(maildir, recipient, subject)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    [link] = re.findall(rf"https?://\S+{path}\S+", body.get_content())
    return str(link)


async def new_page(browser: Browser, width: int = 1280) -> Page:
    """A page axe-core can be injected into (the pages' CSP forbids its script)."""
    return await browser.new_page(viewport={"width": width, "height": 844}, bypass_csp=True)


async def passes_axe(page: Page) -> None:
    assert await serious_violations(page) == [], page.url


async def fill_identity(page: Page, name: str, email: str, job: str, trust: str) -> None:
    await page.get_by_label("Your name").fill(name)
    await page.get_by_label("Email address").fill(email)
    await page.get_by_label("Your role").fill(job)
    await page.get_by_label("Your trust").select_option(label=trust)


async def confirm_address(page: Page, link: str) -> None:
    await page.goto(link)
    await passes_axe(page)
    await page.get_by_role("button", name="Confirm my email address").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("your address is confirmed")
    await passes_axe(page)


async def sign_in(page: Page, config: StackConfig, tag: str) -> None:
    await page.goto(f"{config.base_url}/sign-in")
    await page.get_by_label("Email").fill(coordinator(tag))
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(r".*/dashboard/"))


async def coordinator_confirms(page: Page, config: StackConfig, tag: str, name: str) -> None:
    await sign_in(page, config, tag)
    await page.get_by_role("link", name="Newcomers").click()
    await expect(page.locator("#join-link")).to_contain_text(f"/join/door-{tag}")
    await passes_axe(page)
    await page.get_by_role("button", name=f"Confirm {name}").click()
    await expect(page.get_by_role("status")).to_contain_text("Confirmed")


async def proposals_name(page: Page, config: StackConfig, tag: str, name: str) -> None:
    """The proposals page, reloaded until the matcher's proposal naming ``name`` is on it."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        await page.goto(f"{config.base_url}/dashboard/door-{tag}/proposals")
        if await page.get_by_text(name).count():
            return
        await asyncio.sleep(1)
    raise AssertionError(f"no proposal naming {name} within 60s")


def a_mentee_over_the_api(config: StackConfig, tag: str, skill: str, email: str) -> str:
    """The new mentee's id."""
    with httpx.Client(base_url=config.base_url, headers=config.api_headers, timeout=10) as http:
        mentee = {
            "name": f"Mo Mentee {tag}",
            "email": email,
            "job_title": "Informatics Lead",
            "trust_code": f"B{tag}",
            "gaps": [{"skill": skill, "current": 2, "target": 5}],
        }
        response = http.post("/mentees", json=mentee)
        assert response.status_code == 201
        return str(response.json()["id"])


def a_mentor_over_the_api(
    config: StackConfig, tag: str, name: str, skill: str, email: str | None = None
) -> None:
    with httpx.Client(base_url=config.base_url, headers=config.api_headers, timeout=10) as http:
        mentor = {
            "name": name,
            "email": email or f"{uuid4().hex[:8]}@example.org",
            "job_title": "CIO",
            "trust_code": f"A{tag}",
            "skills": [{"skill": skill, "level": 7}],
            "capacity": 2,
            "hours_per_month": 4,
        }
        assert http.post("/mentors", json=mentor).status_code == 201


async def test_a_mentor_volunteers_is_confirmed_and_proposed(
    stack: tuple[StackConfig, Path],
) -> None:
    config, maildir = stack
    tag = uuid4().hex[:6]
    network_id = await a_network(config, tag)
    a_mentee_over_the_api(config, tag, "clinical-safety", f"mo.{tag}@example.org")
    name, email = f"Vera Volunteer {tag}", f"vera.{tag}@example.org"
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        try:
            page = await new_page(browser, width=390)
            await page.goto(f"{config.base_url}/join/{network_id}")
            await passes_axe(page)
            await page.get_by_role("link", name="Volunteer as a mentor").click()
            await passes_axe(page)
            await fill_identity(
                page, name, email, "Chief Clinical Information Officer", f"Trust A{tag}"
            )
            await page.get_by_label("Working pattern").select_option(label="Part time")
            await page.get_by_label("Wednesday").check()
            await page.get_by_label("Clinical safety: your level").select_option("6")
            await page.get_by_label("How many mentees at once").fill("2")
            await page.get_by_role("button", name="Volunteer").click()
            await expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
            assert page.url.endswith(f"/join/{network_id}/sent")  # post-redirect-get
            await passes_axe(page)

            await confirm_address(
                page, await link_from(maildir, email, "Confirm your email", "/join/confirm/")
            )
            await coordinator_confirms(page, config, tag, name)
            await proposals_name(page, config, tag, name)
            welcome = await link_from(maildir, email, "You are confirmed", "/me/")
            await page.goto(welcome)
            await expect(page.locator("#standing")).to_contain_text("being considered")
            await passes_axe(page)
            await expect(page.locator("#standing")).not_to_contain_text("Mo Mentee")
        finally:
            await browser.close()


async def test_a_mentee_applies_is_confirmed_and_proposed(
    stack: tuple[StackConfig, Path],
) -> None:
    config, maildir = stack
    tag = uuid4().hex[:6]
    network_id = await a_network(config, tag)
    a_mentor_over_the_api(config, tag, f"Max Mentor {tag}", "data-analytics")
    name, email = f"Amir Applicant {tag}", f"amir.{tag}@example.org"
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        try:
            page = await new_page(browser)
            await page.goto(f"{config.base_url}/join/{network_id}")
            await page.get_by_role("link", name="Apply for a mentor").click()
            await passes_axe(page)
            await fill_identity(page, name, email, "Digital Lead", f"Trust B{tag}")
            await page.get_by_label("Sector").select_option(label="Social care")
            await page.get_by_label("Data and analytics: your level now").select_option("2")
            await page.get_by_label("Data and analytics: the level you aim for").select_option("5")
            await page.get_by_label("Your goals").fill("Run our <care> data well & safely")
            await page.get_by_role("button", name="Apply").click()
            await expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")

            await confirm_address(
                page, await link_from(maildir, email, "Confirm your email", "/join/confirm/")
            )
            await coordinator_confirms(page, config, tag, name)
            await proposals_name(page, config, tag, name)
        finally:
            await browser.close()


async def test_a_participant_changes_their_gaps_and_the_next_proposal_follows(
    stack: tuple[StackConfig, Path],
) -> None:
    config, maildir = stack
    tag = uuid4().hex[:6]
    await a_network(config, tag)
    a_mentor_over_the_api(config, tag, f"Iris Interop {tag}", "interoperability")
    email = f"mo.{tag}@example.org"
    a_mentee_over_the_api(config, tag, "procurement", email)  # nobody mentors procurement
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        try:
            page = await new_page(browser)
            await page.goto(f"{config.base_url}/me")
            await passes_axe(page)
            await page.get_by_label("Email address").fill(email)
            await page.get_by_role("button", name="Email me a link").click()
            await passes_axe(page)
            await page.goto(await link_from(maildir, email, "Your Bridgework link", "/me/"))
            await expect(page.locator("#standing")).to_contain_text("You are waiting")
            await passes_axe(page)
            await page.get_by_role("link", name="see and change your profile").click()
            await passes_axe(page)
            await page.get_by_label(
                "Procurement and commercial: the level you aim for"
            ).select_option("")
            await page.get_by_label("Interoperability: your level now").select_option("1")
            await page.get_by_label("Interoperability: the level you aim for").select_option("4")
            await page.get_by_role("button", name="Save my profile").click()
            await expect(page.get_by_role("status")).to_contain_text("Your profile is saved")
            assert "/profile" not in page.url  # post-redirect-get: back on their page

            await sign_in(page, config, tag)
            await proposals_name(page, config, tag, f"Iris Interop {tag}")
            card = page.locator("[id^=match-]").filter(has_text=f"Iris Interop {tag}")
            await expect(card).to_contain_text("Interoperability: from level 1 to 4")
        finally:
            await browser.close()


async def test_a_coordinator_matches_by_hand_and_ends_the_match(
    stack: tuple[StackConfig, Path],
) -> None:
    config, maildir = stack
    tag = uuid4().hex[:6]
    network_id = await a_network(config, tag)
    mentor_name, mentor_email = f"Hana Hand {tag}", f"hana.{tag}@example.org"
    mentee_name, mentee_email = f"Mo Mentee {tag}", f"mo.{tag}@example.org"
    a_mentor_over_the_api(config, tag, mentor_name, "clinical-safety", mentor_email)
    mentee_id = a_mentee_over_the_api(config, tag, "clinical-safety", mentee_email)
    person = f"{config.base_url}/dashboard/{network_id}/people/{mentee_id}"
    option = f"{mentor_name} (CIO, Trust A{tag})"  # the mentor as the list offers them
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        try:
            page = await new_page(browser, width=390)
            await sign_in(page, config, tag)
            await page.goto(person)
            await passes_axe(page)
            await page.get_by_label("Mentor").select_option(label=option)
            await page.get_by_role("button", name=f"Check this match for {mentee_name}").click()
            verdict = page.locator("#verdict")
            await expect(verdict).to_contain_text("Clinical safety: from level 2 to 5")
            await expect(verdict).to_contain_text("are each emailed an introduction")
            await passes_axe(page)
            await page.get_by_label("Why this match?").fill("They asked to work together")
            await page.get_by_role("button", name=f"Match {mentor_name} with {mentee_name}").click()
            await expect(page.get_by_role("status")).to_contain_text("Matched by hand")
            assert page.url == person  # post-redirect-get
            by_hand = page.locator("td.status").filter(has_text="matched by hand")
            await expect(by_hand).to_contain_text(
                f"approved (matched by hand) by {coordinator(tag)}"
            )
            await passes_axe(page)

            # Introduced like any approved match: both are emailed.
            for address in (mentor_email, mentee_email):
                await wait_for_message(maildir, address, "Introducing your")

            await page.get_by_role("link", name=re.compile("^End or follow the match")).click()
            await passes_axe(page)
            await page.get_by_role("radio", name=re.compile("ended early")).check()
            await page.get_by_label("Reason (recorded)").fill("Her post changed")
            await page.get_by_role(
                "button", name=f"End the match between {mentee_name} and {mentor_name}"
            ).click()
            await expect(page.get_by_role("status")).to_contain_text("Match closed (ended early)")
            await passes_axe(page)

            # Reassigning: the mentee may be matched again, never with the same mentor.
            await page.goto(person)
            await page.get_by_label("Mentor").select_option(label=option)
            await page.get_by_role("button", name=f"Check this match for {mentee_name}").click()
            await expect(page.locator("#verdict")).to_contain_text("are not matched again")
            await expect(
                page.get_by_role("button", name=f"Match {mentor_name} with {mentee_name}")
            ).to_have_count(0)
            await passes_axe(page)
        finally:
            await browser.close()


async def test_a_trust_contact_is_added_signs_in_and_every_page_passes_axe(
    stack: tuple[StackConfig, Path],
) -> None:
    """The trust contact pages as a coordinator and a new contact meet them (the journeys
    themselves are test_trust_journeys.py's)."""
    config, maildir = stack
    tag = uuid4().hex[:6]
    network_id = await a_network(config, tag)
    contact = f"tia.{tag}@trust.example"
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        try:
            page = await new_page(browser, width=390)
            await sign_in(page, config, tag)
            await page.goto(f"{config.base_url}/dashboard/{network_id}/trusts")
            await passes_axe(page)
            assert await fits(page, 390), "the trusts page is wider than a phone"
            row = page.locator("tr").filter(has_text=f"Trust A{tag}")
            await row.get_by_label("name").fill("Tia Trust")
            await row.get_by_label("email").fill(contact)
            await row.get_by_role("button", name="Add").click()
            await expect(page.locator("#contacts")).to_contain_text("Tia Trust")
            await passes_axe(page)

            visitor = await new_page(browser, width=390)
            # The error pages a visitor may meet: an unknown page, a forged link.
            for path in ("/join/no-such-network", "/join/confirm/forged"):
                response = await visitor.goto(f"{config.base_url}{path}")
                assert response is not None
                assert response.status >= 400, path  # an HTML error page
                assert "<h1>" in await visitor.content(), path
                await passes_axe(visitor)
            await visitor.goto(f"{config.base_url}/trust/sign-in")
            await passes_axe(visitor)
            await visitor.get_by_label("Work email").fill(contact)
            await visitor.get_by_role("button", name="Send me a link").click()
            await passes_axe(visitor)
            await visitor.goto(
                await link_from(maildir, contact, "Sign in to Bridgework", "/trust/sign-in/")
            )
            await passes_axe(visitor)
            await visitor.get_by_role("button", name="Sign in").click()
            await expect(visitor).to_have_url(re.compile(rf".*/trust/A{tag}$"))
            await passes_axe(visitor)
            await (
                visitor.locator("#placements").get_by_role("link", name="Post a placement").click()
            )
            await passes_axe(visitor)
        finally:
            await browser.close()

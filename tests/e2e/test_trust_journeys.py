"""A host trust's contact and a home trust's contact, each in a real headless Chromium, with the
three services running as processes: each signs in through the link the notifier emails; a
member of staff asks on their own page to be considered and the home trust agrees; the host
posts a placement with every field and accepts the candidate, the home trust releases its
member of staff, and only then are the three parties introduced, each with an invitation for
the start date; the host records the start. Skips locally without /usr/bin/chromium."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from devtools.browser import launch_chromium
from devtools.stack import StackConfig
from services.profiles.coordination.decisions import decide
from services.profiles.trusts.contacts import NewContact, add_contact
from shared.db import create_pool
from tests.support.mail import wait_for_message
from tests.support.stack import e2e_stack, require_chromium

pytestmark = pytest.mark.e2e
LINK = re.compile(r"(https?://\S+/trust/sign-in/\S+)")


@pytest.fixture(scope="module")
def stack(
    database_url: str, kafka: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[StackConfig, Path]]:
    require_chromium()
    with e2e_stack(database_url, kafka, tmp_path_factory.mktemp("trusts")) as running:
        yield running


def load(config: StackConfig, tag: str) -> tuple[str, str, str]:
    """A network; a host trust; a home trust with a member of staff who wants what the host's
    placement will develop (not yet considered for secondment). Returns the network and the two
    trusts' codes."""
    network, host, home = f"tj-{tag}", f"H{tag}", f"M{tag}"
    with httpx.Client(base_url=config.base_url, headers=config.api_headers, timeout=10) as http:
        coordinators = [{"name": "Bea", "email": f"bea.{tag}@network.example"}]
        body = {"name": "Trusts Journey", "coordinators": coordinators}
        assert http.put(f"/networks/{network}", json=body).status_code == 204
        for code, small in ((host, True), (home, False)):
            trust = {"name": f"Trust {code}", "region": "London", "network_id": network}
            assert http.put(f"/trusts/{code}", json={**trust, "is_small": small}).status_code == 204
        staff = http.post(
            "/mentees",
            json={
                "name": f"Nia Staff {tag}",
                "email": f"nia.{tag}@example.org",
                "job_title": "Informatics Analyst",
                "trust_code": home,
                "gaps": [{"skill": "cyber-security", "current": 1, "target": 5}],
            },
        )
        assert staff.status_code == 201
    return network, host, home


async def add_contacts(config: StackConfig, tag: str, host: str, home: str) -> tuple[str, str]:
    pool = await create_pool(config.database_url, "profiles", min_size=1, max_size=1)
    emails = (f"hana.{tag}@host.example", f"omar.{tag}@home.example")
    try:
        async with pool.acquire() as conn:
            for code, email, name in (
                (host, emails[0], "Hana Host"),
                (home, emails[1], "Omar Home"),
            ):
                await add_contact(conn, code, NewContact(name=name, email=email), actor="test")
    finally:
        await pool.close()
    return emails


async def approve_when_proposed(config: StackConfig, network: str) -> UUID:
    """The coordinator's approval (through the decision use case) once the matcher proposed."""
    pool = await create_pool(config.database_url, "profiles", min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                match_id: UUID | None = await conn.fetchval(
                    "SELECT match_id FROM proposals WHERE network_id = $1 AND kind = 'secondment'",
                    network,
                )
                if match_id is not None:
                    await decide(
                        conn,
                        network_id=network,
                        match_ids=[match_id],
                        approved=True,
                        reason="",
                        decided_by="bea",
                    )
                    return match_id
                await asyncio.sleep(0.3)
    finally:
        await pool.close()
    raise AssertionError("no secondment was proposed within 90s")


async def sign_in(browser: Browser, config: StackConfig, maildir: Path, email: str) -> Page:
    """As a new contact would: ask for a link, open it from the email, press Sign in."""
    page = await browser.new_page()
    await page.goto(f"{config.base_url}/sign-in")
    await page.get_by_role("link", name="signs in with a link sent by email").click()
    await page.get_by_label("Work email").fill(email)
    await page.get_by_role("button", name="Send me a link").click()
    await expect(page.get_by_role("status")).to_contain_text("a sign-in link is on its way")
    message = await wait_for_message(maildir, email, "Sign in to Bridgework")
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    found = LINK.search(body.get_content())
    assert found is not None
    await page.goto(found.group(1))
    await page.get_by_role("button", name="Sign in").click()
    return page


async def ask_to_be_considered(
    browser: Browser, config: StackConfig, maildir: Path, email: str
) -> None:
    """The member of staff, on their own page: a link by email, then "open to a secondment"."""
    page = await browser.new_page()
    await page.goto(f"{config.base_url}/me")
    await page.get_by_label("Email address").fill(email)
    await page.get_by_role("button", name="Email me a link").click()
    message = await wait_for_message(maildir, email, "Your Bridgework link")
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    [link] = re.findall(r"https?://\S+/me/\S+", body.get_content())
    await page.goto(link)
    await page.get_by_role("link", name="see and change your profile").click()
    await page.get_by_label("Open to a secondment at another trust").check()
    await page.get_by_role("button", name="Save my profile").click()
    await expect(page.locator("#secondment")).to_contain_text("your trust is asked to agree")
    await page.close()


async def post_placement(page: Page, config: StackConfig, host: str) -> None:
    await page.get_by_role("link", name="Post a placement").first.click()
    await page.get_by_label("Title").fill("Cyber security lead")
    await page.get_by_label("Skill 1").select_option("cyber-security")
    await page.get_by_label("to level").first.select_option("6")
    await page.get_by_label("Days a week").fill("2")
    await page.get_by_label("Length in months").fill("6")
    await page.get_by_label("Earliest start").fill("2027-02-01")
    await page.get_by_label("Latest start").fill("2027-04-30")
    await page.get_by_label("Where").select_option("hybrid")
    await page.get_by_label("Band from").select_option("6")
    await page.get_by_label("Band to").select_option("8a")
    await page.get_by_label("Host-side supervisor").fill("Dr Ada Supervisor")
    await page.get_by_role("button", name="Save").click()
    await expect(page).to_have_url(f"{config.base_url}/trust/{host}")
    placements = page.locator("#placements")
    await expect(placements).to_contain_text("Cyber security lead")
    await expect(placements).to_contain_text("2.0 days a week, 6 months")
    await expect(placements).to_contain_text("hybrid, band 6-8a, Dr Ada Supervisor")


async def test_a_host_and_a_home_trust_consent_in_the_browser_and_then_all_are_introduced(
    stack: tuple[StackConfig, Path],
) -> None:
    config, maildir = stack
    tag = uuid4().hex[:6]
    network, host, home = load(config, tag)
    host_email, home_email = await add_contacts(config, tag, host, home)

    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        try:
            # The member of staff asks to be considered; their home trust's contact agrees.
            await ask_to_be_considered(browser, config, maildir, f"nia.{tag}@example.org")
            home_page = await sign_in(browser, config, maildir, home_email)
            await expect(home_page).to_have_url(f"{config.base_url}/trust/{home}")
            staff = home_page.locator("#staff")
            await expect(staff).to_contain_text(f"Nia Staff {tag}")
            await expect(staff).to_contain_text("asks to be considered")
            await staff.get_by_role("button", name="Agree to their request").click()
            await expect(home_page.get_by_role("status")).to_contain_text("considered for")
            await expect(home_page.locator("#staff")).to_contain_text("considered")

            host_page = await sign_in(browser, config, maildir, host_email)
            await expect(host_page).to_have_url(f"{config.base_url}/trust/{host}")
            await post_placement(host_page, config, host)
            match_id = await approve_when_proposed(config, network)

            # The host trust's contact: the proposal with its reasons, then the consent.
            await host_page.reload()
            await expect(host_page.locator("#proposals")).to_contain_text(f"Nia Staff {tag}")
            await expect(host_page.locator("#proposals")).to_contain_text(
                "Cyber security: from level 1 to 5"
            )
            waiting = host_page.locator("#consents")
            await expect(waiting).to_contain_text("Consents waiting for you (1)")
            await expect(waiting).to_contain_text("Do you accept")
            await waiting.get_by_role("button", name="Agree").click()
            await expect(host_page.get_by_role("status")).to_contain_text("waits for the other")

            # The home trust's contact: the release.
            await home_page.reload()
            consents = home_page.locator("#consents")
            await expect(consents).to_contain_text("Do you agree to release")
            await consents.get_by_role("button", name="Agree").click()
            await expect(home_page.get_by_role("status")).to_contain_text("Every trust has agreed")
            await expect(home_page.locator("#secondments")).to_contain_text("agreed")

            # Another trust's page is refused to the home trust's contact.
            refused = await home_page.goto(f"{config.base_url}/trust/{host}")
            assert refused is not None
            assert refused.status == 403

            # The host records the start.
            await host_page.reload()
            row = host_page.locator("#secondments")
            await row.get_by_label("date").fill("2027-02-01")
            await row.get_by_role("button", name="Started").click()
            await expect(host_page.get_by_role("status")).to_contain_text("started (2027-02-01)")
        finally:
            await browser.close()

    for recipient, subject in (
        (f"nia.{tag}@example.org", "Your secondment"),
        (host_email, "Secondment to"),
        (home_email, "Secondment from"),
    ):
        introduction = await wait_for_message(maildir, recipient, subject)
        body = introduction.get_body(preferencelist=("plain",))
        assert body is not None
        assert str(match_id) in body.get_content()
        [ics] = [p for p in introduction.walk() if p.get_content_type() == "text/calendar"]
        assert "DTSTART;VALUE=DATE:" in ics.get_content()

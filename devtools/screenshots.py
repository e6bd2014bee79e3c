"""``make screenshots``: the README's pictures of the coordinators' pages, taken in headless
Chromium from the demo network (docs/screenshots/*.png).

Runs the stack like ``make demo`` on its own database, waits for the proposals, signs in as a
demo coordinator and photographs the proposals page (laptop and phone), the flows page, the
import page, a mentee's page, matching that mentee by hand and the network's join form."""

from __future__ import annotations

import asyncio

from playwright.async_api import Page, async_playwright

from devtools import ROOT
from devtools.browser import launch_chromium
from devtools.demo import console, create_demo_accounts, loaded_demo_stack, read_proposals

OUTPUT = ROOT / "docs" / "screenshots"
DATABASE = "bridgework_screenshots"
PERSON = "a person's page"
BY_HAND = "matching a person by hand"


async def sign_in(page: Page, base_url: str, email: str, password: str) -> None:
    await page.goto(f"{base_url}/sign-in")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/proposals")


async def take(base_url: str, email: str, password: str, network_id: str) -> list[str]:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    shots = [
        ("proposals.png", f"/dashboard/{network_id}/proposals", 1280, 900, False),
        ("proposals-phone.png", f"/dashboard/{network_id}/proposals", 390, 844, False),
        ("flows-and-fairness.png", f"/dashboard/{network_id}/pictures", 1100, 800, True),
        ("imports.png", f"/dashboard/{network_id}/imports", 1100, 900, False),
        ("person.png", PERSON, 1100, 900, True),
        ("match-by-hand.png", BY_HAND, 1100, 900, True),
        ("join-form.png", f"/join/{network_id}/mentee", 1000, 1100, False),
    ]
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        try:
            for name, path, width, height, full_page in shots:
                page = await browser.new_page(viewport={"width": width, "height": height})
                await sign_in(page, base_url, email, password)
                mentor = ""
                if path in (PERSON, BY_HAND):  # the first pair of the proposals page
                    pair = page.locator(".proposal .pair a")
                    mentor = str(await pair.nth(0).get_attribute("href")).rsplit("/", 1)[-1]
                    path = str(await pair.nth(1).get_attribute("href"))
                await page.goto(f"{base_url}{path}")
                if name == "match-by-hand.png":  # the mentee's proposed mentor, checked
                    await page.get_by_label("Mentor").select_option(value=mentor)
                    await page.get_by_role("button", name="Check this match").click()
                    await page.wait_for_load_state()
                await page.screenshot(path=str(OUTPUT / name), full_page=full_page)
                await page.close()
        finally:
            await browser.close()
    return [name for name, *_ in shots]


async def main() -> None:
    async with loaded_demo_stack(DATABASE) as stack:
        await read_proposals(stack.settings.kafka_bootstrap_servers, idle_seconds=8)
        sign_ins = await create_demo_accounts(
            stack.database_url, stack.network, stack.config.base_url, stack.settings.environment
        )
        north = next(s for s in sign_ins if s.email.endswith("@north.example"))
        names = await take(stack.config.base_url, north.email, north.password, "north")
    console.print(f"Wrote {', '.join(names)} to {OUTPUT.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())

"""What the browser tests share (Debian's Chromium through Playwright), besides axe-core
(tests/support/accessibility.py): signing in on the sign-in page, and whether a page fits a
phone's width (and if not, what reaches past it)."""

from __future__ import annotations

from playwright.async_api import Page, ViewportSize

PHONE: ViewportSize = {"width": 390, "height": 844}


async def sign_in(page: Page, base_url: str, email_address: str, password: str) -> None:
    await page.goto(f"{base_url}/sign-in")
    await page.get_by_label("Email").fill(email_address)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state()


async def fits(page: Page, width: int) -> bool:
    scroll_width: int = await page.evaluate("document.documentElement.scrollWidth")
    return scroll_width <= width


WIDER_THAN = """width => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > width + 1
    && !e.closest('.scroll, details:not([open])'))
  .slice(0, 5)
  .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''))"""


async def wider_than(page: Page, width: int) -> list[str]:
    """The first few elements reaching past ``width`` (a scrolled table's cells aside)."""
    found: list[str] = await page.evaluate(WIDER_THAN, width)
    return found

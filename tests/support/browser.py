"""What the browser tests share (Debian's Chromium through Playwright): skipping without
Chromium or axe-core (failing under CI), signing in on the sign-in page, axe-core's serious
and critical violations, and whether a page fits a phone's width."""

from __future__ import annotations

import os
from typing import Any

import pytest
from playwright.async_api import Page, ViewportSize

from devtools import ROOT

AXE = ROOT / "devtools" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
PHONE: ViewportSize = {"width": 390, "height": 844}


def require(present: bool, message: str) -> None:
    if present:
        return
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


async def sign_in(page: Page, base_url: str, email_address: str, password: str) -> None:
    await page.goto(f"{base_url}/sign-in")
    await page.get_by_label("Email").fill(email_address)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state()


async def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    await page.add_script_tag(path=str(AXE))
    results: dict[str, Any] = await page.evaluate("async () => await axe.run(document)")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


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

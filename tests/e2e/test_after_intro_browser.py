"""After the introduction, in Debian's Chromium on the three services run as processes, as a
new coordinator and a new participant use the pages (docs/outcomes.md): a network's report
(charts drawn by matplotlib with their numbers beside them, and the CSV), a person's page with
their match's timeline, the learned weights with their evidence and applying them, and a
participant answering a due check-in from their /me page. Every page passes axe-core with no
serious or critical violation. Skips locally without Chromium (`make browser`) or axe-core
(`make axe`); fails under CI=true."""

from __future__ import annotations

import re
from collections.abc import Iterator
from uuid import UUID, uuid4

import asyncpg
import pytest
from playwright.async_api import Page, async_playwright, expect

from devtools.browser import launch_chromium
from devtools.demo_history import HIDDEN_WEIGHTS, add_history, synthetic_examples
from devtools.stack import StackConfig
from services.profiles.accounts.accounts import NewAccount, create_account
from services.profiles.accounts.permissions import AccountRole
from shared.db import create_pool
from shared.links import sign_self_service_link
from shared.settings import Settings
from tests.support.accessibility import require_axe, serious_violations
from tests.support.browser import PHONE, fits, sign_in, wider_than
from tests.support.history import seed_history
from tests.support.pages import PASSWORD
from tests.support.stack import e2e_stack, require_chromium

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(
    database_url: str, kafka: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StackConfig]:
    require_chromium()
    require_axe()
    with e2e_stack(database_url, kafka, tmp_path_factory.mktemp("after-intro")) as (config, _):
        yield config


async def passes_axe(page: Page, what: str) -> None:
    assert await serious_violations(page) == [], what
    if not await fits(page, PHONE["width"]):
        pytest.fail(f"{what} is wider than a phone: {await wider_than(page, PHONE['width'])}")


async def seeded(stack: StackConfig) -> tuple[str, str, UUID, str, UUID]:
    """The demo's six months of history (its coordinator, and a mentee whose match closed),
    and a network whose history suggests weights (its coordinator, and a mentee introduced
    long enough ago for the check-ins to be due)."""
    pool = await create_pool(stack.database_url, "profiles", min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            history = await add_history(conn)
            hana = NewAccount(
                email="hana@history.example",
                name="Hana History",
                role=AccountRole.COORDINATOR,
                network_id=history,
                password=PASSWORD,
            )
            await create_account(conn, hana, actor="test")
            closed_mentee: UUID = await conn.fetchval(
                "SELECT mentee_id FROM proposals WHERE network_id = $1 AND status = 'closed'"
                " ORDER BY proposed_at LIMIT 1",
                history,
            )
            learning = f"learn-{uuid4().hex[:6]}"
            examples = synthetic_examples(HIDDEN_WEIGHTS, proposals=480, seed=18)
            await seed_history(conn, learning, examples)
            introduced_mentee: UUID = await conn.fetchval(
                "SELECT mentee_id FROM proposals WHERE network_id = $1 AND status = 'approved'"
                " ORDER BY proposed_at LIMIT 1",
                learning,
            )
    finally:
        await pool.close()
    return history, str(hana.email), closed_mentee, learning, introduced_mentee


@pytest.mark.timeout(600)  # several pages through axe on a shared machine
async def test_report_timeline_weights_and_a_check_in_in_the_browser(
    stack: StackConfig, base_settings: Settings
) -> None:
    history, hana, closed_mentee, learning, mentee = await seeded(stack)
    base = stack.base_url
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        try:
            # axe's script is injected into pages whose CSP forbids inline scripts.
            context = await browser.new_context(viewport=PHONE, bypass_csp=True)
            page = await context.new_page()
            await sign_in(page, base, hana, PASSWORD)

            # The report: three charts (images), each with its table, and the CSV.
            await page.goto(f"{base}/dashboard/{history}/report")
            await expect(page.get_by_role("heading", level=1)).to_contain_text("matches over time")
            charts = page.locator(".chart-with-table img")
            await expect(charts).to_have_count(3)
            for i in range(3):
                width = await charts.nth(i).evaluate("img => img.naturalWidth")
                assert width > 0, "a chart did not draw"
            await expect(page.locator(".chart-with-table table")).to_have_count(3)
            csv_link = page.get_by_role("link", name="Download every week and group (CSV)")
            csv = await page.request.get(base + str(await csv_link.get_attribute("href")))
            assert csv.headers["content-type"].startswith("text/csv")
            assert (await csv.text()).count("\n") > 20  # every week of six months, each group
            await passes_axe(page, "the report")

            # A person's page: their match's timeline, from proposed to closed, with dates.
            await page.goto(f"{base}/dashboard/{history}/people/{closed_mentee}")
            timeline = page.locator("#timelines-heading + article ol.timeline li")
            await expect(timeline.first).to_contain_text("Proposed by the matcher")
            await expect(timeline.nth(1)).to_contain_text("Approved by hana@history.example")
            await expect(timeline.last).to_contain_text("Closed by the coordinator")
            await expect(timeline.last).to_contain_text("re-assessed")
            await expect(timeline.first.locator("time")).to_have_attribute(
                "datetime", re.compile(r"^\d{4}-\d\d-\d\d")
            )
            await passes_axe(page, "a person's page")

            # The demo's history is refused on the weights page, with the reason.
            await page.goto(f"{base}/dashboard/{history}/weights")
            await expect(page.get_by_role("status")).to_contain_text("refused")
            await passes_axe(page, "a refused suggestion")

            # Another network's suggestion: its evidence, then applied.
            other = await (await browser.new_context(viewport=PHONE, bypass_csp=True)).new_page()
            await sign_in(other, base, f"cora.{learning}@network.example", PASSWORD)
            await other.goto(f"{base}/dashboard/{learning}/weights")
            await expect(other.locator("main")).to_contain_text(
                "Learned from 480 decided proposals"
            )
            # Held-out ranking quality (mean, lowest and highest fold) of both weights.
            for weights in ("current", "suggested"):
                row = other.get_by_role("row", name=re.compile(rf"^{weights} 0\.\d{{3}}"))
                await expect(row).to_have_text(re.compile(r"(0\.\d{3}\D*){3}"))
            await passes_axe(other, "the weights page")
            await other.get_by_role("button", name="Apply the suggested weights").click()
            await expect(other.get_by_role("status")).to_contain_text("Weights version 1 applied")
            await expect(other.get_by_role("heading", name="Applied versions")).to_be_visible()
            await passes_axe(other, "the weights page after applying")

            # A participant's own page: the due check-in, answered in the browser.
            me = await (await browser.new_context(viewport=PHONE, bypass_csp=True)).new_page()
            secret = base_settings.secret_key.get_secret_value()
            await me.goto(f"{base}/me/{sign_self_service_link(secret, person_id=mentee)}")
            await expect(me.get_by_role("heading", name="Your matches")).to_be_visible()
            await passes_axe(me, "the participant's page")
            await me.get_by_role("link", name="Answer your 30-day check-in").first.click()
            await expect(me.get_by_role("heading", level=1)).to_contain_text("Your check-in")
            await passes_axe(me, "the check-in form")
            await me.get_by_label("Yes").check()
            await me.get_by_label("4", exact=True).check()
            await me.get_by_label("Anything for your coordinator?").fill("Helpful so far")
            await me.get_by_role("button", name="Send my check-in").click()
            await expect(me.get_by_role("heading", level=1)).to_have_text("Thank you")
            await passes_axe(me, "the thank-you page")
        finally:
            await browser.close()
    conn = await asyncpg.connect(stack.database_url)
    try:
        notes = await conn.fetch(
            "SELECT event->>'note' AS note FROM profiles.match_life"
            " WHERE network_id = $1 AND event_type = 'match.checked_in'",
            learning,
        )
    finally:
        await conn.close()
    assert [row["note"] for row in notes] == ["Helpful so far"]

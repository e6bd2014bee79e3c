"""The coordinators' and administrators' pages against the real database and broker:
permissions on every route, CSRF, decisions (one transaction: read model, audit, outbox ->
Kafka), exchanges all-or-none, escaping, and the signed single-use links from emails."""

from __future__ import annotations

import asyncio
import json
import re
import time
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from services.profiles.accounts.accounts import NewAccount, create_account
from services.profiles.accounts.permissions import AccountRole
from services.profiles.bootstrap import apply_event
from services.profiles.coordination.decisions import decide
from shared.events import (
    FairnessFigures,
    FairnessPriceFigures,
    GroupComparisonFigures,
    GroupFigures,
    GroupTargetFigures,
    MatchProposed,
    MatchWithdrawn,
    RoundCompleted,
    decode_event,
)
from shared.limits import IMPORT_MAX_BODY_BYTES, MAX_UPLOAD_BYTES
from shared.links import sign_decision_link
from shared.matching import MatchKind
from shared.settings import Settings
from shared.topics import Topic
from tests.support.api import bearer_headers
from tests.support.factories import covered, match_proposed
from tests.support.kafka import read_topic
from tests.support.pages import PASSWORD, Browser, Browsers, SeededNetwork, seed_network

pytestmark = pytest.mark.integration

Networks = tuple[SeededNetwork, SeededNetwork]


@pytest.fixture(scope="module")
async def two_networks(app: FastAPI, pool: asyncpg.Pool) -> Networks:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://profiles"
    ) as client:
        first = await seed_network(client, pool, mentee_name="<script>alert('x')</script> Tariq")
        second = await seed_network(client, pool)
    return first, second


@pytest.fixture(scope="module")
async def admin_email(pool: asyncpg.Pool) -> str:
    email = f"admin.{uuid4().hex[:6]}@bridgework.example"
    await add_account(pool, email, "Ada Admin")
    return email


async def add_account(pool: asyncpg.Pool, email: str, name: str) -> None:
    """An administrator's account, made as the CLI makes it."""
    async with pool.acquire() as conn:
        new = NewAccount(email=email, name=name, role=AccountRole.ADMINISTRATOR, password=PASSWORD)
        await create_account(conn, new, actor="test")


async def propose(
    pool: asyncpg.Pool, network: SeededNetwork, exchange_id: str | None = None
) -> MatchProposed:
    """A proposal in the read model, as the consumer stores it from Kafka."""
    event = match_proposed(
        network_id=network.network_id,
        provider_id=network.mentor_id,
        mentee_id=network.mentee_id,
        skills=(covered("clinical-engagement", "Clinical engagement", 2, 5, 7),),
        region_reason="neighbouring regions (Midlands / North West)",
    )
    if exchange_id:
        event = event.model_copy(update={"exchange_id": exchange_id, "kind": MatchKind.SECONDMENT})
    async with pool.acquire() as conn, conn.transaction():
        await apply_event(conn, event)
    return event


def withdrawal(proposal: MatchProposed, reason: str) -> MatchWithdrawn:
    return MatchWithdrawn(
        entity_key=str(proposal.match_id),
        match_id=proposal.match_id,
        network_id=proposal.network_id,
        reason=reason,
    )


async def withdraw(pool: asyncpg.Pool, proposal: MatchProposed, reason: str) -> None:
    """The matcher's withdrawal, as the consumer stores it from Kafka."""
    async with pool.acquire() as conn, conn.transaction():
        await apply_event(conn, withdrawal(proposal, reason))


async def status_of(pool: asyncpg.Pool, match_id: UUID) -> str:
    status: str = await pool.fetchval("SELECT status FROM proposals WHERE match_id = $1", match_id)
    return status


async def footprint(pool: asyncpg.Pool, match_id: UUID) -> tuple[str, int, int]:
    """Status, audit records and outbox events about one match: proof that nothing changed."""
    audits = await pool.fetchval("SELECT count(*) FROM audit_log WHERE subject = $1", str(match_id))
    events = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE message_key = $1", str(match_id)
    )
    return await status_of(pool, match_id), audits, events


def decision_url(network: SeededNetwork, match_id: UUID) -> str:
    return f"/dashboard/{network.network_id}/proposals/{match_id}/decision"


def bulk_url(network: SeededNetwork) -> str:
    return f"/dashboard/{network.network_id}/proposals/bulk-approve"


def coordinator_form(
    network_id: str, name: str, email: str, password: str = PASSWORD
) -> dict[str, str]:
    """The administrator's form for a new coordinator account."""
    return {"network_id": network_id, "name": name, "email": email, "password": password}


async def count(pool: asyncpg.Pool, table: str) -> int:
    total: int = await pool.fetchval(f"SELECT count(*) FROM {table}")
    return total


# --- permissions on every route -------------------------------------------------------------

DASHBOARD_GETS = (
    "proposals",
    "network",
    "pictures",
    "matches.csv",
    "imports",
    "matches",
    "report",
    "report.csv",
    "outcomes.csv",
    "outcomes-anonymised.csv",
    "weights",
    "imports/template/people.csv",
    "trusts",
)
ADMIN_GETS = ("/admin", "/admin/audit")
ADMIN_POSTS = (
    "/admin/networks",
    "/admin/coordinators",
    "/admin/coordinators/remove",
    "/admin/api-tokens",
    "/admin/api-tokens/revoke",
    "/admin/trust-contacts",
    "/admin/trust-contacts/remove",
)


def dashboard_posts(network_id: str, match_id: UUID) -> list[str]:
    return [
        f"/dashboard/{network_id}/proposals/{match_id}/decision",
        f"/dashboard/{network_id}/proposals/bulk-approve",
        f"/dashboard/{network_id}/imports",
        f"/dashboard/{network_id}/matches/{match_id}/met",
        f"/dashboard/{network_id}/matches/{match_id}/close",
        f"/dashboard/{network_id}/weights/apply",
    ]


async def test_anonymous_visitors_are_sent_to_sign_in_and_refused_on_post(
    browsers: Browsers, two_networks: Networks, pool: asyncpg.Pool
) -> None:
    network, _ = two_networks
    proposal = await propose(pool, network)
    browser = browsers.new()
    for page in DASHBOARD_GETS:
        response = await browser.get(f"/dashboard/{network.network_id}/{page}")
        assert response.status_code == 303, page
        assert response.headers["location"].startswith("/sign-in?next=")
    for path in ADMIN_GETS:
        response = await browser.get(path)
        assert (response.status_code, response.headers["location"][:8]) == (303, "/sign-in")
    # Even with a valid form token: no session, no change.
    form = {"decision": "approve", "match_id": str(proposal.match_id)}
    for path in [*dashboard_posts(network.network_id, proposal.match_id), *ADMIN_POSTS]:
        assert (await browser.submit(path, form)).status_code == 401, path
    assert await footprint(pool, proposal.match_id) == ("pending", 0, 0)


async def test_a_coordinator_of_one_network_is_refused_everything_of_another(
    browsers: Browsers, two_networks: Networks, pool: asyncpg.Pool
) -> None:
    mine, theirs = two_networks
    their_proposal = await propose(pool, theirs)
    browser = await browsers.signed_in(mine.coordinator_email)
    for page in DASHBOARD_GETS:
        response = await browser.get(f"/dashboard/{theirs.network_id}/{page}")
        assert response.status_code == 403, page
        assert "Not your network" in response.text
    form = {"decision": "approve", "match_id": str(their_proposal.match_id)}
    for path in dashboard_posts(theirs.network_id, their_proposal.match_id):
        assert (await browser.submit(path, form)).status_code == 403, path
    # Their match through my own network's address: not found in my network.
    for path in dashboard_posts(mine.network_id, their_proposal.match_id)[:2]:
        assert (await browser.submit(path, form)).status_code == 404, path
    assert await footprint(pool, their_proposal.match_id) == ("pending", 0, 0)


async def test_administrator_pages_are_refused_to_coordinators_and_dashboards_to_admins(
    browsers: Browsers, two_networks: Networks, admin_email: str, pool: asyncpg.Pool
) -> None:
    network, _ = two_networks
    coordinator = await browsers.signed_in(network.coordinator_email)
    for path in ADMIN_GETS:
        assert (await coordinator.get(path)).status_code == 403, path
    accounts_before, tokens_before = await count(pool, "accounts"), await count(pool, "api_tokens")
    for path in ADMIN_POSTS:
        form = coordinator_form(
            network.network_id, "Mallory", f"mallory.{uuid4().hex[:6]}@example.org"
        )
        form["coordinator_name"] = "Mallory"
        assert (await coordinator.submit(path, form)).status_code == 403, path
    assert await count(pool, "accounts") == accounts_before
    assert await count(pool, "api_tokens") == tokens_before

    admin = await browsers.signed_in(admin_email)
    for page in DASHBOARD_GETS:
        assert (await admin.get(f"/dashboard/{network.network_id}/{page}")).status_code == 403
    for path in ADMIN_GETS:
        assert (await admin.get(path)).status_code == 200, path


async def test_sign_in_refuses_a_wrong_password_and_home_leads_each_role_to_its_pages(
    browsers: Browsers, two_networks: Networks, admin_email: str
) -> None:
    network, _ = two_networks
    browser = browsers.new()
    page = await browser.get("/sign-in")
    wrong = {"email": network.coordinator_email, "password": "not it at all"}
    response = await browser.submit("/sign-in", wrong)
    assert response.status_code == 401
    assert "do not match" in response.text
    assert "HttpOnly" in page.headers["set-cookie"] or "httponly" in page.headers["set-cookie"]
    assert "samesite=lax" in page.headers["set-cookie"].lower()
    assert (await browser.get("/")).headers["location"] == "/sign-in"

    await browser.sign_in(network.coordinator_email)
    home = await browser.get("/")
    assert home.headers["location"] == f"/dashboard/{network.network_id}/proposals"
    admin = await browsers.signed_in(admin_email)
    assert (await admin.get("/")).headers["location"] == "/admin"
    # An outside address after sign-in is never followed (no open redirect).
    other = browsers.new()
    await other.get("/sign-in?next=//evil.example/")
    form = {"email": admin_email, "password": PASSWORD, "next": "//evil.example/"}
    assert (await other.submit("/sign-in", form)).headers["location"] == "/admin"


async def test_repeated_wrong_passwords_lock_the_email_out_for_a_while(
    browsers: Browsers, pool: asyncpg.Pool
) -> None:
    email = f"guessed.{uuid4().hex[:6]}@bridgework.example"
    await add_account(pool, email, "G")
    browser = browsers.new()
    for _ in range(5):
        wrong = {"email": email, "password": "guess" * 3}
        assert (await browser.submit("/sign-in", wrong)).status_code == 401
    locked = await browser.submit("/sign-in", {"email": email, "password": PASSWORD})
    assert locked.status_code == 429
    assert "Too many failed attempts" in locked.text
    assert (await browser.get("/admin")).status_code == 303  # still not signed in


# --- CSRF -----------------------------------------------------------------------------------

FORGED: tuple[dict[str, str], ...] = ({}, {"csrf_token": "forged-token"})  # none, a wrong one


async def test_forms_without_or_with_a_wrong_csrf_token_are_refused_and_change_nothing(
    browsers: Browsers, two_networks: Networks, admin_email: str, pool: asyncpg.Pool
) -> None:
    network, _ = two_networks
    proposal = await propose(pool, network)
    browser = await browsers.signed_in(network.coordinator_email)
    for token in FORGED:
        response = await browser.post(
            decision_url(network, proposal.match_id), data={"decision": "approve"} | token
        )
        assert response.status_code == 403
        assert "security token is missing or wrong" in response.text
        bulk = {"match_id": str(proposal.match_id)} | token
        assert (await browser.post(bulk_url(network), data=bulk)).status_code == 403
        assert (await browser.post("/sign-out", data=token)).status_code == 403
    assert await footprint(pool, proposal.match_id) == ("pending", 0, 0)

    anonymous = browsers.new()
    no_token = {"email": admin_email, "password": PASSWORD}
    assert (await anonymous.post("/sign-in", data=no_token)).status_code == 403

    admin = await browsers.signed_in(admin_email)
    accounts_before = await count(pool, "accounts")
    form = coordinator_form(network.network_id, "Eve", "eve@example.org")
    assert (await admin.post("/admin/coordinators", data=form)).status_code == 403
    assert await count(pool, "accounts") == accounts_before
    new_network = f"csrf-{uuid4().hex[:6]}"
    creating = {
        "network_id": new_network,
        "name": "Forged Network",
        "coordinator_name": "Eve",
        "email": f"eve.{new_network}@example.org",
        "password": PASSWORD,
    }
    removing = {"email": network.coordinator_email}
    for token in FORGED:
        response = await admin.post("/admin/networks", data=creating | token)
        assert response.status_code == 403
        assert "security token is missing or wrong" in response.text
        response = await admin.post("/admin/coordinators/remove", data=removing | token)
        assert response.status_code == 403
    assert await pool.fetchval("SELECT 1 FROM networks WHERE id = $1", new_network) is None
    assert await count(pool, "accounts") == accounts_before
    assert await pool.fetchval("SELECT 1 FROM accounts WHERE email = $1", network.coordinator_email)


# --- decisions ------------------------------------------------------------------------------


async def test_approving_records_audits_and_publishes_match_decided_to_kafka(
    browsers: Browsers, two_networks: Networks, pool: asyncpg.Pool, settings: Settings
) -> None:
    network, _ = two_networks
    proposal = await propose(pool, network)
    browser = await browsers.signed_in(network.coordinator_email)
    page = await browser.get(f"/dashboard/{network.network_id}/proposals")
    assert str(proposal.match_id) in page.text
    assert "Clinical engagement: from level 2 to 5" in page.text
    assert "neighbouring regions (Midlands / North West)" in page.text

    url = decision_url(network, proposal.match_id)
    response = await browser.submit(url, {"decision": "approve"})
    assert response.status_code == 303
    assert "Approved 1 proposal" in (await browser.get(response.headers["location"])).text
    assert await footprint(pool, proposal.match_id) == ("approved", 1, 1)
    audit = await pool.fetchrow(
        "SELECT actor, action FROM audit_log WHERE subject = $1", str(proposal.match_id)
    )
    assert (audit["actor"], audit["action"]) == (network.coordinator_email, "match.approved")

    [record] = await read_topic(
        settings.kafka_bootstrap_servers,
        Topic.DECISIONS.value,
        lambda r: r.key == str(proposal.match_id).encode(),
    )
    decided = decode_event(record.value)
    assert decided.model_dump(include={"approved", "decided_by", "network_id"}) == {
        "approved": True,
        "decided_by": network.coordinator_email,
        "network_id": network.network_id,
    }

    # Deciding again is refused clearly, and changes nothing.
    again = await browser.submit(url, {"decision": "reject", "reason": "changed"})
    assert again.status_code == 409
    assert "already approved" in again.text
    assert await footprint(pool, proposal.match_id) == ("approved", 1, 1)


async def test_a_rejection_needs_a_reason_and_a_withdrawn_proposal_cannot_be_decided(
    browsers: Browsers, two_networks: Networks, pool: asyncpg.Pool
) -> None:
    network, _ = two_networks
    proposal = await propose(pool, network)
    browser = await browsers.signed_in(network.coordinator_email)
    url = decision_url(network, proposal.match_id)
    response = await browser.submit(url, {"decision": "reject", "reason": "  "})
    assert response.status_code == 409
    assert "Say why" in response.text
    assert await footprint(pool, proposal.match_id) == ("pending", 0, 0)

    response = await browser.submit(url, {"decision": "reject", "reason": "same team"})
    assert response.status_code == 303
    reason = await pool.fetchval(
        "SELECT reason FROM audit_log WHERE subject = $1", str(proposal.match_id)
    )
    assert reason == "same team"

    withdrawn = await propose(pool, network)
    await withdraw(pool, withdrawn, "replaced by a better match")
    response = await browser.submit(
        decision_url(network, withdrawn.match_id), {"decision": "approve"}
    )
    assert response.status_code == 409
    assert "withdrawn" in response.text
    assert await footprint(pool, withdrawn.match_id) == ("withdrawn", 0, 0)


async def test_bulk_approval_and_exchanges_all_or_none(
    browsers: Browsers, two_networks: Networks, pool: asyncpg.Pool
) -> None:
    network, _ = two_networks
    first, second = await propose(pool, network), await propose(pool, network)
    exchange = f"ex-{uuid4().hex[:6]}"
    leg_a, leg_b = await propose(pool, network, exchange), await propose(pool, network, exchange)
    browser = await browsers.signed_in(network.coordinator_email)

    # One leg of the exchange selected: both legs are approved together.
    selected = [str(first.match_id), str(second.match_id), str(leg_a.match_id)]
    response = await browser.submit(bulk_url(network), {"match_id": selected})
    assert response.status_code == 303
    for proposal in (first, second, leg_a, leg_b):
        assert await status_of(pool, proposal.match_id) == "approved"

    # An exchange with a withdrawn leg cannot be approved at all.
    other = f"ex-{uuid4().hex[:6]}"
    leg_c, leg_d = await propose(pool, network, other), await propose(pool, network, other)
    await withdraw(pool, leg_d, "the placement was withdrawn")
    response = await browser.submit(bulk_url(network), {"match_id": str(leg_c.match_id)})
    assert response.status_code == 409
    assert "part of an exchange" in response.text
    assert await footprint(pool, leg_c.match_id) == ("pending", 0, 0)

    # Rejecting one leg rejects the whole exchange, with the reason recorded for each leg.
    third = f"ex-{uuid4().hex[:6]}"
    leg_e, leg_f = await propose(pool, network, third), await propose(pool, network, third)
    response = await browser.submit(
        decision_url(network, leg_e.match_id), {"decision": "reject", "reason": "no cover"}
    )
    assert response.status_code == 303
    assert await footprint(pool, leg_e.match_id) == ("rejected", 1, 1)
    assert await footprint(pool, leg_f.match_id) == ("rejected", 1, 1)


async def test_names_with_html_are_escaped_on_every_page(
    browsers: Browsers, two_networks: Networks, pool: asyncpg.Pool, settings: Settings
) -> None:
    network, _ = two_networks
    proposal = await propose(pool, network)
    browser = await browsers.signed_in(network.coordinator_email)
    pages = [
        (await browser.get(f"/dashboard/{network.network_id}/proposals")).text,
        (await browsers.new().get(link_for(settings, proposal, network.coordinator_email))).text,
    ]
    for text in pages:
        assert "&lt;script&gt;alert(" in text
        assert "<script>" not in text
    exported = await browser.get(f"/dashboard/{network.network_id}/matches.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.content.startswith(b"\xef\xbb\xbfmatch_id,")  # UTF-8 with its BOM
    assert "<script>alert('x')</script> Tariq" in exported.text  # CSV is data, not HTML


async def test_filters_select_by_kind_region_and_age(
    browsers: Browsers, two_networks: Networks, pool: asyncpg.Pool
) -> None:
    network, _ = two_networks
    proposal = await propose(pool, network)
    browser = await browsers.signed_in(network.coordinator_email)
    base = f"/dashboard/{network.network_id}/proposals"
    shown = {
        query: str(proposal.match_id) in (await browser.get(f"{base}?{query}")).text
        for query in (
            "kind=mentoring",
            "kind=secondment",
            "region=Midlands",
            "region=London",
            "older_than_days=7",
        )
    }
    assert shown == {
        "kind=mentoring": True,
        "kind=secondment": False,
        "region=Midlands": True,
        "region=London": False,
        "older_than_days=7": False,
    }


# --- administrators -------------------------------------------------------------------------


async def latest_network_event(pool: asyncpg.Pool, network_id: str) -> str:
    payload = await pool.fetchval(
        "SELECT payload FROM outbox WHERE topic = $1 AND message_key = $2 ORDER BY id DESC",
        Topic.NETWORKS.value,
        network_id,
    )
    return json.dumps(payload)


async def coordinator_emails(pool: asyncpg.Pool, network_id: str) -> list[str]:
    coordinators = await pool.fetchval(
        "SELECT coordinators FROM networks WHERE id = $1", network_id
    )
    return [c["email"] for c in coordinators]


async def test_an_administrator_creates_a_coordinator_who_joins_the_network_and_can_sign_in(
    browsers: Browsers, two_networks: Networks, admin_email: str, pool: asyncpg.Pool
) -> None:
    network, _ = two_networks
    admin = await browsers.signed_in(admin_email)
    email = f"nia.{uuid4().hex[:6]}@network.example"
    form = coordinator_form(network.network_id, "Nia O'Neil & Co", email)
    assert (await admin.submit("/admin/coordinators", form)).status_code == 303
    assert email in await coordinator_emails(pool, network.network_id)
    assert email in await latest_network_event(pool, network.network_id)
    listing = (await admin.get("/admin")).text
    assert "Nia O&#39;Neil &amp; Co" in listing
    audit = (await admin.get("/admin/audit")).text
    assert "account.created" in audit

    short = coordinator_form(
        network.network_id, "Short", f"short.{uuid4().hex[:6]}@example.org", password="short"
    )
    response = await admin.submit("/admin/coordinators", short)
    assert response.status_code == 422
    assert "at least 12 characters" in response.text
    markup = coordinator_form(
        network.network_id, "<b>Bold</b>", f"bold.{uuid4().hex[:6]}@example.org"
    )
    response = await admin.submit("/admin/coordinators", markup)
    assert response.status_code == 422
    assert "HTML is not accepted in names" in response.text

    newcomer = await browsers.signed_in(email)
    assert (await newcomer.get(f"/dashboard/{network.network_id}/proposals")).status_code == 200


async def test_an_administrator_creates_a_network_with_its_first_coordinator_once(
    browsers: Browsers, admin_email: str, pool: asyncpg.Pool
) -> None:
    admin = await browsers.signed_in(admin_email)
    network_id = f"adm-{uuid4().hex[:6]}"
    form = {
        "network_id": network_id,
        "name": "South West Digital Leaders",
        "coordinator_name": "Sam Coordinator",
        "email": f"sam.{network_id}@network.example",
        "password": PASSWORD,
    }
    assert (await admin.submit("/admin/networks", form)).status_code == 303
    name_of = "SELECT name FROM networks WHERE id = $1"
    assert await pool.fetchval(name_of, network_id) == "South West Digital Leaders"
    published = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE topic = $1 AND message_key = $2",
        Topic.NETWORKS.value,
        network_id,
    )
    assert published == 1
    actions = await pool.fetch(
        "SELECT action FROM audit_log WHERE actor = $1 AND subject IN ($2, $3) ORDER BY id",
        admin_email,
        network_id,
        form["email"],
    )
    assert [r["action"] for r in actions] == ["network.created", "account.created"]
    coordinator = await browsers.signed_in(form["email"])
    assert (await coordinator.get(f"/dashboard/{network_id}/proposals")).status_code == 200

    again = await admin.submit("/admin/networks", form | {"name": "Renamed"})
    assert again.status_code == 422
    assert "exists already" in again.text
    assert await pool.fetchval(name_of, network_id) == "South West Digital Leaders"


async def test_an_administrator_makes_a_networks_api_token_sees_it_once_and_revokes_it(
    browsers: Browsers, two_networks: Networks, admin_email: str, pool: asyncpg.Pool
) -> None:
    network, other = two_networks
    admin = await browsers.signed_in(admin_email)
    name = f"hr-{uuid4().hex[:6]}"
    form = {"name": name, "network_id": network.network_id}
    made = await admin.submit("/admin/api-tokens", form)
    assert made.status_code == 200
    assert made.headers["cache-control"] == "no-store"
    found = re.search(r"<code>(bw_[A-Za-z0-9_-]+)</code>", made.text)
    assert found is not None
    bearer = {"Authorization": f"Bearer {found[1]}"}
    api = browsers.new()
    mine, theirs = (f"/trusts/{n.trust_codes[0]}" for n in (network, other))
    assert (await api.get(mine, headers=bearer)).status_code == 200
    assert (await api.get(theirs, headers=bearer)).status_code == 404
    listing = (await admin.get("/admin")).text
    assert name in listing
    assert found[1] not in listing  # shown once only
    again = await admin.submit("/admin/api-tokens", form)
    assert again.status_code == 422
    assert "revoke it first" in again.text

    assert (await admin.submit("/admin/api-tokens/revoke", {"name": name})).status_code == 303
    assert (await api.get(mine, headers=bearer)).status_code == 401
    actions = await pool.fetch(
        "SELECT action FROM audit_log WHERE actor = $1 AND subject = $2 ORDER BY id",
        admin_email,
        name,
    )
    assert [r["action"] for r in actions] == ["api_token.created", "api_token.revoked"]


async def test_a_removed_coordinator_loses_their_session_their_links_and_their_emails(
    browsers: Browsers,
    two_networks: Networks,
    admin_email: str,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    network, _ = two_networks
    admin = await browsers.signed_in(admin_email)
    email = f"leaving.{uuid4().hex[:6]}@network.example"
    form = coordinator_form(network.network_id, "Leaving Coordinator", email)
    assert (await admin.submit("/admin/coordinators", form)).status_code == 303
    leaving = await browsers.signed_in(email)
    proposal = await propose(pool, network)
    link = link_for(settings, proposal, email)
    assert (await browsers.new().get(link)).status_code == 200

    removed = await admin.submit("/admin/coordinators/remove", {"email": email})
    assert removed.status_code == 303
    assert await pool.fetchval("SELECT count(*) FROM accounts WHERE email = $1", email) == 0
    coordinators = await coordinator_emails(pool, network.network_id)
    assert email not in coordinators
    assert network.coordinator_email in coordinators
    assert email not in await latest_network_event(pool, network.network_id)

    page = await leaving.get(f"/dashboard/{network.network_id}/proposals")
    assert (page.status_code, page.headers["location"][:8]) == (303, "/sign-in")
    refused = await browsers.new().post(link)
    assert refused.status_code == 403
    assert "no longer coordinates" in refused.text
    assert await footprint(pool, proposal.match_id) == ("pending", 0, 0)
    again = await admin.submit("/admin/coordinators/remove", {"email": email})
    assert again.status_code == 422


# --- decision links from emails --------------------------------------------------------------


def link_for(settings: Settings, proposal: MatchProposed, email: str, approve: bool = True) -> str:
    token = sign_decision_link(
        settings.secret_key.get_secret_value(),
        match_id=proposal.match_id,
        network_id=proposal.network_id,
        approve=approve,
        coordinator_email=email,
    )
    return f"/links/decision/{token}"


async def test_a_decision_link_confirms_on_get_decides_on_post_and_works_once(
    browsers: Browsers, two_networks: Networks, pool: asyncpg.Pool, settings: Settings
) -> None:
    network, _ = two_networks
    proposal = await propose(pool, network)
    browser = browsers.new()
    url = link_for(settings, proposal, network.coordinator_email, approve=False)
    page = await browser.get(url)
    assert page.status_code == 200
    assert "Reject this mentoring match?" in page.text
    assert await footprint(pool, proposal.match_id) == ("pending", 0, 0)  # GET changes nothing

    response = await browser.post(url, data={"reason": "they already work together"})
    assert (response.status_code, response.headers["location"]) == (303, "/links/decided/rejected")
    assert "the match is rejected" in (await browser.get(response.headers["location"])).text
    assert await footprint(pool, proposal.match_id) == ("rejected", 1, 1)
    audit = await pool.fetchrow(
        "SELECT actor, reason, details FROM audit_log WHERE subject = $1", str(proposal.match_id)
    )
    assert (audit["actor"], audit["reason"]) == (
        network.coordinator_email,
        "they already work together",
    )
    assert audit["details"]["via"] == "email-link"

    replay = await browser.post(url, data={"reason": "again"})
    assert replay.status_code == 410
    assert "works once" in replay.text
    assert (await browser.get(url)).status_code == 410


async def test_forged_expired_and_outdated_links_are_refused_and_change_nothing(
    browsers: Browsers,
    two_networks: Networks,
    pool: asyncpg.Pool,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    network, _ = two_networks
    proposal = await propose(pool, network)
    used_before = await count(pool, "used_link_tokens")
    browser = browsers.new()
    url = link_for(settings, proposal, network.coordinator_email)

    forged = url[:-3] + ("aaa" if not url.endswith("aaa") else "bbb")
    for method in ("GET", "POST"):
        response = await browser.client.request(method, forged)
        assert response.status_code == 400
        assert "not valid" in response.text
    other_key = sign_decision_link(
        "someone else's key",
        match_id=proposal.match_id,
        network_id=network.network_id,
        approve=True,
        coordinator_email=network.coordinator_email,
    )
    assert (await browser.post(f"/links/decision/{other_key}")).status_code == 400

    real_time = time.time
    with monkeypatch.context() as past:
        past.setattr(
            time, "time", lambda: real_time() - settings.decision_link_max_age_seconds - 60
        )
        expired = link_for(settings, proposal, network.coordinator_email)
    response = await browser.post(expired)
    assert response.status_code == 400
    assert "expired" in response.text

    not_coordinator = link_for(settings, proposal, "former.coordinator@network.example")
    response = await browser.post(not_coordinator)
    assert response.status_code == 403
    assert "no longer coordinates" in response.text
    assert await footprint(pool, proposal.match_id) == ("pending", 0, 0)
    assert await count(pool, "used_link_tokens") == used_before


# --- the read model follows Kafka -----------------------------------------------------------


async def test_the_read_model_follows_proposals_withdrawals_and_rounds_on_kafka(
    settings: Settings, pool: asyncpg.Pool, two_networks: Networks
) -> None:
    network, _ = two_networks
    proposed = match_proposed(network_id=network.network_id)
    withdrawn = withdrawal(proposed, "replaced by a better match")
    stats = GroupFigures(label="everyone", mentees=4, matched=3, match_rate=0.75)
    completed = RoundCompleted(
        entity_key=network.network_id,
        network_id=network.network_id,
        fairness=FairnessFigures(kind=MatchKind.MENTORING, overall=stats, comparisons=()),
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        for event in (proposed, withdrawn, completed):
            await producer.send_and_wait(
                event.topic.value, event.to_json_bytes(), key=event.entity_key.encode()
            )
    finally:
        await producer.stop()

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = await pool.fetchval(
            "SELECT status FROM proposals WHERE match_id = $1", proposed.match_id
        )
        report = await pool.fetchval(
            "SELECT report FROM fairness_reports WHERE network_id = $1", network.network_id
        )
        if status == "withdrawn" and report is not None:
            break
        await asyncio.sleep(0.2)
    assert status == "withdrawn"
    assert report["overall"]["match_rate"] == 0.75


# --- imports through the web page -------------------------------------------------------------

PEOPLE_HEADER = "role,name,email,job_title,trust_code,skills,capacity,hours_per_month,gaps\n"


def people_file(body: str) -> dict[str, tuple[str, bytes, str]]:
    return {"file": ("people.csv", body.encode(), "text/csv")}


async def upload(browser: Browser, network_id: str, body: str, **options: str) -> httpx.Response:
    form = {"kind": "people", **options}
    return await browser.submit(f"/dashboard/{network_id}/imports", form, files=people_file(body))


async def test_an_import_shows_each_row_and_stores_nothing_when_a_row_is_refused(
    browsers: Browsers, two_networks: Networks, pool: asyncpg.Pool
) -> None:
    mine, theirs = two_networks
    tag = uuid4().hex[:6]
    good = (
        f"mentor,Mina Mentor,mina.{tag}@example.org,CIO,{mine.trust_codes[0]},procurement:6,1,4,\n"
    )
    foreign = (
        f"mentee,Theo Other,theo.{tag}@example.org,Analyst,{theirs.trust_codes[0]},,,,"
        "procurement:1-4\n"
    )
    browser = await browsers.signed_in(mine.coordinator_email)
    page = await browser.get(f"/dashboard/{mine.network_id}/imports")
    assert "Import from a spreadsheet" in page.text

    response = await upload(browser, mine.network_id, PEOPLE_HEADER + good + foreign)
    assert response.status_code == 422
    assert "1 people row(s) accepted, 1 refused" in response.text
    assert f"theo.{tag}@example.org" in response.text
    assert "refused" in response.text
    stored = "SELECT count(*) FROM people WHERE email LIKE $1"
    assert await pool.fetchval(stored, f"%.{tag}@%") == 0

    without_token = await browser.post(
        f"/dashboard/{mine.network_id}/imports",
        data={"kind": "people"},
        files=people_file(PEOPLE_HEADER + good),
    )
    assert without_token.status_code == 403
    assert await pool.fetchval(stored, f"%.{tag}@%") == 0

    response = await upload(browser, mine.network_id, PEOPLE_HEADER + good)
    assert response.status_code == 200
    assert "1 people row(s) accepted, 0 refused; they were stored" in response.text
    assert await pool.fetchval(stored, f"%.{tag}@%") == 1
    audited = await pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE actor = $1 AND action LIKE 'import%'",
        mine.coordinator_email,
    )
    assert audited >= 2


async def test_the_import_page_takes_the_5_mb_it_promises_beyond_the_apis_body_limit(
    browsers: Browsers, two_networks: Networks, settings: Settings
) -> None:
    mine, _ = two_networks
    tag = uuid4().hex[:6]
    row = f"mentor,Max Mentor,max.{tag}@example.org,CIO,{mine.trust_codes[0]},procurement:6,1,4,\n"
    browser = await browsers.signed_in(mine.coordinator_email)
    # Lines of spaces are skipped as blank: a file twice the API's limit, with one row in it.
    padding = (" " * 1023 + "\n") * (2 * settings.max_request_body_bytes // 1024)
    response = await upload(browser, mine.network_id, PEOPLE_HEADER + row + padding, dry_run="on")
    assert response.status_code == 200, response.text[:300]
    assert "1 people row(s) accepted, 0 refused" in response.text
    # Over 5 MB: the page's own refusal; far over: refused before the app reads it.
    too_big = await upload(browser, mine.network_id, PEOPLE_HEADER + "\n" * MAX_UPLOAD_BYTES)
    assert too_big.status_code == 413
    assert "Files of at most 5 MB can be imported." in too_big.text
    far_too_big = await upload(browser, mine.network_id, "\n" * (IMPORT_MAX_BODY_BYTES + 1))
    assert far_too_big.status_code == 413
    assert "nothing was stored" in far_too_big.json()["detail"]
    # The JSON API keeps its own limit.
    json_body = b'{"name": "' + b"x" * settings.max_request_body_bytes + b'"}'
    headers = {"content-type": "application/json"}
    assert (await browser.post("/mentors", content=json_body, headers=headers)).status_code == 413


# --- the coordinator's Network and Flows-and-fairness pages -----------------------------------


async def test_the_network_and_pictures_pages_show_their_coordinator_the_networks_state(
    browsers: Browsers, pool: asyncpg.Pool
) -> None:
    admin = browsers.new()
    network = await seed_network(admin.client, pool)
    home, host = network.trust_codes[1], network.trust_codes[0]
    headers = await bearer_headers(pool, network.network_id)
    waiting = await admin.post(
        "/mentees",
        json={
            "name": "Wanda Waiting",
            "email": f"wanda.{uuid4().hex[:6]}@example.org",
            "job_title": "Informatics Lead",
            "trust_code": home,
            "gaps": [{"skill": "clinical-engagement", "current": 1, "target": 4}],
        },
        headers=headers,
    )
    placement = await admin.post(
        "/placements",
        json={
            "host_trust_code": host,
            "role": "Digital Transformation Lead",
            "months": 6,
            "fte": 0.6,
            "places": 2,
            "skills_developed": [{"skill": "change-management", "level": 5}],
        },
        headers=headers,
    )
    assert (waiting.status_code, placement.status_code) == (201, 201), waiting.text
    waiting_id, placement_id = UUID(waiting.json()["id"]), UUID(placement.json()["id"])
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE people SET created_at = now() - interval '3 days 2 hours' WHERE id = $1",
            waiting_id,
        )
    # The seeded mentee is matched (the mentor's capacity: 1 of 2 used); Wanda's mentoring
    # proposal is rejected and a secondment to the host trust is proposed to her.
    approved = await propose(pool, network)
    rejected = match_proposed(
        network_id=network.network_id, provider_id=network.mentor_id, mentee_id=waiting_id
    )
    secondment = match_proposed(
        network_id=network.network_id, provider_id=placement_id, mentee_id=waiting_id
    ).model_copy(update={"kind": MatchKind.SECONDMENT})
    figures = FairnessFigures(
        kind=MatchKind.MENTORING,
        overall=GroupFigures(label="everyone", mentees=10, matched=6, match_rate=0.6),
        comparisons=(
            GroupComparisonFigures(
                group="part_time",
                members=GroupFigures(label="part-time", mentees=4, matched=1, match_rate=0.25),
                others=GroupFigures(label="full-time", mentees=6, matched=5, match_rate=5 / 6),
            ),
        ),
        price=FairnessPriceFigures(
            total_score=4.2,
            free_total_score=4.89,
            price=0.69,
            price_pct=14.11,
            bound_gap=0.0,
            targets=(
                GroupTargetFigures(
                    group="part_time", target_share=0.9, rate_to_overall=0.42, met=False
                ),
                GroupTargetFigures(group="social_care", target_share=0.0, met=True),
                GroupTargetFigures(
                    group="small_trust",
                    target_share=0.9,
                    rate_to_overall=0.8,
                    reference="others",
                    rate_to_reference=0.95,
                    met=True,
                ),
            ),
        ),
    )
    completed = RoundCompleted(
        entity_key=network.network_id, network_id=network.network_id, fairness=figures
    )
    async with pool.acquire() as conn:
        for event in (rejected, secondment, completed):
            async with conn.transaction():
                await apply_event(conn, event)
        for match_id, yes in ((approved.match_id, True), (rejected.match_id, False)):
            await decide(
                conn,
                network_id=network.network_id,
                match_ids=[match_id],
                approved=yes,
                reason="" if yes else "not the right fit",
                decided_by=network.coordinator_email,
            )

    coordinator = await browsers.signed_in(network.coordinator_email)
    page = await coordinator.get(f"/dashboard/{network.network_id}/network")
    assert page.status_code == 200
    html = page.text
    # Capacity: one approved of two.
    assert "Morag Mentor" in html
    assert '<meter min="0" max="1" value="0.5">' in html
    assert "1 / 2.0" in html
    # Wanda waits (the matched mentee does not), three days, one secondment pending.
    assert "Mentees waiting (1)" in html
    assert "Wanda Waiting" in html
    assert "Informatics Lead, Trust " + home in html
    assert "<td>3 days</td><td>1</td>" in html
    # The placement is open, both places.
    assert "Digital Transformation Lead" in html
    assert "2 of 2" in html
    # Decisions over time: one approved and one rejected today.
    assert "Decisions over the last 14 days (2)" in html
    today = time.strftime("%d %b", time.gmtime())
    for kind in ("approved", "rejected"):
        assert f">{today} {kind}</text>" in html
        assert f'<rect class="bar {kind}"' in html

    pictures = await coordinator.get(f"/dashboard/{network.network_id}/pictures")
    assert pictures.status_code == 200
    html = pictures.text
    # The flow graph: one proposed arrow from the candidate's home trust to the host trust,
    # trusts by name, and the same numbers in the table beside it.
    assert '<svg class="graph"' in html
    assert html.count('<line class="flow proposed"') == 1
    assert '<line class="flow approved' not in html
    assert f"<title>Trust {home} → Trust {host}: 1 proposed</title>" in html
    for code in (home, host):
        assert f'text-anchor="middle">Trust {code}</text>' in html
    assert f"<tr><td>Trust {home}</td><td>Trust {host}</td>" in html
    assert "<td>0</td><td>1</td></tr>" in html
    # The fairness bars: the part-time group next to everyone else.
    assert "overall 60% of 10" in html
    assert '<rect class="bar members"' in html
    assert '<rect class="bar others"' in html
    assert ">part-time</text>" in html
    assert ">25% of 4</text>" in html
    assert ">83% of 6</text>" in html
    # The fairness targets' price, and each target set (social care had none).
    assert "Meeting the fairness targets cost 0.690 of the round's" in html
    assert "(14.11&nbsp;%: 4.200" in html
    assert (
        "<td>part-time mentees</td><td>at least 0.90 of the overall rate</td><td>0.42</td>"
        "<td>no</td>" in html
    )
    # Small trusts' target is a share of large trusts' rate (issue 17), and says so.
    assert (
        "<td>mentees of small trusts</td><td>at least 0.90 of large trusts&#39; rate</td>"
        "<td>0.95</td><td>yes</td>" in html
    )
    assert "social care mentees</td>" not in html  # no target set

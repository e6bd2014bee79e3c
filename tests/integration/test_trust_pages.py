"""Trusts take part (issue 17) against the real database, broker and SMTP server: a trust's
contact signs in with a single-use emailed link and sees only their own trust; every trust
route refuses another trust's contact, a coordinator and a stranger; a secondment is introduced
only with the coordinator's approval and both trusts' consents, an exchange all or none; consent
links that are forged, expired or replayed change nothing; a consent's reminder goes out once
across a restart of the notifier; a consent nobody answers expires once, whatever happens to the
pass that expires it; a member of staff's own request waits for their home trust's answer."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from unittest import mock
from urllib.parse import quote
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from services.notifier.handlers import remind_consents
from services.notifier.mailer import MailQueue
from services.notifier.repository import NotifierRepository
from services.profiles.accounts.accounts import NewAccount, create_account
from services.profiles.accounts.permissions import AccountRole
from services.profiles.bootstrap import apply_event
from services.profiles.trusts import consents as consents_module
from services.profiles.trusts import coordinator_pages as trust_coordinator_pages
from services.profiles.trusts import pages as trust_pages
from services.profiles.trusts.contacts import NewContact, add_contact
from services.profiles.trusts.deadlines import ConsentDeadlines
from shared import outbox
from shared.consuming import EventConsumer
from shared.events import (
    Event,
    MatchProposed,
    SecondmentChanged,
    SecondmentRequestDecided,
    SecondmentStatus,
    decode_event,
)
from shared.links import sign_consent_link, sign_self_service_link, sign_trust_sign_in_link
from shared.matching import MatchKind
from shared.settings import Settings
from tests.support.factories import covered, match_proposed
from tests.support.mail import Inbox
from tests.support.notifier import deliver, send_everything
from tests.support.pages import (
    PASSWORD,
    Browser,
    Browsers,
    csrf_from,
    seed_network,
    sign_in_as_trust_contact,
)

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class TrustNetwork:
    network_id: str
    coordinator_email: str
    trusts: tuple[str, str, str]
    contacts: tuple[str, str, str]  # one contact per trust, in the same order
    staff: tuple[UUID, UUID, UUID]  # a mentee of each trust, open to secondment
    placements: tuple[UUID, UUID, UUID]  # a placement hosted by each trust
    mentor_id: UUID


@pytest.fixture
async def browsers(app: FastAPI) -> AsyncIterator[Browsers]:
    opened = Browsers(app)
    yield opened
    await opened.close()


async def seed_trusts(api: httpx.AsyncClient, pool: asyncpg.Pool) -> TrustNetwork:
    """A network of three trusts (the first small), each with a contact, a mentee open to
    secondment and a placement; a mentor too (whose mentoring no trust may see)."""
    seeded = await seed_network(api, pool)
    tag = uuid4().hex[:6]
    trusts = (f"S{tag}", *seeded.trust_codes)
    small = {"name": f"Small trust {tag}", "region": "London", "network_id": seeded.network_id}
    assert (
        await api.put(f"/trusts/{trusts[0]}", json={**small, "is_small": True})
    ).status_code == 204
    contacts, staff, placements = [], [], []
    for i, code in enumerate(trusts):
        email = f"lead{i}.{tag}@trust{i}.example"
        async with pool.acquire() as conn:
            await add_contact(conn, code, NewContact(name=f"Lead {i}", email=email), actor="test")
        contacts.append(email)
        mentee = await api.post(
            "/mentees",
            json={
                "name": f"Sam Staff{i}",
                "email": f"sam{i}.{tag}@example.org",
                "job_title": "Analyst",
                "trust_code": code,
                "gaps": [{"skill": "data-analytics", "current": 2, "target": 5}],
                "open_to_secondment": True,
            },
        )
        placement = await api.post(
            "/placements",
            json={
                "host_trust_code": code,
                "role": f"Data lead {i}",
                "skills_developed": [{"skill": "data-analytics", "level": 5}],
                "months": 6,
                "fte": 0.4,
            },
        )
        assert (mentee.status_code, placement.status_code) == (201, 201), placement.text
        staff.append(UUID(mentee.json()["id"]))
        placements.append(UUID(placement.json()["id"]))
    return TrustNetwork(
        network_id=seeded.network_id,
        coordinator_email=seeded.coordinator_email,
        trusts=trusts,
        contacts=(contacts[0], contacts[1], contacts[2]),
        staff=(staff[0], staff[1], staff[2]),
        placements=(placements[0], placements[1], placements[2]),
        mentor_id=seeded.mentor_id,
    )


@pytest.fixture
async def network(api_client: httpx.AsyncClient, pool: asyncpg.Pool) -> TrustNetwork:
    return await seed_trusts(api_client, pool)


async def propose_exchange(pool: asyncpg.Pool, net: TrustNetwork) -> list[MatchProposed]:
    """The matcher's three-trust exchange: trust i's member of staff to trust i+1's placement."""
    exchange_id = f"x-{uuid4().hex[:8]}"
    proposals = [
        match_proposed(
            network_id=net.network_id,
            kind=MatchKind.SECONDMENT,
            provider_id=net.placements[(i + 1) % 3],
            mentee_id=net.staff[i],
            skills=(covered("data-analytics", "Data analytics", 2, 5, 5),),
        ).model_copy(update={"exchange_id": exchange_id})
        for i in range(3)
    ]
    async with pool.acquire() as conn, conn.transaction():
        for proposal in proposals:
            await apply_event(conn, proposal)
    return proposals


async def propose_mentoring(pool: asyncpg.Pool, net: TrustNetwork) -> MatchProposed:
    proposal = match_proposed(
        network_id=net.network_id, provider_id=net.mentor_id, mentee_id=net.staff[0]
    )
    async with pool.acquire() as conn, conn.transaction():
        await apply_event(conn, proposal)
    return proposal


async def contact_browser(
    browsers: Browsers, settings: Settings, net: TrustNetwork, i: int
) -> Browser:
    browser = browsers.new()
    secret = settings.secret_key.get_secret_value()
    response = await sign_in_as_trust_contact(browser, secret, net.trusts[i], net.contacts[i])
    assert response.status_code == 303
    assert response.headers["location"] == f"/trust/{net.trusts[i]}"
    return browser


async def approve(browsers: Browsers, net: TrustNetwork, match_id: UUID) -> None:
    coordinator = await browsers.signed_in(net.coordinator_email)
    response = await coordinator.submit(
        f"/dashboard/{net.network_id}/proposals/{match_id}/decision", {"decision": "approve"}
    )
    assert response.status_code == 303, response.text


def consent_url(net: TrustNetwork, i: int, match_id: UUID, party: str) -> str:
    return f"/trust/{net.trusts[i]}/consents/{match_id}/{party}"


async def footprint(pool: asyncpg.Pool, net: TrustNetwork) -> tuple[object, ...]:
    """Everything a consent or a trust's action could change: proof that nothing did."""
    return (
        await pool.fetch("SELECT * FROM consents ORDER BY match_id, party"),
        await pool.fetch("SELECT * FROM secondments ORDER BY match_id"),
        await pool.fetchval("SELECT count(*) FROM audit_log"),
        await pool.fetchval("SELECT count(*) FROM outbox"),
        await pool.fetch("SELECT id, details, paused_at, withdrawn_at FROM placements ORDER BY id"),
        await pool.fetch("SELECT id, details FROM people ORDER BY id"),
    )


# --- signing in -----------------------------------------------------------------------------


async def test_a_contact_asks_for_a_link_and_signs_in_once_with_it(
    browsers: Browsers, settings: Settings, pool: asyncpg.Pool, network: TrustNetwork
) -> None:
    browser = browsers.new()
    form = await browser.get("/trust/sign-in")
    asked = await browser.post(
        "/trust/sign-in", data={"csrf_token": csrf_from(form.text), "email": network.contacts[1]}
    )
    stranger = await browser.post(
        "/trust/sign-in", data={"csrf_token": csrf_from(form.text), "email": "nobody@x.example"}
    )
    assert asked.status_code == stranger.status_code == 200
    assert asked.text == stranger.text  # the page does not tell who is a contact
    requested = await pool.fetch(
        "SELECT payload FROM outbox WHERE payload->>'event_type' = 'trust.sign_in_requested'"
        " AND payload->>'contact_email' = $1",
        network.contacts[1],
    )
    assert len(requested) == 1

    secret = settings.secret_key.get_secret_value()
    token = sign_trust_sign_in_link(
        secret, trust_code=network.trusts[1], contact_email=network.contacts[1]
    )
    page = await browser.get(f"/trust/sign-in/{token}")
    signed = await browser.post(
        f"/trust/sign-in/{token}", data={"csrf_token": csrf_from(page.text)}
    )
    assert signed.status_code == 303
    home = await browser.get(f"/trust/{network.trusts[1]}")
    assert home.status_code == 200
    assert "Your placements" in home.text
    replayed = await browsers.new().get(f"/trust/sign-in/{token}")
    assert replayed.status_code == 410


async def test_a_removed_contacts_link_signs_nobody_in(
    browsers: Browsers, settings: Settings, pool: asyncpg.Pool, network: TrustNetwork
) -> None:
    coordinator = await browsers.signed_in(network.coordinator_email)
    removed = await coordinator.submit(
        f"/dashboard/{network.network_id}/trusts/{network.trusts[2]}/contacts/remove",
        {"email": network.contacts[2]},
    )
    assert removed.status_code == 303
    browser = browsers.new()
    secret = settings.secret_key.get_secret_value()
    token = sign_trust_sign_in_link(
        secret, trust_code=network.trusts[2], contact_email=network.contacts[2]
    )
    page = await browser.get(f"/trust/sign-in/{token}")
    response = await browser.post(
        f"/trust/sign-in/{token}", data={"csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 403
    assert (await browser.get(f"/trust/{network.trusts[2]}")).status_code == 303  # to sign in


# --- permissions: every trust route -----------------------------------------------------------


def trust_routes() -> list[tuple[str, str]]:
    """Every (method, path) of a trust's pages, read off their router: a new route is covered."""
    return sorted(
        (method, route.path)
        for route in trust_pages.router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    )


def fill(path: str, trust: str, ids: dict[str, str]) -> str:
    for name, value in {"trust_code": trust, **ids}.items():
        path = path.replace("{" + name + "}", value)
    return path


async def test_every_trust_route_refuses_another_trusts_contact_a_coordinator_and_a_stranger(
    browsers: Browsers,
    settings: Settings,
    pool: asyncpg.Pool,
    network: TrustNetwork,
) -> None:
    [first, *_] = await propose_exchange(pool, network)
    await approve(browsers, network, first.match_id)
    # The ids each route takes, all trust 0's (its placement, its member of staff, its
    # secondment as home trust): trust 1's contact must reach none of them.
    ids = {
        "placement_id": str(network.placements[0]),
        "person_id": str(network.staff[0]),
        "match_id": str(first.match_id),
        "party": "home",
        "change": "pause",
        "step": "start",
    }
    other = await contact_browser(browsers, settings, network, 1)
    coordinator = await browsers.signed_in(network.coordinator_email)
    stranger = browsers.new()
    routes = trust_routes()
    assert len(routes) >= 9
    before = await footprint(pool, network)
    form = {"answer": "refuse", "reason": "no", "forward": "no", "on": "2027-01-04"}
    form |= {"role": "X", "months": "6", "days_per_week": "2", "skill_1": "data-analytics"}
    for method, path in routes:
        url = fill(path, network.trusts[0], ids)
        for who, browser in (("trust 1's contact", other), ("coordinator", coordinator)):
            if method == "GET":
                response = await browser.get(url)
            else:
                response = await browser.submit(url, form)
            assert response.status_code == 403, (who, method, url)
            assert "Sam Staff0" not in response.text
            assert "Data lead 0" not in response.text
        anonymous = await (stranger.get(url) if method == "GET" else stranger.post(url, data=form))
        assert anonymous.status_code in (303, 401), (method, url)
    assert await footprint(pool, network) == before


async def test_another_trusts_things_are_absent_under_ones_own_trust(
    browsers: Browsers, settings: Settings, pool: asyncpg.Pool, network: TrustNetwork
) -> None:
    """Trust 1's contact, on trust 1's own routes, naming trust 0's placement, member of staff
    or secondment: as if absent, nothing changed."""
    [first, *_] = await propose_exchange(pool, network)  # first: trust 0's staff -> trust 1
    mentoring = await propose_mentoring(pool, network)
    await approve(browsers, network, first.match_id)
    browser = await contact_browser(browsers, settings, network, 1)
    before = await footprint(pool, network)
    own = f"/trust/{network.trusts[1]}"
    placement_0, staff_0 = network.placements[0], network.staff[0]
    assert (await browser.get(f"{own}/placements/{placement_0}")).status_code == 404
    for change in ("pause", "resume", "withdraw"):
        response = await browser.submit(f"{own}/placements/{placement_0}/{change}")
        assert response.status_code == 404
    edit = {"role": "Mine now", "months": "6", "days_per_week": "2", "skill_1": "data-analytics"}
    assert (await browser.submit(f"{own}/placements/{placement_0}", edit)).status_code == 404
    assert (await browser.submit(f"{own}/staff/{staff_0}", {"forward": "no"})).status_code == 404
    # Trust 1 hosts the first secondment: it may accept, but not release trust 0's staff.
    home = await browser.submit(f"{own}/consents/{first.match_id}/home", {"answer": "give"})
    assert home.status_code == 409
    step = await browser.submit(f"{own}/secondments/{uuid4()}/start", {"on": "2027-01-04"})
    assert step.status_code == 409
    assert await footprint(pool, network) == before
    staff_0_home = await contact_browser(browsers, settings, network, 0)
    page = await staff_0_home.get(f"/trust/{network.trusts[0]}")
    assert "Sam Staff0" in page.text  # trust 0's own member of staff, as a secondment candidate
    assert str(mentoring.match_id) not in page.text  # no mentoring
    assert "Morag" not in page.text
    assert (await browser.get(f"/dashboard/{network.network_id}/proposals")).status_code == 403
    assert (await browser.get("/admin")).status_code == 403


# --- consents -------------------------------------------------------------------------------


async def outbox_events(pool: asyncpg.Pool, keys: list[str]) -> list[Event]:
    rows = await pool.fetch(
        "SELECT payload FROM outbox WHERE message_key = ANY($1::text[]) ORDER BY id", keys
    )
    return [decode_event(json_bytes(row["payload"])) for row in rows]


def json_bytes(payload: object) -> bytes:
    return json.dumps(payload).encode()


async def notify(
    pool: asyncpg.Pool,
    net: TrustNetwork,
    proposals: list[MatchProposed],
    consumer: EventConsumer,
) -> None:
    """Everything the profiles service published about the network, then the proposals (as the
    matcher published them), then the decisions and consents, to the notifier."""
    directory = [net.network_id, *net.trusts, *map(str, net.staff), *map(str, net.placements)]
    await deliver(consumer, *await outbox_events(pool, directory))
    await deliver(consumer, *proposals)
    await deliver(consumer, *await outbox_events(pool, [str(p.match_id) for p in proposals]))


async def answer_all(
    browsers: Browsers,
    settings: Settings,
    net: TrustNetwork,
    proposals: list[MatchProposed],
    refuse: tuple[int, str] | None = None,
) -> None:
    """Each trust's contact answers both its consents (host of one, home of another)."""
    for i in range(3):
        browser = await contact_browser(browsers, settings, net, i)
        page = await browser.get(f"/trust/{net.trusts[i]}")
        assert "Consents waiting for you (2)" in page.text
        for party, proposal in (("home", proposals[i]), ("host", proposals[(i - 1) % 3])):
            answer = {"answer": "give"}
            if refuse == (i, party):
                answer = {"answer": "refuse", "reason": "we cannot spare them this winter"}
            response = await browser.submit(consent_url(net, i, proposal.match_id, party), answer)
            if response.status_code == 409:  # the exchange was already settled by a refusal
                continue
            assert response.status_code == 303, response.text


async def test_a_three_trust_exchange_with_one_refusal_introduces_nobody(
    browsers: Browsers,
    settings: Settings,
    pool: asyncpg.Pool,
    network: TrustNetwork,
    notifier_consumer: EventConsumer,
    notifier_pool: asyncpg.Pool,
    smtp_inbox: Inbox,
) -> None:
    proposals = await propose_exchange(pool, network)
    await approve(browsers, network, proposals[1].match_id)  # approves the whole exchange
    queue = MailQueue(notifier_pool, settings.model_copy(update={"smtp_port": smtp_inbox.port}))
    await notify(pool, network, proposals, notifier_consumer)  # the consent requests
    await send_everything(queue, notifier_pool)
    await answer_all(browsers, settings, network, proposals, refuse=(2, "home"))
    statuses = dict(
        await pool.fetch(
            "SELECT match_id, status FROM secondments WHERE match_id = ANY($1::uuid[])",
            [p.match_id for p in proposals],
        )
    )
    assert sorted(statuses.values()) == ["not_agreed", "not_agreed", "refused"]
    assert statuses[proposals[2].match_id] == "refused"
    refusals = await pool.fetch(
        "SELECT actor, reason, details FROM audit_log WHERE action = 'consent.refused'"
        " AND subject = $1",
        str(proposals[2].match_id),
    )
    assert [r["reason"] for r in refusals] == ["we cannot spare them this winter"]

    await notify(pool, network, proposals, notifier_consumer)  # the answers (redelivered: once)
    await send_everything(queue, notifier_pool)
    subjects = [str(m["Subject"]) for m in smtp_inbox.messages]
    assert any(s.startswith("Will ") for s in subjects)  # the consent requests went out
    assert not any("secondment" in s.lower() and "introduc" in s.lower() for s in subjects)
    introductions = await notifier_pool.fetchval(
        "SELECT count(*) FROM emails WHERE purpose = 'introduction' AND match_id = ANY($1::uuid[])",
        [p.match_id for p in proposals],
    )
    assert introductions == 0
    coordinator = await browsers.signed_in(network.coordinator_email)
    trusts_page = await coordinator.get(f"/dashboard/{network.network_id}/trusts")
    assert "Nothing waits for a trust." in trusts_page.text


async def test_an_exchange_every_trust_agrees_to_introduces_all_three_with_an_invitation(
    browsers: Browsers,
    settings: Settings,
    pool: asyncpg.Pool,
    network: TrustNetwork,
    notifier_consumer: EventConsumer,
    notifier_pool: asyncpg.Pool,
    smtp_inbox: Inbox,
) -> None:
    proposals = await propose_exchange(pool, network)
    await approve(browsers, network, proposals[0].match_id)
    coordinator = await browsers.signed_in(network.coordinator_email)
    waiting = await coordinator.get(f"/dashboard/{network.network_id}/trusts")
    assert "What waits on whom (6)" in waiting.text
    await answer_all(browsers, settings, network, proposals)
    statuses = await pool.fetch(
        "SELECT status, start_date FROM secondments WHERE match_id = ANY($1::uuid[])",
        [p.match_id for p in proposals],
    )
    assert [r["status"] for r in statuses] == ["agreed"] * 3
    assert all(r["start_date"].weekday() == 0 for r in statuses)

    await notify(pool, network, proposals, notifier_consumer)
    queue = MailQueue(notifier_pool, settings.model_copy(update={"smtp_port": smtp_inbox.port}))
    await send_everything(queue, notifier_pool)
    introductions = [
        m
        for m in smtp_inbox.messages
        if "Secondment" in str(m["Subject"]) or "Your secondment" in str(m["Subject"])
    ]
    # Each secondment: the candidate, the host trust and the home trust.
    assert len(introductions) == 9
    for message in introductions:
        [ics] = [
            p for p in message.iter_attachments() if p.get_filename() == "secondment-start.ics"
        ]
        assert b"DTSTART;VALUE=DATE:" in ics.get_content().encode()


async def test_a_host_contact_runs_a_secondments_life_and_the_place_comes_back(
    browsers: Browsers, settings: Settings, pool: asyncpg.Pool, network: TrustNetwork
) -> None:
    proposals = await propose_exchange(pool, network)
    await approve(browsers, network, proposals[0].match_id)
    await answer_all(browsers, settings, network, proposals)
    host = await contact_browser(browsers, settings, network, 1)  # hosts proposals[0]
    url = f"/trust/{network.trusts[1]}/secondments/{proposals[0].match_id}"
    assert (await host.submit(f"{url}/end", {"on": "2027-02-01"})).status_code == 409
    assert (await host.submit(f"{url}/start", {"on": "2027-01-04"})).status_code == 303
    assert (await host.submit(f"{url}/extend", {"on": "2027-12-31"})).status_code == 303
    assert (await host.submit(f"{url}/end", {"on": "2027-03-01"})).status_code == 303
    row = await pool.fetchrow(
        "SELECT status, start_date, end_date FROM secondments WHERE match_id = $1",
        proposals[0].match_id,
    )
    assert (row["status"], str(row["start_date"]), str(row["end_date"])) == (
        "ended_early",
        "2027-01-04",
        "2027-03-01",
    )
    changes = await pool.fetch(
        "SELECT payload->>'status' AS status FROM outbox WHERE message_key = $1"
        " AND payload->>'event_type' = 'secondment.changed' ORDER BY id",
        str(proposals[0].match_id),
    )
    assert [c["status"] for c in changes] == ["agreed", "started", "extended", "ended_early"]
    page = await host.get(f"/trust/{network.trusts[1]}")
    assert "ended early" in page.text


# --- consent links ----------------------------------------------------------------------------


def consent_token(
    settings: Settings, net: TrustNetwork, proposal: MatchProposed, i: int, party: str, give: bool
) -> str:
    return sign_consent_link(
        settings.secret_key.get_secret_value(),
        match_id=proposal.match_id,
        party=party,
        trust_code=net.trusts[i],
        give=give,
        contact_email=net.contacts[i],
    )


async def test_a_consent_link_works_once_and_a_replay_changes_nothing(
    browsers: Browsers, settings: Settings, pool: asyncpg.Pool, network: TrustNetwork
) -> None:
    proposals = await propose_exchange(pool, network)
    await approve(browsers, network, proposals[0].match_id)
    token = consent_token(settings, network, proposals[0], 0, "home", give=True)
    browser = browsers.new()
    page = await browser.get(f"/links/consent/{token}")
    assert page.status_code == 200
    assert "Agree" in page.text
    form = {"csrf_token": csrf_from(page.text)}
    assert (await browser.post(f"/links/consent/{token}", data=form)).status_code == 200
    before = await footprint(pool, network)
    assert (await browser.post(f"/links/consent/{token}", data=form)).status_code == 410
    assert (await browser.get(f"/links/consent/{token}")).status_code == 410
    assert await footprint(pool, network) == before
    answered = await pool.fetchrow(
        "SELECT answer, answered_by FROM consents WHERE match_id = $1 AND party = 'home'",
        proposals[0].match_id,
    )
    assert tuple(answered) == ("given", network.contacts[0])


async def test_an_expired_consent_link_changes_nothing(
    browsers: Browsers, settings: Settings, pool: asyncpg.Pool, network: TrustNetwork
) -> None:
    proposals = await propose_exchange(pool, network)
    await approve(browsers, network, proposals[0].match_id)
    long_ago = (datetime.now(UTC) - timedelta(days=settings.consent_days + 1)).timestamp()
    with mock.patch("itsdangerous.timed.time.time", return_value=long_ago):
        token = consent_token(settings, network, proposals[0], 0, "home", give=False)
    before = await footprint(pool, network)
    browser = browsers.new()
    page = await browser.get(f"/links/consent/{token}")
    assert page.status_code == 400
    assert "expired" in page.text
    csrf = await browser.csrf_token()
    posted = await browser.post(
        f"/links/consent/{token}", data={"csrf_token": csrf, "reason": "late"}
    )
    assert posted.status_code == 400
    assert await footprint(pool, network) == before


@pytest.fixture
async def approved_exchange(
    browsers: Browsers, pool: asyncpg.Pool, network: TrustNetwork
) -> list[MatchProposed]:
    proposals = await propose_exchange(pool, network)
    await approve(browsers, network, proposals[0].match_id)
    return proposals


@hypothesis_settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(position=st.integers(min_value=0), splice=st.text(min_size=1, max_size=4))
async def test_a_forged_consent_link_changes_nothing(
    browsers: Browsers,
    settings: Settings,
    pool: asyncpg.Pool,
    network: TrustNetwork,
    approved_exchange: list[MatchProposed],
    position: int,
    splice: str,
) -> None:
    token = consent_token(settings, network, approved_exchange[0], 0, "home", give=False)
    at = position % len(token)
    forged = token[:at] + splice + token[at + 1 :]
    if forged == token:
        return
    before = await footprint(pool, network)
    browser = browsers.new()
    csrf = await browser.csrf_token()
    response = await browser.post(
        f"/links/consent/{quote(forged, safe='')}",
        data={"csrf_token": csrf, "reason": "forged"},
    )
    assert response.status_code in (400, 404, 405)
    assert await footprint(pool, network) == before


async def test_a_link_for_another_trusts_consent_changes_nothing(
    browsers: Browsers,
    settings: Settings,
    pool: asyncpg.Pool,
    network: TrustNetwork,
    approved_exchange: list[MatchProposed],
) -> None:
    """Signed properly, but trust 1's contact named as answering trust 0's release."""
    token = sign_consent_link(
        settings.secret_key.get_secret_value(),
        match_id=approved_exchange[0].match_id,
        party="home",
        trust_code=network.trusts[0],
        give=True,
        contact_email=network.contacts[1],
    )
    before = await footprint(pool, network)
    browser = browsers.new()
    assert (await browser.get(f"/links/consent/{token}")).status_code == 403
    assert await footprint(pool, network) == before


# --- reminders ------------------------------------------------------------------------------


async def test_a_consents_reminder_goes_out_once_across_a_restart_of_the_notifier(
    browsers: Browsers,
    settings: Settings,
    pool: asyncpg.Pool,
    network: TrustNetwork,
    notifier_consumer: EventConsumer,
    notifier_pool: asyncpg.Pool,
    smtp_inbox: Inbox,
) -> None:
    proposals = await propose_exchange(pool, network)
    await approve(browsers, network, proposals[0].match_id)
    await notify(pool, network, proposals, notifier_consumer)
    mail = settings.model_copy(
        update={"smtp_port": smtp_inbox.port, "consent_reminder_days": settings.consent_days}
    )
    for _ in range(2):  # the notifier, then the notifier again after a restart
        queue = MailQueue(notifier_pool, mail)
        async with notifier_pool.acquire() as conn, conn.transaction():
            await remind_consents(
                NotifierRepository(conn),
                datetime.now(UTC),
                timedelta(days=mail.consent_reminder_days),
            )
        await send_everything(queue, notifier_pool)
    reminders = [m for m in smtp_inbox.messages if str(m["Subject"]).startswith("Reminder: ")]
    # Six consents (host and home of three secondments), one contact each: one reminder each.
    assert len(reminders) == 6
    assert len({(str(m["To"]), str(m["Subject"])) for m in reminders}) == 6


async def test_the_trusts_page_is_its_networks_coordinators_only(
    browsers: Browsers,
    settings: Settings,
    api_client: httpx.AsyncClient,
    pool: asyncpg.Pool,
    network: TrustNetwork,
) -> None:
    """Every route of the coordinator's Trusts page: another network's coordinator, a trust's
    contact and a stranger are refused, and nothing changes; the network's own coordinator
    adds and removes a contact (audited)."""
    other_network = await seed_trusts(api_client, pool)
    base = f"/dashboard/{network.network_id}/trusts"
    routes = sorted(
        (method, route.path.replace("/dashboard/{network_id}/trusts", base))
        for route in trust_coordinator_pages.router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    )
    assert len(routes) == 3
    outsider = await browsers.signed_in(other_network.coordinator_email)
    contact = await contact_browser(browsers, settings, network, 0)
    stranger = browsers.new()
    form = {"name": "Eve", "email": f"eve.{uuid4().hex[:6]}@x.example"}
    before = await footprint(pool, network)
    for method, path in routes:
        url = path.replace("{trust_code}", network.trusts[0])
        for browser in (outsider, contact):
            response = await (browser.get(url) if method == "GET" else browser.submit(url, form))
            assert response.status_code == 403, (method, url)
            assert network.contacts[0] not in response.text
        anonymous = await (stranger.get(url) if method == "GET" else stranger.post(url, data=form))
        assert anonymous.status_code in (303, 401), (method, url)
    # A trust of another network, under one's own network: as if absent.
    own = await browsers.signed_in(network.coordinator_email)
    foreign = f"{base}/{other_network.trusts[0]}/contacts"
    assert (await own.submit(foreign, form)).status_code == 404
    assert await footprint(pool, network) == before
    page = await own.get(base)
    assert network.contacts[0] in page.text
    assert other_network.contacts[0] not in page.text
    assert (await own.submit(f"{base}/{network.trusts[0]}/contacts", form)).status_code == 303
    removed = await own.submit(f"{base}/{network.trusts[0]}/contacts/remove", form)
    assert removed.status_code == 303
    actions = await pool.fetch(
        "SELECT action FROM audit_log WHERE subject = $1 ORDER BY id", form["email"]
    )
    assert [a["action"] for a in actions] == ["trust_contact.added", "trust_contact.removed"]


async def test_an_administrator_adds_and_removes_a_trusts_contact_and_nobody_else_can(
    browsers: Browsers, settings: Settings, pool: asyncpg.Pool, network: TrustNetwork
) -> None:
    admin_email = f"ada.{uuid4().hex[:6]}@bridgework.example"
    async with pool.acquire() as conn:
        new = NewAccount(
            email=admin_email, name="Ada", role=AccountRole.ADMINISTRATOR, password=PASSWORD
        )
        await create_account(conn, new, actor="test")
    email = f"new.{uuid4().hex[:6]}@trust.example"
    form = {"trust_code": network.trusts[1], "name": "Nell New", "email": email}
    contact = await contact_browser(browsers, settings, network, 1)
    coordinator = await browsers.signed_in(network.coordinator_email)
    for browser in (contact, coordinator):
        assert (await browser.submit("/admin/trust-contacts", form)).status_code == 403
    assert not await pool.fetchval("SELECT 1 FROM accounts WHERE email = $1", email)
    admin = await browsers.signed_in(admin_email)
    assert (await admin.submit("/admin/trust-contacts", form)).status_code == 303
    role = await pool.fetchrow("SELECT role, trust_code FROM accounts WHERE email = $1", email)
    assert tuple(role) == ("trust_contact", network.trusts[1])
    removed = await admin.submit("/admin/trust-contacts/remove", form)
    assert removed.status_code == 303
    assert not await pool.fetchval("SELECT 1 FROM accounts WHERE email = $1", email)


# --- a member of staff's own request to be considered ------------------------------------------


async def ask_on_own_page(browsers: Browsers, settings: Settings, person: UUID, tick: bool) -> str:
    """The participant saves their profile with "open to a secondment" ticked (or not)."""
    token = sign_self_service_link(settings.secret_key.get_secret_value(), person_id=person)
    me = browsers.new()
    page = await me.get(f"/me/{token}/profile")
    [csrf] = set(re.findall(r'name="csrf" value="([^"]+)"', page.text))
    form = {
        "csrf": csrf,
        "mode": "either",
        "working_pattern": "full_time",
        "gap-data-analytics-current": "2",
        "gap-data-analytics-target": "5",
        "gap-data-analytics-priority": "1",
        "goals": "Lead our data team.",
        **({"open_to_secondment": "yes"} if tick else {}),
    }
    saved = await me.post(f"/me/{token}/profile", data=form)
    assert saved.status_code == 303, saved.text
    return (await me.get(f"/me/{token}")).text


async def considered(pool: asyncpg.Pool, person: UUID) -> tuple[bool, bool]:
    """Stored as a secondment candidate, and as the latest person.upserted says (the matcher)."""
    stored = await pool.fetchval(
        "SELECT (details->>'open_to_secondment')::boolean FROM people WHERE id = $1", person
    )
    published = await pool.fetchval(
        "SELECT (payload->'profile'->>'open_to_secondment')::boolean FROM outbox"
        " WHERE message_key = $1 AND payload->>'event_type' = 'person.upserted'"
        " ORDER BY id DESC LIMIT 1",
        str(person),
    )
    return bool(stored), bool(published)


async def test_a_staff_members_own_request_waits_for_their_home_trusts_answer(
    browsers: Browsers,
    settings: Settings,
    pool: asyncpg.Pool,
    api_client: httpx.AsyncClient,
    network: TrustNetwork,
) -> None:
    created = await api_client.post(
        "/mentees",
        json={
            "name": "Rhea Requester",
            "email": f"rhea.{uuid4().hex[:6]}@example.org",
            "job_title": "Analyst",
            "trust_code": network.trusts[0],
            "gaps": [{"skill": "data-analytics", "current": 2, "target": 5}],
        },
    )
    person = UUID(created.json()["id"])
    own_page = await ask_on_own_page(browsers, settings, person, tick=True)
    assert "your trust is asked to agree" in own_page
    assert await considered(pool, person) == (False, False)  # asking is not being considered

    coordinator = await browsers.signed_in(network.coordinator_email)
    trusts_page = await coordinator.get(f"/dashboard/{network.network_id}/trusts")
    assert "Staff asking to be considered for secondment (1)" in trusts_page.text
    assert "Rhea Requester" in trusts_page.text

    # Another trust's contact can decide nothing: not under its own trust, not under trust 0.
    other = await contact_browser(browsers, settings, network, 1)
    before = (*await footprint(pool, network), await pool.fetch("TABLE secondment_requests"))
    for trust in (network.trusts[1], network.trusts[0]):
        response = await other.submit(f"/trust/{trust}/staff/{person}/request", {"answer": "agree"})
        assert response.status_code == (404 if trust == network.trusts[1] else 403)
    assert (*await footprint(pool, network), await pool.fetch("TABLE secondment_requests")) == (
        before
    )

    home = await contact_browser(browsers, settings, network, 0)
    url = f"/trust/{network.trusts[0]}/staff/{person}/request"
    assert "asks to be considered" in (await home.get(f"/trust/{network.trusts[0]}")).text
    assert (await home.submit(url, {"answer": "decline"})).status_code == 400  # no reason
    declined = await home.submit(url, {"answer": "decline", "reason": "not during the audit"})
    assert declined.status_code == 303
    assert await considered(pool, person) == (False, False)
    assert "declined your request" in await ask_on_own_page(browsers, settings, person, tick=False)

    # They ask again; this time their trust agrees, and from now on they are a candidate.
    await ask_on_own_page(browsers, settings, person, tick=True)
    assert (await home.submit(url, {"answer": "agree"})).status_code == 303
    assert await considered(pool, person) == (True, True)
    assert (await home.submit(url, {"answer": "agree"})).status_code == 404  # decided already
    audit = await pool.fetch(
        "SELECT actor, action, reason FROM audit_log WHERE subject = $1"
        " AND action LIKE 'secondment%' ORDER BY id",
        str(person),
    )
    assert [(a["action"], a["reason"]) for a in audit] == [
        ("secondment.requested", "self-service link"),
        ("secondment_request.declined", "not during the audit"),
        ("secondment.requested", "self-service link"),
        ("secondment_request.agreed", ""),
    ]
    decided = [
        e
        for e in await outbox_events(pool, [str(person)])
        if isinstance(e, SecondmentRequestDecided)
    ]
    assert [(e.agreed, e.trust_code, e.decided_by) for e in decided] == [
        (False, network.trusts[0], network.contacts[0]),
        (True, network.trusts[0], network.contacts[0]),
    ]
    trusts_page = await coordinator.get(f"/dashboard/{network.network_id}/trusts")
    assert "Staff asking to be considered for secondment (0)" in trusts_page.text


# --- a consent's deadline ---------------------------------------------------------------------


async def test_an_unanswered_consent_expires_once_and_the_coordinator_sees_why(
    browsers: Browsers,
    settings: Settings,
    pool: asyncpg.Pool,
    network: TrustNetwork,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Trust 0 answers, trusts 1 and 2 stay silent past the deadline: the whole exchange is not
    agreed, once, whether the pass crashes, runs twice or runs on two replicas at once."""
    proposals = await propose_exchange(pool, network)
    await approve(browsers, network, proposals[0].match_id)
    first = await contact_browser(browsers, settings, network, 0)
    for party, proposal in (("home", proposals[0]), ("host", proposals[2])):
        answered = await first.submit(
            consent_url(network, 0, proposal.match_id, party), {"answer": "give"}
        )
        assert answered.status_code == 303
    ids = [p.match_id for p in proposals]
    deadline = await pool.fetchval(
        "SELECT max(deadline) FROM consents WHERE match_id = ANY($1::uuid[])", ids
    )

    async def statuses() -> list[str]:
        rows = await pool.fetch(
            "SELECT status FROM secondments WHERE match_id = ANY($1::uuid[])", ids
        )
        return [r["status"] for r in rows]

    # Before the deadline nothing of this exchange expires (a pass settles every network's
    # overdue consents: other tests' too).
    await ConsentDeadlines(pool, 1, clock=lambda: deadline - timedelta(seconds=1)).pass_once()
    assert await statuses() == ["awaiting_consent"] * 3
    later = ConsentDeadlines(pool, 1, clock=lambda: deadline + timedelta(seconds=1))

    # A crash before the commit: nothing is recorded, and the next pass does it.
    real = outbox.add_to_outbox

    async def crash(*_: object) -> None:
        raise ConnectionResetError("the database went away")

    monkeypatch.setattr(consents_module, "add_to_outbox", crash)
    with pytest.raises(ConnectionResetError):
        await later.pass_once()
    assert await statuses() == ["awaiting_consent"] * 3
    monkeypatch.setattr(consents_module, "add_to_outbox", real)

    # Two replicas at once, then again: each secondment settled once (its events below).
    settled = await asyncio.gather(later.pass_once(), later.pass_once())
    assert sum(settled) >= 3
    await later.pass_once()
    assert await statuses() == ["not_agreed"] * 3

    rows = await pool.fetch(
        "SELECT status, reason FROM secondments WHERE match_id = ANY($1::uuid[])", ids
    )
    names = [
        r["name"]
        for r in await pool.fetch(
            "SELECT name FROM trusts WHERE code = ANY($1::text[]) ORDER BY name",
            list(network.trusts[1:]),
        )
    ]
    why = f"no answer from {names[0]} and {names[1]} by {deadline.day} {deadline:%B %Y}"
    assert [(r["status"], r["reason"]) for r in rows] == [("not_agreed", why)] * 3
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM consents WHERE match_id = ANY($1::uuid[]) AND answer = 'expired'",
            ids,
        )
        == 4
    )  # trusts 1 and 2: host and home each
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'consent.expired'"
            " AND subject = ANY($1::text[])",
            [str(i) for i in ids],
        )
        == 4
    )
    changes = [
        e
        for e in await outbox_events(pool, [str(i) for i in ids])
        if isinstance(e, SecondmentChanged)
    ]
    assert sorted((str(e.match_id), e.status, e.reason) for e in changes) == sorted(
        (str(i), SecondmentStatus.NOT_AGREED, why) for i in ids
    )

    # Too late to answer now; the coordinator sees nothing waiting, and why it did not go ahead.
    late = await contact_browser(browsers, settings, network, 1)
    response = await late.submit(
        consent_url(network, 1, proposals[1].match_id, "home"), {"answer": "give"}
    )
    assert response.status_code == 409
    assert "deadline for this consent passed" in response.text
    coordinator = await browsers.signed_in(network.coordinator_email)
    trusts_page = await coordinator.get(f"/dashboard/{network.network_id}/trusts")
    assert "Nothing waits for a trust." in trusts_page.text
    assert why in trusts_page.text

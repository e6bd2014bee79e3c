"""Volunteering and applying on a network's join pages, against the real database, broker and
SMTP server: the address confirmed by a link that works once, a coordinator's confirmation that
makes a person (or a decline that deletes them), and every abuse refused with nothing kept."""

from __future__ import annotations

import json
import re
import time
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from itsdangerous import TimestampSigner

from services.notifier.bootstrap import apply_event as notifier_apply
from services.notifier.mailer import MailQueue
from services.profiles.api.schemas import MenteeIn
from services.profiles.joining.applications import accept
from shared.consuming import EventConsumer
from shared.links import sign_join_link
from shared.people import SkillGap
from shared.settings import Settings
from shared.topics import Topic
from tests.support.mail import Inbox
from tests.support.pages import Browsers, SeededNetwork, seed_network

pytestmark = pytest.mark.integration
FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


@pytest.fixture(scope="module")
async def network(app: FastAPI, pool: asyncpg.Pool) -> SeededNetwork:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://profiles"
    ) as client:
        return await seed_network(client, pool)


def visitor(app: FastAPI, address: str | None = None) -> httpx.AsyncClient:
    """A browser from its own client address (the limits count per client)."""
    client = (address or f"10.{uuid4().int % 250}.{uuid4().int % 250}.{uuid4().int % 250}", 4321)
    transport = httpx.ASGITransport(app=app, client=client)
    return httpx.AsyncClient(transport=transport, base_url="http://profiles")


def mentor_form(network: SeededNetwork, email: str, **changes: str) -> dict[str, Any]:
    form: dict[str, Any] = {
        "name": "Vera Volunteer",
        "email": email,
        "job_title": "Chief Clinical Information Officer",
        "trust_code": network.trust_codes[0],
        "sector": "nhs",
        "mode": "remote",
        "working_pattern": "part_time",
        "working_days": ["tuesday", "thursday"],
        "skill-clinical-engagement": "6",
        "skill-board-influence": "5",
        "capacity": "2",
        "hours_per_month": "6",
        "bio": "Twenty years in clinical informatics.",
    }
    return {**form, **changes}


def mentee_form(network: SeededNetwork, email: str, **changes: str) -> dict[str, Any]:
    form: dict[str, Any] = {
        "name": "Amir Applicant",
        "email": email,
        "job_title": "Digital Nurse",
        "trust_code": network.trust_codes[1],
        "sector": "social_care",
        "mode": "either",
        "working_pattern": "full_time",
        "gap-clinical-engagement-current": "2",
        "gap-clinical-engagement-target": "5",
        "gap-clinical-engagement-priority": "2",
        "goals": "Lead our digital care records programme.",
    }
    return {**form, **changes}


async def send_form(
    client: httpx.AsyncClient, network_id: str, role: str, form: dict[str, Any]
) -> httpx.Response:
    page = await client.get(f"/join/{network_id}/{role}")
    assert page.status_code == 200, page.text
    [token] = FORM_TOKEN.findall(page.text)
    return await client.post(f"/join/{network_id}/{role}", data={**form, "form_token": token})


async def application(pool: asyncpg.Pool, email: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT id, role, token_id, confirmed_at, details FROM applications"
        " WHERE lower(email) = lower($1)",
        email,
    )


async def person(pool: asyncpg.Pool, email: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT id, role, details FROM people WHERE lower(email) = lower($1)", email
    )


async def events_keyed(pool: asyncpg.Pool, key: object) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT payload FROM outbox WHERE message_key = $1 ORDER BY id", str(key)
    )
    return [
        json.loads(r["payload"]) if isinstance(r["payload"], str) else r["payload"] for r in rows
    ]


async def deliver(
    events: list[dict[str, Any]], notifier_pool: asyncpg.Pool, settings: Settings, inbox: Inbox
) -> None:
    """The notifier hears the events and sends what they ask for to the SMTP server."""
    consumer = EventConsumer(
        "notifier", notifier_pool, AIOKafkaProducer(bootstrap_servers="x"), notifier_apply
    )
    for event in events:
        await consumer.handle(json.dumps(event).encode(), None, Topic.PEOPLE)
    queue = MailQueue(notifier_pool, settings.model_copy(update={"smtp_port": inbox.port}))
    while await queue.send_due():
        pass


def link_in(inbox: Inbox, email: str, path: str) -> str:
    [message] = [m for m in inbox.messages if email in str(m["To"])][-1:]
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    [link] = re.findall(rf"https?://\S+({path}\S+)", body.get_content())
    return str(link)


async def test_a_mentor_volunteers_confirms_the_address_and_a_coordinator_confirms_them(
    app: FastAPI,
    browsers: Browsers,
    network: SeededNetwork,
    pool: asyncpg.Pool,
    notifier_pool: asyncpg.Pool,
    settings: Settings,
    smtp_inbox: Inbox,
) -> None:
    email = f"vera.{uuid4().hex[:6]}@example.org"
    async with visitor(app) as client:
        home = await client.get(f"/join/{network.network_id}")
        assert "Volunteer as a mentor" in home.text
        assert "Apply for a mentor" in home.text
        sent = await send_form(client, network.network_id, "mentor", mentor_form(network, email))
        assert (sent.status_code, sent.headers["location"]) == (
            303,
            f"/join/{network.network_id}/sent",
        )
        assert "Check your email" in (await client.get(sent.headers["location"])).text
        waiting = await application(pool, email)
        assert waiting is not None
        assert waiting["confirmed_at"] is None
        assert await person(pool, email) is None  # not a person before anything is confirmed

        await deliver(await events_keyed(pool, waiting["id"]), notifier_pool, settings, smtp_inbox)
        link = link_in(smtp_inbox, email, "/join/confirm/")
        assert "Confirm my email address" in (await client.get(link)).text  # GET changes nothing
        assert (await application(pool, email))["confirmed_at"] is None  # type: ignore[index]
        confirmed = await client.post(link)
        assert (confirmed.status_code, confirmed.headers["location"]) == (303, "/join/confirmed")
        assert (await client.post(link)).status_code == 410  # a replayed link changes nothing
        assert (await application(pool, email))["confirmed_at"] is not None  # type: ignore[index]

    coordinator = await browsers.signed_in(network.coordinator_email)
    queue = await coordinator.get(f"/dashboard/{network.network_id}/newcomers")
    assert f"/join/{network.network_id}" in queue.text
    assert "Vera Volunteer" in queue.text
    assert "tuesday, thursday" in queue.text
    decided = await coordinator.submit(
        f"/dashboard/{network.network_id}/newcomers/{waiting['id']}", {"decision": "confirm"}
    )
    assert decided.status_code == 303
    assert "Nobody is waiting" in (await coordinator.get(decided.headers["location"])).text
    joined = await person(pool, email)
    assert joined is not None
    assert joined["role"] == "mentor"
    assert joined["details"]["working_days"] == ["tuesday", "thursday"]
    assert await application(pool, email) is None
    events = await events_keyed(pool, joined["id"])
    assert [e["event_type"] for e in events] == ["person.upserted", "join.email_requested"]
    assert events[0]["profile"]["skills"] == [
        {"skill": "clinical-engagement", "level": 6},
        {"skill": "board-influence", "level": 5},
    ]
    await deliver(events, notifier_pool, settings, smtp_inbox)
    own_page = link_in(smtp_inbox, email, "/me/")
    async with visitor(app) as client:
        assert "Hello Vera Volunteer" in (await client.get(own_page)).text


async def test_a_declined_applicant_is_told_and_their_details_deleted(
    app: FastAPI,
    browsers: Browsers,
    network: SeededNetwork,
    pool: asyncpg.Pool,
    notifier_pool: asyncpg.Pool,
    settings: Settings,
    smtp_inbox: Inbox,
) -> None:
    email = f"amir.{uuid4().hex[:6]}@example.org"
    async with visitor(app) as client:
        await send_form(client, network.network_id, "mentee", mentee_form(network, email))
        row = await application(pool, email)
        assert row is not None
        token = sign_join_link(
            settings.secret_key.get_secret_value(),
            token_id=row["token_id"],
            application_id=row["id"],
        )
        assert (await client.post(f"/join/confirm/{token}")).status_code == 303
    coordinator = await browsers.signed_in(network.coordinator_email)
    declined = await coordinator.submit(
        f"/dashboard/{network.network_id}/newcomers/{row['id']}", {"decision": "decline"}
    )
    assert declined.status_code == 303
    assert await application(pool, email) is None
    assert await person(pool, email) is None
    events = await events_keyed(pool, row["id"])  # the confirmation's copy is gone
    assert [(e["event_type"], e["purpose"]) for e in events] == [
        ("join.email_requested", "declined")
    ]
    await deliver(events, notifier_pool, settings, smtp_inbox)
    [told] = [m for m in smtp_inbox.messages if email in str(m["To"])]
    assert str(told["Subject"]) == "Your Bridgework application"
    kept = await notifier_pool.fetchval(
        "SELECT count(*) FROM emails WHERE recipient_email = $1", email
    )
    assert kept == 0  # the notifier keeps no address of theirs once told
    again = await coordinator.submit(
        f"/dashboard/{network.network_id}/newcomers/{row['id']}", {"decision": "confirm"}
    )
    assert again.status_code == 409


async def test_forged_expired_and_replaced_links_change_nothing(
    app: FastAPI,
    network: SeededNetwork,
    pool: asyncpg.Pool,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    email = f"twice.{uuid4().hex[:6]}@example.org"
    secret = settings.secret_key.get_secret_value()
    async with visitor(app) as client:
        first = await send_form(client, network.network_id, "mentor", mentor_form(network, email))
        row = await application(pool, email)
        assert row is not None
        old = sign_join_link(secret, token_id=row["token_id"], application_id=row["id"])
        # The same address applying twice: the same answer; one application, a new link.
        second = await send_form(
            client, network.network_id, "mentor", mentor_form(network, email, name="Vera Two")
        )
        assert (first.status_code, first.headers["location"]) == (
            second.status_code,
            second.headers["location"],
        )
        replaced = await application(pool, email)
        assert replaced is not None
        assert replaced["id"] == row["id"]
        assert replaced["details"]["name"] == "Vera Two"
        assert (await client.post(f"/join/confirm/{old}")).status_code == 410

        forged = sign_join_link(
            "not the secret", token_id=replaced["token_id"], application_id=row["id"]
        )
        with monkeypatch.context() as past:
            long_ago = int(time.time()) - settings.join_link_max_age_seconds - 60
            past.setattr(TimestampSigner, "get_timestamp", lambda _self: long_ago)
            expired = sign_join_link(
                secret, token_id=replaced["token_id"], application_id=row["id"]
            )
        for token, words in ((forged, "not valid"), (expired, "expired"), ("x.y.z", "not valid")):
            for method in ("GET", "POST"):
                response = await client.request(method, f"/join/confirm/{token}")
                assert response.status_code == 400
                assert words in response.text
        assert (await application(pool, email))["confirmed_at"] is None  # type: ignore[index]


async def test_an_address_already_taking_part_gets_its_own_link_and_the_same_answer(
    app: FastAPI, network: SeededNetwork, pool: asyncpg.Pool
) -> None:
    known = await pool.fetchrow("SELECT id, email FROM people WHERE id = $1", network.mentor_id)
    async with visitor(app) as client:
        unknown = await send_form(
            client, network.network_id, "mentor", mentor_form(network, "new.one@example.org")
        )
        answer = await send_form(
            client, network.network_id, "mentor", mentor_form(network, known["email"].upper())
        )
    assert (answer.status_code, answer.headers["location"]) == (
        unknown.status_code,
        unknown.headers["location"],
    )
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM applications WHERE lower(email) = lower($1)", known["email"]
        )
        == 0
    )
    assert (await events_keyed(pool, known["id"]))[-1]["event_type"] == (
        "self_service.link_requested"
    )


async def test_bots_bursts_and_oversized_forms_are_refused_with_nothing_kept(
    app: FastAPI, network: SeededNetwork, pool: asyncpg.Pool, settings: Settings
) -> None:
    before = await pool.fetchval("SELECT count(*) FROM applications")
    async with visitor(app) as client:
        bot = await send_form(
            client,
            network.network_id,
            "mentee",
            mentee_form(network, "bot@example.org", website="http://spam.example"),
        )
        assert bot.status_code == 303  # the same answer as anyone's
        assert await application(pool, "bot@example.org") is None

        too_long = await send_form(
            client,
            network.network_id,
            "mentee",
            mentee_form(network, "l@example.org", name="x" * 201),
        )
        assert too_long.status_code == 422
        assert "Your name:" in too_long.text
        huge = await client.post(f"/join/{network.network_id}/mentee", data={"goals": "x" * 70_000})
        assert huge.status_code == 413

    async with visitor(app, "192.0.2.77") as burst:
        answers = [
            (
                await send_form(
                    burst,
                    network.network_id,
                    "mentee",
                    mentee_form(network, f"burst{i}.{uuid4().hex[:4]}@example.org"),
                )
            ).status_code
            for i in range(settings.join_requests_per_client + 2)
        ]
    limit = settings.join_requests_per_client
    assert answers == [303] * limit + [429, 429]
    assert await pool.fetchval("SELECT count(*) FROM applications") == before + limit

    address = f"flood.{uuid4().hex[:6]}@example.org"
    for _ in range(settings.join_requests_per_address + 2):
        async with visitor(app) as other_client:  # a new client each time: the address limits
            answer = await send_form(
                other_client, network.network_id, "mentee", mentee_form(network, address)
            )
            assert answer.status_code == 303
    row = await application(pool, address)
    assert row is not None
    confirmations = await events_keyed(pool, row["id"])
    assert len(confirmations) == settings.join_requests_per_address


TEXT = st.text(st.characters(codec="utf-8"), max_size=60) | st.sampled_from(
    ["<script>alert(1)</script>", "a\x00b", "line\u2028break", "tab\there", "&amp; <b>x</b>"]
)


def hostile_forms(count: int) -> list[dict[str, str]]:
    """Hypothesis' texts (markup, control characters, separators, any Unicode) for every
    text field and a level; drawn here, sent by the async test below."""
    drawn: list[dict[str, str]] = []

    @given(name=TEXT, job_title=TEXT, goals=TEXT, trust=TEXT, level=TEXT)
    @hypothesis_settings(max_examples=count, deadline=None, database=None, derandomize=True)
    def draw(**fields: str) -> None:
        drawn.append(fields)

    draw()
    return drawn


async def test_any_text_in_any_field_is_refused_clearly_or_kept_exactly(
    app: FastAPI, network: SeededNetwork, pool: asyncpg.Pool
) -> None:
    for fields in hostile_forms(40):
        email = f"h.{uuid4().hex[:8]}@example.org"
        form = mentee_form(
            network,
            email,
            name=fields["name"],
            job_title=fields["job_title"],
            goals=fields["goals"],
        )
        form["gap-clinical-engagement-target"] = fields["level"]
        form["trust_code"] = fields["trust"] or network.trust_codes[1]
        async with visitor(app) as client:
            answer = await send_form(client, network.network_id, "mentee", form)
        stored = await application(pool, email)
        if answer.status_code == 303:
            assert stored is not None
            kept = (stored["details"]["name"], stored["details"]["goals"])
            assert kept == (fields["name"].strip(), fields["goals"].strip())
        else:
            assert answer.status_code == 422, answer.text
            assert "Nothing was saved" in answer.text
            assert "<script>" not in answer.text
            assert stored is None


async def test_a_newcomer_open_to_secondment_is_a_request_to_their_trust_not_a_candidate(
    network: SeededNetwork, pool: asyncpg.Pool
) -> None:
    """Ticking "open to a secondment" when applying is the same as on one's own page: accepted,
    the newcomer waits for their home trust to agree (docs/trusts.md)."""
    email = f"sol.{uuid4().hex[:6]}@example.org"
    details = MenteeIn(
        name="Sol Seconded",
        email=email,
        job_title="Analyst",
        trust_code=network.trust_codes[1],
        gaps=[SkillGap(skill="data-analytics", current=2, target=5)],
        open_to_secondment=True,
    )
    application_id = uuid4()
    await pool.execute(
        "INSERT INTO applications (id, network_id, role, email, details, token_id, confirmed_at)"
        " VALUES ($1, $2, 'mentee', $3, $4, $5, now())",
        application_id,
        network.network_id,
        email,
        details.model_dump(mode="json"),
        uuid4(),
    )
    async with pool.acquire() as conn:
        person_id = await accept(conn, network.network_id, "N", application_id, actor="cora")
    joined = await person(pool, email)
    assert joined is not None
    assert joined["details"]["open_to_secondment"] is False
    status = await pool.fetchval(
        "SELECT status FROM secondment_requests WHERE person_id = $1", person_id
    )
    assert status == "waiting"

"""Participants' self-service against the real database, broker and SMTP server: ask for a link,
receive it by email, pause, resume, withdraw and be erased; every refusal changes nothing."""

from __future__ import annotations

import json
import re
import time
from email.message import EmailMessage
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from itsdangerous import TimestampSigner

from services.matcher.bootstrap import apply_event as matcher_apply
from services.matcher.engine import MatchingConfig, build_engine
from services.matcher.rounds import run_round
from services.notifier.bootstrap import apply_event as notifier_apply
from services.notifier.mailer import MailQueue
from shared.consuming import EventConsumer
from shared.events import AvailabilityChanged
from shared.links import sign_self_service_link
from shared.settings import Settings
from shared.topics import Topic
from tests.support.kafka import read_topic
from tests.support.mail import Inbox
from tests.support.matcher import seed

pytestmark = pytest.mark.integration


async def a_mentor(api_client: httpx.AsyncClient) -> tuple[UUID, str]:
    network = f"net-{uuid4().hex[:6]}"
    coordinators = [{"name": "Cora", "email": "cora@example.org"}]
    await api_client.put(f"/networks/{network}", json={"name": "N", "coordinators": coordinators})
    code = f"T{uuid4().hex[:6]}"
    await api_client.put(
        f"/trusts/{code}", json={"name": "T", "region": "London", "network_id": network}
    )
    email = f"ann.{uuid4().hex[:8]}@example.org"
    response = await api_client.post(
        "/mentors",
        json={
            "name": "Ann O'Mentor",
            "email": email,
            "job_title": "CIO",
            "trust_code": code,
            "skills": [{"skill": "board-influence", "level": 6}],
            "capacity": 2,
            "hours_per_month": 4,
        },
    )
    assert response.status_code == 201
    return UUID(response.json()["id"]), email


async def request_link(api_client: httpx.AsyncClient, email: str) -> httpx.Response:
    form = await api_client.get("/me")
    [form_token] = re.findall(r'name="form_token" value="([^"]+)"', form.text)
    response = await api_client.post("/me", data={"email": email, "form_token": form_token})
    assert (response.status_code, response.headers["location"]) == (303, "/me/sent")
    return await api_client.get(response.headers["location"])


async def csrf_of(api_client: httpx.AsyncClient, token: str) -> str:
    page = await api_client.get(f"/me/{token}")
    assert page.status_code == 200, page.text
    [csrf] = set(re.findall(r'name="csrf" value="([^"]+)"', page.text))
    return str(csrf)


async def person_row(settings: Settings, person_id: UUID) -> asyncpg.Record | None:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return await conn.fetchrow(
            "SELECT paused, details->>'capacity' AS capacity FROM profiles.people WHERE id = $1",
            person_id,
        )
    finally:
        await conn.close()


async def audit_actions(settings: Settings, person_id: UUID) -> list[str]:
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch(
            "SELECT action FROM profiles.audit_log WHERE actor = $1 ORDER BY id",
            f"participant:{person_id}",
        )
    finally:
        await conn.close()
    return [row["action"] for row in rows]


async def events_about(settings: Settings, person_id: UUID, count: int) -> list[dict[str, Any]]:
    records = await read_topic(
        settings.kafka_bootstrap_servers,
        Topic.PEOPLE.value,
        lambda r: r.key == str(person_id).encode(),
        count=count,
    )
    return [json.loads(r.value) for r in records]


async def test_link_by_email_then_pause_resume_and_erase(
    settings: Settings,
    api_client: httpx.AsyncClient,
    notifier_pool: asyncpg.Pool,
    smtp_inbox: Inbox,
) -> None:
    person_id, email = await a_mentor(api_client)
    answer = await request_link(api_client, email.upper())
    unknown = await request_link(api_client, "nobody.at.all@example.org")
    assert answer.status_code == unknown.status_code == 200
    assert answer.text == unknown.text  # it does not tell who takes part
    assert "If this address belongs to someone" in answer.text
    again = await request_link(api_client, email)
    assert again.text == answer.text  # the same answer, but no second email so soon

    # The request travels through Kafka to the notifier, which emails the link.
    records = await events_about(settings, person_id, count=2)
    consumer = EventConsumer(
        "notifier", notifier_pool, AIOKafkaProducer(bootstrap_servers="x"), notifier_apply
    )
    for record in records:
        await consumer.handle(json.dumps(record).encode(), None, Topic.PEOPLE)
    assert [r["event_type"] for r in records] == ["person.upserted", "self_service.link_requested"]
    queue = MailQueue(notifier_pool, settings.model_copy(update={"smtp_port": smtp_inbox.port}))
    while await queue.send_due():
        pass
    [message] = [m for m in smtp_inbox.messages if email in str(m["To"])]
    token = link_in(message, settings)

    page = await api_client.get(f"/me/{token}")
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert (page.headers["cache-control"], page.headers["x-content-type-options"]) == (
        "no-store",
        "nosniff",
    )
    assert "Ann O&#39;Mentor" in page.text
    csrf = await csrf_of(api_client, token)

    paused = await api_client.post(f"/me/{token}/pause", data={"csrf": csrf})
    assert (paused.status_code, paused.headers["location"]) == (303, f"/me/{token}?done=pause")
    paused = await api_client.get(paused.headers["location"])
    assert "Mentoring is paused" in paused.text
    assert "You are currently <strong>paused</strong>" in paused.text
    assert (await person_row(settings, person_id))["paused"] is True  # type: ignore[index]
    resumed = await api_client.post(
        f"/me/{token}/resume", data={"csrf": csrf}, follow_redirects=True
    )
    assert "You take part again" in resumed.text
    assert "You are waiting for a match" in resumed.text
    row = await person_row(settings, person_id)
    assert row is not None
    assert (row["paused"], row["capacity"]) == (False, "2.0")

    changes = [
        e
        for e in await events_about(settings, person_id, count=4)
        if e["event_type"] == "availability.changed"
    ]
    assert [(e["paused"], e["capacity"]) for e in changes] == [(True, 0.0), (False, 2.0)]

    unconfirmed = await api_client.post(f"/me/{token}/erase", data={"csrf": csrf})
    assert unconfirmed.status_code == 400
    assert await person_row(settings, person_id) is not None
    erased = await api_client.post(
        f"/me/{token}/erase", data={"csrf": csrf, "confirm": "yes"}, follow_redirects=True
    )
    assert str(erased.url).endswith("/me/erased")
    assert "Your details are being erased" in erased.text
    assert await person_row(settings, person_id) is None
    assert (await api_client.get(f"/people/{person_id}")).status_code == 404
    assert "holds no details" in (await api_client.get(f"/me/{token}")).text
    published = await events_about(settings, person_id, count=5)
    assert published[-1]["event_type"] == "person.erased"
    assert await audit_actions(settings, person_id) == [
        "participant.paused",
        "participant.resumed",
        "person.erased",
    ]


def link_in(message: EmailMessage, settings: Settings) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    [token] = re.findall(re.escape(settings.public_base_url) + r"/me/(\S+)", body.get_content())
    return str(token)


async def test_forged_expired_and_unprotected_requests_change_nothing(
    settings: Settings, api_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    person_id, _ = await a_mentor(api_client)
    secret = settings.secret_key.get_secret_value()
    token = sign_self_service_link(secret, person_id=person_id)
    csrf = await csrf_of(api_client, token)

    forged = sign_self_service_link("not-the-secret", person_id=person_id)
    response = await api_client.get(f"/me/{forged}")
    assert (response.status_code, "This link is not valid." in response.text) == (400, True)
    response = await api_client.post(f"/me/{forged}/pause", data={"csrf": csrf})
    assert response.status_code == 400

    with monkeypatch.context() as past:
        month_ago = int(time.time()) - 30 * 86400
        past.setattr(TimestampSigner, "get_timestamp", lambda _self: month_ago)
        expired = sign_self_service_link(secret, person_id=person_id)
    response = await api_client.get(f"/me/{expired}")
    assert "This link has expired. Ask for a new one." in response.text
    assert (await api_client.post(f"/me/{expired}/pause", data={"csrf": csrf})).status_code == 400

    without_csrf = await api_client.post(f"/me/{token}/pause")
    assert without_csrf.status_code == 403
    other_link = sign_self_service_link(secret, person_id=person_id)
    assert (
        await api_client.post(f"/me/{other_link}/pause", data={"csrf": csrf})
    ).status_code == 403
    assert (await api_client.post(f"/me/{token}/promote", data={"csrf": csrf})).status_code == 404
    stale_form = await api_client.post(
        "/me", data={"email": "x@example.org", "form_token": "forged"}
    )
    assert stale_form.status_code == 400
    for form in ({}, {"email": "not an address"}, {"email": "a@b.example" * 100}):
        response = await api_client.post("/me", data=form)
        assert response.status_code == 400
        assert "Enter the email address you registered with." in response.text

    row = await person_row(settings, person_id)
    assert row is not None
    assert row["paused"] is False
    assert await audit_actions(settings, person_id) == []


async def test_a_mentee_withdraws_and_their_pending_proposal_is_withdrawn(
    matcher_pool: asyncpg.Pool,
) -> None:
    """What the withdrawal's AvailabilityChanged does in the matcher: the mentee is matched with
    nobody, and the round withdraws the pending proposal."""
    engine = build_engine(MatchingConfig())
    async with matcher_pool.acquire() as conn, conn.transaction():
        network, _mentor, mentee = await seed(conn)
    [proposed] = await run_round(matcher_pool, engine, network) or []
    async with matcher_pool.acquire() as conn, conn.transaction():
        withdrawal = AvailabilityChanged(
            entity_key=str(mentee), person_id=mentee, paused=True, capacity=0, hours_per_month=0
        )
        await matcher_apply(conn, withdrawal)
    assert await run_round(matcher_pool, engine, network) == []
    status = await matcher_pool.fetchval(
        "SELECT status FROM proposals WHERE match_id = $1", proposed.match_id
    )
    assert status == "withdrawn"

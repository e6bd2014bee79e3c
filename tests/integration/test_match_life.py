"""A match's whole life through the real database, broker and SMTP server (docs/outcomes.md):
approved on the coordinator's page; the notifier, its clock moved on, emails each side a
first-conversation reminder; the mentee confirms through their signed link; the day-30 check-in
follows; the coordinator ends the match early with the mentee's re-assessed level. Every step
is one event on the decisions topic, in order; forged, expired and replayed links change
nothing; the day-90 check-in of a closed match never goes out."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Literal
from uuid import UUID

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from itsdangerous import TimestampSigner

from services.notifier.mailer import MailQueue
from services.profiles.bootstrap import apply_event as profiles_apply
from shared.clock import SetClock
from shared.consuming import EventConsumer
from shared.events import MatchProposed, decode_event
from shared.links import read_match_life_link, sign_match_life_link, sign_self_service_link
from shared.settings import Settings
from shared.topics import Topic
from tests.support.factories import covered, match_proposed
from tests.support.kafka import read_topic
from tests.support.mail import Inbox
from tests.support.pages import Browser, Browsers, SeededNetwork, seed_network

pytestmark = pytest.mark.integration

INTRODUCED = datetime.now(UTC)  # about when each test's match is approved


@pytest.fixture
async def browsers(app: FastAPI) -> AsyncIterator[Browsers]:
    opened = Browsers(app)
    yield opened
    await opened.close()


async def approved_match(
    browsers: Browsers, pool: asyncpg.Pool
) -> tuple[SeededNetwork, MatchProposed]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=browsers.app), base_url="http://profiles"
    ) as client:
        network = await seed_network(client, pool)
    proposal = match_proposed(
        network_id=network.network_id,
        provider_id=network.mentor_id,
        mentee_id=network.mentee_id,
        skills=(covered("clinical-engagement", "Clinical engagement", 2, 5, 7),),
    )
    async with pool.acquire() as conn, conn.transaction():
        await profiles_apply(conn, proposal)
    coordinator = await browsers.signed_in(network.coordinator_email)
    decided = await coordinator.submit(
        f"/dashboard/{network.network_id}/proposals/{proposal.match_id}/decision",
        {"decision": "approve"},
    )
    assert decided.status_code == 303
    return network, proposal


async def to_notifier(
    settings: Settings, consumer: EventConsumer, network: SeededNetwork, proposal: MatchProposed
) -> None:
    """What the notifier hears of this network and match, from the broker."""
    bootstrap = settings.kafka_bootstrap_servers
    people = {str(network.mentor_id).encode(), str(network.mentee_id).encode()}
    records = [
        *await read_topic(
            bootstrap, Topic.NETWORKS.value, lambda r: r.key == network.network_id.encode()
        ),
        *await read_topic(bootstrap, Topic.PEOPLE.value, lambda r: r.key in people, count=2),
    ]
    for record in records:
        await consumer.handle(record.value, None, Topic(record.topic))
    await consumer.handle(proposal.to_json_bytes(), None, Topic.PROPOSALS)
    await decisions_to_notifier(settings, consumer, proposal.match_id, 1)


async def decisions_to_notifier(
    settings: Settings, consumer: EventConsumer, match_id: UUID, count: int
) -> list[str]:
    """The match's decision and life events, in their order on the topic (each applied once
    by the notifier, however often delivered); returns their types."""
    records = await read_topic(
        settings.kafka_bootstrap_servers,
        Topic.DECISIONS.value,
        lambda r: r.key == str(match_id).encode(),
        count=count,
    )
    for record in records:
        await consumer.handle(record.value, None, Topic.DECISIONS)
    return [decode_event(r.value).event_type_name() for r in records]


async def remind(clock: SetClock, queue: MailQueue, days: int) -> None:
    """The mail queue's pass ``days`` after the introduction: the reminders then due queued,
    and everything due sent."""
    clock.at = INTRODUCED + timedelta(days=days)
    await queue.queue_reminders()
    while await queue.send_due():
        pass


def links_in(message: EmailMessage, settings: Settings) -> list[str]:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    pattern = re.escape(settings.public_base_url) + r"/links/match/(\S+)"
    return [str(token) for token in re.findall(pattern, body.get_content())]


def link_in(message: EmailMessage, settings: Settings) -> str:
    [token] = links_in(message, settings)
    return token


def mail_to(inbox: Inbox, address: str, subject: str) -> list[EmailMessage]:
    return [m for m in inbox.messages if address in str(m["To"]) and subject in str(m["Subject"])]


async def life_rows(pool: asyncpg.Pool, match_id: UUID) -> list[str]:
    rows = await pool.fetch(
        "SELECT event_type FROM match_life WHERE match_id = $1 ORDER BY occurred_at", match_id
    )
    return [row["event_type"] for row in rows]


async def test_a_match_lives_from_introduction_to_an_early_end(
    settings: Settings,
    browsers: Browsers,
    pool: asyncpg.Pool,
    notifier_pool: asyncpg.Pool,
    notifier_consumer: EventConsumer,
    smtp_inbox: Inbox,
) -> None:
    network, proposal = await approved_match(browsers, pool)
    await to_notifier(settings, notifier_consumer, network, proposal)
    clock = SetClock(INTRODUCED)
    mail_settings = settings.model_copy(update={"smtp_port": smtp_inbox.port})
    queue = MailQueue(notifier_pool, mail_settings, clock=clock)
    mentee_email = f"tariq.{network.network_id.removeprefix('web-')}@example.org"
    mentor_email = f"morag.{network.network_id.removeprefix('web-')}@example.org"

    await remind(clock, queue, 13)
    assert mail_to(smtp_inbox, mentee_email, "first conversation") == []  # not due yet
    await remind(clock, queue, 15)
    await remind(clock, queue, 16)  # looks again: no copy
    [reminder] = mail_to(smtp_inbox, mentee_email, "first conversation")
    # One to each side. The queue serves the whole test database, so other tests' matches may
    # be reminded too: count this pair's only.
    assert len(mail_to(smtp_inbox, mentor_email, "first conversation")) == 1

    # The mentee confirms through their link; the same link again is refused.
    mentee = browsers.new()
    token = link_in(reminder, settings)
    assert (await mentee.get(f"/links/match/{token}")).status_code == 200
    confirmed = await mentee.post(f"/links/match/{token}")
    assert confirmed.status_code == 303
    assert "Thank you" in (await mentee.get(confirmed.headers["location"])).text
    replayed = await mentee.post(f"/links/match/{token}")
    assert replayed.status_code == 410
    assert await life_rows(pool, proposal.match_id) == ["match.first_conversation_held"]

    # Day 30: each side's check-in; the mentor answers with a note for the coordinator.
    assert await decisions_to_notifier(settings, notifier_consumer, proposal.match_id, 2) == [
        "match.decided",
        "match.first_conversation_held",
    ]
    await remind(clock, queue, 31)
    [check_in] = mail_to(smtp_inbox, mentor_email, "30-day check-in")
    answer = await browsers.new().post(
        f"/links/match/{link_in(check_in, settings)}",
        data={"met": "yes", "usefulness": "4", "note": "Going well; wants more on governance"},
    )
    assert answer.status_code == 303
    # The mentee's check-in email also lets them end the match (each link works once).
    [mentee_check_in] = mail_to(smtp_inbox, mentee_email, "30-day check-in")
    secret, max_age = settings.secret_key.get_secret_value(), 3600
    steps = [
        read_match_life_link(secret, token, max_age)
        for token in links_in(mentee_check_in, settings)
    ]
    assert [(s.step, s.side, s.day) for s in steps] == [
        ("check_in", "mentee", 30),
        ("close", "mentee", 30),
    ]

    # The coordinator sees the timeline and ends the match early, with the mentee's new level.
    coordinator = await browsers.signed_in(network.coordinator_email)
    page_url = f"/dashboard/{network.network_id}/matches/{proposal.match_id}"
    page = await coordinator.get(page_url)
    assert "First conversation confirmed by the mentee" in page.text
    assert "Going well; wants more on governance" in page.text
    closed = await coordinator.submit(
        f"{page_url}/close",
        {"outcome": "ended_early", "level:clinical-engagement": "3", "reason": "moved post"},
    )
    assert closed.status_code == 303
    assert "matched again" in (await coordinator.get(closed.headers["location"])).text
    again = await coordinator.submit(f"{page_url}/close", {"outcome": "completed"})
    assert again.status_code == 409
    # The mentee's page shows the match's whole timeline, from the events, with dates.
    person = await coordinator.get(f"/dashboard/{network.network_id}/people/{network.mentee_id}")
    timeline = re.search(r'<ol class="timeline">(.*?)</ol>', person.text, re.S)
    assert timeline is not None
    lines = [" ".join(li.split()) for li in re.findall(r"</time>(.*?)</li>", timeline[1], re.S)]
    assert lines == [
        "Proposed by the matcher",
        f"Approved by {network.coordinator_email}; mentor and mentee introduced",
        "First conversation confirmed by the mentee",
        "Day-30 check-in by the mentor: have met, usefulness 4/5",
        "Closed by the coordinator: ended early"
        " (re-assessed: Clinical engagement 2 → 3 (aiming for 5))",
    ]
    assert "closed: ended early" in person.text

    # One event per step, in order on the match's partition; the mentee's gap starts at 3 now.
    assert await decisions_to_notifier(settings, notifier_consumer, proposal.match_id, 4) == [
        "match.decided",
        "match.first_conversation_held",
        "match.checked_in",
        "match.closed",
    ]
    gaps = await pool.fetchval(
        "SELECT details->'gaps' FROM people WHERE id = $1", network.mentee_id
    )
    assert [(g["skill"], g["current"], g["target"]) for g in gaps] == [
        ("clinical-engagement", 3, 5)
    ]
    assert (
        await pool.fetchval("SELECT status FROM proposals WHERE match_id = $1", proposal.match_id)
        == "closed"
    )

    # The closed match's day-90 check-in never goes out.
    await remind(clock, queue, 120)
    assert mail_to(smtp_inbox, mentor_email, "90-day check-in") == []
    assert len(mail_to(smtp_inbox, mentor_email, "check-in")) == 1


async def test_forged_expired_and_replayed_links_change_nothing(
    settings: Settings,
    browsers: Browsers,
    pool: asyncpg.Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    network, proposal = await approved_match(browsers, pool)
    secret = settings.secret_key.get_secret_value()
    visitor = browsers.new()

    def link(key: str, *, step: Literal["met", "check_in"] = "met", day: int = 0) -> str:
        return sign_match_life_link(
            key,
            match_id=proposal.match_id,
            person_id=network.mentee_id,
            side="mentee",
            step=step,
            day=day,
        )

    response = await visitor.post(f"/links/match/{link('not-the-secret-key-at-all-0123456789')}")
    assert (response.status_code, "This link is not valid." in response.text) == (400, True)

    with monkeypatch.context() as past:
        two_months_ago = int(time.time()) - 60 * 86400
        past.setattr(TimestampSigner, "get_timestamp", lambda _self: two_months_ago)
        expired = link(secret)
    response = await visitor.post(f"/links/match/{expired}")
    assert "This link has expired" in response.text

    # Someone else's match: the link names the mentee, but not of this match.
    stranger = sign_match_life_link(
        secret, match_id=proposal.match_id, person_id=network.mentor_id, side="mentee", step="met"
    )
    assert (await visitor.post(f"/links/match/{stranger}")).status_code == 404
    # A check-in at a point the network does not have.
    odd_day = link(secret, step="check_in", day=45)
    response = await visitor.post(f"/links/match/{odd_day}", data={"usefulness": "3"})
    assert response.status_code == 409
    # A bad answer refuses the check-in, and leaves the link usable.
    day_30 = link(secret, step="check_in", day=30)
    bad = await visitor.post(f"/links/match/{day_30}", data={"met": "yes", "usefulness": "9"})
    assert bad.status_code == 400
    assert await life_rows(pool, proposal.match_id) == []
    audits = await pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE subject = $1 AND action LIKE 'match.%' AND"
        " action <> 'match.approved'",
        str(proposal.match_id),
    )
    assert audits == 0
    good = await visitor.post(f"/links/match/{day_30}", data={"met": "yes", "usefulness": "5"})
    assert good.status_code == 303
    replayed = await visitor.post(f"/links/match/{day_30}", data={"usefulness": "1"})
    assert replayed.status_code == 410
    assert await life_rows(pool, proposal.match_id) == ["match.checked_in"]


async def test_a_participant_takes_each_step_from_their_own_page(
    settings: Settings, browsers: Browsers, pool: asyncpg.Pool
) -> None:
    """/me offers each step that is due, as the same single-use link the emails hold: the
    mentee confirms the first conversation, answers the day-30 check-in once it is due, and
    ends the match with their re-assessed level; the mentor is never offered the close."""
    network, proposal = await approved_match(browsers, pool)
    secret = settings.secret_key.get_secret_value()
    mentee, mentor = browsers.new(), browsers.new()
    mentee_page = f"/me/{sign_self_service_link(secret, person_id=network.mentee_id)}"
    mentor_page = f"/me/{sign_self_service_link(secret, person_id=network.mentor_id)}"

    async def offered(browser: Browser, page: str) -> dict[str, str]:
        html = (await browser.get(page)).text
        return {" ".join(words.split()): url for url, words in STEP_LINK.findall(html)}

    mentor_name = f"Morag Mentor {network.network_id.removeprefix('web-')}"
    steps = await offered(mentee, mentee_page)
    assert list(steps) == [
        f"Confirm your first conversation with {mentor_name}",
        f"End your match with {mentor_name} and re-assess your levels",
    ]
    confirm = steps[f"Confirm your first conversation with {mentor_name}"]
    assert (await mentee.get(confirm)).status_code == 200
    assert (await mentee.post(confirm)).status_code == 303
    assert (await mentee.post(confirm)).status_code == 410  # once

    # Thirty-one days on, the day-30 check-in is due on both sides; the mentor may not close.
    await pool.execute(
        "UPDATE proposals SET status_changed_at = status_changed_at - interval '31 days'"
        " WHERE match_id = $1",
        proposal.match_id,
    )
    assert list(await offered(mentor, mentor_page)) == [
        "Answer your 30-day check-in about Tariq Mentee"
    ]
    # A close link forged for the mentor's side is refused and changes nothing.
    forged = sign_match_life_link(
        secret, match_id=proposal.match_id, person_id=network.mentor_id, side="mentor", step="close"
    )
    refused = await mentor.post(f"/links/match/{forged}", data={"outcome": "completed"})
    assert (refused.status_code, "ask your coordinator" in refused.text) == (409, True)
    steps = await offered(mentee, mentee_page)
    check_in = steps[f"Answer your 30-day check-in about {mentor_name}"]
    answered = await mentee.post(check_in, data={"met": "yes", "usefulness": "5", "note": ""})
    assert answered.status_code == 303
    close = (await offered(mentee, mentee_page))[
        f"End your match with {mentor_name} and re-assess your levels"
    ]
    form = await mentee.get(close)
    assert "Your level in Clinical engagement now" in form.text
    closed = await mentee.post(
        close, data={"outcome": "completed", "level:clinical-engagement": "4", "reason": ""}
    )
    assert closed.status_code == 303

    assert await life_rows(pool, proposal.match_id) == [
        "match.first_conversation_held",
        "match.checked_in",
        "match.closed",
    ]
    event = await pool.fetchval(
        "SELECT event FROM match_life WHERE match_id = $1 AND event_type = 'match.closed'",
        proposal.match_id,
    )
    assert (event["by"], event["outcome"], event["levels"]) == (
        "mentee",
        "completed",
        [{"skill": "clinical-engagement", "level": 4}],
    )
    gaps = await pool.fetchval(
        "SELECT details->'gaps' FROM people WHERE id = $1", network.mentee_id
    )
    assert [(g["current"], g["target"]) for g in gaps] == [(4, 5)]
    assert await offered(mentee, mentee_page) == {}  # closed: nothing more to do


STEP_LINK = re.compile(r'<a href="(/links/match/[^"]+)">(.*?)</a>', re.S)

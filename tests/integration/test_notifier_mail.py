"""The notifier's mail queue against a real SMTP server: sent once, delayed (not lost) when
the server is down."""

from __future__ import annotations

from uuid import uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from services.notifier.directory import announce_proposals, apply_event
from services.notifier.mailer import MailQueue
from shared.consuming import EventConsumer
from shared.events import (
    Coordinator,
    Event,
    MatchProposed,
    MatchWithdrawn,
    NetworkUpserted,
    PersonProfile,
    PersonUpserted,
    TrustUpserted,
)
from shared.people import Mode, Role, Sector, SkillGap, SkillLevel, WorkingPattern
from shared.regions import Region
from shared.settings import Settings
from shared.topics import Topic
from tests.conftest import free_port
from tests.factories import covered, match_proposed
from tests.integration.conftest import Inbox

pytestmark = pytest.mark.integration


def network_events() -> tuple[list[Event], MatchProposed]:
    network = f"net-{uuid4().hex[:6]}"
    coordinator = Coordinator(name="Cora Ordinator", email=f"cora.{network}@example.org")
    mentor_id, mentee_id = uuid4(), uuid4()
    common = dict(
        network_id=network,
        region=Region.LONDON,
        mode=Mode.EITHER,
        working_pattern=WorkingPattern.FULL_TIME,
        sector=Sector.NHS,
    )
    events: list[Event] = [
        NetworkUpserted(
            entity_key=network,
            network_id=network,
            name="London Digital",
            coordinators=(coordinator,),
        ),
        TrustUpserted(
            entity_key="TA",
            trust_code="TA",
            name="Trust Alpha",
            region=Region.LONDON,
            network_id=network,
        ),
        PersonUpserted(
            entity_key=str(mentor_id),
            profile=PersonProfile(
                person_id=mentor_id,
                role=Role.MENTOR,
                name="Mina Mentor",
                email="mina@example.org",
                job_title="CIO",
                trust_code="TA",
                skills=(SkillLevel(skill="procurement", level=6),),
                capacity=1,
                hours_per_month=2,
                **common,
            ),
        ),
        PersonUpserted(
            entity_key=str(mentee_id),
            profile=PersonProfile(
                person_id=mentee_id,
                role=Role.MENTEE,
                name="Theo Mentee",
                email="theo@example.org",
                job_title="Analyst",
                trust_code="TA",
                gaps=(SkillGap(skill="procurement", current=1, target=4),),
                **common,
            ),
        ),
    ]
    proposal = match_proposed(
        network_id=network,
        provider_id=mentor_id,
        mentee_id=mentee_id,
        score=0.9,
        skills=(covered("procurement", "Procurement and commercial", 1, 4, 6),),
    )
    return events, proposal


async def deliver(consumer: EventConsumer, *events: Event) -> None:
    for event in events:
        await consumer.handle(event.to_json_bytes(), None, Topic.PEOPLE)


@pytest.fixture
async def consumer(settings: Settings, notifier_pool: asyncpg.Pool) -> EventConsumer:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    return EventConsumer("notifier", notifier_pool, producer, apply_event)


async def send_everything(queue: MailQueue, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await announce_proposals(conn)
    while await queue.send_due():
        pass


async def test_a_proposal_is_emailed_to_the_coordinator_once(
    settings: Settings, notifier_pool: asyncpg.Pool, consumer: EventConsumer, smtp_inbox: Inbox
) -> None:
    events, proposal = network_events()
    await deliver(consumer, *events, proposal, proposal)  # the proposal delivered twice
    queue = MailQueue(notifier_pool, settings.model_copy(update={"smtp_port": smtp_inbox.port}))
    await send_everything(queue, notifier_pool)
    await send_everything(queue, notifier_pool)

    [message] = [m for m in smtp_inbox.messages if proposal.network_id in str(m["To"])]
    assert str(message["Subject"]) == "Proposed mentoring match for Theo Mentee — your decision"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert "Mina Mentor, CIO, Trust Alpha" in text.get_content()
    assert "Procurement and commercial: from level 1 to 4" in text.get_content()
    assert "same region (London)" in html.get_content()


async def test_an_smtp_outage_delays_the_email_and_never_loses_it(
    settings: Settings, notifier_pool: asyncpg.Pool, consumer: EventConsumer, smtp_inbox: Inbox
) -> None:
    events, proposal = network_events()
    await deliver(consumer, *events, proposal)
    down = MailQueue(notifier_pool, settings.model_copy(update={"smtp_port": free_port()}))
    await send_everything(down, notifier_pool)
    async with notifier_pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT status, attempts, last_error FROM emails WHERE match_id = $1", proposal.match_id
        )
        assert (row["status"], row["attempts"]) == ("pending", 1)
        assert row["last_error"]
        await conn.execute(
            "UPDATE emails SET next_attempt_at = now() WHERE match_id = $1", proposal.match_id
        )

    up = MailQueue(notifier_pool, settings.model_copy(update={"smtp_port": smtp_inbox.port}))
    await send_everything(up, notifier_pool)
    delivered = [m for m in smtp_inbox.messages if proposal.network_id in str(m["To"])]
    assert len(delivered) == 1
    async with notifier_pool.acquire() as conn:
        status = await conn.fetchval(
            "SELECT status FROM emails WHERE match_id = $1", proposal.match_id
        )
    assert status == "sent"


async def test_a_withdrawn_proposal_is_never_emailed(
    settings: Settings, notifier_pool: asyncpg.Pool, consumer: EventConsumer, smtp_inbox: Inbox
) -> None:
    events, proposal = network_events()
    withdrawn = MatchWithdrawn(
        entity_key=str(proposal.match_id),
        match_id=proposal.match_id,
        network_id=proposal.network_id,
        reason="replaced by a better match",
    )
    await deliver(consumer, *events, proposal)
    async with notifier_pool.acquire() as conn, conn.transaction():
        await announce_proposals(conn)  # queued, not yet sent
    await deliver(consumer, withdrawn)
    queue = MailQueue(notifier_pool, settings.model_copy(update={"smtp_port": smtp_inbox.port}))
    await send_everything(queue, notifier_pool)
    assert not [m for m in smtp_inbox.messages if proposal.network_id in str(m["To"])]
    async with notifier_pool.acquire() as conn:
        status = await conn.fetchval(
            "SELECT status FROM emails WHERE match_id = $1", proposal.match_id
        )
    assert status == "cancelled"

"""End to end: profiles over HTTP become a proposal email; a coordinator's approval, published
on the decisions topic as the decision pages publish it, becomes one introduction email to the
mentor and one to the mentee, each with its calendar invitation; a rejection sends nothing to
the participants."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from devtools.stack import StackConfig
from shared.events import MatchDecided
from tests.support.mail import wait_for_mail
from tests.support.stack import e2e_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(
    database_url: str, kafka: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[StackConfig, Path]]:
    with e2e_stack(database_url, kafka, tmp_path_factory.mktemp("introductions")) as running:
        yield running


def a_proposed_pair(config: StackConfig, tag: str) -> dict[str, str]:
    """A network with a mentor and a mentee that match; returns their addresses."""
    people = {
        "coordinator": f"coordinator.{tag}@network.example",
        "mentor": f"morag.{tag}@example.org",
        "mentee": f"tariq.{tag}@example.org",
    }
    with httpx.Client(base_url=config.base_url, headers=config.api_headers, timeout=10) as http:
        http.put(
            f"/networks/in-{tag}",
            json={
                "name": "Introductions network",
                "coordinators": [{"name": "Cleo", "email": people["coordinator"]}],
            },
        ).raise_for_status()
        for code in (f"A{tag}", f"B{tag}"):
            http.put(
                f"/trusts/{code}",
                json={"name": f"Trust {code}", "region": "London", "network_id": f"in-{tag}"},
            ).raise_for_status()
        http.post(
            "/mentors",
            json={
                "name": f"Morag Mentor{tag}",
                "email": people["mentor"],
                "job_title": "CCIO",
                "trust_code": f"A{tag}",
                "skills": [{"skill": "clinical-safety", "level": 7}],
                "capacity": 1,
                "hours_per_month": 4,
            },
        ).raise_for_status()
        http.post(
            "/mentees",
            json={
                "name": f"Tariq Mentee{tag}",
                "email": people["mentee"],
                "job_title": "Digital Nurse",
                "trust_code": f"B{tag}",
                "gaps": [{"skill": "clinical-safety", "current": 2, "target": 5}],
            },
        ).raise_for_status()
    return people


def decide(config: StackConfig, proposal: EmailMessage, network: str, approved: bool) -> UUID:
    body = proposal.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    [match_id] = re.findall(r"Match reference: ([0-9a-f-]{36})", text)
    assert re.search(r"Approve: http://127\.0\.0\.1:\d+/links/decision/\S+", text)
    decision = MatchDecided(
        entity_key=match_id,
        match_id=UUID(match_id),
        network_id=network,
        approved=approved,
        reason="" if approved else "they already work together",
        decided_by="coordinator@network.example",
    )

    async def publish() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=config.kafka_bootstrap_servers, enable_idempotence=True
        )
        await producer.start()
        try:
            await producer.send_and_wait(
                decision.topic.value, decision.to_json_bytes(), key=match_id.encode()
            )
        finally:
            await producer.stop()

    asyncio.run(publish())
    return decision.match_id


async def notifier_decision(config: StackConfig, match_id: UUID) -> bool | None:
    """Whether the notifier recorded the match as approved; None while it has not seen it."""
    conn = await asyncpg.connect(config.database_url)
    try:
        approved: bool | None = await conn.fetchval(
            "SELECT approved FROM notifier.decisions WHERE match_id = $1", match_id
        )
    finally:
        await conn.close()
    return approved


def mails_to(maildir: Path, address: str) -> list[EmailMessage]:
    found = []
    for path in sorted(maildir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if address in str(message["To"]):
            found.append(message)
    return found


def test_an_approval_introduces_mentor_and_mentee_once_with_an_invitation(
    stack: tuple[StackConfig, Path],
) -> None:
    config, maildir = stack
    tag = uuid4().hex[:6]
    people = a_proposed_pair(config, tag)
    proposal = wait_for_mail(maildir, people["coordinator"])
    match_id = decide(config, proposal, f"in-{tag}", approved=True)

    to_mentor = wait_for_mail(maildir, f"To: Morag Mentor{tag}")
    to_mentee = wait_for_mail(maildir, f"To: Tariq Mentee{tag}")
    time.sleep(3)  # long enough for a duplicate to arrive, were one sent
    assert len(mails_to(maildir, people["mentor"])) == 1
    assert len(mails_to(maildir, people["mentee"])) == 1
    assert str(to_mentor["Subject"]) == f"Introducing your mentee: Tariq Mentee{tag}"
    assert str(to_mentee["Subject"]) == f"Introducing your mentor: Morag Mentor{tag}"
    for message in (to_mentor, to_mentee):
        [invite] = [
            part
            for part in message.iter_attachments()
            if part.get_content_type() == "text/calendar"
        ]
        ics = invite.get_content()
        assert f"UID:{match_id}@bridgework.local" in ics
        assert f"mailto:{people['mentor']}" in ics
    body = to_mentee.get_body(preferencelist=("plain",))
    assert body is not None
    assert people["mentor"] in body.get_content()
    assert "Clinical safety" in body.get_content()


def test_a_rejection_sends_nothing_to_the_participants(stack: tuple[StackConfig, Path]) -> None:
    config, maildir = stack
    tag = uuid4().hex[:6]
    people = a_proposed_pair(config, tag)
    proposal = wait_for_mail(maildir, people["coordinator"])
    match_id = decide(config, proposal, f"in-{tag}", approved=False)
    deadline = time.monotonic() + 30
    while asyncio.run(notifier_decision(config, match_id)) is None:
        assert time.monotonic() < deadline, "the notifier never recorded the rejection"
        time.sleep(0.3)
    assert asyncio.run(notifier_decision(config, match_id)) is False
    time.sleep(3)  # long enough for an introduction to go out, were one queued
    assert mails_to(maildir, people["mentor"]) == []
    assert mails_to(maildir, people["mentee"]) == []
    assert len(mails_to(maildir, people["coordinator"])) == 1

"""The notifier's mail queue against a real SMTP server: sent once, delayed (not lost) when
the server is down."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import date
from email.message import EmailMessage
from uuid import uuid4

import asyncpg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from icalendar import Calendar
from prometheus_client import REGISTRY

from devtools.stack import free_port
from services.notifier.handlers import announce_proposals, introduce_approved, queue_digests
from services.notifier.mailer import (
    SENDING_LOCK_CLASS,
    UNSETTLED,
    MailQueue,
    sample_mail_queue,
)
from services.notifier.repository import NotifierRepository
from shared.consuming import EventConsumer
from shared.events import (
    Coordinator,
    Event,
    MatchDecided,
    MatchProposed,
    MatchWithdrawn,
    NetworkUpserted,
    PersonErased,
    PersonUpserted,
    PlacementProfile,
    PlacementUpserted,
    ProposalEmails,
    SecondmentChanged,
    SecondmentStatus,
    SelfServiceLinkRequested,
    TrustUpserted,
)
from shared.links import read_decision_link, read_self_service_link
from shared.logs import CorrelationFilter
from shared.matching import MatchKind
from shared.observability.context import correlated
from shared.people import SkillLevel
from shared.regions import Region
from shared.settings import Settings
from tests.support.factories import network_events
from tests.support.mail import Inbox
from tests.support.metrics import metric
from tests.support.notifier import deliver, send_everything

pytestmark = pytest.mark.integration


async def test_a_proposal_is_emailed_to_the_coordinator_once(
    settings: Settings,
    notifier_pool: asyncpg.Pool,
    notifier_consumer: EventConsumer,
    smtp_inbox: Inbox,
) -> None:
    events, proposal = network_events()
    await deliver(notifier_consumer, *events, proposal, proposal)  # the proposal delivered twice
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
    settings: Settings,
    notifier_pool: asyncpg.Pool,
    notifier_consumer: EventConsumer,
    smtp_inbox: Inbox,
) -> None:
    events, proposal = network_events()
    await deliver(notifier_consumer, *events, proposal)
    down = MailQueue(notifier_pool, settings.model_copy(update={"smtp_port": free_port()}))
    failed = metric("bridgework_emails_failed_total", purpose="proposal")
    sent = metric("bridgework_emails_sent_total", purpose="proposal")
    await send_everything(down, notifier_pool)
    # At least this email's attempt (the queue also tries any other test's email now due).
    failed_during_outage = metric("bridgework_emails_failed_total", purpose="proposal")
    assert failed_during_outage >= failed + 1
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
    assert metric("bridgework_emails_sent_total", purpose="proposal") >= sent + 1
    assert metric("bridgework_emails_failed_total", purpose="proposal") == failed_during_outage
    async with notifier_pool.acquire() as conn:
        status = await conn.fetchval(
            "SELECT status FROM emails WHERE match_id = $1", proposal.match_id
        )
    assert status == "sent"


async def test_a_withdrawn_proposal_is_never_emailed(
    settings: Settings,
    notifier_pool: asyncpg.Pool,
    notifier_consumer: EventConsumer,
    smtp_inbox: Inbox,
) -> None:
    events, proposal = network_events()
    withdrawn = MatchWithdrawn(
        entity_key=str(proposal.match_id),
        match_id=proposal.match_id,
        network_id=proposal.network_id,
        reason="replaced by a better match",
    )
    await deliver(notifier_consumer, *events, proposal)
    async with notifier_pool.acquire() as conn, conn.transaction():
        await announce_proposals(NotifierRepository(conn))  # queued, not yet sent
    await deliver(notifier_consumer, withdrawn)
    queue = MailQueue(notifier_pool, settings.model_copy(update={"smtp_port": smtp_inbox.port}))
    await send_everything(queue, notifier_pool)
    assert not [m for m in smtp_inbox.messages if proposal.network_id in str(m["To"])]
    async with notifier_pool.acquire() as conn:
        status = await conn.fetchval(
            "SELECT status FROM emails WHERE match_id = $1", proposal.match_id
        )
    assert status == "cancelled"


def decided(proposal: MatchProposed, approved: bool) -> MatchDecided:
    return MatchDecided(
        entity_key=str(proposal.match_id),
        match_id=proposal.match_id,
        network_id=proposal.network_id,
        approved=approved,
        reason="" if approved else "not this time",
        decided_by="cora@example.org",
    )


def to(inbox: Inbox, address: str) -> list[EmailMessage]:
    return [m for m in inbox.messages if address in str(m["To"])]


async def test_the_proposal_email_links_sign_one_decision_per_coordinator(
    settings: Settings,
    notifier_pool: asyncpg.Pool,
    notifier_consumer: EventConsumer,
    smtp_inbox: Inbox,
) -> None:
    events, proposal = network_events()
    await deliver(notifier_consumer, *events, proposal)
    queue = MailQueue(notifier_pool, settings.model_copy(update={"smtp_port": smtp_inbox.port}))
    await send_everything(queue, notifier_pool)
    [message] = [m for m in smtp_inbox.messages if proposal.network_id in str(m["To"])]
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    links = re.findall(r"/links/decision/(\S+)", text.get_content())
    assert len(links) == 2
    secret = settings.secret_key.get_secret_value()
    approve, reject = (read_decision_link(secret, t, 60) for t in links)
    assert (approve.approve, reject.approve) == (True, False)
    assert approve.match_id == reject.match_id == proposal.match_id
    assert approve.coordinator_email == f"cora.{proposal.network_id}@example.org"
    assert approve.token_id != reject.token_id
    base = settings.public_base_url
    assert text.get_content().count(f"{base}/links/decision/") == 2
    # and the dashboard, where every proposal waiting for them is
    assert f"{base}/dashboard/{proposal.network_id}/proposals" in text.get_content()


async def test_an_approved_mentoring_match_introduces_both_once_with_an_invitation(
    settings: Settings,
    notifier_pool: asyncpg.Pool,
    notifier_consumer: EventConsumer,
    smtp_inbox: Inbox,
) -> None:
    events, proposal = network_events()
    mentor_email, mentee_email = "mina@example.org", "theo@example.org"
    approval = decided(proposal, approved=True)
    await deliver(notifier_consumer, approval, *events, proposal, approval)  # early, and twice
    queue = MailQueue(notifier_pool, settings.model_copy(update={"smtp_port": smtp_inbox.port}))
    await send_everything(queue, notifier_pool)
    await send_everything(queue, notifier_pool)

    intros = [m for m in smtp_inbox.messages if str(proposal.match_id) in _text(m)]
    [to_mentor] = [m for m in intros if mentor_email in str(m["To"])]
    [to_mentee] = [m for m in intros if mentee_email in str(m["To"])]
    assert str(to_mentor["Subject"]) == "Introducing your mentee: Theo Mentee"
    assert str(to_mentee["Subject"]) == "Introducing your mentor: Mina Mentor"
    assert "Procurement and commercial" in _text(to_mentee)
    for message in (to_mentor, to_mentee):
        [ics] = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
        [event] = Calendar.from_ical(ics.get_content()).walk("VEVENT")
        assert str(event["organizer"]) == "mailto:mina@example.org"
        assert str(event["uid"]) == f"{proposal.match_id}@bridgework.local"
    # Decided before it was announced: the coordinators' proposal email is never queued.
    async with notifier_pool.acquire() as conn:
        statuses = await conn.fetch(
            "SELECT purpose, status FROM emails WHERE match_id = $1 ORDER BY purpose",
            proposal.match_id,
        )
    assert [tuple(r) for r in statuses] == [("introduction", "sent"), ("introduction", "sent")]


async def test_a_rejection_sends_nothing_to_the_participants(
    settings: Settings,
    notifier_pool: asyncpg.Pool,
    notifier_consumer: EventConsumer,
    smtp_inbox: Inbox,
) -> None:
    events, proposal = network_events()
    await deliver(notifier_consumer, *events, proposal, decided(proposal, approved=False))
    queue = MailQueue(notifier_pool, settings.model_copy(update={"smtp_port": smtp_inbox.port}))
    await send_everything(queue, notifier_pool)
    assert not [m for m in smtp_inbox.messages if str(proposal.match_id) in _text(m)]
    async with notifier_pool.acquire() as conn:
        purposes = await conn.fetch(
            "SELECT purpose FROM emails WHERE match_id = $1 AND status <> 'cancelled'",
            proposal.match_id,
        )
    assert purposes == []


async def test_an_approval_racing_a_withdrawal_still_introduces_the_pair(
    settings: Settings,
    notifier_pool: asyncpg.Pool,
    notifier_consumer: EventConsumer,
    smtp_inbox: Inbox,
) -> None:
    """The matcher withdrew the proposal while a coordinator approved it: the decision applies
    whatever the proposal's state (the matcher records the approval too, issue 14 item 5), so
    the pair is introduced, once each."""
    events, proposal = network_events()
    withdrawn = MatchWithdrawn(
        entity_key=str(proposal.match_id),
        match_id=proposal.match_id,
        network_id=proposal.network_id,
        reason="replaced by a better match",
    )
    await deliver(notifier_consumer, *events, proposal, withdrawn, decided(proposal, approved=True))
    queue = MailQueue(notifier_pool, settings.model_copy(update={"smtp_port": smtp_inbox.port}))
    await send_everything(queue, notifier_pool)
    await send_everything(queue, notifier_pool)
    async with notifier_pool.acquire() as conn:
        queued = await conn.fetch(
            "SELECT purpose, recipient_email FROM emails"
            " WHERE match_id = $1 AND status <> 'cancelled' ORDER BY recipient_email",
            proposal.match_id,
        )
        settled = await conn.fetchval(
            "SELECT introduced FROM decisions WHERE match_id = $1", proposal.match_id
        )
    assert [(r["purpose"], r["recipient_email"]) for r in queued] == [
        ("introduction", "mina@example.org"),
        ("introduction", "theo@example.org"),
    ]
    assert settled is True
    received = [str(m["To"]) for m in smtp_inbox.messages]
    assert sum("mina@example.org" in to for to in received) == 1
    assert sum("theo@example.org" in to for to in received) == 1


def secondment_events(host_contact: str | None) -> tuple[list[Event], MatchProposed]:
    events, mentoring = network_events()
    network = mentoring.network_id
    placement_id = uuid4()
    host = TrustUpserted(
        entity_key="TH",
        trust_code=f"TH{network}",
        name="Host Trust",
        region=Region.LONDON,
        network_id=network,
        contact_email=host_contact,
    )
    placement = PlacementUpserted(
        entity_key=str(placement_id),
        placement=PlacementProfile(
            placement_id=placement_id,
            host_trust_code=host.trust_code,
            network_id=network,
            region=Region.LONDON,
            role="Data lead",
            skills_developed=(SkillLevel(skill="procurement", level=5),),
            months=6,
            fte=0.6,
            places=1,
        ),
    )
    proposal = mentoring.model_copy(
        update={"kind": MatchKind.SECONDMENT, "provider_id": placement_id}
    )
    return [*events, host, placement], proposal


def agreed(proposal: MatchProposed) -> SecondmentChanged:
    """Both trusts consented (issue 17): only now is an approved secondment introduced."""
    return SecondmentChanged(
        entity_key=str(proposal.match_id),
        match_id=proposal.match_id,
        network_id=proposal.network_id,
        status=SecondmentStatus.AGREED,
        start_date=date(2027, 1, 4),
        end_date=date(2027, 7, 4),
    )


async def test_a_secondment_is_introduced_to_the_candidate_and_the_trusts(
    settings: Settings,
    notifier_pool: asyncpg.Pool,
    notifier_consumer: EventConsumer,
    smtp_inbox: Inbox,
) -> None:
    # The host trust has a contact; the home trust (Trust Alpha) has none.
    events, proposal = secondment_events(host_contact="workforce@host.example")
    await deliver(notifier_consumer, *events, proposal, decided(proposal, approved=True))
    queue = MailQueue(notifier_pool, settings.model_copy(update={"smtp_port": smtp_inbox.port}))
    await send_everything(queue, notifier_pool)
    assert not [m for m in smtp_inbox.messages if str(proposal.match_id) in _text(m)]
    await deliver(notifier_consumer, agreed(proposal))
    await send_everything(queue, notifier_pool)

    about = [m for m in smtp_inbox.messages if str(proposal.match_id) in _text(m)]
    [candidate] = [m for m in about if "theo@example.org" in str(m["To"])]
    [host] = [m for m in about if "workforce@host.example" in str(m["To"])]
    [notice] = [m for m in about if f"cora.{proposal.network_id}" in str(m["To"])]
    assert len(about) == 3
    assert str(candidate["Subject"]) == "Your secondment: Data lead at Host Trust"
    assert "Write to Host Trust (workforce@host.example)" in _text(candidate)
    assert str(host["Subject"]) == "Secondment to Host Trust: introducing Theo Mentee"
    assert str(notice["Subject"]) == "Secondment introduction not sent to Trust Alpha: no contact"


@pytest.mark.parametrize("kind", [MatchKind.MENTORING, MatchKind.SECONDMENT])
async def test_introductions_carry_the_decisions_correlation_id(
    settings: Settings,
    notifier_pool: asyncpg.Pool,
    notifier_consumer: EventConsumer,
    smtp_inbox: Inbox,
    caplog: pytest.LogCaptureFixture,
    kind: MatchKind,
) -> None:
    """The mail queue queues introductions in a loop of its own, outside any event's context:
    each email (and its log line) still names the decision that asked for it, not a new id.
    The secondment's home trust has no contact, so its coordinators' notice is checked too."""
    if kind is MatchKind.MENTORING:
        events, proposal = network_events()
    else:
        events, proposal = secondment_events(host_contact="workforce@host.example")
    with correlated("the-proposal"):
        await deliver(notifier_consumer, *events, proposal)
    with correlated("the-decision"):
        await deliver(notifier_consumer, decided(proposal, approved=True))
        if kind is MatchKind.SECONDMENT:
            await deliver(notifier_consumer, agreed(proposal))
    caplog.handler.addFilter(CorrelationFilter("notifier"))
    caplog.set_level(logging.INFO)
    queue = MailQueue(notifier_pool, settings.model_copy(update={"smtp_port": smtp_inbox.port}))
    await send_everything(queue, notifier_pool)

    about = [m for m in smtp_inbox.messages if str(proposal.match_id) in _text(m)]
    assert len(about) == (2 if kind is MatchKind.MENTORING else 3)
    assert {m["X-Correlation-ID"] for m in about} == {"the-decision"}
    ids = {
        row["id"]: row["purpose"]
        for row in await notifier_pool.fetch(
            "SELECT id, purpose FROM emails WHERE match_id = $1", proposal.match_id
        )
    }
    # "sent <purpose> email <id>", this match's only (the queue also sends what others left).
    sent = {
        int(words[3]): (words[1], getattr(record, "correlation_id", None))
        for record in caplog.records
        if record.msg == "sent %s email %d"
        and int((words := record.getMessage().split())[3]) in ids
    }
    assert sent == {email_id: (purpose, "the-decision") for email_id, purpose in ids.items()}


async def test_a_self_service_link_is_emailed_to_the_person_who_asked(
    settings: Settings,
    notifier_pool: asyncpg.Pool,
    notifier_consumer: EventConsumer,
    smtp_inbox: Inbox,
) -> None:
    events, _ = network_events()
    mentor = next(e for e in events if isinstance(e, PersonUpserted))
    asked = SelfServiceLinkRequested(
        entity_key=str(mentor.profile.person_id), person_id=mentor.profile.person_id
    )
    await deliver(notifier_consumer, *events, asked, asked)
    queue = MailQueue(notifier_pool, settings.model_copy(update={"smtp_port": smtp_inbox.port}))
    await send_everything(queue, notifier_pool)
    [message] = [m for m in to(smtp_inbox, "mina@example.org") if "/me/" in _text(m)]
    [token] = re.findall(r"/me/(\S+)", _text(message))
    link = read_self_service_link(settings.secret_key.get_secret_value(), token, 60)
    assert link.person_id == mentor.profile.person_id


async def test_an_email_abandoned_mid_send_is_never_sent_again(
    settings: Settings,
    notifier_pool: asyncpg.Pool,
    notifier_consumer: EventConsumer,
    smtp_inbox: Inbox,
) -> None:
    """A 'sending' row that no live sender holds (its sender died after DATA) is marked
    uncertain and not sent again; one a live sender holds is left alone."""
    events, proposal = network_events()
    await deliver(notifier_consumer, *events, proposal)
    async with notifier_pool.acquire() as conn, conn.transaction():
        await announce_proposals(NotifierRepository(conn))
    async with notifier_pool.acquire() as conn:
        email_id = await conn.fetchval(
            "UPDATE emails SET status = 'sending', attempt_id = gen_random_uuid()"
            " WHERE match_id = $1 RETURNING id",
            proposal.match_id,
        )
    queue = MailQueue(notifier_pool, settings.model_copy(update={"smtp_port": smtp_inbox.port}))
    holder = await asyncpg.connect(settings.database_url)
    try:
        await holder.execute("SELECT pg_advisory_lock($1, $2)", SENDING_LOCK_CLASS, email_id)
        await queue.sweep_abandoned()  # its sender is alive: left alone
        status = await notifier_pool.fetchval("SELECT status FROM emails WHERE id = $1", email_id)
        assert status == "sending"
    finally:
        await holder.close()  # the sender dies
    assert await queue.sweep_abandoned() >= 1
    await send_everything(queue, notifier_pool)
    status = await notifier_pool.fetchval("SELECT status FROM emails WHERE id = $1", email_id)
    assert status == "uncertain"
    assert not [m for m in smtp_inbox.messages if proposal.network_id in str(m["To"])]


def _text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    content: str = body.get_content()
    return content


class RefusingInbox(Inbox):
    """Refuses recipients whose address starts with 'gone.' for good (550) and those starting
    with 'busy.' for now (451)."""

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.startswith("gone."):
            return "550 5.1.1 no such mailbox"
        if address.startswith("busy."):
            return "451 4.2.1 mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.mark.parametrize(("prefix", "status"), [("gone.", "failed"), ("busy.", "pending")])
async def test_a_refused_recipient_fails_for_good_or_waits_and_is_never_logged(
    settings: Settings,
    notifier_pool: asyncpg.Pool,
    notifier_consumer: EventConsumer,
    caplog: pytest.LogCaptureFixture,
    prefix: str,
    status: str,
) -> None:
    events, proposal = network_events()
    network = events[0]
    assert isinstance(network, NetworkUpserted)
    address = f"{prefix}{proposal.network_id}@example.org"
    events[0] = network.model_copy(
        update={"coordinators": (Coordinator(name="Cora", email=address),)}
    )
    inbox = RefusingInbox(port=free_port())
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    failed = metric("bridgework_emails_failed_total", purpose="proposal")
    try:
        await deliver(notifier_consumer, *events, proposal)
        queue = MailQueue(notifier_pool, settings.model_copy(update={"smtp_port": inbox.port}))
        await send_everything(queue, notifier_pool)
    finally:
        controller.stop()
    # A failed attempt either way: refused for good, or to be retried.
    assert metric("bridgework_emails_failed_total", purpose="proposal") == failed + 1
    row = await notifier_pool.fetchrow(
        "SELECT status, attempts FROM emails WHERE match_id = $1", proposal.match_id
    )
    assert (row["status"], row["attempts"]) == (status, 1)
    assert inbox.messages == []
    assert "SMTPRecipientRefused" in caplog.text
    assert address not in caplog.text


async def test_two_senders_at_once_send_each_email_once(
    settings: Settings,
    notifier_pool: asyncpg.Pool,
    notifier_consumer: EventConsumer,
    smtp_inbox: Inbox,
) -> None:
    proposals = []
    for _ in range(6):
        events, proposal = network_events()
        await deliver(notifier_consumer, *events, proposal)
        proposals.append(proposal)
    async with notifier_pool.acquire() as conn, conn.transaction():
        await announce_proposals(NotifierRepository(conn))
    with_inbox = settings.model_copy(update={"smtp_port": smtp_inbox.port})
    first, second = MailQueue(notifier_pool, with_inbox), MailQueue(notifier_pool, with_inbox)
    while sum(await asyncio.gather(first.send_due(2), second.send_due(2))):
        pass
    for proposal in proposals:
        assert len([m for m in smtp_inbox.messages if proposal.network_id in str(m["To"])]) == 1


@pytest.mark.parametrize("queued_by", ["announce_proposals", "introduce_approved"])
async def test_an_erasure_racing_the_mail_queue_leaves_no_email_about_them(
    notifier_pool: asyncpg.Pool, notifier_consumer: EventConsumer, queued_by: str
) -> None:
    """The mail queue queues a match's emails in its own transaction while the consumer applies
    the mentee's erasure in another: whichever commits first, nothing about them is left to
    send (the chaos run once left two introductions waiting for the erased person for ever)."""
    events, proposal = network_events()
    await deliver(notifier_consumer, *events, proposal)
    if queued_by == "introduce_approved":
        async with notifier_pool.acquire() as conn, conn.transaction():
            await announce_proposals(NotifierRepository(conn))
        await deliver(notifier_consumer, decided(proposal, approved=True))
    queue_emails = {
        "announce_proposals": announce_proposals,
        "introduce_approved": introduce_approved,
    }
    async with notifier_pool.acquire() as conn:
        mail_queue = conn.transaction()
        await mail_queue.start()
        assert (
            await queue_emails[queued_by](NotifierRepository(conn)) == 1
        )  # queued, not yet committed
        erasure = asyncio.create_task(
            deliver(
                notifier_consumer,
                PersonErased(entity_key=str(proposal.mentee_id), person_id=proposal.mentee_id),
            )
        )
        await asyncio.sleep(0.5)  # the erasure is waiting for the proposal's row lock
        await mail_queue.commit()
    await erasure
    async with notifier_pool.acquire() as conn:
        left = await conn.fetch(
            "SELECT purpose, status FROM emails WHERE match_id = $1 AND status = 'pending'",
            proposal.match_id,
        )
        person = await conn.fetchval(
            "SELECT count(*) FROM people WHERE id = $1", proposal.mentee_id
        )
    assert left == []
    assert person == 0


async def queue_in_states(pool: asyncpg.Pool, tag: str, states: dict[str, int]) -> list[int]:
    """Emails in the given states (how many of each), never due: no sender here takes them."""
    rows = [
        (f"gauge:{tag}:{state}:{n}", state) for state, count in states.items() for n in range(count)
    ]
    return [
        await pool.fetchval(
            "INSERT INTO emails (dedupe_key, purpose, recipient_name, recipient_email, status,"
            " next_attempt_at) VALUES ($1, 'self_service_link', 'G', 'g@example.org', $2,"
            " now() + interval '1 day') RETURNING id",
            key,
            state,
        )
        for key, state in rows
    ]


def mail_queue_gauge() -> dict[str, float | None]:
    return {
        status: REGISTRY.get_sample_value("bridgework_mail_queue_emails", {"status": status})
        for status in UNSETTLED
    }


async def test_the_mail_queue_gauge_counts_the_unsettled_emails_by_status(
    notifier_pool: asyncpg.Pool,
) -> None:
    await sample_mail_queue(notifier_pool)
    before = mail_queue_gauge()
    assert None not in before.values()  # every status is exported, even with no email in it
    added = {"pending": 2, "sending": 1, "uncertain": 3, "failed": 1, "sent": 4, "cancelled": 1}
    ids = await queue_in_states(notifier_pool, uuid4().hex[:8], added)
    try:
        await sample_mail_queue(notifier_pool)
        after = mail_queue_gauge()
    finally:
        await notifier_pool.execute("DELETE FROM emails WHERE id = ANY($1::bigint[])", ids)
    grown = {status: (after[status] or 0) - (before[status] or 0) for status in UNSETTLED}
    assert grown == {"pending": 2, "sending": 1, "uncertain": 3, "failed": 1}
    await sample_mail_queue(notifier_pool)
    assert mail_queue_gauge() == before  # a status emptied again goes back down


def another(proposal: MatchProposed) -> MatchProposed:
    """The same pair proposed again: a new event about a new match."""
    match_id = uuid4()
    return proposal.model_copy(
        update={"event_id": uuid4(), "match_id": match_id, "entity_key": str(match_id)}
    )


async def test_a_daily_digest_lists_an_imports_proposals_in_one_email_once_a_day(
    settings: Settings,
    notifier_pool: asyncpg.Pool,
    notifier_consumer: EventConsumer,
    smtp_inbox: Inbox,
) -> None:
    """307 proposals (one import's worth, the issue's count) for a coordinator who chose the
    digest: one email, listing each with its links; a new queue (a restart) sends no second
    one that day; the next proposals wait for the next day's."""
    events, first = network_events()
    network = events[0]
    assert isinstance(network, NetworkUpserted)
    [coordinator] = network.coordinators
    daily = coordinator.model_copy(update={"proposal_emails": ProposalEmails.DAILY})
    events[0] = network.model_copy(update={"coordinators": (daily,)})
    proposals = [first] + [another(first) for _ in range(306)]
    await deliver(notifier_consumer, *events, *proposals)
    mail_settings = settings.model_copy(update={"smtp_port": smtp_inbox.port})

    async def one_day(day: date) -> None:
        async with notifier_pool.acquire() as conn, conn.transaction():
            await announce_proposals(NotifierRepository(conn))
            await queue_digests(NotifierRepository(conn), day)
        queue = MailQueue(notifier_pool, mail_settings)  # a fresh queue each time: a restart
        while await queue.send_due():
            pass

    def to_coordinator() -> list[EmailMessage]:
        return [m for m in smtp_inbox.messages if coordinator.email in str(m["To"])]

    await one_day(date(2026, 12, 7))
    await one_day(date(2026, 12, 7))
    [digest] = to_coordinator()
    assert (
        str(digest["Subject"])
        == "Bridgework: 307 new proposals in London Digital, Monday 7 December"
    )
    text = digest.get_body(preferencelist=("plain",))
    assert text is not None
    body = text.get_content()
    assert body.count("/links/decision/") == 2 * 307
    assert (
        f"{settings.public_base_url.rstrip('/')}/dashboard/{network.network_id}/proposals" in body
    )

    later = another(first)
    await deliver(notifier_consumer, later)
    await one_day(date(2026, 12, 7))
    assert len(to_coordinator()) == 1  # the day's digest went: the new one waits
    await one_day(date(2026, 12, 8))
    assert len(to_coordinator()) == 2
    assert str(to_coordinator()[1]["Subject"]).startswith("Bridgework: 1 new proposal in")

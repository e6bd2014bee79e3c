"""Reminders exactly once across crashes, on the real stack (docs/outcomes.md): the notifier
process, fed matches introduced 100 days ago (first-conversation, day-30 and day-90 reminders
all due) and 20 days ago (only the first-conversation one due), is killed with SIGKILL twice
while it queues and sends them, and restarted. At the SMTP server every reminder due arrives
once (an email left ``uncertain`` by a kill between the server's acceptance and its record is
counted apart: at most one copy), and no reminder not yet due is sent."""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import asyncpg
import pytest

from devtools.stack import StackConfig, free_port, start_service, start_smtp_catcher
from services.notifier.mailer import dedupe_digest
from shared.events import Coordinator, Event, MatchDecided, NetworkUpserted, TrustUpserted
from shared.people import Role
from shared.regions import Region
from tests.support.factories import match_proposed, person
from tests.support.kafka import publish
from tests.support.mail import wait_for

pytestmark = pytest.mark.e2e

LONG_AGO, RECENTLY = 20, 6  # matches introduced 100 and 20 days ago


def matches(
    network: str, count: int, days_ago: int
) -> tuple[list[Event], list[tuple[UUID, UUID, UUID]]]:
    """``count`` approved mentoring matches, decided ``days_ago``: their people, proposals and
    decisions; and (match, mentor, mentee) of each."""
    events: list[Event] = []
    made = []
    decided_at = datetime.now(UTC) - timedelta(days=days_ago)
    for _ in range(count):
        mentor, mentee = (
            person(Role.MENTOR, network, f"{network}T"),
            person(Role.MENTEE, network, f"{network}T"),
        )
        proposal = match_proposed(
            network_id=network,
            provider_id=mentor.profile.person_id,
            mentee_id=mentee.profile.person_id,
        )
        decision = MatchDecided(
            entity_key=str(proposal.match_id),
            match_id=proposal.match_id,
            network_id=network,
            approved=True,
            decided_by="cora@example.org",
            occurred_at=decided_at,
        )
        events += [mentor, mentee, proposal, decision]
        made.append((proposal.match_id, mentor.profile.person_id, mentee.profile.person_id))
    return events, made


def delivered(maildir: Path) -> Counter[str]:
    """Copies at the SMTP server, per email (its dedupe key's digest)."""
    copies: Counter[str] = Counter()
    for path in maildir.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        copies[str(message["X-Bridgework-Dedupe-Key"])] += 1
    return copies


async def uncertain(database_url: str) -> set[str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT dedupe_key FROM notifier.emails WHERE status = 'uncertain'")
    finally:
        await conn.close()
    return {dedupe_digest(row["dedupe_key"]) for row in rows}


async def scheduled(database_url: str, network: str) -> Counter[str]:
    """The network's reminders of introduced matches, per status."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT status FROM notifier.reminders WHERE network_id = $1"
            " AND purpose IN ('first_conversation', 'check_in')",
            network,
        )
    finally:
        await conn.close()
    return Counter(row["status"] for row in rows)


def test_each_reminder_arrives_once_across_sigkills(
    database_url: str, kafka: str, tmp_path: Path
) -> None:
    network = f"rem-{int(time.time() * 1000) % 10**8}"
    setup: list[Event] = [
        NetworkUpserted(
            entity_key=network,
            network_id=network,
            name="Reminders",
            coordinators=(Coordinator(name="Cora", email=f"cora.{network}@example.org"),),
        ),
        TrustUpserted(
            entity_key=f"{network}T",
            trust_code=f"{network}T",
            name="Trust",
            region=Region.NORTH_WEST,
            network_id=network,
        ),
    ]
    old, old_matches = matches(network, LONG_AGO, 100)
    new, new_matches = matches(network, RECENTLY, 20)
    due = {
        dedupe_digest(f"reminder:{key}:{person_id}")
        for match_id, mentor, mentee in old_matches
        for key in (
            f"first_conversation:{match_id}",
            f"check_in:{match_id}:30",
            f"check_in:{match_id}:90",
        )
        for person_id in (mentor, mentee)
    } | {
        dedupe_digest(f"reminder:first_conversation:{match_id}:{person_id}")
        for match_id, mentor, mentee in new_matches
        for person_id in (mentor, mentee)
    }
    not_due = {
        dedupe_digest(f"reminder:check_in:{match_id}:{day}:{person_id}")
        for match_id, mentor, mentee in new_matches
        for day in (30, 90)
        for person_id in (mentor, mentee)
    }

    maildir = tmp_path / "mail"
    config = StackConfig(
        database_url=database_url,
        kafka_bootstrap_servers=kafka,
        smtp_port=free_port(),
        http_port=free_port(),
        log_dir=tmp_path / "logs",
    )
    smtp = start_smtp_catcher(config, maildir)
    notifier = start_service("notifier", config)
    try:
        asyncio.run(publish(kafka, [*setup, *old, *new]))
        for kill_after in (10, 60):  # mid-way through the reminders, twice

            def sent_at_least(n: int = kill_after) -> bool:
                return len(set(delivered(maildir)) & due) >= n

            wait_for(sent_at_least, timeout=120)
            notifier.kill()
            notifier = start_service("notifier", config)
        wait_for(
            lambda: due <= set(delivered(maildir)) | asyncio.run(uncertain(database_url)),
            timeout=180,
        )
        time.sleep(3)  # long enough for a second copy to arrive, were one sent
        copies = delivered(maildir)
        left_uncertain = asyncio.run(uncertain(database_url))
        assert {k for k in due if copies[k] != 1} <= left_uncertain
        assert all(copies[k] <= 1 for k in left_uncertain)
        assert not set(copies) & not_due
        statuses = asyncio.run(scheduled(database_url, network))
        # Queued: each match's due reminders; still scheduled: the new matches' check-ins.
        assert statuses["queued"] == 3 * LONG_AGO + RECENTLY
        assert statuses["scheduled"] == 2 * RECENTLY
        print(
            f"reminder emails due {len(due)}, delivered once {sum(copies[k] == 1 for k in due)},"
            f" uncertain {len(left_uncertain & due)}, not due and sent 0"
        )
    finally:
        notifier.stop()
        smtp.stop()

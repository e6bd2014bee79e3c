"""A consent's deadline reminder goes out once across a restart of the notifier (the service
that sends it): the notifier, as a process, emails a trust's contact the consent request and,
the deadline being near, its one reminder; it is killed (SIGKILL) and started again; a later
sign-in request proves the new process ran its mail loop (reminders included), and the SMTP
server still holds one reminder."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest

from devtools.stack import StackConfig, free_port, start_service, start_smtp_catcher
from shared.events import (
    ConsentParty,
    ConsentRequested,
    Event,
    MatchDecided,
    PlacementProfile,
    PlacementUpserted,
    TrustContact,
    TrustSignInRequested,
    TrustUpserted,
)
from shared.matching import MatchKind
from shared.people import SkillLevel
from shared.regions import Region
from tests.support.factories import network_events
from tests.support.kafka import publish
from tests.support.mail import copies, wait_for

pytestmark = pytest.mark.e2e


def consent_events(contact: str) -> tuple[list[Event], TrustSignInRequested]:
    """A network whose host trust has one contact, a secondment approved by the coordinator,
    and the host trust's consent asked for by tomorrow; and a later sign-in request."""
    events, mentoring = network_events()
    network = mentoring.network_id
    host = f"TH{uuid4().hex[:6]}"
    placement_id = uuid4()
    proposal = mentoring.model_copy(
        update={"kind": MatchKind.SECONDMENT, "provider_id": placement_id}
    )
    match = proposal.match_id
    return [
        *events,
        TrustUpserted(
            entity_key=host,
            trust_code=host,
            name="Host Trust",
            region=Region.LONDON,
            network_id=network,
            contacts=(TrustContact(name="Hana Host", email=contact),),
        ),
        PlacementUpserted(
            entity_key=str(placement_id),
            placement=PlacementProfile(
                placement_id=placement_id,
                host_trust_code=host,
                network_id=network,
                region=Region.LONDON,
                role="Data lead",
                skills_developed=(SkillLevel(skill="procurement", level=5),),
                months=6,
                fte=0.6,
                places=1,
            ),
        ),
        proposal,
        MatchDecided(
            entity_key=str(match), match_id=match, network_id=network, approved=True, decided_by="c"
        ),
        ConsentRequested(
            entity_key=str(match),
            match_id=match,
            network_id=network,
            party=ConsentParty.HOST,
            trust_code=host,
            deadline=datetime.now(UTC) + timedelta(days=1),
        ),
    ], TrustSignInRequested(entity_key=host, trust_code=host, contact_email=contact)


def subjects(maildir: Path, contact: str) -> list[str]:
    found = []
    for path in maildir.glob("*.eml"):
        text = path.read_text(errors="replace")
        if contact in text:
            found += [line for line in text.splitlines() if line.startswith("Subject:")]
    return found


def test_a_consents_reminder_goes_out_once_across_a_notifier_restart(
    database_url: str, kafka: str, tmp_path: Path
) -> None:
    contact = f"hana.{uuid4().hex[:6]}@host.example"
    events, later = consent_events(contact)
    maildir = tmp_path / "mail"
    config = StackConfig(
        database_url=database_url,
        kafka_bootstrap_servers=kafka,
        smtp_port=free_port(),
        http_port=free_port(),
        log_dir=tmp_path / "logs",
        # Remind two days before the deadline: tomorrow's is due at once.
        extra_environment=(("BRIDGEWORK_CONSENT_REMINDER_DAYS", "2"),),
    )
    smtp = start_smtp_catcher(config, maildir)
    notifier = start_service("notifier", config)
    try:
        asyncio.run(publish(kafka, events))
        reminded = lambda: any("Reminder: " in s for s in subjects(maildir, contact))  # noqa: E731
        wait_for(reminded, timeout=90)
        notifier.kill()
        notifier = start_service("notifier", config)
        asyncio.run(publish(kafka, [later]))
        wait_for(lambda: any("Sign in" in s for s in subjects(maildir, contact)), timeout=90)
        time.sleep(2)  # the restarted mail loop has run more than once by now
        sent = subjects(maildir, contact)
        assert sum("Reminder: " in s for s in sent) == 1, sent
        assert sum(s.startswith("Subject: Will Host Trust") for s in sent) == 1, sent
        assert copies(maildir, contact) == 3  # the request, its reminder, the sign-in link
    finally:
        notifier.stop()
        smtp.stop()
